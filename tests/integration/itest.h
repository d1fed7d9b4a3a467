/*
 * Shared helpers for the integration tests in tests/integration/.
 *
 * The tests use only the standard malloc API (plus the glibc extensions
 * malloc_usable_size and friends) so that they run under any allocator:
 * plainly against glibc, or with LD_PRELOAD=build/libhakmem.so.
 *
 * Every test exits 0 on success.  On failure it prints one line starting
 * with "FAIL" and the details to stderr and exits 1.  A SIGALRM watchdog
 * turns hangs (deadlocks) into failures as well.
 */
#ifndef ITEST_H
#define ITEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *itest_name = "itest";

__attribute__((format(printf, 4, 5), noreturn, unused))
static void itest_fail_cond(const char *file, int line, const char *cond, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n = snprintf(buf, sizeof buf, "FAIL %s (%s:%d): ", itest_name, file, line);
    if (n < 0)
        n = 0;
    if (cond && (size_t)n < sizeof buf) {
        int m = snprintf(buf + n, sizeof buf - (size_t)n, "check `%s` failed%s", cond, *fmt ? ": " : "");
        if (m > 0)
            n += m;
    }
    if ((size_t)n < sizeof buf) {
        va_start(ap, fmt);
        vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* write(2) directly: stdio may be the thing that is broken. */
    size_t len = strnlen(buf, sizeof buf - 2);
    buf[len++] = '\n';
    ssize_t w = write(2, buf, len);
    (void)w;
    _exit(1);
}

/* FAIL(fmt, ...): report and exit(1).  CHECK(cond[, fmt, ...]). */
#pragma GCC diagnostic ignored "-Wformat-zero-length" /* CHECK(cond) passes "" */
#define FAIL(...) itest_fail_cond(__FILE__, __LINE__, NULL, __VA_ARGS__)
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond))                                                          \
            itest_fail_cond(__FILE__, __LINE__, #cond, "" __VA_ARGS__);       \
    } while (0)

static void itest_alarm_handler(int sig)
{
    (void)sig;
    static const char msg1[] = "FAIL ";
    static const char msg2[] = ": watchdog timeout (deadlock or far too slow)\n";
    ssize_t w = write(2, msg1, sizeof msg1 - 1);
    w = write(2, itest_name, strlen(itest_name));
    w = write(2, msg2, sizeof msg2 - 1);
    (void)w;
    _exit(1);
}

/* Names the test and arms a watchdog of `seconds` (0 = none). */
__attribute__((unused))
static void itest_init(const char *name, unsigned seconds)
{
    itest_name = name;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (seconds) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = itest_alarm_handler;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        alarm(seconds);
    }
}

/* ---- deterministic pseudo random numbers (xorshift64*) ---- */
static inline uint64_t itest_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t itest_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- content patterns derived from (address, size, salt) ----
 * Byte i of a block is a function of the block's address, its size and i,
 * so two live blocks that overlap, or a block handed out twice, show up as a
 * mismatch.  The word-at-a-time layout keeps fills fast for big blocks. */
static inline uint64_t itest_seed(const void *p, size_t n, uint64_t salt)
{
    return itest_mix((uint64_t)(uintptr_t)p * 31 + n + salt * 0x9E3779B97F4A7C15ULL) | 1;
}

static inline unsigned char itest_pat_byte(uint64_t seed, size_t i)
{
    return (unsigned char)((seed >> ((i & 7) * 8)) + (i >> 3) * 0x3B);
}

__attribute__((unused))
static void itest_fill(void *p, size_t n, uint64_t salt)
{
    unsigned char *b = p;
    uint64_t seed = itest_seed(p, n, salt);
    for (size_t i = 0; i < n; i++)
        b[i] = itest_pat_byte(seed, i);
}

/* Returns the index of the first bad byte, or (size_t)-1 when intact.
 * `as_if` is the address that was used to compute the pattern (the block
 * may have moved since, e.g. through realloc). */
__attribute__((unused))
static size_t itest_check_as(const void *p, const void *as_if, size_t n, size_t sz_for_seed,
                             uint64_t salt)
{
    const unsigned char *b = p;
    uint64_t seed = itest_seed(as_if, sz_for_seed, salt);
    for (size_t i = 0; i < n; i++)
        if (b[i] != itest_pat_byte(seed, i))
            return i;
    return (size_t)-1;
}

__attribute__((unused))
static size_t itest_check(const void *p, size_t n, uint64_t salt)
{
    return itest_check_as(p, p, n, n, salt);
}

/* Number of zero bytes in [p, p+n): tells "zeroed by the kernel" (for
 * example a stray madvise(MADV_DONTNEED)) apart from overwritten data. */
__attribute__((unused))
static size_t itest_zero_bytes(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t z = 0;
    for (size_t i = 0; i < n; i++)
        z += b[i] == 0;
    return z;
}

/* ---- process memory ---- */
__attribute__((unused))
static long itest_page_size(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? ps : 4096;
}

/* Resident set size in bytes, from /proc/self/statm (0 if unavailable). */
__attribute__((unused))
static size_t itest_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (size_t)res * (size_t)itest_page_size();
}

/* Virtual size in bytes, from /proc/self/statm (0 if unavailable). */
__attribute__((unused))
static size_t itest_vmsize(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu", &size) != 1)
        size = 0;
    fclose(f);
    return (size_t)size * (size_t)itest_page_size();
}

/* Number of lines in /proc/self/maps (number of mappings), -1 if unknown. */
__attribute__((unused))
static long itest_map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    if (!f)
        return -1;
    while ((c = getc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n;
}

/* Hide a value from the optimiser (so malloc(SIZE_MAX) etc. really call). */
static inline size_t itest_opaque(size_t v)
{
    __asm__ volatile("" : "+r"(v));
    return v;
}
#define ITEST_OPAQUE(x) itest_opaque((size_t)(x))

#endif /* ITEST_H */
