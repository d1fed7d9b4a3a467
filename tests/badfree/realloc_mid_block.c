/* realloc() of a pointer 32 bytes into a 128-byte block. */
#include "bf.h"

int main(void)
{
    char *b = malloc(128);
    memset(b, 7, 128);
    void *p = b + 32;
    BF_PTR(p);
    errno = 0;
    void *q = realloc(bf_launder(p), 512);
    bf_say("realloc returned %p errno=%d\n", q, errno);
    int rc = bf_continued(128);
    free(b);
    return rc;
}
