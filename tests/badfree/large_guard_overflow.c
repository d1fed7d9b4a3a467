/* Writes one byte past the end of a 4 MiB block (a page multiple, so the
 * byte is just past its last page: the guard page in the hardened build). */
#include "bf.h"

int main(void)
{
    size_t n = (size_t)4 << 20;
    char *p = malloc(n);
    memset(p, 7, n);
    BF_PTR(p);
    ((volatile char *)bf_launder(p))[n] = 'X';
    bf_say("write past the end survived\n");
    free(p);
    return bf_continued(64);
}
