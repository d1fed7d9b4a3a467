/*
 * fork_mt: fork() while other threads are in the middle of allocating.
 *
 * Worker threads malloc/calloc/realloc/posix_memalign/free in a loop (small,
 * medium and mmap-sized blocks) while the main thread forks 50 times.  Each
 * child checks a block inherited from the parent, frees it, mallocs/frees
 * in sizes the workers use, starts a new thread that allocates too, and
 * _exit(0)s.  The parent checks every child's exit status.  A child that
 * deadlocks on an allocator lock held at fork time dies from its own
 * alarm(); the parent has a watchdog as well.
 */
#include "itest.h"

#include <malloc.h>
#include <pthread.h>
#include <sys/wait.h>

#define WORKERS 2
#define FORKS 50

static volatile int stop_workers;
static volatile unsigned long worker_ops[WORKERS];

/* Workers pattern only the first and last 32 bytes: the point here is
 * allocator lock traffic, not bandwidth. */
static void fill_head(unsigned char *p, size_t n)
{
    uint64_t seed = itest_seed(p, n, 5);
    for (size_t i = 0; i < 32 && i < n; i++) {
        p[i] = itest_pat_byte(seed, i);
        p[n - 1 - i] = itest_pat_byte(seed, n - 1 - i);
    }
}

static int check_head(const unsigned char *p, size_t n)
{
    uint64_t seed = itest_seed(p, n, 5);
    for (size_t i = 0; i < 32 && i < n; i++)
        if (p[i] != itest_pat_byte(seed, i) || p[n - 1 - i] != itest_pat_byte(seed, n - 1 - i))
            return 0;
    return 1;
}

static void *worker(void *arg)
{
    int id = (int)(uintptr_t)arg;
    uint64_t rng = itest_mix((uint64_t)id + 77) | 1;
    void *slot[64] = {0};
    size_t slot_n[64] = {0};

    while (!stop_workers) {
        unsigned k = (unsigned)(itest_rand(&rng) % 64);
        uint64_t r = itest_rand(&rng);
        if (slot[k]) {
            if (!check_head(slot[k], slot_n[k]))
                FAIL("worker %d: block %p (%zu B) corrupted", id, slot[k], slot_n[k]);
            free(slot[k]);
            slot[k] = NULL;
        }
        size_t n;
        switch (r % 32) {
        case 0:
            n = 100000 + (r >> 8) % 400000; /* mmap-sized on glibc */
            break;
        case 1:
        case 2:
        case 3:
        case 4:
            n = 1024 + (r >> 8) % 30000;
            break;
        default:
            n = 1 + (r >> 8) % 512;
        }
        void *p;
        switch ((r >> 40) % 4) {
        case 0:
            p = calloc(1, n);
            break;
        case 1:
            if (posix_memalign(&p, 64, n) != 0)
                p = NULL;
            break;
        case 2:
            p = malloc(n / 2 + 1);
            if (p)
                p = realloc(p, n);
            break;
        default:
            p = malloc(n);
        }
        if (!p)
            FAIL("worker %d: allocation of %zu failed", id, n);
        fill_head(p, n);
        slot[k] = p;
        slot_n[k] = n;
        /* leave some CPU to the children on small machines */
        if (++worker_ops[id] % 512 == 0) {
            struct timespec ts = {0, 200 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    for (int k = 0; k < 64; k++)
        free(slot[k]);
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    void *ps[200];
    for (int i = 0; i < 200; i++) {
        size_t n = 8 + (size_t)i * 53;
        ps[i] = malloc(n);
        if (!ps[i])
            return (void *)1;
        memset(ps[i], i & 0xFF, n);
    }
    for (int i = 0; i < 200; i++) {
        size_t n = 8 + (size_t)i * 53;
        unsigned char *b = ps[i];
        if (b[0] != (i & 0xFF) || b[n - 1] != (i & 0xFF))
            return (void *)2;
        free(ps[i]);
    }
    void *big = malloc(1 << 20);
    if (!big)
        return (void *)3;
    memset(big, 1, 1 << 20);
    free(big);
    return NULL;
}

static int child_main(void *inherited, size_t inherited_n)
{
    signal(SIGALRM, SIG_DFL);
    alarm(10); /* a deadlocked child dies with SIGALRM */

    /* the block allocated by the parent before fork is intact and freeable */
    if (itest_check(inherited, inherited_n, 6) != (size_t)-1)
        return 10;
    free(inherited);

    void *ps[200];
    for (int i = 0; i < 200; i++) {
        size_t n = i % 50 == 0 ? 200000 : 1 + (size_t)i * 7;
        ps[i] = (i & 1) ? calloc(1, n) : malloc(n);
        if (!ps[i])
            return 11;
        itest_fill(ps[i], n, 7);
    }
    for (int i = 0; i < 200; i++) {
        size_t n = i % 50 == 0 ? 200000 : 1 + (size_t)i * 7;
        if (itest_check(ps[i], n, 7) != (size_t)-1)
            return 12;
        void *q = realloc(ps[i], n + 100);
        if (!q)
            return 13;
        free(q);
    }

    pthread_t t;
    void *ret = (void *)99;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0)
        return 14;
    if (pthread_join(t, &ret) != 0)
        return 15;
    if (ret != NULL)
        return 16 + (int)(uintptr_t)ret;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
    itest_init("fork_mt", 60);

    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) != 0)
            FAIL("pthread_create failed");

    for (int f = 0; f < FORKS; f++) {
        size_t n = 1000 + (size_t)f * 1000;
        void *inherited = malloc(n);
        if (!inherited)
            FAIL("malloc(%zu) failed", n);
        itest_fill(inherited, n, 6);

        /* let the workers get into their loops */
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);

        double t0 = now();
        pid_t pid = fork();
        if (pid < 0)
            FAIL("fork #%d failed: %s", f, strerror(errno));
        if (pid == 0)
            _exit(child_main(inherited, n));

        double t1 = now();
        int status = 0;
        if (waitpid(pid, &status, 0) != pid)
            FAIL("waitpid failed: %s", strerror(errno));
        if (WIFSIGNALED(status))
            FAIL("fork #%d: child killed by signal %d (%s)%s", f, WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WTERMSIG(status) == SIGALRM ? " - deadlocked after fork" : "");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            FAIL("fork #%d: child exited with status %d (see child_main for the code)", f, WEXITSTATUS(status));

        if (getenv("FORK_MT_VERBOSE"))
            fprintf(stderr, "fork %d: fork %.1f ms, child %.1f ms\n", f, (t1 - t0) * 1e3, (now() - t1) * 1e3);
        if (itest_check(inherited, n, 6) != (size_t)-1)
            FAIL("parent's block changed across fork");
        free(inherited);
    }

    stop_workers = 1;
    unsigned long ops = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        ops += worker_ops[i];
    }
    if (ops == 0)
        FAIL("workers made no progress");
    printf("fork_mt: OK (%d forks, %lu worker allocations)\n", FORKS, ops);
    return 0;
}
