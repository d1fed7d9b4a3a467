/*
 * oom.c — running out of memory, and absurd requests.
 *
 *   oom [LIMIT_MIB]        default 256
 *
 * Each part runs in its own child process whose address space is limited
 * (setrlimit RLIMIT_AS to its current size + LIMIT_MIB). For each of: small
 * blocks (200 bytes), medium blocks (40 KiB), large blocks (1-3 MiB), and a
 * mix of them:
 *   - allocate until malloc returns NULL; errno must be ENOMEM;
 *   - free everything;
 *   - allocate again: must get at least 60% as many bytes as the first
 *     time (the memory freed must be usable again);
 *   - free everything, then malloc(32 MiB) must succeed: memory freed as
 *     blocks of one size must serve a request of another.
 * Every block is written (first and last byte) and checked before it is
 * freed. While memory is exhausted, a new thread (small stack) must be able
 * to call malloc and get either a block or NULL/ENOMEM.
 *
 * A fifth part makes absurd requests (under the same limit), which must
 * fail with NULL and errno ENOMEM (posix_memalign: return ENOMEM, *out
 * untouched) and leave the process working: SIZE_MAX, SIZE_MAX - 4,
 * PTRDIFF_MAX, PTRDIFF_MAX + 1 and 1 TiB through malloc, calloc, valloc,
 * pvalloc, memalign, aligned_alloc, posix_memalign, and realloc of live
 * blocks of 8, 100, 5000 bytes and 2 MiB (which must stay valid and
 * unchanged, as must their neighbours); calloc and reallocarray whose
 * product overflows.
 *
 * Exit 0 if every part passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
#define CHECK(cond, ...)                                     \
    do {                                                     \
        if (!(cond)) {                                       \
            failures++;                                      \
            printf("oom: FAIL: " __VA_ARGS__);               \
            printf("\n");                                    \
            fflush(stdout);                                  \
        }                                                    \
    } while (0)

#define MAXBLK (4u << 20)
static unsigned char **blk;     /* mapped before the limit is set */
static size_t *blen;

/* Hides a size from the compiler (which would warn about the absurd ones). */
static size_t opaque(size_t n)
{
    __asm__ volatile("" : "+r"(n));
    return n;
}

static size_t vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t size_for(int mode, size_t i)
{
    switch (mode) {
    case 0: return 200;
    case 1: return 40 * 1024;
    case 2: return ((size_t)1 << 20) + (i % 3) * ((size_t)1 << 20);
    default: return i % 10 == 9 ? ((size_t)1 << 20) + 4096 * (i % 100) : 16 + (i * 37) % 3000;
    }
}

static void *thread_malloc(void *arg)
{
    (void)arg;
    errno = 0;
    void *p = malloc(100);
    int e = errno;
    if (p) {
        memset(p, 1, 100);
        free(p);
        return (void *)1;
    }
    return e == ENOMEM ? (void *)2 : (void *)3;
}

/* Fills memory with blocks of the mode's sizes until malloc fails.
 * Returns the bytes obtained; *count the number of blocks. */
static size_t fill(int mode, size_t *count, const char *phase)
{
    size_t n = 0, bytes = 0;
    for (;;) {
        if (n == MAXBLK) {
            CHECK(0, "%s mode %d: %u blocks and no failure", phase, mode, MAXBLK);
            break;
        }
        size_t sz = size_for(mode, n);
        errno = 0;
        unsigned char *p = malloc(sz);
        if (!p) {
            CHECK(errno == ENOMEM, "%s mode %d: malloc(%zu) returned NULL with errno %d", phase,
                  mode, sz, errno);
            break;
        }
        p[0] = (unsigned char)n;
        p[sz - 1] = (unsigned char)(n >> 3);
        blk[n] = p;
        blen[n] = sz;
        n++;
        bytes += sz;
    }
    *count = n;
    return bytes;
}

static void empty(size_t n, int mode)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = blk[i];
        if (p[0] != (unsigned char)i || p[blen[i] - 1] != (unsigned char)(i >> 3)) {
            CHECK(0, "mode %d: block %zu (%p, %zu bytes) damaged", mode, i, (void *)p, blen[i]);
            continue;
        }
        free(p);
    }
}

