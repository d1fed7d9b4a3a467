/*
 * align: posix_memalign / aligned_alloc / memalign for every power-of-two
 * alignment from 8 B (sizeof(void *) for posix_memalign) to 4 MiB with
 * sizes 0, 1, a-1, a, 3a+5; alignment, writability, usable size, no overlap
 * between the live blocks; invalid posix_memalign alignments give EINVAL
 * and leave *out untouched; valloc/pvalloc are page aligned; aligned_alloc
 * with a non-power-of-two alignment either fails with EINVAL or behaves as
 * glibc 2.36 does (rounds the alignment up to a power of two).
 * free_sized / free_aligned_sized are exercised when the process has them.
 */
#include "itest.h"

#include <dlfcn.h>
#include <malloc.h>

#define MAX_ALIGN ((size_t)4 << 20)
#define NSZ 5

static void (*p_free_sized)(void *, size_t);
static void (*p_free_aligned_sized)(void *, size_t, size_t);

static size_t next_pow2(size_t v)
{
    size_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

struct blk {
    void *p;
    size_t n, al;
};

static void check_block(const char *fn, void *p, size_t al, size_t n)
{
    if (!p) {
        if (n == 0)
            return; /* NULL is a valid answer for size 0 */
        FAIL("%s(align %zu, size %zu) returned NULL (errno %d)", fn, al, n, errno);
    }
    if ((uintptr_t)p % al != 0)
        FAIL("%s(align %zu, size %zu) returned %p, misaligned by %zu", fn, al, n, p, (size_t)((uintptr_t)p % al));
    size_t us = malloc_usable_size(p);
    if (us < n)
        FAIL("%s(align %zu, size %zu): malloc_usable_size = %zu < size", fn, al, n, us);
}

static void fill_all(struct blk *b, int nb)
{
    for (int i = 0; i < nb; i++)
        if (b[i].p)
            itest_fill(b[i].p, b[i].n, b[i].al);
}

static void verify_all(const char *fn, struct blk *b, int nb)
{
    for (int i = 0; i < nb; i++) {
        if (!b[i].p)
            continue;
        size_t bad = itest_check(b[i].p, b[i].n, b[i].al);
        if (bad != (size_t)-1)
            FAIL("%s(align %zu, size %zu) block %p overwritten at offset %zu: blocks overlap", fn, b[i].al,
                 b[i].n, b[i].p, bad);
    }
}

/* kind 0: posix_memalign, 1: aligned_alloc, 2: memalign */
static void one_alignment(int kind, size_t al)
{
    static const char *names[] = {"posix_memalign", "aligned_alloc", "memalign"};
    const char *fn = names[kind];
    size_t sizes[NSZ] = {0, 1, al - 1, al, 3 * al + 5};
    struct blk b[NSZ * 2];
    int nb = 0;

    for (int rep = 0; rep < 2; rep++) {
        for (int s = 0; s < NSZ; s++) {
            size_t n = sizes[s];
            void *p = NULL;
            errno = 0;
            if (kind == 0) {
                int rc = posix_memalign(&p, al, n);
                if (rc != 0)
                    FAIL("posix_memalign(align %zu, size %zu) returned %d", al, n, rc);
            } else if (kind == 1) {
                p = aligned_alloc(al, n);
            } else {
                p = memalign(al, n);
            }
            check_block(fn, p, al, n);
            b[nb++] = (struct blk){p, n, al};
        }
    }
    fill_all(b, nb);
    verify_all(fn, b, nb);
    /* free in an interleaved order, alternating the C23 sized frees */
    for (int i = 0; i < nb; i += 2) {
        if (p_free_aligned_sized && kind == 1 && b[i].p)
            p_free_aligned_sized(b[i].p, al, b[i].n);
        else
            free(b[i].p);
    }
    for (int i = 1; i < nb; i += 2)
        free(b[i].p);
}

static void invalid_posix_memalign(void)
{
    static const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, ((size_t)1 << 20) + 8, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *sentinel = (void *)(uintptr_t)0xDEADBEEF;
        void *out = sentinel;
        size_t al = ITEST_OPAQUE(bad[i]);
        int rc = posix_memalign(&out, al, 64);
        if (rc != EINVAL)
            FAIL("posix_memalign(align %zu) returned %d, expected EINVAL (%d)", al, rc, EINVAL);
        if (out != sentinel)
            FAIL("posix_memalign(align %zu) failed but modified *out (%p)", al, out);
    }
    /* too big: ENOMEM, *out untouched */
    void *sentinel = (void *)(uintptr_t)0xDEADBEEF;
    void *out = sentinel;
    int rc = posix_memalign(&out, 64, ITEST_OPAQUE(SIZE_MAX - 32));
    if (rc != ENOMEM)
        FAIL("posix_memalign(64, SIZE_MAX-32) returned %d, expected ENOMEM", rc);
    if (out != sentinel)
        FAIL("posix_memalign(64, SIZE_MAX-32) failed but modified *out");
}

