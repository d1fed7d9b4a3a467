/*
 * enomem: impossible requests fail cleanly.
 *
 *  1. malloc(SIZE_MAX), malloc(PTRDIFF_MAX + 1), sizes just below SIZE_MAX
 *     (which overflow when rounded up to a size class or a page), calloc
 *     overflow, realloc/reallocarray to impossible sizes, aligned requests
 *     of impossible sizes, valloc/pvalloc near SIZE_MAX: all return NULL
 *     with errno == ENOMEM, and a block passed to a failing realloc stays
 *     valid and intact.
 *  2. In a child process with RLIMIT_AS a little above its current size:
 *     allocate a mix of sizes until every size fails with NULL/ENOMEM, free
 *     everything, then allocate the same way again: the memory must be
 *     usable again (at least half as much as the first time).
 */
#include "itest.h"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>

static void expect_enomem(void *p, const char *what, size_t a, size_t b)
{
    if (p != NULL)
        FAIL("%s(%zu, %zu) returned %p, expected NULL", what, a, b, p);
    if (errno != ENOMEM)
        FAIL("%s(%zu, %zu) returned NULL with errno %d (%s), expected ENOMEM", what, a, b, errno, strerror(errno));
}

static void impossible_requests(void)
{
    size_t huge[] = {
        SIZE_MAX,
        (size_t)PTRDIFF_MAX + 1,
        (size_t)PTRDIFF_MAX + 4096,
        SIZE_MAX - 1,
        SIZE_MAX - 7,
        SIZE_MAX - 15,
        SIZE_MAX - 16,
        SIZE_MAX - 63,
        SIZE_MAX - 4095,
        SIZE_MAX - 4096,
        SIZE_MAX - (1u << 20),
        SIZE_MAX - (2u << 20) - 1,
        SIZE_MAX / 2 + 2,
    };
    unsigned char *keep = malloc(1000);
    CHECK(keep != NULL);
    itest_fill(keep, 1000, 1);
    unsigned char *keep_big = malloc(3u << 20);
    CHECK(keep_big != NULL);
    itest_fill(keep_big, 3u << 20, 2);

    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = ITEST_OPAQUE(huge[i]);
        void *p;

        errno = 0;
        p = malloc(n);
        expect_enomem(p, "malloc", n, 0);

        errno = 0;
        p = calloc(1, n);
        expect_enomem(p, "calloc", 1, n);

        errno = 0;
        p = realloc(keep, n);
        expect_enomem(p, "realloc(small block)", 1000, n);
        if (itest_check(keep, 1000, 1) != (size_t)-1)
            FAIL("realloc(p, %zu) failed but the original block was damaged", n);

        errno = 0;
        p = realloc(keep_big, n);
        expect_enomem(p, "realloc(3 MiB block)", 3u << 20, n);
        if (itest_check(keep_big, 3u << 20, 2) != (size_t)-1)
            FAIL("realloc(big, %zu) failed but the original block was damaged", n);

        errno = 0;
        p = realloc(NULL, n);
        expect_enomem(p, "realloc(NULL)", 0, n);

        errno = 0;
        p = aligned_alloc(64, n);
        expect_enomem(p, "aligned_alloc(64)", 64, n);

        errno = 0;
        p = memalign(4096, n);
        expect_enomem(p, "memalign(4096)", 4096, n);

        errno = 0;
        p = memalign((size_t)1 << 21, n);
        expect_enomem(p, "memalign(2 MiB)", (size_t)1 << 21, n);

        void *out = (void *)(uintptr_t)0x1;
        int rc = posix_memalign(&out, 256, n);
        if (rc != ENOMEM || out != (void *)(uintptr_t)0x1)
            FAIL("posix_memalign(256, %zu) = %d (out %p), expected ENOMEM and *out untouched", n, rc, out);

        errno = 0;
        p = valloc(n);
        expect_enomem(p, "valloc", n, 0);

        errno = 0;
        p = pvalloc(n);
        expect_enomem(p, "pvalloc", n, 0);
    }

    /* calloc / reallocarray multiplication overflow */
    errno = 0;
    expect_enomem(calloc(ITEST_OPAQUE(SIZE_MAX / 2), 3), "calloc", SIZE_MAX / 2, 3);
    errno = 0;
    expect_enomem(calloc(ITEST_OPAQUE((size_t)1 << 33), (size_t)1 << 31), "calloc", (size_t)1 << 33,
                  (size_t)1 << 31);
    errno = 0;
    expect_enomem(reallocarray(keep, ITEST_OPAQUE(SIZE_MAX / 2), 3), "reallocarray", SIZE_MAX / 2, 3);
    if (itest_check(keep, 1000, 1) != (size_t)-1)
        FAIL("failed reallocarray damaged the block");

    /* the kept blocks are still fully functional */
    unsigned char *grown = realloc(keep, 5000);
    CHECK(grown != NULL);
    CHECK(itest_check_as(grown, keep, 1000, 1000, 1) == (size_t)-1, "content lost by a later realloc");
    free(grown);
    CHECK(itest_check(keep_big, 3u << 20, 2) == (size_t)-1);
    free(keep_big);
    void *p = malloc(100);
    CHECK(p != NULL);
    free(p);
}

