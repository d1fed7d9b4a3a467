/* free() of a properly placed block address that was never handed out: the
 * 21st slot after the first 2 KiB block of a fresh process (the allocator
 * carves slabs in batches, so that slot is not carved yet). Under glibc this
 * is just a pointer into the middle of the heap. */
#include "bf.h"

int main(void)
{
    char *b = malloc(2048);
    memset(b, 7, 2048);
    void *p = b + 2048 * 20;
    BF_PTR(p);
    free(bf_launder(p));
    int rc = bf_continued(2048);
    free(b);
    return rc;
}
