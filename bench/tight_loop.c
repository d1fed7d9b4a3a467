/*
 * tight_loop: the allocator's fast path with almost nothing else going on,
 * in the manner of glibc's malloc micro-benchmarks (simple and thread).
 *
 *   tight_loop MODE [ITER [THREADS [MIN [MAX [LIVE [SEED]]]]]]
 *   defaults: ITER=20M THREADS=1 MIN=16 MAX=16 LIVE=1 SEED=1
 *
 * MODE
 *   pair    malloc one block, write it, check it, free it; again.
 *   batch   malloc LIVE blocks of one size (drawn per batch, log-uniform
 *           in [MIN, MAX]), then free them all in allocation order.
 *   random  LIVE slots filled first; each step frees a random slot and
 *           mallocs a block of a log-uniform size in [MIN, MAX] into it.
 *
 * THREADS threads each do ITER mallocs and ITER frees, independently (each
 * its own blocks). Ops = mallocs + frees of all threads; the time runs from
 * the start gate to the last thread's end.
 *
 * Output: Throughput = N ops/s [mode=.. threads=T min=.. max=.. live=..]
 *         time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_threads.h"

enum { MODE_PAIR, MODE_BATCH, MODE_RANDOM };

static struct {
    int mode;
    const char *mode_name;
    uint64_t iter;
    unsigned threads;
    size_t min, max;
    uint32_t live;
    uint64_t seed;
} cfg = {MODE_PAIR, "pair", 20000000ULL, 1, 16, 16, 1, 1};

static gate_t g_gate;

typedef struct {
    unsigned id;
    pthread_t th;
    double end;
} worker_t;

static void usage(void)
{
    fprintf(stderr, "usage: tight_loop pair|batch|random [ITER [THREADS [MIN [MAX [LIVE [SEED]]]]]]\n"
                    "  defaults: 20M 1 16 16 1 1\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "pair") == 0)
        cfg.mode = MODE_PAIR;
    else if (strcmp(argv[1], "batch") == 0)
        cfg.mode = MODE_BATCH;
    else if (strcmp(argv[1], "random") == 0)
        cfg.mode = MODE_RANDOM;
    else
        usage();
    cfg.mode_name = argv[1];
    static const bench_arg_t args[] = {
        {"ITER", BA_U64, &cfg.iter},
        {"THREADS", BA_UINT, &cfg.threads},
        {"MIN", BA_SIZE, &cfg.min},
        {"MAX", BA_SIZE, &cfg.max},
        {"LIVE", BA_U32, &cfg.live},
        {"SEED", BA_U64, &cfg.seed},
    };
    parse_positional(argc, argv, 2, args, 6, usage);
    if (cfg.min == 0 || cfg.min > cfg.max || cfg.max > (1ULL << 30))
        bench_die("need 1 <= MIN <= MAX <= 2^30");
    if (cfg.iter == 0 || cfg.threads == 0 || cfg.threads > 1024 || cfg.live == 0 ||
        cfg.live > (1u << 24))
        bench_die("ITER > 0, THREADS in 1..1024, LIVE in 1..2^24");
}

static inline size_t draw_size(rng_t *r)
{
    return cfg.min == cfg.max ? cfg.min : rng_log_range(r, cfg.min, cfg.max);
}

static void *worker(void *arg)
{
    worker_t *w = (worker_t *)arg;
    rng_t rng;
    rng_seed(&rng, cfg.seed, w->id + 1);
    const uint64_t salt = ((uint64_t)w->id << 48) ^ cfg.seed;
    const char *name = "tight_loop";
    xblock_t *slots = NULL;
    if (cfg.mode != MODE_PAIR) {
        slots = calloc(cfg.live, sizeof *slots);
        if (!slots)
            bench_oom(cfg.live * sizeof *slots);
    }
    if (cfg.mode == MODE_RANDOM)
        for (uint32_t i = 0; i < cfg.live; i++)
            xblock_new(&slots[i], draw_size(&rng), make_tag(~(uint64_t)i, salt));

    gate_wait(&g_gate);

    if (cfg.mode == MODE_PAIR) {
        const size_t span = cfg.max - cfg.min + 1;
        for (uint64_t i = 0; i < cfg.iter; i++) {
            size_t sz = span == 1 ? cfg.min : cfg.min + (i % span);
            uint64_t tag = make_tag(i, salt);
            void *p = xalloc(sz);
            pat_write(p, sz, tag);
            pat_verify(p, sz, tag, name, i);
            free(p);
        }
    } else if (cfg.mode == MODE_BATCH) {
        uint64_t done = 0;
        while (done < cfg.iter) {
            uint64_t n = cfg.iter - done < cfg.live ? cfg.iter - done : cfg.live;
            size_t sz = draw_size(&rng);
            for (uint64_t k = 0; k < n; k++)
                xblock_new(&slots[k], sz, make_tag(done + k, salt));
            for (uint64_t k = 0; k < n; k++)
                xblock_free(&slots[k], name, done + k);
            done += n;
        }
    } else {
        for (uint64_t i = 0; i < cfg.iter; i++) {
            uint64_t x = rng_next(&rng);
            xblock_t *s = &slots[((x >> 32) * cfg.live) >> 32];
            xblock_free(s, name, i);
            xblock_new(s, draw_size(&rng), make_tag(i, salt));
        }
    }
    w->end = now_s();

    if (cfg.mode == MODE_RANDOM)
        for (uint32_t i = 0; i < cfg.live; i++)
            xblock_free(&slots[i], name, i);
    free(slots);
    return NULL;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    gate_init(&g_gate);
    worker_t *ws = calloc(cfg.threads, sizeof *ws);
    if (!ws)
        bench_oom(cfg.threads * sizeof *ws);
    for (unsigned t = 0; t < cfg.threads; t++) {
        ws[t].id = t;
        ws[t].th = start_worker(worker, &ws[t]);
    }
    double t0 = gate_open(&g_gate, cfg.threads), t1 = t0;
    for (unsigned t = 0; t < cfg.threads; t++) {
        pthread_join(ws[t].th, NULL);
        if (ws[t].end > t1)
            t1 = ws[t].end;
    }
    double secs = t1 - t0;
    uint64_t ops = 2 * cfg.iter * cfg.threads;
    printf("Throughput = %.0f ops/s [mode=%s threads=%u min=%zu max=%zu live=%u] time=%.3fs\n",
           (double)ops / secs, cfg.mode_name, cfg.threads, cfg.min, cfg.max, cfg.live, secs);
    free(ws);
    return 0;
}
