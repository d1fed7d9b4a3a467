/*
 * Shared helpers for the hakmem benchmarks.
 *
 * The benchmarks call the standard malloc/free/realloc, so LD_PRELOAD picks
 * the allocator under test. Everything here is header-only and deterministic:
 * a seeded PRNG, a monotonic clock, argument parsing, RSS probes, and the
 * block patterns every benchmark writes and verifies so that an allocator
 * handing out overlapping or corrupted memory cannot post a score.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_UNUSED __attribute__((unused))

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Bad usage or an environment failure: exit code 2. */
static BENCH_UNUSED __attribute__((noreturn, format(printf, 1, 2)))
void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* The allocator gave back memory whose contents changed under us: abort,
 * so the harness records the run as a crash and never as a score. */
static BENCH_UNUSED __attribute__((noreturn, format(printf, 1, 2)))
void bench_verify_failed(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("VERIFY FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

/* malloc returned NULL: the benchmark cannot go on. */
static BENCH_UNUSED __attribute__((noreturn))
void bench_oom(size_t size)
{
    fprintf(stderr, "error: allocation of %zu bytes failed\n", size);
    exit(3);
}

/* ------------------------------------------------------------------ */
/* PRNG: splitmix64 (one add and a 64-bit mix per number)              */
/* ------------------------------------------------------------------ */

typedef struct {
    uint64_t s;
} rng_t;

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t rng_next(rng_t *r)
{
    r->s += 0x9E3779B97F4A7C15ULL;
    return mix64(r->s);
}

/* Independent streams from one seed (one per thread, per producer, ...). */
static inline void rng_seed(rng_t *r, uint64_t seed, uint64_t stream)
{
    r->s = mix64(seed ^ mix64(stream + 0x632BE59BD9B4E019ULL));
}

/* Uniform in [0, n), n <= 2^32, without a division. */
static inline uint32_t rng_below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi] (inclusive), hi - lo < 2^32. */
static inline size_t rng_range(rng_t *r, size_t lo, size_t hi)
{
    return lo + rng_below(r, (uint32_t)(hi - lo + 1));
}

/* Log-uniform in [lo, hi]: every power-of-two band is equally likely. */
static BENCH_UNUSED size_t rng_log_range(rng_t *r, size_t lo, size_t hi)
{
    double u = (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    double v = exp(log((double)lo) + u * (log((double)hi + 1.0) - log((double)lo)));
    size_t s = (size_t)v;
    if (s < lo)
        s = lo;
    if (s > hi)
        s = hi;
    return s;
}

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static BENCH_UNUSED void sleep_s(double s)
{
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ */
/* Memory probes (no malloc inside)                                    */
/* ------------------------------------------------------------------ */

/* Peak resident set size in MiB (getrusage ru_maxrss is in KiB). */
static BENCH_UNUSED double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1.0;
    return (double)ru.ru_maxrss / 1024.0;
}

/* Current resident set size in MiB from /proc/self/statm (-1 if absent). */
static BENCH_UNUSED double current_rss_mb(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1.0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1.0;
    buf[n] = '\0';
    unsigned long long size = 0, resident = 0;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return -1.0;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* ------------------------------------------------------------------ */
/* Argument parsing                                                    */
/* ------------------------------------------------------------------ */

static BENCH_UNUSED uint64_t parse_u64(const char *s, const char *what)
{
    char *end = NULL;
    errno = 0;
    if (s == NULL || *s == '\0' || *s == '-')
        bench_die("%s: expected a non-negative integer, got '%s'", what, s ? s : "");
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s)
        bench_die("%s: expected a non-negative integer, got '%s'", what, s);
    /* Allow k/m/g suffixes for convenience (decimal multiples). */
    if (*end == 'k' || *end == 'K') {
        v *= 1000ULL;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        v *= 1000000ULL;
        end++;
    } else if (*end == 'g' || *end == 'G') {
        v *= 1000000000ULL;
        end++;
    }
    if (*end != '\0')
        bench_die("%s: trailing characters in '%s'", what, s);
    return (uint64_t)v;
}

static BENCH_UNUSED double parse_pos_double(const char *s, const char *what)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0.0))
        bench_die("%s: expected a positive number, got '%s'", what, s);
    return v;
}

/* A positional argument: its name in messages, its type, where it goes. */
typedef enum { BA_U64, BA_U32, BA_UINT, BA_SIZE, BA_FLAG, BA_POS_DOUBLE } bench_arg_type_t;
typedef struct {
    const char *name;
    bench_arg_type_t type;
    void *dst;
} bench_arg_t;