/* ---- part 2: real exhaustion under RLIMIT_AS ---- */

#define NKINDS 8
static const size_t kind_size[NKINDS] = {
    1u << 20, 64u << 10, 4096, 100, 32u << 10, (2u << 20) + 17, 512, 300u << 10,
};

struct node {
    struct node *next;
    size_t n;
};

/* Allocates until every size kind failed.  Returns bytes allocated. */
static size_t exhaust(struct node **list, unsigned long *count, int *fail_errno)
{
    int failed[NKINDS] = {0};
    int nfailed = 0;
    size_t bytes = 0;
    unsigned long cnt = 0;
    *fail_errno = 0;
    for (unsigned long i = 0; nfailed < NKINDS && cnt < 20000000UL; i++) {
        int k = (int)(i % NKINDS);
        if (failed[k])
            continue;
        size_t n = kind_size[k];
        errno = 0;
        struct node *b = malloc(n);
        if (!b) {
            if (errno != ENOMEM)
                *fail_errno = errno ? errno : -1;
            failed[k] = 1;
            nfailed++;
            continue;
        }
        /* touch both ends only: RLIMIT_AS limits address space, not RSS */
        b->next = *list;
        b->n = n;
        ((volatile unsigned char *)b)[n - 1] = (unsigned char)n;
        *list = b;
        bytes += n;
        cnt++;
    }
    *count = cnt;
    return bytes;
}

static int release(struct node **list)
{
    struct node *b = *list;
    while (b) {
        struct node *next = b->next;
        if (((volatile unsigned char *)b)[b->n - 1] != (unsigned char)b->n)
            return 0;
        free(b);
        b = next;
    }
    *list = NULL;
    return 1;
}

static int rlimit_child(void)
{
    size_t budget = (size_t)256 << 20;
    size_t vm = itest_vmsize();
    if (vm == 0)
        return 20;
    struct rlimit rl = {vm + budget, vm + budget};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 21;

    struct node *list = NULL;
    unsigned long c1, c2;
    int e1, e2;
    size_t b1 = exhaust(&list, &c1, &e1);
    if (e1) {
        fprintf(stderr, "FAIL enomem: allocation failed with errno %d, not ENOMEM, under RLIMIT_AS\n", e1);
        return 22;
    }
    if (b1 < budget / 4) {
        fprintf(stderr, "FAIL enomem: only %zu KiB could be allocated under a %zu KiB address-space budget\n",
                b1 >> 10, budget >> 10);
        return 23;
    }
    if (!release(&list))
        return 24;

    /* after freeing everything, memory must be usable again */
    void *probe = malloc(1u << 20);
    if (!probe) {
        fprintf(stderr, "FAIL enomem: malloc(1 MiB) fails after everything was freed (errno %d)\n", errno);
        return 25;
    }
    free(probe);
    probe = malloc(100);
    if (!probe) {
        fprintf(stderr, "FAIL enomem: malloc(100) fails after everything was freed\n");
        return 26;
    }
    free(probe);

    size_t b2 = exhaust(&list, &c2, &e2);
    if (e2)
        return 27;
    if (b2 < b1 / 2) {
        fprintf(stderr,
                "FAIL enomem: second round got %zu KiB (%lu blocks), first round %zu KiB (%lu blocks): "
                "freed memory is not reusable\n",
                b2 >> 10, c2, b1 >> 10, c1);
        return 28;
    }
    if (!release(&list))
        return 29;
    printf("enomem: RLIMIT_AS budget %zu MiB: round 1 %zu MiB in %lu blocks, round 2 %zu MiB in %lu blocks\n",
           budget >> 20, b1 >> 20, c1, b2 >> 20, c2);
    fflush(stdout);
    return 0;
}

int main(void)
{
    itest_init("enomem", 60);
    impossible_requests();

    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        FAIL("fork: %s", strerror(errno));
    if (pid == 0)
        _exit(rlimit_child());
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        FAIL("waitpid: %s", strerror(errno));
    if (WIFSIGNALED(st))
        FAIL("RLIMIT_AS child killed by signal %d (%s): the allocator crashed when out of address space",
             WTERMSIG(st), strsignal(WTERMSIG(st)));
    if (WEXITSTATUS(st) != 0)
        FAIL("RLIMIT_AS child failed with code %d (20-21 setup, 22 wrong errno, 23 too little memory, "
             "24/29 block damaged, 25/26 no memory after free, 27 wrong errno in round 2, 28 round 2 short)",
             WEXITSTATUS(st));
    printf("enomem: OK\n");
    return 0;
}
