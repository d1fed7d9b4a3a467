/*
 * calloc_zero: calloc must return zeroed memory even when it recycles a
 * block that was dirtied and freed just before (small, medium and large
 * sizes up to several MiB, including after malloc_trim and realloc
 * shrink/grow), and must reject multiplication overflow with ENOMEM.
 */
#include "itest.h"

#include <malloc.h>

static const size_t sizes[] = {
    1,      7,      8,      16,     24,      48,      100,     128,     255,     256,
    512,    1000,   1024,   2048,   4000,    4096,    8191,    16384,   32768,   65535,
    65536,  65537,  100000, 131072, 262144,  262145,  500000,  1u << 20, (1u << 20) + 1,
    2u << 20, (2u << 20) + 4096, 3u << 20, 5000000, 8u << 20,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define PER_SIZE 4

static void check_zero(const unsigned char *p, size_t n, const char *what, size_t req)
{
    /* word-wise scan first, then locate the byte for the message */
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w)
            break;
    }
    for (; i < n; i++)
        if (p[i])
            FAIL("%s(%zu): byte %zu of %zu is 0x%02x, not zero (p=%p)", what, req, i, n, p[i], (void *)p);
}

static void dirty_then_calloc(int round)
{
    void *blk[PER_SIZE];
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        for (int k = 0; k < PER_SIZE; k++) {
            blk[k] = malloc(n);
            if (!blk[k])
                FAIL("malloc(%zu) returned NULL", n);
            memset(blk[k], 0xAA, n);
        }
        for (int k = 0; k < PER_SIZE; k++)
            free(blk[k]);
        if (round == 2)
            malloc_trim(0);
        for (int k = 0; k < PER_SIZE; k++) {
            /* alternate calloc(1, n) and calloc(n / d, d) style requests */
            if (k & 1 && n % 4 == 0)
                blk[k] = calloc(n / 4, 4);
            else
                blk[k] = calloc(1, n);
            if (!blk[k])
                FAIL("calloc(%zu) returned NULL", n);
            check_zero(blk[k], n, "calloc", n);
            /* dirty it again: the next round recycles dirty memory */
            memset(blk[k], 0xAA, n);
        }
        for (int k = 0; k < PER_SIZE; k++)
            free(blk[k]);
    }
}

/* realloc can leave stale bytes in a block; calloc afterwards must clear. */
static void realloc_dirty_then_calloc(void)
{
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        unsigned char *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        memset(p, 0xAA, n);
        unsigned char *q = realloc(p, n / 2 + 1);
        CHECK(q != NULL, "realloc shrink");
        q = realloc(q, n);
        CHECK(q != NULL, "realloc grow");
        memset(q, 0xAA, n);
        free(q);
        unsigned char *z = calloc(n, 1);
        CHECK(z != NULL, "calloc(%zu, 1)", n);
        check_zero(z, n, "calloc after realloc", n);
        free(z);
    }
}

/* Many live small callocs interleaved with dirty frees of the same class. */
static void interleaved_small(void)
{
    enum { N = 20000 };
    static unsigned char *ptrs[N];
    uint64_t rng = 42;
    for (int i = 0; i < N; i++) {
        size_t n = 1 + itest_rand(&rng) % 300;
        ptrs[i] = malloc(n);
        CHECK(ptrs[i] != NULL);
        memset(ptrs[i], 0xAA, n);
    }
    for (int i = 0; i < N; i += 2)
        free(ptrs[i]);
    for (int i = 0; i < N; i += 2) {
        size_t n = 1 + itest_rand(&rng) % 300;
        ptrs[i] = calloc(1, n);
        CHECK(ptrs[i] != NULL);
        check_zero(ptrs[i], n, "interleaved calloc", n);
    }
    for (int i = 0; i < N; i++)
        free(ptrs[i]);
}

static void overflow_cases(void)
{
    static const struct {
        size_t a, b;
    } ov[] = {
        {SIZE_MAX / 2, 3},
        {3, SIZE_MAX / 2},
        {SIZE_MAX, SIZE_MAX},
        {SIZE_MAX, 2},
        {(size_t)1 << 32, (size_t)1 << 32},
        {((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1},
        {SIZE_MAX / 16 + 1, 16},
        {(SIZE_MAX >> 1) + 1, 2},
    };
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        size_t a = ITEST_OPAQUE(ov[i].a), b = ITEST_OPAQUE(ov[i].b);
        errno = 0;
        void *p = calloc(a, b);
        if (p != NULL)
            FAIL("calloc(%zu, %zu) overflows size_t but returned %p", a, b, p);
        if (errno != ENOMEM)
            FAIL("calloc(%zu, %zu) returned NULL but errno=%d (%s), expected ENOMEM", a, b, errno, strerror(errno));
    }

    /* calloc(0, n) / calloc(n, 0): NULL or a unique freeable pointer */
    void *z1 = calloc(0, 16), *z2 = calloc(16, 0), *z3 = calloc(0, 0);
    if (z1 && z1 == z2)
        FAIL("calloc(0,16) and calloc(16,0) returned the same pointer %p", z1);
    free(z1);
    free(z2);
    free(z3);

    /* and the allocator still works afterwards */
    void *p = calloc(1000, 1000);
    CHECK(p != NULL);
    check_zero(p, 1000000, "calloc after overflow", 1000000);
    free(p);
}

int main(void)
{
    itest_init("calloc_zero", 60);
    for (int round = 0; round < 3; round++)
        dirty_then_calloc(round);
    realloc_dirty_then_calloc();
    interleaved_small();
    overflow_cases();
    printf("calloc_zero: OK\n");
    return 0;
}
