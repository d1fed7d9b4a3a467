/* A one-byte heap overflow (the byte just past the requested size of a
 * 24-byte block), then free(). */
#include "bf.h"

int main(void)
{
    char *p = malloc(24);
    memset(p, 7, 24);
    ((volatile char *)bf_launder(p))[24] = 'X';
    BF_PTR(p);
    free(p);
    return bf_continued(24);
}
