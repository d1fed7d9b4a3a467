/* Double free of a 100 KiB block (largest size classes, below the large
 * path). */
#include "bf.h"

int main(void)
{
    size_t n = 100 * 1024;
    char *p = malloc(n);
    memset(p, 7, n);
    BF_PTR(p);
    free(p);
    free(bf_launder(p));
    return bf_continued(n);
}