static BENCH_UNUSED void parse_arg(const bench_arg_t *a, const char *v)
{
    switch (a->type) {
    case BA_U64: *(uint64_t *)a->dst = parse_u64(v, a->name); break;
    case BA_U32: *(uint32_t *)a->dst = (uint32_t)parse_u64(v, a->name); break;
    case BA_UINT: *(unsigned *)a->dst = (unsigned)parse_u64(v, a->name); break;
    case BA_SIZE: *(size_t *)a->dst = (size_t)parse_u64(v, a->name); break;
    case BA_FLAG: *(int *)a->dst = parse_u64(v, a->name) != 0; break;
    case BA_POS_DOUBLE: *(double *)a->dst = parse_pos_double(v, a->name); break;
    }
}

/* Parses argv[first..]: an option "--name VALUE" from opts (named with
 * their "--"), anything else into pos[0], pos[1], ... in order (at most
 * npos of them; a flag is stored as 0 or 1). An unknown option, one without
 * its value, or a positional argument too many calls usage(). */
static BENCH_UNUSED void parse_cmdline(int argc, char **argv, int first, const bench_arg_t *pos,
                                       int npos, const bench_arg_t *opts, int nopts,
                                       void (*usage)(void))
{
    int k = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        const bench_arg_t *o = NULL;
        for (int j = 0; j < nopts && i + 1 < argc; j++)
            if (strcmp(a, opts[j].name) == 0)
                o = &opts[j];
        if (o)
            parse_arg(o, argv[++i]);
        else if (a[0] == '-' || k == npos)
            usage();
        else
            parse_arg(&pos[k++], a);
    }
}

/* parse_cmdline without options. */
static BENCH_UNUSED void parse_positional(int argc, char **argv, int first,
                                          const bench_arg_t *args, int n, void (*usage)(void))
{
    parse_cmdline(argc, argv, first, args, n, NULL, 0, usage);
}

/* ------------------------------------------------------------------ */
/* Block patterns                                                      */
/* ------------------------------------------------------------------ */
/*
 * A block of n bytes tagged with a 64-bit value gets:
 *   n >= 16: the tag in its first 8 bytes, a derived word in its last
 *            8 bytes, and (n >= 32) another derived word in the middle;
 *   n <  16: every byte set from the tag.
 * Unaligned-safe via memcpy (the compiler turns these into plain moves).
 * The caller keeps (pointer, size, tag) and checks before freeing.
 */

static inline uint64_t pat_tail(uint64_t tag, size_t n)
{
    return ~tag ^ ((uint64_t)n << 17);
}

static inline uint64_t pat_mid(uint64_t tag)
{
    return (tag << 29 | tag >> 35) ^ 0x5DEECE66DULL;
}

static inline size_t pat_mid_off(size_t n)
{
    return (n / 2) & ~(size_t)7;
}

static inline uint8_t pat_byte(uint64_t tag, size_t i)
{
    return (uint8_t)((tag >> ((i & 7) * 8)) ^ (i * 0x3B));
}

static inline void pat_write(void *p, size_t n, uint64_t tag)
{
    unsigned char *b = (unsigned char *)p;
    if (n >= 16) {
        uint64_t t = pat_tail(tag, n);
        memcpy(b, &tag, 8);
        if (n >= 32) {
            uint64_t m = pat_mid(tag);
            memcpy(b + pat_mid_off(n), &m, 8);
        }
        memcpy(b + n - 8, &t, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            b[i] = pat_byte(tag, i);
    }
}

/* Returns 0 when the pattern is intact, else the byte offset + 1 of the
 * first word found damaged. */
static inline size_t pat_check(const void *p, size_t n, uint64_t tag)
{
    const unsigned char *b = (const unsigned char *)p;
    if (n >= 16) {
        uint64_t h, t, m;
        memcpy(&h, b, 8);
        memcpy(&t, b + n - 8, 8);
        if (h != tag)
            return 1;
        if (t != pat_tail(tag, n))
            return n - 8 + 1;
        if (n >= 32) {
            memcpy(&m, b + pat_mid_off(n), 8);
            if (m != pat_mid(tag))
                return pat_mid_off(n) + 1;
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat_byte(tag, i))
            return i + 1;
    return 0;
}

/* Checks and aborts with a message naming the benchmark and the block. */
static inline void pat_verify(const void *p, size_t n, uint64_t tag,
                              const char *bench, unsigned long long where)
{
    size_t bad = pat_check(p, n, tag);
    if (__builtin_expect(bad != 0, 0))
        bench_verify_failed("%s: block %p (%zu bytes, #%llu) damaged at offset %zu",
                            bench, p, n, where, bad - 1);
}

/* Cheap per-block tag from two counters. */
static inline uint64_t make_tag(uint64_t a, uint64_t b)
{
    return mix64(a * 0x9E3779B97F4A7C15ULL + b);
}

#endif /* BENCH_COMMON_H */
