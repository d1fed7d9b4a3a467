/* free() of a block's address plus one (misaligned pointer). */
#include "bf.h"

int main(void)
{
    char *b = malloc(40);
    memset(b, 7, 40);
    void *p = b + 1;
    BF_PTR(p);
    free(bf_launder(p));
    int rc = bf_continued(40);
    free(b);
    return rc;
}
