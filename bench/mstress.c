/*
 * mstress: many short-lived threads, mixed sizes with a few very large
 * blocks, and blocks that outlive the thread that allocated them, in the
 * manner of mimalloc's stress test (written from its description).
 *
 *   mstress [THREADS [ROUNDS [STEPS [SEED]]]]
 *   defaults: 8 20 20000 1
 *
 * A shared table of 1024 slots (block records, each under a spin lock)
 * lives for the whole run.
 * Each round the main thread starts THREADS threads and joins them. A
 * thread keeps 256 local slots and does STEPS steps, each on a random local
 * slot: 45% free the block there (if any) and malloc a new one, 45% free it
 * and leave the slot empty, 10% swap it with a random shared slot (so the
 * block it gets may come from any earlier thread, live or dead). On exit a
 * thread swaps all its blocks into random shared slots and frees what it
 * gets back, so blocks survive their thread.
 *
 * Sizes: 1 in 4000 blocks is 256 KiB..4 MiB, 1 in 100 is 1..64 KiB, the
 * rest 32..512 bytes (skewed to small). Every page of a block is written.
 *
 * Ops = mallocs + frees; time includes thread creation and exit.
 *
 * Output: Throughput = N ops/s [threads=T rounds=R steps=S] time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_threads.h"

#define SHARED_SLOTS 1024
#define LOCAL_SLOTS 256

static struct {
    unsigned threads;
    uint64_t rounds;
    uint64_t steps;
    uint64_t seed;
} cfg = {8, 20, 20000, 1};

/* A shared slot: a block record under a spin lock of its own (the record
 * is kept outside the block, so an allocator handing out a live block
 * again cannot rewrite both copies and escape the check). */
typedef struct {
    atomic_flag lock;
    xblock_t b;
} shared_t;

static shared_t g_shared[SHARED_SLOTS];

/* Swaps *b with shared slot j. */
static void shared_swap(unsigned j, xblock_t *b)
{
    shared_t *s = &g_shared[j];
    while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire))
        sched_yield();
    xblock_t t = s->b;
    s->b = *b;
    *b = t;
    atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

typedef struct {
    unsigned id; /* unique over all rounds */
    pthread_t th;
    uint64_t ops;
} worker_t;

static void usage(void)
{
    fprintf(stderr, "usage: mstress [THREADS [ROUNDS [STEPS [SEED]]]]\n"
                    "  defaults: 8 20 20000 1\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const bench_arg_t args[] = {
        {"THREADS", BA_UINT, &cfg.threads},
        {"ROUNDS", BA_U64, &cfg.rounds},
        {"STEPS", BA_U64, &cfg.steps},
        {"SEED", BA_U64, &cfg.seed},
    };
    parse_positional(argc, argv, 1, args, 4, usage);
    if (cfg.threads == 0 || cfg.threads > 1024 || cfg.rounds == 0 || cfg.steps == 0)
        bench_die("THREADS in 1..1024, ROUNDS and STEPS > 0");
}

static size_t draw_size(rng_t *r)
{
    uint32_t x = rng_below(r, 4000);
    if (x == 0)
        return rng_log_range(r, 256 << 10, 4 << 20);
    if (x < 40)
        return rng_log_range(r, 1 << 10, 64 << 10);
    return skew_size(r, 32, 512);
}

static void new_block(xblock_t *b, rng_t *r, uint64_t tag)
{
    size_t n = draw_size(r);
    unsigned char *p = xalloc(n);
    for (size_t off = 4096; off < n; off += 4096)
        p[off] = (unsigned char)off;
    pat_write(p, n, tag);
    b->p = p;
    b->size = n;
    b->tag = tag;
}

static void *worker(void *arg)
{
    worker_t *w = (worker_t *)arg;
    rng_t rng;
    rng_seed(&rng, cfg.seed, w->id + 1);
    const uint64_t salt = ((uint64_t)w->id << 40) ^ cfg.seed;
    xblock_t local[LOCAL_SLOTS];
    memset(local, 0, sizeof local);
    uint64_t ops = 0;

    for (uint64_t i = 0; i < cfg.steps; i++) {
        uint64_t x = rng_next(&rng);
        xblock_t *s = &local[(x >> 32) % LOCAL_SLOTS];
        uint32_t act = (uint32_t)(x & 0xFFFF) % 100;
        if (act < 90) {
            if (s->p) {
                xblock_free(s, "mstress", i);
                ops++;
            }
            if (act < 45) {
                new_block(s, &rng, make_tag(i, salt));
                ops++;
            }
        } else {
            shared_swap((unsigned)((x >> 16) & 0xFFFF) % SHARED_SLOTS, s);
        }
    }
    for (unsigned k = 0; k < LOCAL_SLOTS; k++) {
        if (!local[k].p)
            continue;
        shared_swap(rng_below(&rng, SHARED_SLOTS), &local[k]);
        if (local[k].p) {
            xblock_free(&local[k], "mstress", k);
            ops++;
        }
    }
    w->ops = ops;
    return NULL;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    worker_t *ws = calloc(cfg.threads, sizeof *ws);
    if (!ws)
        bench_oom(cfg.threads * sizeof *ws);
    uint64_t ops = 0;
    double t0 = now_s();
    for (uint64_t r = 0; r < cfg.rounds; r++) {
        for (unsigned t = 0; t < cfg.threads; t++) {
            ws[t].id = (unsigned)(r * cfg.threads + t);
            ws[t].ops = 0;
            ws[t].th = start_worker(worker, &ws[t]);
        }
        for (unsigned t = 0; t < cfg.threads; t++) {
            pthread_join(ws[t].th, NULL);
            ops += ws[t].ops;
        }
    }
    double secs = now_s() - t0;
    for (unsigned j = 0; j < SHARED_SLOTS; j++)
        if (g_shared[j].b.p)
            xblock_free(&g_shared[j].b, "mstress", j);
    printf("Throughput = %.0f ops/s [threads=%u rounds=%llu steps=%llu] time=%.3fs\n",
           (double)ops / secs, cfg.threads, (unsigned long long)cfg.rounds,
           (unsigned long long)cfg.steps, secs);
    free(ws);
    return 0;
}
