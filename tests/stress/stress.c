/*
 * stress.c — multi-threaded allocation stress test (in the style of
 * mimalloc's test-stress).
 *
 *   stress [THREADS [SCALE [ROUNDS [SEED]]]]      defaults: 4 50 10 1
 *
 * Each round starts THREADS threads. Each thread performs about
 * 20000*SCALE/100 random operations on its own array of slots: malloc,
 * calloc, realloc, aligned allocation and free of random sizes (mostly
 * small, some up to a few MiB), and swaps blocks with a shared transfer
 * array so that a share of the blocks are freed or reallocated by another
 * thread. When a thread exits it leaves part of its blocks behind for the
 * next round's threads (so blocks outlive the thread that allocated them),
 * and the threads are replaced by new ones.
 *
 * Every block carries its requested size in its first word and a pattern
 * derived from its own address in the rest; it is checked before every
 * free and realloc (realloc: the preserved prefix keeps the old pattern),
 * calloc'd blocks are checked to be zero, aligned ones to be aligned, and
 * malloc_usable_size() must be at least the requested size. Any mismatch
 * prints the block and aborts.
 *
 * While the threads run, a monitor thread reads the allocator's statistics
 * every millisecond (mallinfo2(); hak_stats_get() in the -DSTRESS_HAK
 * build), as a monitoring thread in a server would.
 *
 * Built plainly it uses the standard names (run it under LD_PRELOAD);
 * built with -DSTRESS_HAK it calls hak_* directly (for linking with the
 * hakmem core, e.g. under ThreadSanitizer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef STRESS_HAK
#include "hakmem.h"
#define S_MALLOC hak_malloc
#define S_CALLOC hak_calloc
#define S_REALLOC hak_realloc
#define S_FREE hak_free
#define S_POSIX_MEMALIGN hak_posix_memalign
#define S_ALIGNED_ALLOC hak_aligned_alloc
#define S_USABLE hak_malloc_usable_size
#else
#define S_MALLOC malloc
#define S_CALLOC calloc
#define S_REALLOC realloc
#define S_FREE free
#define S_POSIX_MEMALIGN posix_memalign
#define S_ALIGNED_ALLOC aligned_alloc
#define S_USABLE malloc_usable_size
#endif

static int THREADS = 4;
static int SCALE = 50;
static int ROUNDS = 10;
static uint64_t SEED = 1;

#define TRANSFERS 1000
#define LEFTOVERS 4096
static _Atomic(uintptr_t) transfer[TRANSFERS];
static _Atomic(uintptr_t) leftover[LEFTOVERS];
static _Atomic(uint64_t) total_ops, total_bytes;

#define COOKIE ((uintptr_t)0xbf58476d1ce4e5b9ull)

static inline uint64_t rnd(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uintptr_t pat(const void *base, size_t i)
{
    return ((uintptr_t)base ^ COOKIE) + i * 0x9E3779B97F4A7C15ull;
}

/* Words checked: all of them up to 256 KiB, then the first and last 4 KiB
 * and one word in every 4 KiB page. */
#define FULL_WORDS (256 * 1024 / sizeof(uintptr_t))
#define PAGE_WORDS (4096 / sizeof(uintptr_t))
static inline int word_checked(size_t i, size_t nw)
{
    return nw <= FULL_WORDS || i < PAGE_WORDS || i + PAGE_WORDS >= nw || i % PAGE_WORDS == 7;
}

static void fail(const char *what, const void *p, size_t n, size_t i)
{
    fprintf(stderr, "stress: %s: block %p size %zu word %zu\n", what, p, n, i);
    abort();
}

static void fill(void *p, size_t n)
{
    uintptr_t *w = p;
    size_t nw = n / sizeof(uintptr_t);
    w[0] = n;
    for (size_t i = 1; i < nw; i++)
        if (word_checked(i, nw))
            w[i] = pat(p, i);
}

/* Checks words [1, upto) of a block filled for base `base`. */
static void check_words(const void *p, const void *base, size_t n, size_t upto_words)
{
    const uintptr_t *w = p;
    size_t nw = n / sizeof(uintptr_t);
    if (upto_words > nw)
        upto_words = nw;
    for (size_t i = 1; i < upto_words; i++) {
        if (word_checked(i, nw) && w[i] != pat(base, i)) {
            fprintf(stderr, "stress: word %zu at %p is %#lx, expected %#lx\n", i,
                    (void *)&w[i], (unsigned long)w[i], (unsigned long)pat(base, i));
            fail("pattern overwritten", p, n, i);
        }
    }
}

