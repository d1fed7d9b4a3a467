/* realloc() of a block that was already freed. */
#include "bf.h"

int main(void)
{
    char *p = malloc(40);
    memset(p, 7, 40);
    BF_PTR(p);
    free(p);
    errno = 0;
    void *q = realloc(bf_launder(p), 200);
    bf_say("realloc returned %p errno=%d\n", q, errno);
    return bf_continued(40);
}
