/* Double free of a 40 MiB block: bigger than half the large-block cache
 * (HAKMEM_LARGE_CACHE, 64 MiB by default), so hakmem unmaps it at the first
 * free instead of caching it. */
#include "bf.h"

int main(void)
{
    size_t n = (size_t)40 << 20;
    char *p = malloc(n);
    memset(p, 7, 4096);
    BF_PTR(p);
    free(p);
    free(bf_launder(p));
    return bf_continued(64);
}