static size_t block_size(const void *p)
{
    size_t n = *(const uintptr_t *)p;
    if (n < 16 || n > ((size_t)64 << 20))
        fail("size word overwritten", p, n, 0);
    return n;
}

static void check(const void *p)
{
    size_t n = block_size(p);
    check_words(p, p, n, n / sizeof(uintptr_t));
    size_t us = S_USABLE((void *)p);
    if (us < n)
        fail("malloc_usable_size below the requested size", p, n, us);
}

static size_t pick_size(uint64_t *s)
{
    uint64_t r = rnd(s) % 1000;
    if (r < 850)
        return 16 + rnd(s) % 240;            /* 16 .. 255 */
    if (r < 950)
        return 256 + rnd(s) % (8 * 1024);    /* .. 8 KiB */
    if (r < 995)
        return 8 * 1024 + rnd(s) % (256 * 1024); /* .. 264 KiB */
    return 256 * 1024 + rnd(s) % ((size_t)4 << 20); /* .. ~4.25 MiB */
}

static void *alloc_block(uint64_t *s)
{
    size_t n = pick_size(s) & ~(size_t)7;
    if (n < 16)
        n = 16;
    uint64_t kind = rnd(s) % 100;
    void *p;
    if (kind < 15) {
        p = S_CALLOC(1, n);
        if (p) {
            const unsigned char *c = p;
            size_t lim = n < 65536 ? n : 65536;
            for (size_t i = 0; i < lim; i++)
                if (c[i])
                    fail("calloc block not zeroed", p, n, i);
            if (n > lim && (c[n - 1] || c[n / 2]))
                fail("calloc block not zeroed", p, n, n - 1);
        }
    } else if (kind < 20) {
        size_t align = (size_t)16 << (rnd(s) % 9); /* 16 .. 4096 */
        if (kind < 18) {
            p = NULL;
            int rc = S_POSIX_MEMALIGN(&p, align, n);
            if (rc != 0)
                p = NULL;
        } else {
            n = (n + align - 1) & ~(align - 1);
            p = S_ALIGNED_ALLOC(align, n);
        }
        if (p && ((uintptr_t)p & (align - 1)))
            fail("misaligned block", p, n, align);
    } else {
        p = S_MALLOC(n);
    }
    if (!p) {
        fprintf(stderr, "stress: out of memory for %zu bytes\n", n);
        abort();
    }
    fill(p, n);
    atomic_fetch_add_explicit(&total_bytes, n, memory_order_relaxed);
    return p;
}

static void free_block(void *p)
{
    if (!p)
        return;
    check(p);
    S_FREE(p);
}

static void *realloc_block(void *p, uint64_t *s)
{
    size_t old = block_size(p);
    check(p);
    size_t n = pick_size(s) & ~(size_t)7;
    if (n < 16)
        n = 16;
    uintptr_t oldbase = (uintptr_t)p;
    void *q = S_REALLOC(p, n);
    if (!q) {
        fprintf(stderr, "stress: realloc(%zu -> %zu) failed\n", old, n);
        abort();
    }
    /* the prefix keeps the old contents, pattern of the old address */
    if (*(uintptr_t *)q != old)
        fail("realloc lost the size word", q, n, 0);
    size_t keep = (old < n ? old : n) / sizeof(uintptr_t);
    const uintptr_t *w = q;
    size_t onw = old / sizeof(uintptr_t);
    for (size_t i = 1; i < keep; i++)
        if (word_checked(i, onw) && w[i] != pat((void *)oldbase, i))
            fail("realloc lost the contents", q, n, i);
    fill(q, n);
    return q;
}

typedef struct {
    int id;
    int round;
} targ_t;