static void nonpow2_aligned_alloc(void)
{
    static const size_t al[] = {3, 12, 24, 48, 100, 4097};
    for (size_t i = 0; i < sizeof al / sizeof al[0]; i++) {
        size_t a = ITEST_OPAQUE(al[i]);
        errno = 0;
        void *p = aligned_alloc(a, 4 * a);
        if (p == NULL) {
            if (errno != EINVAL)
                FAIL("aligned_alloc(%zu, %zu) = NULL with errno %d, expected EINVAL", a, 4 * a, errno);
            continue;
        }
        /* glibc < 2.38 accepts it and aligns to the next power of two */
        if ((uintptr_t)p % next_pow2(a) != 0)
            FAIL("aligned_alloc(%zu) returned %p: not aligned to %zu (next power of two)", a, p, next_pow2(a));
        check_block("aligned_alloc", p, 1, 4 * a);
        memset(p, 0x11, 4 * a);
        free(p);
    }
    /* memalign with alignment below pointer size, or not a power of two */
    static const size_t mal[] = {1, 2, 4, 24, 100};
    for (size_t i = 0; i < sizeof mal / sizeof mal[0]; i++) {
        size_t a = ITEST_OPAQUE(mal[i]);
        void *p = memalign(a, 200);
        if (!p) {
            if (errno != EINVAL)
                FAIL("memalign(%zu, 200) = NULL with errno %d", a, errno);
            continue;
        }
        if ((uintptr_t)p % next_pow2(a) != 0)
            FAIL("memalign(%zu) returned %p: not aligned to %zu", a, p, next_pow2(a));
        check_block("memalign", p, 1, 200);
        memset(p, 0x22, 200);
        free(p);
    }
}

static void page_allocs(void)
{
    size_t page = (size_t)itest_page_size();
    static const size_t ns[] = {0, 1, 100, 4095, 4096, 4097, 10000, 1u << 20};
    void *keep[32];
    int nk = 0;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        size_t n = ns[i];
        void *v = valloc(n);
        check_block("valloc", v, page, n);
        void *pv = pvalloc(n);
        size_t rounded = (n + page - 1) / page * page;
        check_block("pvalloc", pv, page, n);
        if (pv && malloc_usable_size(pv) < rounded)
            FAIL("pvalloc(%zu): usable size %zu < size rounded to pages (%zu)", n, malloc_usable_size(pv),
                 rounded);
        if (pv)
            memset(pv, 0x5A, rounded);
        if (v)
            memset(v, 0xA5, n);
        keep[nk++] = v;
        keep[nk++] = pv;
    }
    for (int i = 0; i < nk; i++)
        free(keep[i]);
}

/* Many small over-aligned blocks live at once (slab-style classes). */
static void many_small_aligned(void)
{
    enum { N = 3000 };
    static struct blk b[N];
    uint64_t rng = 99;
    for (int i = 0; i < N; i++) {
        size_t al = (size_t)16 << (itest_rand(&rng) % 9); /* 16 .. 4096 */
        size_t n = 1 + itest_rand(&rng) % (2 * al);
        void *p = NULL;
        if (posix_memalign(&p, al, n) != 0)
            FAIL("posix_memalign(%zu, %zu) failed", al, n);
        check_block("posix_memalign", p, al, n);
        b[i] = (struct blk){p, n, al};
    }
    fill_all(b, N);
    verify_all("posix_memalign(many)", b, N);
    for (int i = 0; i < N; i++) {
        if (p_free_sized && i % 3 == 0)
            p_free_sized(b[i].p, b[i].n);
        else
            free(b[i].p);
    }
}

int main(void)
{
    itest_init("align", 60);
    /* C23 sized frees: used only when the running allocator exports them. */
    p_free_sized = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    p_free_aligned_sized = (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");

    for (size_t al = 1; al <= MAX_ALIGN; al <<= 1) {
        if (al >= sizeof(void *))
            one_alignment(0, al);
        one_alignment(1, al);
        one_alignment(2, al);
    }
    invalid_posix_memalign();
    nonpow2_aligned_alloc();
    page_allocs();
    many_small_aligned();
    printf("align: OK%s\n", p_free_sized ? " (free_sized/free_aligned_sized exercised)" : "");
    return 0;
}
