/*
 * xmalloc_test: every block is freed by a thread other than the one that
 * allocated it, in batches, in the manner of the xmalloc-test benchmark
 * (written from its description).
 *
 *   xmalloc_test [SECONDS [THREADS [MIN [MAX [BATCH [SEED]]]]]]
 *   defaults: 2 4 16 128 256 1
 *
 * THREADS threads in a ring. Each one repeatedly: frees (after checking)
 * every batch waiting in its own mailbox, then mallocs a batch of BATCH
 * blocks of sizes uniform in [MIN, MAX] and posts it to the next thread's
 * mailbox (at most 16 batches wait in a mailbox; when the next one is
 * full the thread yields). With THREADS=1 a thread frees its own blocks.
 * After SECONDS the threads stop; the batches still waiting are freed by
 * the main thread, untimed.
 *
 * Ops = mallocs + frees in the threads.
 *
 * Output: Throughput = N ops/s [threads=T min=.. max=.. batch=B] time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_threads.h"

#define MAILBOX_CAP 16

static struct {
    double seconds;
    unsigned threads;
    size_t min, max;
    uint32_t batch;
    uint64_t seed;
} cfg = {2.0, 4, 16, 128, 256, 1};

static gate_t g_gate;
static atomic_int g_stop;

typedef struct {
    unsigned id;
    pthread_t th;
    mailbox_t box;
    uint64_t ops;
    uint64_t batches;
} worker_t;

static worker_t *g_workers;

static void usage(void)
{
    fprintf(stderr, "usage: xmalloc_test [SECONDS [THREADS [MIN [MAX [BATCH [SEED]]]]]]\n"
                    "  defaults: 2 4 16 128 256 1\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const bench_arg_t args[] = {
        {"SECONDS", BA_POS_DOUBLE, &cfg.seconds},
        {"THREADS", BA_UINT, &cfg.threads},
        {"MIN", BA_SIZE, &cfg.min},
        {"MAX", BA_SIZE, &cfg.max},
        {"BATCH", BA_U32, &cfg.batch},
        {"SEED", BA_U64, &cfg.seed},
    };
    parse_positional(argc, argv, 1, args, 6, usage);
    if (cfg.min == 0 || cfg.min > cfg.max || cfg.max - cfg.min >= (1ULL << 32))
        bench_die("need 1 <= MIN <= MAX and MAX - MIN < 2^32");
    if (cfg.threads == 0 || cfg.threads > 1024 || cfg.batch == 0 || cfg.batch > (1u << 20))
        bench_die("THREADS in 1..1024, BATCH in 1..2^20");
}

/* A batch is one malloc'ed array of block records (itself freed by the
 * receiver, so it crosses threads too). */
static void free_batch(xblock_t *batch, unsigned long long where)
{
    for (uint32_t k = 0; k < cfg.batch; k++)
        xblock_free(&batch[k], "xmalloc_test", where);
    free(batch);
}

static void *worker(void *arg)
{
    worker_t *w = (worker_t *)arg;
    worker_t *next = &g_workers[(w->id + 1) % cfg.threads];
    rng_t rng;
    rng_seed(&rng, cfg.seed, w->id + 1);
    const uint64_t salt = ((uint64_t)w->id << 48) ^ cfg.seed;
    uint64_t ops = 0, n = 0;
    xblock_t *ready = NULL; /* a batch made but not yet posted */

    gate_wait(&g_gate);
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        xblock_t *in;
        while ((in = mailbox_get(&w->box)) != NULL) {
            free_batch(in, n);
            ops += cfg.batch + 1;
        }
        if (!ready) {
            ready = xalloc(cfg.batch * sizeof *ready);
            for (uint32_t k = 0; k < cfg.batch; k++)
                xblock_new(&ready[k], rng_range(&rng, cfg.min, cfg.max),
                           make_tag(n * cfg.batch + k, salt));
            ops += cfg.batch + 1;
            n++;
        }
        if (mailbox_put(&next->box, ready))
            ready = NULL;
        else
            sched_yield();
    }
    if (ready)
        free_batch(ready, n);
    w->ops = ops;
    w->batches = n;
    return NULL;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    gate_init(&g_gate);
    g_workers = calloc(cfg.threads, sizeof *g_workers);
    if (!g_workers)
        bench_oom(cfg.threads * sizeof *g_workers);
    for (unsigned t = 0; t < cfg.threads; t++) {
        g_workers[t].id = t;
        mailbox_init(&g_workers[t].box, MAILBOX_CAP);
    }
    for (unsigned t = 0; t < cfg.threads; t++)
        g_workers[t].th = start_worker(worker, &g_workers[t]);
    double t0 = gate_open(&g_gate, cfg.threads);
    sleep_s(cfg.seconds);
    atomic_store_explicit(&g_stop, 1, memory_order_relaxed);
    for (unsigned t = 0; t < cfg.threads; t++)
        pthread_join(g_workers[t].th, NULL);
    double secs = now_s() - t0;

    uint64_t ops = 0;
    for (unsigned t = 0; t < cfg.threads; t++) {
        worker_t *w = &g_workers[t];
        ops += w->ops;
        xblock_t *in;
        while ((in = mailbox_get(&w->box)) != NULL)
            free_batch(in, t);
    }
    for (unsigned t = 0; t < cfg.threads; t++)
        mailbox_destroy(&g_workers[t].box);
    printf("Throughput = %.0f ops/s [threads=%u min=%zu max=%zu batch=%u] time=%.3fs\n",
           (double)ops / secs, cfg.threads, cfg.min, cfg.max, cfg.batch, secs);
    free(g_workers);
    return 0;
}
