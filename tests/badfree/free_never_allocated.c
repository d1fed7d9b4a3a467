/* free() of a pointer into memory the allocator never handed out (a page
 * taken straight from mmap). */
#include "bf.h"
#include <sys/mman.h>

int main(void)
{
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return 98;
    void *p = page + 64;
    BF_PTR(p);
    free(bf_launder(p));
    return bf_continued(64);
}
