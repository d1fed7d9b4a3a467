/* Double free of a 4 MiB block (large path; glibc: mmapped chunk). */
#include "bf.h"

int main(void)
{
    size_t n = (size_t)4 << 20;
    char *p = malloc(n);
    memset(p, 7, n);
    BF_PTR(p);
    free(p);
    free(bf_launder(p));
    return bf_continued(n);
}
