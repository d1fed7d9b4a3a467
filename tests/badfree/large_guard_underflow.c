/* Writes one byte before the start of a 4 MiB block (the guard page before
 * it in the hardened build). */
#include "bf.h"

int main(void)
{
    size_t n = (size_t)4 << 20;
    char *p = malloc(n);
    memset(p, 7, n);
    BF_PTR(p);
    ((volatile char *)bf_launder(p))[-1] = 'X';
    bf_say("write before the start survived\n");
    free(p);
    return bf_continued(64);
}