static void *worker(void *arg)
{
    targ_t *ta = arg;
    uint64_t s = SEED * 0x100000001b3ull + (uint64_t)ta->round * 1000003u + (uint64_t)ta->id;
    size_t nslots = 200 + (size_t)SCALE * 8;
    size_t iters = (size_t)20000 * (size_t)SCALE / 100;
    void **slot = S_CALLOC(nslots, sizeof(void *));
    if (!slot)
        abort();
    /* blocks left by earlier rounds' threads: take and free some */
    for (int i = 0; i < 64; i++) {
        size_t k = rnd(&s) % LEFTOVERS;
        void *p = (void *)atomic_exchange(&leftover[k], (uintptr_t)0);
        free_block(p);
    }
    for (size_t it = 0; it < iters; it++) {
        size_t k = rnd(&s) % nslots;
        uint64_t r = rnd(&s) % 100;
        if (r < 8 && slot[k]) {
            slot[k] = realloc_block(slot[k], &s);
        } else if (r < 16) {
            /* hand the block to another thread, take whatever was there */
            if (!slot[k])
                slot[k] = alloc_block(&s);
            size_t t = rnd(&s) % TRANSFERS;
            slot[k] = (void *)atomic_exchange(&transfer[t], (uintptr_t)slot[k]);
        } else if (r < 50) {
            free_block(slot[k]);
            slot[k] = NULL;
        } else {
            free_block(slot[k]);
            slot[k] = alloc_block(&s);
        }
    }
    /* leave about a third of the blocks for the next threads */
    for (size_t k = 0; k < nslots; k++) {
        if (!slot[k])
            continue;
        if (rnd(&s) % 3 == 0) {
            size_t t = rnd(&s) % LEFTOVERS;
            void *old = (void *)atomic_exchange(&leftover[t], (uintptr_t)slot[k]);
            free_block(old);
        } else {
            free_block(slot[k]);
        }
    }
    S_FREE(slot);
    atomic_fetch_add_explicit(&total_ops, iters, memory_order_relaxed);
    return NULL;
}

static _Atomic int round_done;
static _Atomic(uint64_t) monitor_reads;

static void *monitor(void *arg)
{
    (void)arg;
    while (!atomic_load(&round_done)) {
#ifdef STRESS_HAK
        hak_stats_t st;
        hak_stats_get(&st);
        if (st.os_mapped_bytes > st.os_mapped_peak && st.os_mapped_peak != 0)
            fprintf(stderr, "stress: hak_stats_get: mapped %llu above peak %llu\n",
                    (unsigned long long)st.os_mapped_bytes, (unsigned long long)st.os_mapped_peak);
#else
        struct mallinfo2 mi = mallinfo2();
        (void)mi;
#endif
        atomic_fetch_add(&monitor_reads, 1);
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        THREADS = atoi(argv[1]);
    if (argc > 2)
        SCALE = atoi(argv[2]);
    if (argc > 3)
        ROUNDS = atoi(argv[3]);
    if (argc > 4)
        SEED = strtoull(argv[4], NULL, 10);
    if (THREADS < 1 || SCALE < 1 || ROUNDS < 1) {
        fprintf(stderr, "usage: %s [THREADS [SCALE [ROUNDS [SEED]]]]\n", argv[0]);
        return 2;
    }
    double t0 = now_s();
    pthread_t *th = S_CALLOC((size_t)THREADS, sizeof *th);
    targ_t *ta = S_CALLOC((size_t)THREADS, sizeof *ta);
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t mon;
        atomic_store(&round_done, 0);
        if (pthread_create(&mon, NULL, monitor, NULL) != 0) {
            fprintf(stderr, "stress: pthread_create failed\n");
            return 1;
        }
        for (int i = 0; i < THREADS; i++) {
            ta[i].id = i;
            ta[i].round = round;
            if (pthread_create(&th[i], NULL, worker, &ta[i]) != 0) {
                fprintf(stderr, "stress: pthread_create failed\n");
                return 1;
            }
        }
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        atomic_store(&round_done, 1);
        pthread_join(mon, NULL);
    }
    /* the main thread frees everything still shared */
    for (size_t i = 0; i < TRANSFERS; i++)
        free_block((void *)atomic_exchange(&transfer[i], (uintptr_t)0));
    for (size_t i = 0; i < LEFTOVERS; i++)
        free_block((void *)atomic_exchange(&leftover[i], (uintptr_t)0));
    S_FREE(th);
    S_FREE(ta);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("stress: %d threads x %d rounds, scale %d: %llu ops, %.1f MiB allocated, %.2f s, "
           "peak RSS %.1f MiB, %llu statistics reads: OK\n",
           THREADS, ROUNDS, SCALE, (unsigned long long)atomic_load(&total_ops),
           (double)atomic_load(&total_bytes) / 1048576.0, now_s() - t0,
           (double)ru.ru_maxrss / 1024.0, (unsigned long long)atomic_load(&monitor_reads));
    return 0;
}
