/*
 * random_mixed: random replacement in a working set of small blocks.
 *
 *   random_mixed [ITER [WS [SEED]]] [--min N] [--max N]
 *                [--latency] [--soak SECONDS [--csv FILE]]
 *
 * WS slots are filled first (not timed). Each of the ITER timed steps picks
 * a slot at random, verifies and frees the block in it, and allocates a new
 * block of a random size in [min, max] (default 16..1024) and writes its
 * pattern. A step is one free plus one malloc: 2 ops.
 *
 * Output (one line):
 *   Throughput = N ops/s [iter=ITER ws=WS] time=T.TTTs
 *
 * --latency  also times every malloc and free with the TSC and prints the
 *            p50/p90/p99/p99.9/max in ns for each (two extra lines).
 * --soak S   repeats the workload (fill, ITER steps, free all) for S seconds
 *            and writes a CSV row per second to FILE (or stdout):
 *            epoch_s,elapsed_s,iter,throughput_ops_s,peak_rss_mb,rss_mb
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#define DEFAULT_ITER 30000000ULL
#define DEFAULT_WS 8192U
#define DEFAULT_SEED 1ULL

typedef struct {
    void *p;
    uint64_t tag;
    size_t size;
} slot_t;

typedef struct {
    uint64_t iter;
    uint32_t ws;
    uint64_t seed;
    size_t min, max;
    int latency;
    double soak_s;
    const char *csv;
} config_t;

typedef struct {
    config_t cfg;
    slot_t *slots;
    rng_t rng;
    uint64_t tag_salt;
    uint32_t span; /* max - min + 1 */
} state_t;

static void usage(void)
{
    fprintf(stderr,
            "usage: random_mixed [ITER [WS [SEED]]] [--min N] [--max N]\n"
            "                    [--latency] [--soak SECONDS [--csv FILE]]\n"
            "  defaults: ITER=%llu WS=%u SEED=%llu min=16 max=1024\n",
            (unsigned long long)DEFAULT_ITER, DEFAULT_WS,
            (unsigned long long)DEFAULT_SEED);
    exit(2);
}

static config_t parse_args(int argc, char **argv)
{
    config_t c = {DEFAULT_ITER, DEFAULT_WS, DEFAULT_SEED, 16, 1024, 0, 0.0, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--min") == 0 && i + 1 < argc) {
            c.min = (size_t)parse_u64(argv[++i], "--min");
        } else if (strcmp(a, "--max") == 0 && i + 1 < argc) {
            c.max = (size_t)parse_u64(argv[++i], "--max");
        } else if (strcmp(a, "--latency") == 0) {
            c.latency = 1;
        } else if (strcmp(a, "--soak") == 0 && i + 1 < argc) {
            c.soak_s = parse_pos_double(argv[++i], "--soak");
        } else if (strcmp(a, "--csv") == 0 && i + 1 < argc) {
            c.csv = argv[++i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "random_mixed: unknown option '%s'\n", a);
            usage();
        } else if (npos == 0) {
            c.iter = parse_u64(a, "ITER");
            npos++;
        } else if (npos == 1) {
            uint64_t ws = parse_u64(a, "WS");
            if (ws == 0 || ws > (1u << 30))
                bench_die("WS must be in 1..2^30");
            c.ws = (uint32_t)ws;
            npos++;
        } else if (npos == 2) {
            c.seed = parse_u64(a, "SEED");
            npos++;
        } else {
            usage();
        }
    }
    if (c.min == 0 || c.min > c.max || c.max - c.min >= (1ULL << 32))
        bench_die("need 1 <= min <= max and max - min < 2^32 (min=%zu max=%zu)", c.min, c.max);
    if (c.csv && c.soak_s <= 0.0)
        bench_die("--csv needs --soak");
    if (c.latency && c.soak_s > 0.0)
        bench_die("--latency and --soak are separate modes");
    if (c.soak_s > 0.0 && c.iter == 0)
        bench_die("--soak needs ITER > 0");
    return c;
}

/* ------------------------------------------------------------------ */

static inline void *alloc_block(size_t size)
{
    void *p = malloc(size);
    if (__builtin_expect(p == NULL, 0))
        bench_oom(size);
    return p;
}

static void fill_all(state_t *st)
{
    for (uint32_t i = 0; i < st->cfg.ws; i++) {
        size_t sz = st->cfg.min + rng_below(&st->rng, st->span);
        uint64_t tag = make_tag(~(uint64_t)i, st->tag_salt);
        void *p = alloc_block(sz);
        pat_write(p, sz, tag);
        st->slots[i] = (slot_t){p, tag, sz};
    }
}

