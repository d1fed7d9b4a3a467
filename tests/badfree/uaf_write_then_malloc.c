/* Use after free: the first 16 bytes of a freed 64-byte block are
 * overwritten with the address of a global (classic free-list poisoning),
 * then malloc() is called twice for that size. An allocator that follows
 * the poisoned link hands out the global's address: reported as "WILD" and
 * exit 4. */
#include "bf.h"

static char target[256] __attribute__((aligned(64)));

int main(void)
{
    char *p = malloc(64);
    memset(p, 7, 64);
    free(p);
    BF_PTR(p);
    void **w = bf_launder(p);
    w[0] = target + 64;     /* the link (or glibc's tcache next) */
    w[1] = target + 64;     /* the word after it (key)           */
    char *a = malloc(64);
    char *b = malloc(64);
    char *c = malloc(64);
    bf_say("malloc returned %p %p %p (freed block %p, target %p)\n", (void *)a, (void *)b,
           (void *)c, (void *)p, (void *)(target + 64));
    char *got[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        if (got[i] && (got[i] < (char *)p - (1 << 26) || got[i] > (char *)p + (1 << 26))) {
            bf_say("WILD pointer handed out: %p\n", (void *)got[i]);
            return 4;
        }
    }
    bf_say("CONTINUED\n");
    return 0;
}
