/* free() of the address of a global variable. */
#include "bf.h"

static char global_buf[256] __attribute__((aligned(64)));

int main(void)
{
    void *p = global_buf + 64;
    BF_PTR(p);
    free(bf_launder(p));
    return bf_continued(48) + (global_buf[0] != 0);
}
