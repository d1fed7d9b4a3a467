/*
 * unit.h — helpers shared by the cmocka unit tests (tests/unit/test_*.c).
 *
 * The tests link build/libhakmem_core.a: the core without the malloc
 * override, so cmocka and libc keep glibc's malloc while the tests call the
 * hak_* functions (and the hidden _hak_* internals) explicitly.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef HAKMEM_UNIT_H
#define HAKMEM_UNIT_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

/* ---- stderr capture ------------------------------------------------------
 * hakmem reports with write(2, ...), so stderr is redirected at the file
 * descriptor level: a pipe is dup2'ed over fd 2 and read back afterwards.
 * Reports are a few hundred bytes, far below the pipe's capacity. Nothing
 * may assert between capture_begin and capture_end (cmocka's messages would
 * go into the pipe). */
typedef struct {
    int saved_fd;
    int read_fd;
} unit_capture_t;

static inline void capture_begin(unit_capture_t *c)
{
    int fds[2];
    fflush(stderr);
    if (pipe(fds) != 0) {
        perror("pipe");
        abort();
    }
#ifdef F_SETPIPE_SZ
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); /* room for a full statistics report */
#endif
    c->saved_fd = dup(2);
    dup2(fds[1], 2);
    close(fds[1]);
    c->read_fd = fds[0];
}

/* Restores stderr and returns what was written meanwhile (NUL-terminated,
 * truncated to cap - 1 bytes). */
static inline size_t capture_end(unit_capture_t *c, char *buf, size_t cap)
{
    fflush(stderr);
    dup2(c->saved_fd, 2);
    close(c->saved_fd);
    size_t len = 0;
    for (;;) {
        char tmp[512];
        ssize_t n = read(c->read_fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && len + 1 < cap; i++)
            buf[len++] = tmp[i];
    }
    buf[len] = '\0';
    close(c->read_fd);
    return len;
}

/* "0x..." as hakmem prints addresses (lowercase hex, no padding). */
static inline void fmt_addr(char *buf, size_t cap, const void *p)
{
    snprintf(buf, cap, "0x%lx", (unsigned long)(uintptr_t)p);
}

/* Asserts that text contains needle, printing both otherwise. */
#define assert_contains(text, needle)                                                  \
    do {                                                                               \
        const char *t_ = (text), *n_ = (needle);                                      \
        if (strstr(t_, n_) == NULL)                                                    \
            fail_msg("expected \"%s\" in output:\n---\n%s---", n_, t_);                \
    } while (0)

#define assert_not_contains(text, needle)                                              \
    do {                                                                               \
        const char *t_ = (text), *n_ = (needle);                                      \
        if (strstr(t_, n_) != NULL)                                                    \
            fail_msg("did not expect \"%s\" in output:\n---\n%s---", n_, t_);          \
    } while (0)

/* ---- patterns ------------------------------------------------------------ */
static inline unsigned char pattern_byte(uint64_t seed, size_t i)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (unsigned char)(x ^ (x >> 17));
}

static inline void pattern_fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        c[i] = pattern_byte(seed, i);
}

/* Index of the first byte that differs from the pattern, or SIZE_MAX. */
static inline size_t pattern_check(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != pattern_byte(seed, i))
            return i;
    return SIZE_MAX;
}

static inline bool all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != v)
            return false;
    return true;
}

/* ---- address sets -------------------------------------------------------- */
typedef struct {
    uintptr_t lo, hi; /* [lo, hi) */
} unit_range_t;

static inline int unit_range_cmp(const void *a, const void *b)
{
    const unit_range_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts the ranges; returns the index of the first one overlapping its
 * predecessor (or equal to it), or -1 if all are disjoint. */
static inline long ranges_first_overlap(unit_range_t *r, size_t n)
{
    qsort(r, n, sizeof *r, unit_range_cmp);
    for (size_t i = 1; i < n; i++)
        if (r[i].lo < r[i - 1].hi)
            return (long)i;
    return -1;
}

/* ---- allocator state ----------------------------------------------------- */
static inline hak_slab_t *slab_of_block(const void *p)
{
    uintptr_t v = hak_reg_lookup(p);
    if (!(v & HAK_REG_SMALL))
        return NULL;
    hak_superslab_t *ss = (hak_superslab_t *)(v & ~(uintptr_t)3);
    return hak_ss_slab_of(ss, p);
}

static inline uint64_t os_mapped_bytes(void)
{
    uint64_t mm, mu, ma, mr, mapped, peak, purged;
    _hak_os_counts(&mm, &mu, &ma, &mr, &mapped, &peak, &purged);
    return mapped;
}

typedef struct {
    uint64_t ss_live, hot, draining, freed, cached;
} unit_ss_counts_t;

static inline unit_ss_counts_t ss_counts(void)
{
    unit_ss_counts_t c;
    _hak_ss_counts(&c.ss_live, &c.hot, &c.draining, &c.freed, &c.cached);
    return c;
}

/* Keeps the compiler from reasoning about a pointer (malloc attributes). */
static inline uintptr_t addr_of(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    __asm__ volatile("" : "+r"(v));
    return v;
}

/* ---- main ------------------------------------------------------------------
 * Every test program: `test_x` runs all its tests, `test_x NAME` only those
 * matching NAME (cmocka's filter: * and ? wildcards), `test_x --list` prints
 * the test names (tests/unit/run.sh uses it to run each test in its own
 * process under the sanitizers, where the first report ends the process). */
#define UNIT_MAIN(group, tests, setup, teardown)                                     \
    int main(int argc, char **argv)                                                   \
    {                                                                                 \
        if (argc > 1 && strcmp(argv[1], "--list") == 0) {                             \
            for (size_t i_ = 0; i_ < sizeof(tests) / sizeof((tests)[0]); i_++)         \
                printf("%s\n", (tests)[i_].name);                                     \
            return 0;                                                                 \
        }                                                                             \
        if (argc > 1)                                                                 \
            cmocka_set_test_filter(argv[1]);                                          \
        return cmocka_run_group_tests_name(group, tests, setup, teardown);            \
    }

#endif /* HAKMEM_UNIT_H */
