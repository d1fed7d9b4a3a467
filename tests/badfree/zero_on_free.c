/* Reads a freed block (past its first 16 bytes, which may hold free-list
 * data) and reports whether it was cleared: "ZEROED" or "NOT ZEROED". With
 * HAKMEM_ZERO_ON_FREE=1 the hardened library must clear it. */
#include "bf.h"

int main(void)
{
    size_t n = 200;
    unsigned char *p = malloc(n);
    memset(p, 0xAB, n);
    BF_PTR(p);
    free(p);
    const volatile unsigned char *r = bf_launder(p);
    size_t dirty = 0;
    for (size_t i = 16; i < n; i++)
        dirty += r[i] != 0;
    if (dirty)
        bf_say("NOT ZEROED (%zu bytes kept)\n", dirty);
    else
        bf_say("ZEROED\n");
    return bf_continued(n);
}
