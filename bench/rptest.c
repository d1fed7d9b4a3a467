/*
 * rptest: per-thread working sets of blocks whose sizes are skewed to small
 * but reach tens of KiB, with a share of the frees done by another thread,
 * in the manner of rpmalloc's benchmark and of alloc-test (written from
 * their descriptions).
 *
 *   rptest [SECONDS [THREADS [WS [MIN [MAX [CROSS [SEED]]]]]]]
 *   defaults: 2 2 4096 16 65536 16 1
 *
 * Each thread fills WS slots, then repeatedly replaces the block in a
 * random slot with a new one. Sizes: [MIN, 8*MIN) with probability 1/2,
 * the next 8x band 1/4, and so on, the last band taking the rest (for
 * 16..65536: half below 128 bytes, 1/8 above 8 KiB). With THREADS > 1,
 * one replaced block in CROSS (0: none) is not freed but collected into a
 * batch of 32 handed to the next thread, which frees the batches it
 * received every 64 steps. After SECONDS the threads stop.
 *
 * Ops = mallocs + frees in the threads (fill and final release untimed).
 *
 * Output: Throughput = N ops/s [threads=T ws=.. min=.. max=.. cross=..]
 *         time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_threads.h"

#define XBATCH 32
#define MAILBOX_CAP 64

static struct {
    double seconds;
    unsigned threads;
    uint32_t ws;
    size_t min, max;
    uint32_t cross;
    uint64_t seed;
} cfg = {2.0, 2, 4096, 16, 65536, 16, 1};

static gate_t g_gate;
static atomic_int g_stop;

typedef struct {
    unsigned id;
    pthread_t th;
    mailbox_t box;
    uint64_t ops;
} worker_t;

static worker_t *g_workers;

static void usage(void)
{
    fprintf(stderr, "usage: rptest [SECONDS [THREADS [WS [MIN [MAX [CROSS [SEED]]]]]]]\n"
                    "  defaults: 2 2 4096 16 65536 16 1\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const bench_arg_t args[] = {
        {"SECONDS", BA_POS_DOUBLE, &cfg.seconds},
        {"THREADS", BA_UINT, &cfg.threads},
        {"WS", BA_U32, &cfg.ws},
        {"MIN", BA_SIZE, &cfg.min},
        {"MAX", BA_SIZE, &cfg.max},
        {"CROSS", BA_U32, &cfg.cross},
        {"SEED", BA_U64, &cfg.seed},
    };
    parse_positional(argc, argv, 1, args, 7, usage);
    if (cfg.min == 0 || cfg.min > cfg.max || cfg.max > (1u << 30))
        bench_die("need 1 <= MIN <= MAX <= 2^30");
    if (cfg.threads == 0 || cfg.threads > 1024 || cfg.ws == 0 || cfg.ws > (1u << 24))
        bench_die("THREADS in 1..1024, WS in 1..2^24");
}

typedef struct {
    uint32_t n;
    xblock_t b[XBATCH];
} batch_t;

static uint64_t free_batch(batch_t *bt)
{
    for (uint32_t k = 0; k < bt->n; k++)
        xblock_free(&bt->b[k], "rptest", k);
    uint64_t n = bt->n + 1;
    free(bt);
    return n;
}

static void *worker(void *arg)
{
    worker_t *w = (worker_t *)arg;
    mailbox_t *next = &g_workers[(w->id + 1) % cfg.threads].box;
    const int cross = cfg.threads > 1 && cfg.cross > 0;
    rng_t rng;
    rng_seed(&rng, cfg.seed, w->id + 1);
    const uint64_t salt = ((uint64_t)w->id << 48) ^ cfg.seed;
    xblock_t *slots = calloc(cfg.ws, sizeof *slots);
    if (!slots)
        bench_oom(cfg.ws * sizeof *slots);
    for (uint32_t i = 0; i < cfg.ws; i++)
        xblock_new(&slots[i], skew_size(&rng, cfg.min, cfg.max), make_tag(~(uint64_t)i, salt));
    batch_t *out = NULL;
    uint64_t ops = 0;

    gate_wait(&g_gate);
    for (uint64_t i = 0;; i++) {
        if ((i & 63) == 0) {
            if (atomic_load_explicit(&g_stop, memory_order_relaxed))
                break;
            batch_t *in;
            while ((in = mailbox_get(&w->box)) != NULL)
                ops += free_batch(in);
        }
        xblock_t *s = &slots[rng_below(&rng, cfg.ws)];
        if (cross && i % cfg.cross == 0) {
            if (!out) {
                out = xalloc(sizeof *out);
                out->n = 0;
                ops++;
            }
            pat_verify(s->p, s->size, s->tag, "rptest", i);
            out->b[out->n++] = *s;
            if (out->n == XBATCH) {
                if (!mailbox_put(next, out))
                    ops += free_batch(out);
                out = NULL;
            }
        } else {
            xblock_free(s, "rptest", i);
            ops++;
        }
        xblock_new(s, skew_size(&rng, cfg.min, cfg.max), make_tag(i, salt));
        ops++;
    }
    w->ops = ops;
    if (out)
        free_batch(out);
    for (uint32_t i = 0; i < cfg.ws; i++)
        xblock_free(&slots[i], "rptest", i);
    free(slots);
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
    /* the time ends at the stop: the threads' own releases are not timed */
    double secs = now_s() - t0;
    for (unsigned t = 0; t < cfg.threads; t++)
        pthread_join(g_workers[t].th, NULL);
    uint64_t ops = 0;
    for (unsigned t = 0; t < cfg.threads; t++) {
        ops += g_workers[t].ops;
        batch_t *in;
        while ((in = mailbox_get(&g_workers[t].box)) != NULL)
            free_batch(in);
    }
    for (unsigned t = 0; t < cfg.threads; t++)
        mailbox_destroy(&g_workers[t].box);
    printf("Throughput = %.0f ops/s [threads=%u ws=%u min=%zu max=%zu cross=%u] time=%.3fs\n",
           (double)ops / secs, cfg.threads, cfg.ws, cfg.min, cfg.max, cfg.cross, secs);
    free(g_workers);
    return 0;
}
