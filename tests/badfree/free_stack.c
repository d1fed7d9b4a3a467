/* free() of a stack address. */
#include "bf.h"

int main(void)
{
    char buf[256];
    memset(buf, 0, sizeof buf);
    void *p = buf + 32;
    BF_PTR(p);
    free(bf_launder(p));
    return bf_continued(48);
}
