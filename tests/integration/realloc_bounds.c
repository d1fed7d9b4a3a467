/*
 * realloc_bounds: realloc must preserve content across every size step.
 *
 *  - grow one block from 1 to 70000 bytes in steps of 1, then shrink it back
 *    to 1 in steps of 1 (once alone, once with other allocations in between
 *    so the block has to move), checking the preserved prefix and
 *    malloc_usable_size(p) >= n after every step;
 *  - powers of two and +-1 up to 64 MiB, growing then shrinking, plus big
 *    jumps (64 MiB -> 1 B -> 64 MiB);
 *  - realloc of posix_memalign/calloc blocks;
 *  - realloc(NULL, n) behaves as malloc(n); realloc(p, 0) returns NULL or a
 *    valid pointer and does not leak (RSS stays bounded over many calls);
 *  - reallocarray overflow gives NULL/ENOMEM and leaves the block intact.
 */
#include "itest.h"

#include <malloc.h>

#define SMALL_MAX 70000
#define BIG_LOG2 26 /* 64 MiB */

static unsigned char *ref; /* reference content, position dependent */
static size_t ref_len;

static void make_ref(size_t n)
{
    ref = malloc(n);
    if (!ref)
        FAIL("cannot allocate %zu B reference buffer", n);
    ref_len = n;
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = itest_rand(&s);
        memcpy(ref + i, &w, n - i < 8 ? n - i : 8);
    }
}

static void check_prefix(const unsigned char *p, size_t n, const char *what, size_t from, size_t to)
{
    if (memcmp(p, ref, n) != 0) {
        size_t i = 0;
        while (i < n && p[i] == ref[i])
            i++;
        FAIL("%s realloc %zu -> %zu: content lost at offset %zu (of %zu kept), got 0x%02x want 0x%02x", what,
             from, to, i, n, p[i], ref[i]);
    }
}

static void check_usable(void *p, size_t n, const char *what)
{
    size_t us = malloc_usable_size(p);
    if (us < n)
        FAIL("%s: malloc_usable_size(%p) = %zu < requested %zu", what, p, us, n);
    /* the whole usable size must be writable: poke the last byte */
    ((volatile unsigned char *)p)[us - 1] = ((unsigned char *)p)[us - 1];
}

/* Block-moving realloc of one block through a list of sizes. */
static unsigned char *walk(unsigned char *p, size_t *cur, size_t to, const char *what)
{
    size_t from = *cur;
    unsigned char *q = realloc(p, to);
    if (!q)
        FAIL("%s realloc(%p, %zu) from %zu returned NULL (errno %d)", what, (void *)p, to, from, errno);
    size_t keep = from < to ? from : to;
    check_prefix(q, keep, what, from, to);
    check_usable(q, to, what);
    if (to > from)
        memcpy(q + from, ref + from, to - from);
    *cur = to;
    return q;
}

static void small_steps(int with_blockers)
{
    const char *what = with_blockers ? "small-step (with blockers)" : "small-step";
    void **blockers = NULL;
    size_t nblk = 0;
    uint64_t rng = 7;
    if (with_blockers) {
        blockers = calloc(2 * SMALL_MAX + 2, sizeof(void *));
        CHECK(blockers != NULL);
    }

    size_t cur = 1;
    unsigned char *p = malloc(1);
    CHECK(p != NULL);
    p[0] = ref[0];
    for (size_t n = 2; n <= SMALL_MAX; n++) {
        p = walk(p, &cur, n, what);
        if (with_blockers && n % 3 == 0) {
            blockers[nblk] = malloc(1 + itest_rand(&rng) % 96);
            CHECK(blockers[nblk] != NULL);
            nblk++;
        }
    }
    for (size_t n = SMALL_MAX - 1; n >= 1; n--) {
        p = walk(p, &cur, n, what);
        if (with_blockers && n % 3 == 0) {
            blockers[nblk] = malloc(1 + itest_rand(&rng) % 96);
            CHECK(blockers[nblk] != NULL);
            nblk++;
        }
    }
    free(p);
    for (size_t i = 0; i < nblk; i++)
        free(blockers[i]);
    free(blockers);
}

static void big_steps(void)
{
    size_t list[3 * (BIG_LOG2 + 1)];
    size_t nl = 0;
    for (int k = 0; k <= BIG_LOG2; k++) {
        size_t v = (size_t)1 << k;
        if (v - 1 > 0 && (nl == 0 || list[nl - 1] < v - 1))
            list[nl++] = v - 1;
        if (nl == 0 || list[nl - 1] < v)
            list[nl++] = v;
        if (k < BIG_LOG2)
            list[nl++] = v + 1;
    }
    size_t cur = 1;
    unsigned char *p = malloc(1);
    CHECK(p != NULL);
    p[0] = ref[0];
    for (size_t i = 1; i < nl; i++)
        p = walk(p, &cur, list[i], "pow2 grow");
    for (size_t i = nl - 1; i-- > 0;)
        p = walk(p, &cur, list[i], "pow2 shrink");
    /* big jumps across all size classes */
    static const size_t jumps[] = {(size_t)64 << 20, 1, (size_t)64 << 20, 100, (size_t)32 << 20, 70000,
                                   (size_t)8 << 20,  17, 4096,              (size_t)1 << 20, 3};
    for (size_t i = 0; i < sizeof jumps / sizeof jumps[0]; i++)
        p = walk(p, &cur, jumps[i], "jump");
    free(p);
}

