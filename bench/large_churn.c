/*
 * large_churn: random replacement of large blocks, every page touched.
 *
 *   large_churn [ITER [WS [SEED]]] [--min N] [--max N]
 *   defaults: 3000 32 1, sizes 65536..8388608 (log-uniform)
 *
 * WS slots are filled first (not timed). Each of the ITER timed steps picks
 * a slot at random, verifies and frees its block, allocates a block of a
 * log-uniform random size in [min, max] and writes one pattern word in
 * every 4 KiB page of it (plus its last 8 bytes). Every page word is
 * checked before the block is freed. This measures how an allocator reuses
 * and returns large regions: an allocator that unmaps and remaps each time
 * pays a page fault per touched page. A step is 2 ops (free + malloc).
 *
 * Output: Throughput = N ops/s [iter=ITER ws=WS] time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_common.h"

#define PAGE 4096u

typedef struct {
    unsigned char *p;
    uint64_t tag;
    size_t size;
} slot_t;

static struct {
    uint64_t iter;
    uint32_t ws;
    uint64_t seed;
    size_t min, max;
} cfg = {3000, 32, 1, 65536, 8u << 20};

static void usage(void)
{
    fprintf(stderr, "usage: large_churn [ITER [WS [SEED]]] [--min N] [--max N]\n"
                    "  defaults: 3000 32 1, sizes 65536..8388608\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const bench_arg_t args[] = {
        {"ITER", BA_U64, &cfg.iter},
        {"WS", BA_U32, &cfg.ws},
        {"SEED", BA_U64, &cfg.seed},
    };
    static const bench_arg_t opts[] = {
        {"--min", BA_SIZE, &cfg.min},
        {"--max", BA_SIZE, &cfg.max},
    };
    parse_cmdline(argc, argv, 1, args, 3, opts, 2, usage);
    if (cfg.ws == 0 || cfg.ws > 65536)
        bench_die("WS must be in 1..65536");
    if (cfg.min < 16 || cfg.min > cfg.max || cfg.max > ((size_t)1 << 32))
        bench_die("need 16 <= min <= max <= 4 GiB");
}

/* Word written at the start of page k of a block, and in its last 8 bytes. */
static inline uint64_t page_word(uint64_t tag, size_t k)
{
    return tag + (uint64_t)k * 0xD6E8FEB86659FD93ULL;
}

/* Pages (4 KiB steps from the block start) whose word ends before the
 * block's last 8 bytes, so the page words never overlap the tail word. */
static inline size_t page_count(size_t size)
{
    return (size - 16) / PAGE + 1;
}

static void touch(slot_t *s)
{
    size_t pages = page_count(s->size);
    for (size_t k = 0; k < pages; k++) {
        uint64_t w = page_word(s->tag, k);
        memcpy(s->p + k * PAGE, &w, 8);
    }
    uint64_t last = ~s->tag;
    memcpy(s->p + s->size - 8, &last, 8);
}

static void verify(const slot_t *s, uint64_t where)
{
    size_t pages = page_count(s->size);
    uint64_t w;
    for (size_t k = 0; k < pages; k++) {
        memcpy(&w, s->p + k * PAGE, 8);
        if (__builtin_expect(w != page_word(s->tag, k), 0))
            bench_verify_failed("large_churn: block %p (%zu bytes, #%llu) damaged at offset %zu",
                                (void *)s->p, s->size, (unsigned long long)where,
                                k * PAGE);
    }
    memcpy(&w, s->p + s->size - 8, 8);
    if (__builtin_expect(w != ~s->tag, 0))
        bench_verify_failed("large_churn: block %p (%zu bytes, #%llu) damaged at offset %zu",
                            (void *)s->p, s->size, (unsigned long long)where, s->size - 8);
}

static void place(slot_t *s, rng_t *rng, uint64_t tag)
{
    size_t sz = rng_log_range(rng, cfg.min, cfg.max);
    void *p = malloc(sz);
    if (!p)
        bench_oom(sz);
    s->p = (unsigned char *)p;
    s->size = sz;
    s->tag = tag;
    touch(s);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    rng_t rng;
    rng_seed(&rng, cfg.seed, 0);
    uint64_t salt = mix64(cfg.seed ^ 0x1A26EULL);
    slot_t *slots = calloc(cfg.ws, sizeof *slots);
    if (!slots)
        bench_oom(cfg.ws * sizeof *slots);

    for (uint32_t i = 0; i < cfg.ws; i++)
        place(&slots[i], &rng, make_tag(~(uint64_t)i, salt));

    double t0 = now_s();
    for (uint64_t i = 0; i < cfg.iter; i++) {
        slot_t *s = &slots[rng_below(&rng, cfg.ws)];
        verify(s, i);
        free(s->p);
        place(s, &rng, make_tag(i, salt));
    }
    double secs = now_s() - t0;

    for (uint32_t i = 0; i < cfg.ws; i++) {
        verify(&slots[i], i);
        free(slots[i].p);
    }
    free(slots);

    if (secs <= 0.0)
        secs = 1e-9;
    printf("Throughput = %llu ops/s [iter=%llu ws=%u] time=%.3fs\n",
           (unsigned long long)(2.0 * (double)cfg.iter / secs), (unsigned long long)cfg.iter,
           cfg.ws, secs);
    return 0;
}
