/*
 * fork_storm.c — fork() while other threads allocate and free.
 *
 *   fork_storm [FORKS [THREADS]]        defaults: 100 2
 *
 * THREADS worker threads keep allocating and freeing, and swap blocks with
 * the main thread through a shared array, so that both sides free each
 * other's blocks (cross-thread frees) all the time. Meanwhile the main
 * thread forks FORKS times. Each child (with its own alarm() watchdog, so a
 * deadlock shows up as SIGALRM rather than a hang):
 *   - allocates, checks and frees blocks of many sizes in the forking thread
 *     (the sizes the workers use too, so it reaches slabs whose state the
 *     fork may have caught half-way through a cross-thread free);
 *   - frees the blocks it inherited in the shared array;
 *   - starts a thread that allocates and frees, and joins it;
 *   - exits (alternately with exit(), running the exit handlers, and _exit()).
 * A second phase aims at the cross-thread free protocol: the main thread
 * allocates 20000 blocks of 64 bytes (its slabs fill up, so the allocator
 * stops watching them), a thread frees them all (each full slab's first
 * remote free notifies the main thread's heap), and the main thread forks
 * meanwhile; each child allocates 64-byte blocks at once, which makes it
 * collect the notified slabs (a slab caught mid-notification must not make
 * it wait forever).
 * The parent waits for each child and requires exit status 0. A watchdog
 * alarm() bounds the whole run. Exit 0 if every child succeeded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 512
static _Atomic(uintptr_t) shared[SLOTS];
static _Atomic int stop;
static _Atomic long worker_ops;

static inline uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t pick(uint64_t *s)
{
    uint64_t r = rnd(s) % 100;
    if (r < 70)
        return 16 + rnd(s) % 112;
    if (r < 95)
        return 128 + rnd(s) % 4096;
    if (r < 99)
        return 4096 + rnd(s) % 200000;
    return 600000 + rnd(s) % 2000000;
}

/* A block: its size in word 0, its address xor a constant in word 1 and
 * in its last word. */
static void *make(size_t n)
{
    if (n < 24)
        n = 24;
    uintptr_t *p = malloc(n);
    if (!p)
        return NULL;
    p[0] = n;
    p[1] = (uintptr_t)p ^ 0xa5a5a5a5a5a5a5a5ull;
    p[n / sizeof(uintptr_t) - 1] = (uintptr_t)p ^ 0x5a5a5a5a5a5a5a5aull;
    return p;
}

static int ok(const void *v)
{
    const uintptr_t *p = v;
    size_t n = p[0];
    return n >= 24 && n < ((size_t)16 << 20) && p[1] == ((uintptr_t)p ^ 0xa5a5a5a5a5a5a5a5ull) &&
           p[n / sizeof(uintptr_t) - 1] == ((uintptr_t)p ^ 0x5a5a5a5a5a5a5a5aull);
}

static void drop(void *p, const char *who)
{
    if (!p)
        return;
    if (!ok(p)) {
        fprintf(stderr, "fork_storm: %s: block %p damaged\n", who, p);
        abort();
    }
    free(p);
}

static void *worker(void *arg)
{
    uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    void *mine[64] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < 64; i++) {
            size_t k = rnd(&s) % 64;
            drop(mine[k], "worker");
            mine[k] = make(pick(&s));
            if (rnd(&s) % 4 == 0) {
                /* swap with the shared array: the main thread or another
                 * worker frees it, we free what was there */
                size_t j = rnd(&s) % SLOTS;
                void *old = (void *)atomic_exchange(&shared[j], (uintptr_t)mine[k]);
                mine[k] = NULL;
                drop(old, "worker");
            }
        }
        atomic_fetch_add_explicit(&worker_ops, 64, memory_order_relaxed);
    }
    for (int i = 0; i < 64; i++)
        drop(mine[i], "worker");
    return NULL;
}

static void *child_thread(void *arg)
{
    uint64_t s = (uintptr_t)arg | 1;
    void *b[128] = {0};
    for (int i = 0; i < 1000; i++) {
        size_t k = rnd(&s) % 128;
        drop(b[k], "child thread");
        b[k] = make(pick(&s));
    }
    for (int i = 0; i < 128; i++)
        drop(b[i], "child thread");
    return NULL;
}

