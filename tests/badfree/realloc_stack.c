/* realloc() of a stack address. */
#include "bf.h"

int main(void)
{
    char buf[128];
    memset(buf, 0, sizeof buf);
    void *p = buf + 16;
    BF_PTR(p);
    errno = 0;
    void *q = realloc(bf_launder(p), 64);
    bf_say("realloc returned %p errno=%d\n", q, errno);
    return bf_continued(64);
}
