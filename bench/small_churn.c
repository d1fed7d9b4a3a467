/*
 * small_churn: one thread making very many short-lived small blocks of a
 * few sizes while a long-lived set grows slowly, in the manner of the
 * allocation traces of cfrac (big-number arithmetic) and espresso (logic
 * minimisation) used in allocator papers (written from their description).
 *
 *   small_churn cfrac|espresso [ITER [SEED]]
 *   defaults: ITER=4M SEED=1
 *
 * cfrac     each step mallocs a burst of 1..8 temporaries (16..64 bytes,
 *           mostly 16..32), grows one in 8 by realloc (+16 bytes), then
 *           frees the burst last first.
 * espresso  each step replaces a random block among 256 temporaries
 *           (8..2048 bytes, skewed to small); every 4096 steps a burst of
 *           1000 blocks of 16..256 bytes is malloc'ed and freed in random
 *           order.
 * Both: every 64th step one new block joins a long-lived set, every 128th
 * step a random member of the set is freed, so the set grows by about
 * ITER/128 blocks.
 *
 * Ops = mallocs + frees + reallocs.
 *
 * Output: Throughput = N ops/s [mode=.. iter=.. live=L] time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_threads.h"

#define POOL 256
#define BURST 1000

static struct {
    int espresso;
    uint64_t iter;
    uint64_t seed;
} cfg = {0, 4000000, 1};

static void usage(void)
{
    fprintf(stderr, "usage: small_churn cfrac|espresso [ITER [SEED]]\n"
                    "  defaults: 4M 1\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "cfrac") == 0)
        cfg.espresso = 0;
    else if (strcmp(argv[1], "espresso") == 0)
        cfg.espresso = 1;
    else
        usage();
    static const bench_arg_t args[] = {
        {"ITER", BA_U64, &cfg.iter},
        {"SEED", BA_U64, &cfg.seed},
    };
    parse_positional(argc, argv, 2, args, 2, usage);
    if (cfg.iter == 0 || cfg.iter > (1ULL << 36))
        bench_die("ITER in 1..2^36");
}

/* cfrac's digit vectors: a few sizes, the small ones most common. */
static inline size_t cfrac_size(rng_t *r)
{
    static const uint16_t sizes[8] = {16, 16, 24, 24, 32, 32, 48, 64};
    return sizes[rng_next(r) & 7];
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    rng_t rng;
    rng_seed(&rng, cfg.seed, 0);
    const uint64_t salt = cfg.seed ^ 0xC0FFEEULL;
    const uint64_t cap = cfg.iter / 64 + 1;
    xblock_t *live = calloc(cap, sizeof *live);
    xblock_t *pool = calloc(POOL, sizeof *pool);
    xblock_t *burst = calloc(BURST, sizeof *burst);
    uint32_t *perm = calloc(BURST, sizeof *perm);
    if (!live || !pool || !burst || !perm)
        bench_oom(cap * sizeof *live);
    uint64_t nlive = 0, ops = 0, t = 0;
    const char *name = "small_churn";

    if (cfg.espresso)
        for (uint32_t i = 0; i < POOL; i++)
            xblock_new(&pool[i], skew_size(&rng, 8, 2048), make_tag(t++, salt));

    double t0 = now_s();
    for (uint64_t i = 0; i < cfg.iter; i++) {
        if (!cfg.espresso) {
            uint32_t k = 1 + (uint32_t)(rng_next(&rng) & 7);
            for (uint32_t j = 0; j < k; j++) {
                xblock_new(&burst[j], cfrac_size(&rng), make_tag(t++, salt));
                if ((rng_next(&rng) & 7) == 0) {
                    xblock_t *b = &burst[j];
                    pat_verify(b->p, b->size, b->tag, name, t);
                    void *q = realloc(b->p, b->size + 16);
                    if (!q)
                        bench_oom(b->size + 16);
                    uint64_t head;
                    memcpy(&head, q, 8);
                    if (b->size >= 16 && head != b->tag)
                        bench_verify_failed("%s: realloc lost the contents of %p", name, q);
                    b->p = q;
                    b->size += 16;
                    pat_write(q, b->size, b->tag);
                    ops++;
                }
            }
            for (uint32_t j = k; j-- > 0;)
                xblock_free(&burst[j], name, t);
            ops += 2 * (uint64_t)k;
        } else {
            xblock_t *s = &pool[rng_below(&rng, POOL)];
            xblock_free(s, name, i);
            xblock_new(s, skew_size(&rng, 8, 2048), make_tag(t++, salt));
            ops += 2;
            if ((i & 4095) == 4095) {
                for (uint32_t j = 0; j < BURST; j++) {
                    xblock_new(&burst[j], skew_size(&rng, 16, 256), make_tag(t++, salt));
                    perm[j] = j;
                }
                for (uint32_t j = BURST - 1; j > 0; j--) {
                    uint32_t r = rng_below(&rng, j + 1);
                    uint32_t tmp = perm[j];
                    perm[j] = perm[r];
                    perm[r] = tmp;
                }
                for (uint32_t j = 0; j < BURST; j++)
                    xblock_free(&burst[perm[j]], name, j);
                ops += 2 * BURST;
            }
        }
        if ((i & 63) == 0 && nlive < cap) {
            size_t sz = cfg.espresso ? skew_size(&rng, 16, 1024) : cfrac_size(&rng);
            xblock_new(&live[nlive++], sz, make_tag(t++, salt));
            ops++;
        }
        if ((i & 127) == 127 && nlive > 0) {
            uint32_t j = rng_below(&rng, (uint32_t)nlive);
            xblock_free(&live[j], name, j);
            live[j] = live[--nlive];
            ops++;
        }
    }
    double secs = now_s() - t0;

    for (uint64_t j = 0; j < nlive; j++)
        xblock_free(&live[j], name, j);
    if (cfg.espresso)
        for (uint32_t j = 0; j < POOL; j++)
            xblock_free(&pool[j], name, j);
    printf("Throughput = %.0f ops/s [mode=%s iter=%llu live=%llu] time=%.3fs\n",
           (double)ops / secs, cfg.espresso ? "espresso" : "cfrac",
           (unsigned long long)cfg.iter, (unsigned long long)nlive, secs);
    free(live);
    free(pool);
    free(burst);
    free(perm);
    return 0;
}
