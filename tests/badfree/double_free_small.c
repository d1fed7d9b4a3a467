/* Double free of a 32-byte block. */
#include "bf.h"

int main(void)
{
    char *p = malloc(32);
    memset(p, 7, 32);
    BF_PTR(p);
    free(p);
    free(bf_launder(p));
    return bf_continued(32);
}
