/*
 * larson: a server-style workload after Larson & Krishnan's benchmark
 * (written from its published description).
 *
 *   larson [SECONDS [MIN [MAX [CHUNKS [ROUNDS [SEED [THREADS]]]]]]]
 *   defaults: 2 16 1024 1000 20 1 2
 *
 * THREADS independent lineages run at once. Each owns an array of CHUNKS
 * blocks of random sizes in [MIN, MAX], first filled by the main thread.
 * A thread repeatedly verifies and frees a random block of its array and
 * allocates a new one in its place. After ROUNDS passes over the array
 * (ROUNDS * CHUNKS replacements) it starts a successor thread, hands it the
 * array and exits; so most blocks are freed by a thread other than the one
 * that allocated them, often one that has since exited, and threads churn.
 * After SECONDS the lineages stop; the main thread verifies and frees the
 * remaining blocks.
 *
 * Ops are mallocs plus frees in the threads (the main thread's initial fill
 * and final release are not timed).
 *
 * Output: Throughput = N ops/s [threads=T min=.. max=.. chunks=.. rounds=..
 *         generations=G] time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    void *p;
    uint64_t tag;
    size_t size;
} block_t;

/* Everything one lineage owns; passed from each thread to its successor. */
typedef struct {
    unsigned id;
    block_t *blocks;
    rng_t rng;
    uint64_t ops;
    uint64_t step;        /* replacements done so far (tag source) */
    uint64_t generations; /* threads this lineage has run on */
} lineage_t;

static struct {
    double seconds;
    size_t min, max;
    uint32_t chunks;
    uint64_t rounds;
    uint64_t seed;
    unsigned threads;
} cfg = {2.0, 16, 1024, 1000, 20, 1, 2};

static atomic_int g_stop;
static pthread_mutex_t g_done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_done_cond = PTHREAD_COND_INITIALIZER;
static unsigned g_done;

static void usage(void)
{
    fprintf(stderr, "usage: larson [SECONDS [MIN [MAX [CHUNKS [ROUNDS [SEED [THREADS]]]]]]]\n"
                    "  defaults: 2 16 1024 1000 20 1 2\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const bench_arg_t args[] = {
        {"SECONDS", BA_POS_DOUBLE, &cfg.seconds},
        {"MIN", BA_SIZE, &cfg.min},
        {"MAX", BA_SIZE, &cfg.max},
        {"CHUNKS", BA_U32, &cfg.chunks},
        {"ROUNDS", BA_U64, &cfg.rounds},
        {"SEED", BA_U64, &cfg.seed},
        {"THREADS", BA_UINT, &cfg.threads},
    };
    parse_positional(argc, argv, 1, args, 7, usage);
    if (cfg.min == 0 || cfg.min > cfg.max || cfg.max - cfg.min >= (1ULL << 32))
        bench_die("need 1 <= MIN <= MAX and MAX - MIN < 2^32");
    if (cfg.chunks == 0 || cfg.rounds == 0 || cfg.threads == 0 || cfg.threads > 1024)
        bench_die("CHUNKS and ROUNDS must be > 0, THREADS in 1..1024");
}

static inline void new_block(lineage_t *l, block_t *b)
{
    size_t sz = rng_range(&l->rng, cfg.min, cfg.max);
    void *p = malloc(sz);
    if (__builtin_expect(p == NULL, 0))
        bench_oom(sz);
    uint64_t tag = make_tag(l->step, ((uint64_t)l->id << 48) ^ cfg.seed);
    pat_write(p, sz, tag);
    b->p = p;
    b->size = sz;
    b->tag = tag;
}

static void *worker(void *arg);

/* Starts a detached thread running the lineage, retrying while the system
 * is short of threads for a moment. */
static void start_thread(lineage_t *l)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int tries = 0;; tries++) {
        pthread_t t;
        int rc = pthread_create(&t, &attr, worker, l);
        if (rc == 0)
            break;
        if (rc != EAGAIN || tries > 1000)
            bench_die("pthread_create: %s", strerror(rc));
        sleep_s(0.001);
    }
    pthread_attr_destroy(&attr);
}

static void *worker(void *arg)
{
    lineage_t *l = (lineage_t *)arg;
    const uint64_t steps = cfg.rounds * (uint64_t)cfg.chunks;
    block_t *blocks = l->blocks;
    l->generations++;

    for (uint64_t i = 0; i < steps; i++) {
        if ((i & 63) == 0 && atomic_load_explicit(&g_stop, memory_order_relaxed))
            break;
        block_t *b = &blocks[rng_below(&l->rng, cfg.chunks)];
        pat_verify(b->p, b->size, b->tag, "larson", l->step);
        free(b->p);
        new_block(l, b);
        l->step++;
        l->ops += 2;
    }

    if (!atomic_load_explicit(&g_stop, memory_order_acquire)) {
        start_thread(l); /* the successor now owns l */
        return NULL;
    }
    pthread_mutex_lock(&g_done_lock);
    g_done++;
    pthread_cond_signal(&g_done_cond);
    pthread_mutex_unlock(&g_done_lock);
    return NULL;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);

    lineage_t *lin = calloc(cfg.threads, sizeof *lin);
    if (!lin)
        bench_oom(cfg.threads * sizeof *lin);
    for (unsigned t = 0; t < cfg.threads; t++) {
        lineage_t *l = &lin[t];
        l->id = t;
        rng_seed(&l->rng, cfg.seed, t + 1);
        l->blocks = calloc(cfg.chunks, sizeof *l->blocks);
        if (!l->blocks)
            bench_oom(cfg.chunks * sizeof *l->blocks);
        for (uint32_t c = 0; c < cfg.chunks; c++) {
            new_block(l, &l->blocks[c]);
            l->step++;
        }
    }

    double t0 = now_s();
    for (unsigned t = 0; t < cfg.threads; t++)
        start_thread(&lin[t]);
    sleep_s(cfg.seconds);
    atomic_store_explicit(&g_stop, 1, memory_order_release);

    pthread_mutex_lock(&g_done_lock);
    while (g_done < cfg.threads)
        pthread_cond_wait(&g_done_cond, &g_done_lock);
    pthread_mutex_unlock(&g_done_lock);
    double secs = now_s() - t0;

    uint64_t ops = 0, gens = 0;
    for (unsigned t = 0; t < cfg.threads; t++) {
        lineage_t *l = &lin[t];
        ops += l->ops;
        gens += l->generations;
        for (uint32_t c = 0; c < cfg.chunks; c++) {
            block_t *b = &l->blocks[c];
            pat_verify(b->p, b->size, b->tag, "larson", c);
            free(b->p);
        }
        free(l->blocks);
    }
    free(lin);

    printf("Throughput = %llu ops/s [threads=%u min=%zu max=%zu chunks=%u rounds=%llu "
           "generations=%llu] time=%.3fs\n",
           (unsigned long long)((double)ops / secs), cfg.threads, cfg.min, cfg.max, cfg.chunks,
           (unsigned long long)cfg.rounds, (unsigned long long)gens, secs);
    return 0;
}
