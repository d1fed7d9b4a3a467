/* Double free with many other frees (and allocations) in between: enough
 * to push the first free out of any per-thread cache. */
#include "bf.h"

#define N 4000

int main(void)
{
    static char *blk[N];
    for (int i = 0; i < N; i++) {
        blk[i] = malloc(48);
        memset(blk[i], i & 0xff, 48);
    }
    char *p = blk[N / 2];
    free(p);
    for (int i = 0; i < N; i++)
        if (i != N / 2)
            free(blk[i]);
    for (int i = 0; i < 100; i++)
        free(malloc((size_t)(16 + i * 8)));
    BF_PTR(p);
    free(bf_launder(p));
    return bf_continued(48);
}