static void free_all(state_t *st)
{
    for (uint32_t i = 0; i < st->cfg.ws; i++) {
        slot_t *s = &st->slots[i];
        if (s->p) {
            pat_verify(s->p, s->size, s->tag, "random_mixed", i);
            free(s->p);
            s->p = NULL;
        }
    }
}

/* One random draw gives both the slot (high half) and the size (low half). */
#define STEP_DRAW(st, x, idx, sz)                                              \
    uint64_t x = rng_next(&(st)->rng);                                         \
    uint32_t idx = (uint32_t)(((x >> 32) * (uint64_t)(st)->cfg.ws) >> 32);     \
    size_t sz = (st)->cfg.min + (size_t)(((x & 0xFFFFFFFFULL) * (st)->span) >> 32)

/* The timed inner loop: steps [first, first + n). */
static void run_steps(state_t *st, uint64_t first, uint64_t n)
{
    slot_t *slots = st->slots;
    for (uint64_t i = first; i < first + n; i++) {
        STEP_DRAW(st, x, idx, sz);
        slot_t *s = &slots[idx];
        pat_verify(s->p, s->size, s->tag, "random_mixed", i);
        free(s->p);
        void *p = alloc_block(sz);
        uint64_t tag = make_tag(i, st->tag_salt);
        pat_write(p, sz, tag);
        s->p = p;
        s->size = sz;
        s->tag = tag;
    }
}

static void print_throughput(uint64_t ops, uint64_t iter, uint32_t ws, double secs)
{
    if (secs <= 0.0)
        secs = 1e-9;
    printf("Throughput = %llu ops/s [iter=%llu ws=%u] time=%.3fs\n",
           (unsigned long long)((double)ops / secs), (unsigned long long)iter, ws, secs);
}

/* ------------------------------------------------------------------ */
/* Latency mode                                                        */
/* ------------------------------------------------------------------ */

/* Log-linear histogram of tick counts: exact below 64, then 32 buckets per
 * power of two (about 3% resolution). Static, so no malloc while timing. */
#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR 64u
#define HIST_BUCKETS (HIST_LINEAR + (64u - 6u) * HIST_SUB)

typedef struct {
    uint64_t count[HIST_BUCKETS];
    uint64_t n;
    uint64_t max;
} hist_t;

static hist_t g_hist_malloc, g_hist_free;

static inline unsigned hist_index(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* e >= 6 */
    unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
    return HIST_LINEAR + (e - 6u) * HIST_SUB + sub;
}

/* Lower bound of a bucket's range. */
static uint64_t hist_value(unsigned idx)
{
    if (idx < HIST_LINEAR)
        return idx;
    unsigned e = (idx - HIST_LINEAR) / HIST_SUB + 6u;
    unsigned sub = (idx - HIST_LINEAR) % HIST_SUB;
    return ((uint64_t)1 << e) | ((uint64_t)sub << (e - HIST_SUB_BITS));
}

static inline void hist_add(hist_t *h, uint64_t v)
{
    h->count[hist_index(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

static uint64_t hist_quantile(const hist_t *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n);
    if (rank >= h->n)
        rank = h->n - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen > rank)
            return hist_value(i);
    }
    return h->max;
}

static inline uint64_t ticks(void)
{
#if HAVE_TSC
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
#endif
}

/* Ticks per second, measured against CLOCK_MONOTONIC over ~100 ms. */
static double calibrate_ticks(void)
{
#if HAVE_TSC
    double best = 0.0;
    for (int k = 0; k < 2; k++) {
        double t0 = now_s();
        uint64_t c0 = ticks();
        sleep_s(0.05);
        double t1 = now_s();
        uint64_t c1 = ticks();
        double hz = (double)(c1 - c0) / (t1 - t0);
        best = hz > best ? hz : best;
    }
    return best;
#else
    return 1e9;
#endif
}

/* Smallest cost of an empty timed region, in ticks. */
static uint64_t timer_overhead(void)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 10000; i++) {
        uint64_t a = ticks();
        uint64_t b = ticks();
        if (b - a < best)
            best = b - a;
    }
    return best;
}

static void run_steps_timed(state_t *st, uint64_t n)
{
    slot_t *slots = st->slots;
    for (uint64_t i = 0; i < n; i++) {
        STEP_DRAW(st, x, idx, sz);
        slot_t *s = &slots[idx];
        pat_verify(s->p, s->size, s->tag, "random_mixed", i);
        uint64_t t0 = ticks();
        free(s->p);
        uint64_t t1 = ticks();
        void *p = malloc(sz);
        uint64_t t2 = ticks();
        if (__builtin_expect(p == NULL, 0))
            bench_oom(sz);
        hist_add(&g_hist_free, t1 - t0);
        hist_add(&g_hist_malloc, t2 - t1);
        uint64_t tag = make_tag(i, st->tag_salt);
        pat_write(p, sz, tag);
        s->p = p;
        s->size = sz;
        s->tag = tag;
    }
}

