/*
 * thread_churn.c — many short-lived threads; memory must not grow with
 * their number.
 *
 *   thread_churn [THREADS [BATCH [MAX_RSS_MIB]]]      defaults: 10000 4 100
 *
 * Creates THREADS threads in batches of BATCH (created together, then
 * joined). Each thread allocates and frees a few hundred blocks of mixed
 * sizes (up to 64 KiB, and one block of 1 MiB), and leaves a few blocks in
 * a shared array for the next batch's threads to free: so every thread
 * exits with live blocks (its slabs are left to others) and frees blocks of
 * threads that have exited. Every block is checked before it is freed.
 *
 * At the end it prints the peak RSS (getrusage ru_maxrss) and fails if it
 * exceeds MAX_RSS_MIB. Exit 0 on success.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define HANDOFF 256
static _Atomic(uintptr_t) handoff[HANDOFF];
static _Atomic long damaged;

static inline uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* bytes after the size word that carry the pattern (the last byte is 0x77) */
static size_t fill_len(size_t n)
{
    return n - sizeof n - 1 > 64 ? 64 : n - sizeof n - 1;
}

static void *make(size_t n)
{
    unsigned char *p = malloc(n);
    if (!p) {
        fprintf(stderr, "thread_churn: malloc(%zu) failed\n", n);
        abort();
    }
    memcpy(p, &n, sizeof n);
    memset(p + sizeof n, (int)((uintptr_t)p >> 4) & 0xff, fill_len(n));
    p[n - 1] = 0x77;
    return p;
}

static void drop(void *v)
{
    unsigned char *p = v;
    if (!p)
        return;
    size_t n;
    memcpy(&n, p, sizeof n);
    int bad = n < 16 || n > ((size_t)2 << 20) || p[n - 1] != 0x77;
    size_t lim = bad ? 0 : fill_len(n);
    for (size_t i = 0; i < lim; i++)
        bad |= p[sizeof n + i] != (unsigned char)(((uintptr_t)p >> 4) & 0xff);
    if (bad) {
        if (atomic_fetch_add(&damaged, 1) == 0)
            fprintf(stderr, "thread_churn: block %p damaged\n", (void *)p);
        return; /* leak it rather than hand a damaged block back */
    }
    free(p);
}

static void *body(void *arg)
{
    uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ull | 1;
    void *b[64] = {0};
    for (int i = 0; i < 300; i++) {
        size_t k = rnd(&s) % 64;
        drop(b[k]);
        uint64_t r = rnd(&s) % 100;
        size_t n = r < 80 ? 16 + rnd(&s) % 256 : r < 98 ? 256 + rnd(&s) % 8192 : 8192 + rnd(&s) % 57344;
        b[k] = make(n);
    }
    drop(make((size_t)1 << 20));
    /* free a few blocks of threads that exited, leave a few of ours */
    for (int i = 0; i < 8; i++) {
        size_t j = rnd(&s) % HANDOFF;
        void *mine = b[i];
        b[i] = NULL;
        drop((void *)atomic_exchange(&handoff[j], (uintptr_t)mine));
    }
    /* and exit with some blocks still live in our slabs: they are freed
     * above by later threads (the handed-off ones) */
    for (int i = 8; i < 64; i++)
        drop(b[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    long total = argc > 1 ? atol(argv[1]) : 10000;
    int batch = argc > 2 ? atoi(argv[2]) : 4;
    long max_mib = argc > 3 ? atol(argv[3]) : 100;
    if (total < 1 || batch < 1 || batch > 256) {
        fprintf(stderr, "usage: %s [THREADS [BATCH [MAX_RSS_MIB]]]\n", argv[0]);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[256];
    long done = 0;
    long rss_at_10pct = 0;
    while (done < total) {
        int n = (int)(total - done < batch ? total - done : batch);
        for (int i = 0; i < n; i++) {
            if (pthread_create(&th[i], NULL, body, (void *)(uintptr_t)(done + i + 1)) != 0) {
                fprintf(stderr, "thread_churn: pthread_create failed after %ld threads\n", done);
                return 1;
            }
        }
        for (int i = 0; i < n; i++)
            pthread_join(th[i], NULL);
        done += n;
        if (!rss_at_10pct && done >= total / 10) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            rss_at_10pct = ru.ru_maxrss;
        }
    }
    for (int i = 0; i < HANDOFF; i++)
        drop((void *)atomic_exchange(&handoff[i], (uintptr_t)0));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    double peak = (double)ru.ru_maxrss / 1024.0;
    long d = atomic_load(&damaged);
    int fail = d != 0 || peak > (double)max_mib;
    printf("thread_churn: %ld threads in batches of %d, %.2f s, peak RSS %.1f MiB "
           "(%.1f MiB after 10%%; limit %ld MiB), %ld damaged blocks: %s\n",
           total, batch, secs, peak, (double)rss_at_10pct / 1024.0, max_mib, d,
           fail ? "FAILED" : "OK");
    return fail;
}
