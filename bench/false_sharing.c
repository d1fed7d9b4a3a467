/*
 * false_sharing: does the allocator place small objects of different
 * threads on the same cache line? In the manner of the cache-thrash and
 * cache-scratch tests of the Hoard papers (written from their description).
 *
 *   false_sharing active|passive [ITER [THREADS [SIZE [WRITES [SEED]]]]]
 *   defaults: ITER=20000 THREADS=2 SIZE=8 WRITES=500 SEED=1
 *
 * active   (cache-thrash) each thread mallocs a SIZE-byte object, writes
 *          every byte of it WRITES times, checks and frees it; ITER times.
 *          An allocator that hands neighbouring bytes to two threads makes
 *          them fight over a cache line.
 * passive  (cache-scratch) the main thread mallocs THREADS objects in a row
 *          (so they likely share a line) and hands one to each thread; each
 *          thread writes and frees the object it was given, then works as
 *          in active. An allocator that reuses the freed neighbour for the
 *          thread's next malloc keeps the line shared.
 *
 * Ops = mallocs + frees; the writes dominate the time, so a slowdown here
 * is memory traffic, not allocator code.
 *
 * Output: Throughput = N ops/s [mode=.. threads=T size=S writes=W]
 *         time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_threads.h"

static struct {
    int passive;
    uint64_t iter;
    unsigned threads;
    size_t size;
    uint64_t writes;
    uint64_t seed;
} cfg = {0, 20000, 2, 8, 500, 1};

static gate_t g_gate;

typedef struct {
    unsigned id;
    pthread_t th;
    xblock_t given;
    double end;
    char pad[64];
} worker_t;

static void usage(void)
{
    fprintf(stderr, "usage: false_sharing active|passive [ITER [THREADS [SIZE [WRITES [SEED]]]]]\n"
                    "  defaults: 20000 2 8 500 1\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "active") == 0)
        cfg.passive = 0;
    else if (strcmp(argv[1], "passive") == 0)
        cfg.passive = 1;
    else
        usage();
    static const bench_arg_t args[] = {
        {"ITER", BA_U64, &cfg.iter},
        {"THREADS", BA_UINT, &cfg.threads},
        {"SIZE", BA_SIZE, &cfg.size},
        {"WRITES", BA_U64, &cfg.writes},
        {"SEED", BA_U64, &cfg.seed},
    };
    parse_positional(argc, argv, 2, args, 5, usage);
    if (cfg.iter == 0 || cfg.threads == 0 || cfg.threads > 1024 || cfg.size == 0 ||
        cfg.size > 4096 || cfg.writes == 0)
        bench_die("ITER > 0, THREADS in 1..1024, SIZE in 1..4096, WRITES > 0");
}

/* Writes every byte WRITES times (through a volatile pointer, so every
 * store reaches the cache), then leaves the block's pattern in it. */
static void hammer(void *p, size_t n, uint64_t tag)
{
    volatile unsigned char *b = (volatile unsigned char *)p;
    for (uint64_t r = 0; r < cfg.writes; r++)
        for (size_t j = 0; j < n; j++)
            b[j] = (unsigned char)(b[j] + (unsigned char)(r ^ j));
    pat_write(p, n, tag);
}

static void *worker(void *arg)
{
    worker_t *w = (worker_t *)arg;
    const uint64_t salt = ((uint64_t)w->id << 48) ^ cfg.seed;
    gate_wait(&g_gate);
    if (cfg.passive) {
        xblock_t *b = &w->given;
        pat_verify(b->p, b->size, b->tag, "false_sharing", w->id);
        hammer(b->p, b->size, b->tag);
        xblock_free(b, "false_sharing", w->id);
    }
    for (uint64_t i = 0; i < cfg.iter; i++) {
        uint64_t tag = make_tag(i, salt);
        void *p = xalloc(cfg.size);
        memset(p, 0, cfg.size);
        hammer(p, cfg.size, tag);
        pat_verify(p, cfg.size, tag, "false_sharing", i);
        free(p);
    }
    w->end = now_s();
    return NULL;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    gate_init(&g_gate);
    worker_t *ws = calloc(cfg.threads, sizeof *ws);
    if (!ws)
        bench_oom(cfg.threads * sizeof *ws);
    /* passive: the objects the threads are given, allocated in a row */
    for (unsigned t = 0; cfg.passive && t < cfg.threads; t++)
        xblock_new(&ws[t].given, cfg.size, make_tag(t, cfg.seed ^ 0x5C4A7C4ULL));
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
    uint64_t ops = 2 * cfg.iter * cfg.threads + (cfg.passive ? cfg.threads : 0);
    printf("Throughput = %.0f ops/s [mode=%s threads=%u size=%zu writes=%llu] time=%.3fs\n",
           (double)ops / secs, cfg.passive ? "passive" : "active", cfg.threads, cfg.size,
           (unsigned long long)cfg.writes, secs);
    free(ws);
    return 0;
}