static void realloc_special_blocks(void)
{
    /* realloc of an over-aligned block keeps content */
    for (size_t al = 16; al <= ((size_t)1 << 20); al <<= 2) {
        void *v = NULL;
        size_t n = al + 13;
        if (posix_memalign(&v, al, n) != 0)
            FAIL("posix_memalign(%zu, %zu) failed", al, n);
        memcpy(v, ref, n);
        size_t cur = n;
        unsigned char *p = walk(v, &cur, n * 3 + 1, "aligned block grow");
        p = walk(p, &cur, 5, "aligned block shrink");
        free(p);
    }
    /* realloc of a calloc'd block */
    unsigned char *c = calloc(1000, 10);
    CHECK(c != NULL);
    memcpy(c, ref, 10000);
    size_t cur = 10000;
    c = walk(c, &cur, 300000, "calloc block");
    free(c);
    /* same-size realloc */
    unsigned char *s = malloc(777);
    CHECK(s != NULL);
    memcpy(s, ref, 777);
    cur = 777;
    s = walk(s, &cur, 777, "same size");
    free(s);
}

static void null_and_zero(void)
{
    /* realloc(NULL, n) == malloc(n) */
    static const size_t ns[] = {1, 16, 1000, 70000, 1u << 20, 9u << 20};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        unsigned char *p = realloc(NULL, ns[i]);
        if (!p)
            FAIL("realloc(NULL, %zu) returned NULL", ns[i]);
        check_usable(p, ns[i], "realloc(NULL, n)");
        memset(p, 0x77, ns[i]);
        free(p);
    }
    void *z = realloc(NULL, 0);
    free(z); /* NULL or a unique pointer: both freeable */

    /* realloc(p, 0): NULL (block freed, glibc) or a valid pointer to free. */
    size_t zero = ITEST_OPAQUE(0);
    size_t rss0 = itest_rss();
    for (int i = 0; i < 100000; i++) {
        size_t n = 500 + (size_t)(i % 7) * 300;
        unsigned char *p = malloc(n);
        CHECK(p != NULL);
        memset(p, 0x33, n);
        errno = 0;
        void *q = realloc(p, zero);
        if (q) {
            if (malloc_usable_size(q) > (1u << 20))
                FAIL("realloc(p, 0) returned a suspicious block %p (usable %zu)", q, malloc_usable_size(q));
            free(q);
        }
    }
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)1 << 20;
        unsigned char *p = malloc(n);
        CHECK(p != NULL);
        memset(p, 0x44, n);
        void *q = realloc(p, zero);
        free(q);
    }
    size_t rss1 = itest_rss();
    if (rss1 > rss0 && rss1 - rss0 > ((size_t)48 << 20))
        FAIL("realloc(p, 0) leaks: RSS grew by %zu KiB over 100200 calls", (rss1 - rss0) >> 10);
}

static void reallocarray_cases(void)
{
    unsigned char *p = reallocarray(NULL, 10, 10);
    CHECK(p != NULL, "reallocarray(NULL, 10, 10)");
    check_usable(p, 100, "reallocarray(NULL, 10, 10)");
    memcpy(p, ref, 100);
    unsigned char *q = reallocarray(p, 300, 7);
    CHECK(q != NULL, "reallocarray(p, 300, 7)");
    check_prefix(q, 100, "reallocarray", 100, 2100);
    p = q;

    static const struct {
        size_t a, b;
    } ov[] = {{SIZE_MAX / 2, 3}, {3, SIZE_MAX / 2}, {SIZE_MAX, SIZE_MAX}, {(size_t)1 << 32, (size_t)1 << 32}};
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        size_t a = ITEST_OPAQUE(ov[i].a), b = ITEST_OPAQUE(ov[i].b);
        errno = 0;
        q = reallocarray(p, a, b);
        if (q)
            FAIL("reallocarray(p, %zu, %zu) overflows but returned %p", a, b, (void *)q);
        if (errno != ENOMEM)
            FAIL("reallocarray(p, %zu, %zu): errno %d (%s), expected ENOMEM", a, b, errno, strerror(errno));
        check_prefix(p, 100, "failed reallocarray (original block)", 2100, 0);
        errno = 0;
        q = reallocarray(NULL, a, b);
        if (q || errno != ENOMEM)
            FAIL("reallocarray(NULL, %zu, %zu) = %p errno %d, expected NULL/ENOMEM", a, b, (void *)q, errno);
    }
    free(p);
}

int main(void)
{
    itest_init("realloc_bounds", 60);
    make_ref(((size_t)64 << 20) + 16);
    small_steps(0);
    small_steps(1);
    big_steps();
    realloc_special_blocks();
    null_and_zero();
    reallocarray_cases();
    free(ref);
    printf("realloc_bounds: OK\n");
    return 0;
}
