/* malloc_usable_size() of a freed block. */
#include "bf.h"

int main(void)
{
    char *p = malloc(100);
    memset(p, 7, 100);
    BF_PTR(p);
    free(p);
    size_t n = malloc_usable_size(bf_launder(p));
    bf_say("malloc_usable_size returned %zu\n", n);
    return bf_continued(100);
}
