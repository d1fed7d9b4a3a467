/* free() of a pointer 16 bytes into a 64-byte block. */
#include "bf.h"

int main(void)
{
    char *b = malloc(64);
    memset(b, 7, 64);
    void *p = b + 16;
    BF_PTR(p);
    free(bf_launder(p));
    int rc = bf_continued(64);
    free(b);
    return rc;
}
