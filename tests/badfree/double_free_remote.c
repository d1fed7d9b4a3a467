/* Double free of a block allocated by another thread (which has exited):
 * the first free is a cross-thread free, the second must be caught too. */
#include "bf.h"
#include <pthread.h>

static void *worker(void *arg)
{
    char **out = arg;
    for (int i = 0; i < 4; i++) {
        out[i] = malloc(96);
        memset(out[i], i, 96);
    }
    return NULL;
}

int main(void)
{
    char *blk[4];
    pthread_t t;
    if (pthread_create(&t, NULL, worker, blk) != 0)
        return 98;
    pthread_join(t, NULL);
    char *p = blk[1];
    free(p);
    free(blk[0]);
    BF_PTR(p);
    free(bf_launder(p));
    int rc = bf_continued(96);
    free(blk[2]);
    free(blk[3]);
    return rc;
}
