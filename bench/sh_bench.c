/*
 * sh_bench: runs of blocks of steadily growing or shrinking sizes, freed in
 * reverse, random or (across threads) forward order, in the manner of the
 * MicroQuill SmartHeap benchmarks sh6bench and sh8bench (written from their
 * description).
 *
 *   sh_bench [ITER [THREADS [MIN [MAX [N [CROSS [SEED]]]]]]]
 *   defaults: 100 2 1 1000 4000 0 1
 *
 * Each of THREADS threads does ITER iterations of:
 *   A  malloc N blocks of sizes MIN, MIN+d, MIN+2d, ... (cycling through
 *      [MIN, MAX]); free them last first;
 *   B  malloc N blocks of decreasing sizes; free them in random order;
 *   C  (CROSS=1, sh8bench) malloc N blocks of random sizes in [MIN, MAX]
 *      into a fresh array, post it to the next thread (at most 4 arrays
 *      wait), then free, first to last, every array posted to this thread.
 *      With the next thread's mailbox full, the thread frees its own.
 *
 * Ops = mallocs + frees (the arrays of phase C included).
 *
 * Output: Throughput = N ops/s [threads=T min=.. max=.. n=.. cross=..]
 *         time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_threads.h"

#define MAILBOX_CAP 4

static struct {
    uint64_t iter;
    unsigned threads;
    size_t min, max;
    uint32_t n;
    int cross;
    uint64_t seed;
} cfg = {100, 2, 1, 1000, 4000, 0, 1};

static gate_t g_gate;

typedef struct {
    unsigned id;
    pthread_t th;
    mailbox_t box;
    uint64_t ops;
    double end;
} worker_t;

static worker_t *g_workers;

static void usage(void)
{
    fprintf(stderr, "usage: sh_bench [ITER [THREADS [MIN [MAX [N [CROSS [SEED]]]]]]]\n"
                    "  defaults: 100 2 1 1000 4000 0 1\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const bench_arg_t args[] = {
        {"ITER", BA_U64, &cfg.iter},
        {"THREADS", BA_UINT, &cfg.threads},
        {"MIN", BA_SIZE, &cfg.min},
        {"MAX", BA_SIZE, &cfg.max},
        {"N", BA_U32, &cfg.n},
        {"CROSS", BA_FLAG, &cfg.cross},
        {"SEED", BA_U64, &cfg.seed},
    };
    parse_positional(argc, argv, 1, args, 7, usage);
    if (cfg.min == 0 || cfg.min > cfg.max || cfg.max - cfg.min >= (1ULL << 32))
        bench_die("need 1 <= MIN <= MAX and MAX - MIN < 2^32");
    if (cfg.iter == 0 || cfg.threads == 0 || cfg.threads > 1024 || cfg.n == 0 || cfg.n > (1u << 24))
        bench_die("ITER > 0, THREADS in 1..1024, N in 1..2^24");
}

static uint64_t free_array(xblock_t *a, uint64_t where)
{
    for (uint32_t k = 0; k < cfg.n; k++)
        xblock_free(&a[k], "sh_bench", where + k);
    free(a);
    return cfg.n + 1;
}

static void *worker(void *arg)
{
    worker_t *w = (worker_t *)arg;
    mailbox_t *next = &g_workers[(w->id + 1) % cfg.threads].box;
    rng_t rng;
    rng_seed(&rng, cfg.seed, w->id + 1);
    const uint64_t salt = ((uint64_t)w->id << 48) ^ cfg.seed;
    const size_t span = cfg.max - cfg.min + 1;
    /* size step: about 3 sweeps of [MIN, MAX] per run of N */
    size_t d = span * 3 / cfg.n;
    if (d == 0)
        d = 1;
    xblock_t *a = calloc(cfg.n, sizeof *a);
    uint32_t *perm = calloc(cfg.n, sizeof *perm);
    if (!a || !perm)
        bench_oom(cfg.n * sizeof *a);
    uint64_t ops = 0, t = 0;

    gate_wait(&g_gate);
    for (uint64_t it = 0; it < cfg.iter; it++) {
        /* A: growing sizes, freed last first */
        for (uint32_t k = 0; k < cfg.n; k++)
            xblock_new(&a[k], cfg.min + (k * d) % span, make_tag(t++, salt));
        for (uint32_t k = cfg.n; k-- > 0;)
            xblock_free(&a[k], "sh_bench", k);
        ops += 2 * (uint64_t)cfg.n;

        /* B: shrinking sizes, freed in random order */
        for (uint32_t k = 0; k < cfg.n; k++) {
            xblock_new(&a[k], cfg.max - (k * d) % span, make_tag(t++, salt));
            perm[k] = k;
        }
        for (uint32_t k = cfg.n - 1; k > 0; k--) {
            uint32_t j = rng_below(&rng, k + 1);
            uint32_t tmp = perm[k];
            perm[k] = perm[j];
            perm[j] = tmp;
        }
        for (uint32_t k = 0; k < cfg.n; k++)
            xblock_free(&a[perm[k]], "sh_bench", k);
        ops += 2 * (uint64_t)cfg.n;

        /* C: arrays handed to the next thread */
        if (cfg.cross) {
            xblock_t *c = xalloc(cfg.n * sizeof *c);
            for (uint32_t k = 0; k < cfg.n; k++)
                xblock_new(&c[k], rng_range(&rng, cfg.min, cfg.max), make_tag(t++, salt));
            ops += cfg.n + 1;
            if (!mailbox_put(next, c))
                ops += free_array(c, 0);
            xblock_t *in;
            while ((in = mailbox_get(&w->box)) != NULL)
                ops += free_array(in, 0);
        }
    }
    w->end = now_s();
    w->ops = ops;
    free(a);
    free(perm);
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
    double t0 = gate_open(&g_gate, cfg.threads), t1 = t0;
    uint64_t ops = 0;
    for (unsigned t = 0; t < cfg.threads; t++) {
        pthread_join(g_workers[t].th, NULL);
        ops += g_workers[t].ops;
        if (g_workers[t].end > t1)
            t1 = g_workers[t].end;
    }
    double secs = t1 - t0;
    for (unsigned t = 0; t < cfg.threads; t++) {
        xblock_t *in;
        while ((in = mailbox_get(&g_workers[t].box)) != NULL)
            free_array(in, 0);
        mailbox_destroy(&g_workers[t].box);
    }
    printf("Throughput = %.0f ops/s [threads=%u min=%zu max=%zu n=%u cross=%d] time=%.3fs\n",
           (double)ops / secs, cfg.threads, cfg.min, cfg.max, cfg.n, cfg.cross, secs);
    free(g_workers);
    return 0;
}