static int child_main(int n)
{
    alarm(20);
    uint64_t s = (uint64_t)n * 7919 + 17;
    void *b[256] = {0};
    for (int i = 0; i < 1000; i++) {
        size_t k = rnd(&s) % 256;
        drop(b[k], "child");
        b[k] = make(pick(&s));
        if (!b[k]) {
            fprintf(stderr, "fork_storm: child %d: malloc failed\n", n);
            return 3;
        }
    }
    /* the blocks inherited from the parent's threads */
    for (int i = 0; i < SLOTS; i++)
        drop((void *)atomic_exchange(&shared[i], (uintptr_t)0), "child (inherited)");
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)(n + 1)) != 0) {
        fprintf(stderr, "fork_storm: child %d: pthread_create failed\n", n);
        return 4;
    }
    pthread_join(t, NULL);
    for (int i = 0; i < 256; i++)
        drop(b[i], "child");
    return 0;
}

#define NOTIFY_N 20000
static void *notify_blk[NOTIFY_N];

static void *notify_freer(void *arg)
{
    (void)arg;
    for (int i = 0; i < NOTIFY_N; i++)
        drop(notify_blk[i], "notify freer");
    return NULL;
}

/* Forks while another thread frees the main thread's blocks; returns the
 * number of children that failed (*hung: of which killed by their alarm). */
static int notify_phase(int rounds, int *forks, int *hung)
{
    int failed = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < NOTIFY_N; i++)
            notify_blk[i] = make(64);
        pthread_t t;
        if (pthread_create(&t, NULL, notify_freer, NULL) != 0)
            return failed + 1;
        for (int k = 0; k < 3; k++) {
            pid_t pid = fork();
            if (pid < 0)
                continue;
            if (pid == 0) {
                alarm(20);
                for (int i = 0; i < 30000; i++)
                    if (!malloc(64))
                        _exit(3);
                _exit(0);
            }
            (*forks)++;
            int st;
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                failed++;
                if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
                    (*hung)++;
                fprintf(stderr, "fork_storm: notify phase child: %s %d\n",
                        WIFSIGNALED(st) ? "killed by signal" : "exit status",
                        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            }
        }
        pthread_join(t, NULL);
    }
    return failed;
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 100;
    int nthreads = argc > 2 ? atoi(argv[2]) : 2;
    if (forks < 1 || nthreads < 0 || nthreads > 64) {
        fprintf(stderr, "usage: %s [FORKS [THREADS]]\n", argv[0]);
        return 2;
    }
    alarm(300);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[64];
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0)
            return 2;
    uint64_t s = 99;
    int failed = 0, hung = 0;
    for (int f = 0; f < forks; f++) {
        /* the main thread takes part in the swapping too */
        for (int i = 0; i < 32; i++) {
            size_t j = rnd(&s) % SLOTS;
            void *old = (void *)atomic_exchange(&shared[j], (uintptr_t)make(pick(&s)));
            drop(old, "main");
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork_storm: fork");
            failed++;
            continue;
        }
        if (pid == 0) {
            int rc = child_main(f);
            if (f % 2)
                exit(rc);
            _exit(rc);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failed++;
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
                hung++;
            if (failed <= 5)
                fprintf(stderr, "fork_storm: child %d: %s %d\n", f,
                        WIFSIGNALED(st) ? "killed by signal" : "exit status",
                        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < SLOTS; i++)
        drop((void *)atomic_exchange(&shared[i], (uintptr_t)0), "main");
    int nforks = 0;
    failed += notify_phase(forks / 20 + 1, &nforks, &hung);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("fork_storm: %d forks with %d threads (%ld worker ops) + %d forks during"
           " cross-thread frees, %.2f s: %d children failed (%d hung): %s\n",
           forks, nthreads, atomic_load(&worker_ops), nforks, secs, failed, hung,
           failed ? "FAILED" : "OK");
    return failed ? 1 : 0;
}
