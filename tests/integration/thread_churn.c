/*
 * thread_churn: create and join 10,000 short-lived threads, in small
 * sequential batches.  Each thread allocates and frees a few hundred blocks
 * and leaves a few blocks behind that the main thread verifies and frees.
 *
 * Behaviour check (not a timing one): per-thread allocator state must be
 * recycled, so resident memory and the number of mappings must stay bounded
 * while threads come and go.
 */
#include "itest.h"

#include <pthread.h>

#define TOTAL_THREADS 10000
#define BATCH 8
#define WORK_BLOCKS 300
#define LEFT_BLOCKS 4
#define WARMUP_THREADS 400
#define RSS_GROWTH_LIMIT (64u << 20)
#define MAPS_GROWTH_LIMIT 2000

struct slot {
    unsigned id;
    void *left[LEFT_BLOCKS];
    size_t left_n[LEFT_BLOCKS];
};

static struct slot slots[BATCH];

static size_t work_size(uint64_t *rng)
{
    uint64_t r = itest_rand(rng);
    switch (r % 32) {
    case 0:
        return 4096 + (r >> 8) % 28000;   /* medium */
    case 1:
        return (r >> 8) % 8 == 0 ? 300000 : 1000 + (r >> 8) % 3000;
    default:
        return 8 + (r >> 8) % 500;        /* small */
    }
}

/* Pattern on the first and last 64 bytes plus one byte per page in between:
 * touches every page (so leaks show in RSS) while keeping the test fast. */
static void fill_sparse(unsigned char *p, size_t n, unsigned salt)
{
    if (n <= 256) {
        itest_fill(p, n, salt);
        return;
    }
    uint64_t seed = itest_seed(p, n, salt);
    for (size_t i = 0; i < 64; i++) {
        p[i] = itest_pat_byte(seed, i);
        p[n - 64 + i] = itest_pat_byte(seed, n - 64 + i);
    }
    for (size_t i = 64; i < n - 64; i += 4096)
        p[i] = itest_pat_byte(seed, i);
}

static size_t check_sparse(const unsigned char *p, size_t n, unsigned salt)
{
    if (n <= 256)
        return itest_check(p, n, salt);
    uint64_t seed = itest_seed(p, n, salt);
    for (size_t i = 0; i < 64; i++) {
        if (p[i] != itest_pat_byte(seed, i))
            return i;
        if (p[n - 64 + i] != itest_pat_byte(seed, n - 64 + i))
            return n - 64 + i;
    }
    for (size_t i = 64; i < n - 64; i += 4096)
        if (p[i] != itest_pat_byte(seed, i))
            return i;
    return (size_t)-1;
}

static void *worker(void *arg)
{
    struct slot *s = arg;
    uint64_t rng = itest_mix(s->id + 1) | 1;
    void *live[32] = {0};
    size_t live_n[32] = {0};

    for (int i = 0; i < WORK_BLOCKS; i++) {
        unsigned k = (unsigned)(itest_rand(&rng) % 32);
        if (live[k]) {
            size_t bad = check_sparse(live[k], live_n[k], s->id);
            if (bad != (size_t)-1)
                FAIL("thread %u: block %p (%zu B) corrupted at offset %zu (byte 0x%02x; %zu of %zu bytes are zero)",
                     s->id, live[k], live_n[k], bad, ((unsigned char *)live[k])[bad],
                     itest_zero_bytes(live[k], live_n[k]), live_n[k]);
            free(live[k]);
        }
        live_n[k] = work_size(&rng);
        live[k] = malloc(live_n[k]);
        if (!live[k])
            FAIL("thread %u: malloc(%zu) returned NULL", s->id, live_n[k]);
        fill_sparse(live[k], live_n[k], s->id);
    }
    for (int k = 0; k < 32; k++)
        free(live[k]);

    for (int i = 0; i < LEFT_BLOCKS; i++) {
        size_t n = i == LEFT_BLOCKS - 1 ? 20000 + s->id % 1000 : 16 + (s->id * 7 + (unsigned)i * 61) % 700;
        s->left_n[i] = n;
        s->left[i] = malloc(n);
        if (!s->left[i])
            FAIL("thread %u: malloc(%zu) returned NULL", s->id, n);
        fill_sparse(s->left[i], n, s->id ^ 0x5555);
    }
    return NULL;
}

static void run_threads(unsigned from, unsigned to)
{
    pthread_t th[BATCH];
    for (unsigned base = from; base < to; base += BATCH) {
        unsigned cnt = to - base < BATCH ? to - base : BATCH;
        for (unsigned i = 0; i < cnt; i++) {
            slots[i].id = base + i;
            int rc = pthread_create(&th[i], NULL, worker, &slots[i]);
            if (rc != 0)
                FAIL("pthread_create #%u failed: %s", base + i, strerror(rc));
        }
        for (unsigned i = 0; i < cnt; i++) {
            pthread_join(th[i], NULL);
            for (int j = 0; j < LEFT_BLOCKS; j++) {
                struct slot *s = &slots[i];
                size_t bad = check_sparse(s->left[j], s->left_n[j], s->id ^ 0x5555);
                if (bad != (size_t)-1)
                    FAIL("block left by exited thread %u (%p, %zu B) corrupted at offset %zu "
                         "(byte 0x%02x; %zu of %zu bytes are zero)",
                         s->id, s->left[j], s->left_n[j], bad, ((unsigned char *)s->left[j])[bad],
                         itest_zero_bytes(s->left[j], s->left_n[j]), s->left_n[j]);
                free(s->left[j]);
            }
        }
    }
}

int main(void)
{
    itest_init("thread_churn", 90);

    run_threads(0, WARMUP_THREADS);
    size_t rss0 = itest_rss();
    long maps0 = itest_map_count();

    run_threads(WARMUP_THREADS, TOTAL_THREADS);
    size_t rss1 = itest_rss();
    long maps1 = itest_map_count();

    printf("thread_churn: %d threads, RSS after warm-up %zu KiB, after churn %zu KiB; "
           "mappings %ld -> %ld\n",
           TOTAL_THREADS, rss0 >> 10, rss1 >> 10, maps0, maps1);
    if (rss0 == 0 || rss1 == 0)
        FAIL("could not read RSS from /proc/self/statm");
    if (rss1 > rss0 && rss1 - rss0 > RSS_GROWTH_LIMIT)
        FAIL("RSS grew by %zu KiB over %d thread lifetimes (limit %u KiB): per-thread state leaks",
             (rss1 - rss0) >> 10, TOTAL_THREADS - WARMUP_THREADS, RSS_GROWTH_LIMIT >> 10);
    if (maps0 > 0 && maps1 - maps0 > MAPS_GROWTH_LIMIT)
        FAIL("number of mappings grew from %ld to %ld: per-thread mappings leak", maps0, maps1);

    /* The allocator must still be fully usable from the main thread. */
    void *p = malloc(12345);
    CHECK(p != NULL);
    itest_fill(p, 12345, 9);
    CHECK(itest_check(p, 12345, 9) == (size_t)-1);
    free(p);
    printf("thread_churn: OK\n");
    return 0;
}
