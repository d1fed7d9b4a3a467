/* free() of a pointer 8 KiB into a 4 MiB block. */
#include "bf.h"

int main(void)
{
    size_t n = (size_t)4 << 20;
    char *b = malloc(n);
    memset(b, 7, n);
    void *p = b + 8192;
    BF_PTR(p);
    free(bf_launder(p));
    int rc = bf_continued(64);
    free(b);
    return rc;
}
