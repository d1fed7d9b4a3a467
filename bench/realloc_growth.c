/*
 * realloc_growth: vectors and strings grown by realloc.
 *
 *   realloc_growth [STEPS [VECTORS [SEED]]] [--max-geo N] [--max-inc N]
 *   defaults: 8000000 128 1, --max-geo 262144, --max-inc 16384
 *
 * VECTORS buffers live at once. Each step picks one at random and grows it
 * with realloc. Half of the buffers (chosen when a buffer starts) grow
 * geometrically like a vector (new = old * 1.5..2, starting at 8..64 bytes)
 * up to a random target of at most --max-geo bytes; the other half grow by
 * small appends of 1..64 bytes like a string builder, up to at most
 * --max-inc bytes. Newly added bytes are filled with a pattern that depends
 * on the byte position; after each realloc the first and last old bytes and
 * four random old positions are checked, and the whole buffer is checked
 * before it is released. A buffer at its target is shrunk to a quarter
 * (realloc) one time in four, otherwise freed and restarted.
 *
 * Ops = realloc calls (including realloc(NULL, n)) + free calls.
 *
 * Output: Throughput = N ops/s [steps=.. vectors=..] time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_common.h"

typedef struct {
    unsigned char *p;
    size_t len;    /* bytes in use (all filled with the pattern) */
    size_t target; /* grow up to this many bytes */
    uint64_t key;  /* pattern key of this buffer's lifetime */
    uint8_t geometric;
    uint64_t life; /* lifetime counter, for messages */
} vec_t;

static struct {
    uint64_t steps;
    uint32_t vectors;
    uint64_t seed;
    size_t max_geo, max_inc;
} cfg = {8000000, 128, 1, 262144, 16384};

static uint64_t g_ops;

static void usage(void)
{
    fprintf(stderr, "usage: realloc_growth [STEPS [VECTORS [SEED]]] [--max-geo N] [--max-inc N]\n"
                    "  defaults: 8000000 128 1 --max-geo 262144 --max-inc 16384\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const bench_arg_t args[] = {
        {"STEPS", BA_U64, &cfg.steps},
        {"VECTORS", BA_U32, &cfg.vectors},
        {"SEED", BA_U64, &cfg.seed},
    };
    static const bench_arg_t opts[] = {
        {"--max-geo", BA_SIZE, &cfg.max_geo},
        {"--max-inc", BA_SIZE, &cfg.max_inc},
    };
    parse_cmdline(argc, argv, 1, args, 3, opts, 2, usage);
    if (cfg.vectors == 0)
        bench_die("VECTORS must be > 0");
    if (cfg.max_geo < 256 || cfg.max_inc < 256 || cfg.max_geo > (1u << 30) || cfg.max_inc > (1u << 30))
        bench_die("--max-geo and --max-inc must be in 256..2^30");
}

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "realloc_growth assumes a little-endian machine"
#endif

/* Buffer contents: 8-byte word j holds key + j * golden (a Weyl sequence),
 * stored little-endian, so byte i is a byte of word i / 8. Distinct keys
 * give distinct contents at every position. */
static inline uint64_t word_at(uint64_t key, size_t j)
{
    return key + (uint64_t)j * 0x9E3779B97F4A7C15ULL;
}

static inline uint8_t content(uint64_t key, size_t i)
{
    return (uint8_t)(word_at(key, i >> 3) >> ((i & 7) * 8));
}

static void fill(vec_t *v, size_t from, size_t to)
{
    unsigned char *p = v->p;
    const uint64_t k = v->key;
    size_t i = from;
    for (; i < to && (i & 7) != 0; i++)
        p[i] = content(k, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = word_at(k, i >> 3);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++)
        p[i] = content(k, i);
}

static void check_at(const vec_t *v, size_t i)
{
    if (__builtin_expect(v->p[i] != content(v->key, i), 0))
        bench_verify_failed("realloc_growth: buffer %p (len %zu, lifetime #%llu) byte %zu is "
                            "0x%02x, expected 0x%02x",
                            (void *)v->p, v->len, (unsigned long long)v->life, i, v->p[i],
                            content(v->key, i));
}

/* Full check of the whole buffer, a word at a time. */
static void check_all(const vec_t *v)
{
    const unsigned char *p = v->p;
    const size_t len = v->len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (__builtin_expect(w != word_at(v->key, i >> 3), 0))
            for (size_t b = i; b < i + 8; b++)
                check_at(v, b);
    }
    for (; i < len; i++)
        check_at(v, i);
}

/* Spot check of the first len bytes: both ends and four random positions. */
static void check_sample(const vec_t *v, size_t len, rng_t *rng)
{
    if (len == 0)
        return;
    check_at(v, 0);
    check_at(v, len - 1);
    for (int k = 0; k < 4; k++)
        check_at(v, rng_below(rng, (uint32_t)len));
}

static void resize(vec_t *v, size_t newlen, rng_t *rng)
{
    void *q = realloc(v->p, newlen);
    g_ops++;
    if (!q)
        bench_oom(newlen);
    v->p = (unsigned char *)q;
    size_t kept = v->len < newlen ? v->len : newlen;
    check_sample(v, kept, rng);
    if (newlen > v->len)
        fill(v, v->len, newlen);
    v->len = newlen;
}

static void start(vec_t *v, rng_t *rng, uint64_t life)
{
    v->p = NULL;
    v->len = 0;
    v->life = life;
    v->key = rng_next(rng);
    v->geometric = (uint8_t)(rng_next(rng) & 1);
    size_t cap = v->geometric ? cfg.max_geo : cfg.max_inc;
    v->target = rng_log_range(rng, 256, cap);
    resize(v, v->geometric ? rng_range(rng, 8, 64) : rng_range(rng, 1, 64), rng);
}

static void release(vec_t *v)
{
    check_all(v);
    free(v->p);
    g_ops++;
    v->p = NULL;
    v->len = 0;
}

static void step(vec_t *v, rng_t *rng, uint64_t *lives)
{
    if (v->len >= v->target) {
        if (rng_below(rng, 4) == 0 && v->len >= 1024) {
            /* shrink-to-fit after use, then keep growing from there */
            resize(v, v->len / 4, rng);
            v->target = v->len * 2;
        } else {
            release(v);
            start(v, rng, (*lives)++);
        }
        return;
    }
    size_t newlen;
    if (v->geometric)
        newlen = v->len + v->len / 2 + rng_below(rng, (uint32_t)(v->len / 2 + 1));
    else
        newlen = v->len + rng_range(rng, 1, 64);
    if (newlen > v->target)
        newlen = v->target;
    resize(v, newlen, rng);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    rng_t rng;
    rng_seed(&rng, cfg.seed, 0);
    vec_t *vs = calloc(cfg.vectors, sizeof *vs);
    if (!vs)
        bench_oom(cfg.vectors * sizeof *vs);

    uint64_t lives = 0;
    double t0 = now_s();
    for (uint32_t i = 0; i < cfg.vectors; i++)
        start(&vs[i], &rng, lives++);
    for (uint64_t s = 0; s < cfg.steps; s++)
        step(&vs[rng_below(&rng, cfg.vectors)], &rng, &lives);
    for (uint32_t i = 0; i < cfg.vectors; i++)
        release(&vs[i]);
    double secs = now_s() - t0;
    free(vs);

    printf("Throughput = %llu ops/s [steps=%llu vectors=%u] time=%.3fs\n",
           (unsigned long long)((double)g_ops / secs), (unsigned long long)cfg.steps, cfg.vectors,
           secs);
    return 0;
}