static void print_latency(const char *name, const hist_t *h, double ns_per_tick)
{
    static const double qs[] = {0.50, 0.90, 0.99, 0.999};
    static const char *const names[] = {"p50", "p90", "p99", "p99.9"};
    printf("Latency %-6s ns:", name);
    for (int i = 0; i < 4; i++)
        printf(" %s=%.0f", names[i], (double)hist_quantile(h, qs[i]) * ns_per_tick);
    printf(" max=%.0f n=%llu\n", (double)h->max * ns_per_tick, (unsigned long long)h->n);
}

/* ------------------------------------------------------------------ */
/* Soak mode                                                           */
/* ------------------------------------------------------------------ */

static int run_soak(state_t *st)
{
    FILE *out = stdout;
    if (st->cfg.csv) {
        out = fopen(st->cfg.csv, "w");
        if (!out)
            bench_die("cannot open %s: %s", st->cfg.csv, strerror(errno));
    }
    fprintf(out, "epoch_s,elapsed_s,iter,throughput_ops_s,peak_rss_mb,rss_mb\n");
    fflush(out);

    const uint64_t chunk = 4096;
    const double t0 = now_s();
    double next_row = t0 + 1.0, last_t = t0, peak_seen = 0.0;
    uint64_t total = 0, last_total = 0, step = 0;
    int done = 0;

    while (!done) {
        fill_all(st);
        for (uint64_t left = st->cfg.iter; left > 0 && !done;) {
            uint64_t n = left < chunk ? left : chunk;
            run_steps(st, step, n);
            step += n;
            total += n;
            left -= n;
            double t = now_s();
            if (t >= next_row) {
                double tp = 2.0 * (double)(total - last_total) / (t - last_t);
                /* ru_maxrss may lag the current RSS; the peak is their max */
                double rss = current_rss_mb(), peak = peak_rss_mb();
                if (rss > peak_seen)
                    peak_seen = rss;
                if (peak > peak_seen)
                    peak_seen = peak;
                fprintf(out, "%.3f,%.3f,%llu,%.0f,%.2f,%.2f\n", wall_s(), t - t0,
                        (unsigned long long)total, tp, peak_seen, rss);
                fflush(out);
                last_t = t;
                last_total = total;
                next_row += 1.0;
                if (next_row <= t)
                    next_row = t + 1.0;
            }
            if (t - t0 >= st->cfg.soak_s)
                done = 1;
        }
        free_all(st);
    }
    double secs = now_s() - t0;
    if (out != stdout && fclose(out) != 0)
        bench_die("writing %s failed", st->cfg.csv);
    print_throughput(2 * total, total, st->cfg.ws, secs);
    return 0;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    state_t st;
    memset(&st, 0, sizeof st);
    st.cfg = parse_args(argc, argv);
    st.span = (uint32_t)(st.cfg.max - st.cfg.min + 1);
    rng_seed(&st.rng, st.cfg.seed, 0);
    st.tag_salt = mix64(st.cfg.seed ^ 0xA11C0CA7EULL);

    st.slots = calloc(st.cfg.ws, sizeof *st.slots);
    if (!st.slots)
        bench_oom((size_t)st.cfg.ws * sizeof *st.slots);

    if (st.cfg.soak_s > 0.0) {
        run_soak(&st);
        free(st.slots);
        return 0;
    }

    double ns_per_tick = 0.0;
    uint64_t overhead = 0;
    if (st.cfg.latency) {
        ns_per_tick = 1e9 / calibrate_ticks();
        overhead = timer_overhead();
    }

    fill_all(&st);
    double t0 = now_s();
    if (st.cfg.latency)
        run_steps_timed(&st, st.cfg.iter);
    else
        run_steps(&st, 0, st.cfg.iter);
    double secs = now_s() - t0;
    free_all(&st);
    free(st.slots);

    print_throughput(2 * st.cfg.iter, st.cfg.iter, st.cfg.ws, secs);
    if (st.cfg.latency) {
        print_latency("malloc", &g_hist_malloc, ns_per_tick);
        print_latency("free", &g_hist_free, ns_per_tick);
        printf("Latency timer overhead ns: %.0f (included above; tsc=%.3f GHz)\n",
               (double)overhead * ns_per_tick, 1.0 / ns_per_tick);
    }
    return 0;
}