/* Maps the block table and sets the address-space limit. */
static int setup(size_t limit_mib, int verbose)
{
    blk = mmap(NULL, MAXBLK * sizeof *blk, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    blen = mmap(NULL, MAXBLK * sizeof *blen, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (blk == MAP_FAILED || blen == MAP_FAILED)
        return -1;
    /* warm up the allocator and stdio before the limit */
    free(malloc(100));
    if (verbose) {
        printf("oom: child VM %zu MiB, limit +%zu MiB\n", vm_bytes() >> 20, limit_mib);
        fflush(stdout);
    }
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = vm_bytes() + (limit_mib << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        perror("setrlimit");
        return -1;
    }
    return 0;
}

static const char *names[] = {"small", "medium", "large", "mixed"};

/* One mode, in its own process: fill, free, fill again, then a 32 MiB
 * block. */
static int exhaust(int mode)
{
    size_t n1, n2;
    size_t b1 = fill(mode, &n1, "first fill");
    /* memory is exhausted: a new thread's first malloc must not crash */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    pthread_t t;
    /* make room for the thread's stack */
    size_t keep = n1;
    size_t freed = 0;
    while (keep > 0 && freed < ((size_t)1 << 20)) {
        keep--;
        freed += blen[keep];
        free(blk[keep]);
    }
    if (pthread_create(&t, &a, thread_malloc, NULL) == 0) {
        void *r;
        pthread_join(t, &r);
        CHECK(r != (void *)3, "%s: malloc in a new thread failed without ENOMEM", names[mode]);
    }
    pthread_attr_destroy(&a);
    empty(keep, mode);
    size_t b2 = fill(mode, &n2, "second fill");
    empty(n2, mode);
    /* everything is free again: memory held for one size must serve
     * another (a program that hit the limit, dropped its caches and now
     * needs one big buffer) */
    errno = 0;
    void *big = malloc((size_t)32 << 20);
    CHECK(big != NULL,
          "%s: malloc(32 MiB) failed (errno %d) after %zu MiB of blocks were freed",
          names[mode], errno, b2 >> 20);
    if (big) {
        memset(big, 1, (size_t)32 << 20);
        free(big);
    }
    CHECK(b2 * 10 >= b1 * 6,
          "%s: second fill got %zu bytes, the first %zu: freed memory not reused",
          names[mode], b2, b1);
    printf("oom: %-6s first fill %zu blocks (%zu MiB), second %zu blocks (%zu MiB)\n",
           names[mode], n1, b1 >> 20, n2, b2 >> 20);
    fflush(stdout);
    return failures ? 1 : 0;
}

static int absurd(void)
{
    /* absurd requests */
    const size_t TIB = (size_t)1 << 40;
    struct { const char *what; size_t n; } big[] = {
        {"SIZE_MAX", SIZE_MAX},
        {"SIZE_MAX - 4", SIZE_MAX - 4},
        {"PTRDIFF_MAX", (size_t)PTRDIFF_MAX},
        {"PTRDIFF_MAX + 1", (size_t)PTRDIFF_MAX + 1},
        {"1 TiB", TIB},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        big[i].n = opaque(big[i].n);
        errno = 0;
        void *p = malloc(big[i].n);
        CHECK(p == NULL && errno == ENOMEM, "malloc(%s) = %p errno %d", big[i].what, p, errno);
        errno = 0;
        p = calloc(1, big[i].n);
        CHECK(p == NULL && errno == ENOMEM, "calloc(1, %s) = %p errno %d", big[i].what, p, errno);
        errno = 0;
        p = valloc(big[i].n);
        CHECK(p == NULL && errno == ENOMEM, "valloc(%s) = %p errno %d", big[i].what, p, errno);
        errno = 0;
        p = pvalloc(big[i].n);
        CHECK(p == NULL && errno == ENOMEM, "pvalloc(%s) = %p errno %d", big[i].what, p, errno);
        errno = 0;
        p = memalign(64, big[i].n);
        CHECK(p == NULL && errno == ENOMEM, "memalign(64, %s) = %p errno %d", big[i].what, p,
              errno);
        errno = 0;
        p = aligned_alloc(4096, big[i].n & ~(size_t)4095);
        CHECK(p == NULL && errno == ENOMEM, "aligned_alloc(4096, %s) = %p errno %d",
              big[i].what, p, errno);
        p = (void *)1;
        int rc = posix_memalign(&p, 64, big[i].n);
        CHECK(rc == ENOMEM && p == (void *)1, "posix_memalign(64, %s) = %d", big[i].what, rc);
        /* realloc of live blocks of several sizes: NULL, ENOMEM, block kept */
        static const size_t from[] = {8, 100, 5000, (size_t)2 << 20};
        for (size_t j = 0; j < sizeof from / sizeof from[0]; j++) {
            size_t m = from[j];
            unsigned char *q = malloc(m);
            unsigned char *guard = malloc(m);
            if (!q || !guard) {
                CHECK(0, "malloc(%zu) failed", m);
                free(q);
                free(guard);
                continue;
            }
            memset(q, 0x5c, m);
            memset(guard, 0x3e, m);
            errno = 0;
            void *r = realloc(q, big[i].n);
            CHECK(r == NULL && errno == ENOMEM, "realloc(%zu-byte block, %s) = %p errno %d", m,
                  big[i].what, r, errno);
            if (r == NULL) {
                int same = 1;
                for (size_t k = 0; k < m; k++)
                    same &= q[k] == 0x5c;
                CHECK(same, "realloc(%zu-byte block, %s) failed but changed the block", m,
                      big[i].what);
                for (size_t k = 0; k < m; k++)
                    same &= guard[k] == 0x3e;
                CHECK(same, "realloc(%zu-byte block, %s) changed another block", m,
                      big[i].what);
                free(q);
            } else {
                free(r); /* a successful realloc freed q */
            }
            free(guard);
        }
    }
    errno = 0;
    void *p = calloc(opaque(SIZE_MAX / 2), 3);
    CHECK(p == NULL && errno == ENOMEM, "calloc(SIZE_MAX/2, 3) = %p errno %d", p, errno);
    errno = 0;
    p = calloc(opaque((size_t)1 << 33), (size_t)1 << 31);
    CHECK(p == NULL && errno == ENOMEM, "calloc(2^33, 2^31) = %p errno %d", p, errno);
    void *q = malloc(32);
    errno = 0;
    p = reallocarray(q, opaque(SIZE_MAX / 4), 8);
    CHECK(p == NULL && errno == ENOMEM, "reallocarray(p, SIZE_MAX/4, 8) = %p errno %d", p, errno);
    if (p == NULL)
        free(q);
    else
        free(p);
    /* still working */
    p = malloc(1000);
    CHECK(p != NULL, "malloc(1000) after the absurd requests failed");
    free(p);
    printf("oom: absurd requests checked\n");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    size_t limit = argc > 1 ? (size_t)atol(argv[1]) : 256;
    alarm(300);
    int bad = 0;
    /* modes 0-3: exhaustion with one kind of block each; 4: absurd requests */
    for (int mode = 0; mode <= 4; mode++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            return 2;
        if (pid == 0) {
            if (setup(limit, mode == 0) != 0)
                _exit(2);
            _exit(mode < 4 ? exhaust(mode) : absurd());
        }
        int st;
        waitpid(pid, &st, 0);
        const char *what = mode < 4 ? names[mode] : "absurd";
        if (WIFSIGNALED(st)) {
            printf("oom: %s: child killed by signal %d\n", what, WTERMSIG(st));
            bad++;
        } else if (WEXITSTATUS(st) != 0) {
            printf("oom: %s: child exit status %d\n", what, WEXITSTATUS(st));
            bad++;
        }
    }
    printf("oom: %d of 5 parts failed: %s\n", bad, bad ? "FAILED" : "OK");
    return bad ? 1 : 0;
}
