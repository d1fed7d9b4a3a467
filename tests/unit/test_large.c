/*
 * test_large.c — blocks above the largest size class: alignment, usable
 * size, the cache of freed blocks, zeroing on reuse, realloc, failures,
 * large alignments.
 *
 * SPDX-License-Identifier: MIT
 */
#include "unit.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MiB ((size_t)1 << 20)

static int group_setup(void **state)
{
    (void)state;
    hak_ensure_init();
    return 0;
}

static int restore_options(void **state)
{
    (void)state;
    hak_opt_values[HAK_OPT_PURGE_DELAY_MS] = hak_options[HAK_OPT_PURGE_DELAY_MS].def;
    hak_opt_values[HAK_OPT_LARGE_CACHE] = hak_options[HAK_OPT_LARGE_CACHE].def;
    hak_opt_values[HAK_OPT_LARGE_CACHE_LIVE] = hak_options[HAK_OPT_LARGE_CACHE_LIVE].def;
    return 0;
}

static hak_large_t *record_of(const void *p)
{
    uintptr_t v = hak_reg_lookup(p);
    if (!(v & HAK_REG_LARGE))
        return NULL;
    return _hak_large_find(v, p);
}

static void test_malloc_1mib(void **state)
{
    (void)state;
    const size_t sizes[] = {HAK_SMALL_MAX + 1, MiB, MiB + 1, 2 * MiB, 3 * MiB - 5, 17 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *p = hak_malloc(n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % HAK_PAGE_SIZE, 0);
        size_t us = hak_malloc_usable_size(p);
        if (us < n)
            fail_msg("malloc(%zu): usable size %zu", n, us);
        assert_int_equal(us % HAK_PAGE_SIZE, 0);
        assert_true(us - n < HAK_PAGE_SIZE + n / 4);
        hak_large_t *l = record_of(p);
        assert_non_null(l);
        assert_int_equal(l->magic, HAK_LARGE_MAGIC);
        assert_int_equal(l->state, HAK_LARGE_LIVE);
        assert_ptr_equal(l->user, p);
        assert_int_equal(l->size, n);
        /* fresh or reused, the whole usable size is writable */
        memset(p, 0x3C, us);
        assert_true(all_bytes(p + us - 4096, 4096, 0x3C));
        hak_free(p);
    }
}

/* free then malloc of the same size gives the same block back (cached),
 * without a new mapping; a request up to a quarter smaller too. */
static void test_cache_reuse(void **state)
{
    (void)state;
    size_t n = 9 * MiB + 123; /* no other test caches a block this size */
    void *p = hak_malloc(n);
    assert_non_null(p);
    hak_free(p);
    hak_large_t *l = record_of(p);
    assert_non_null(l);
    assert_int_equal(l->state, HAK_LARGE_CACHED);
    uint64_t mm0, mu, ma, mr, mapped, peak, purged, mm1;
    _hak_os_counts(&mm0, &mu, &ma, &mr, &mapped, &peak, &purged);
    void *q = hak_malloc(n);
    assert_ptr_equal(q, p);
    hak_free(q);
    void *r = hak_malloc(8 * MiB + MiB / 2);
    assert_ptr_equal(r, p);
    _hak_os_counts(&mm1, &mu, &ma, &mr, &mapped, &peak, &purged);
    assert_int_equal(mm1, mm0);
    /* a much smaller request does not take the big cached block */
    void *s = hak_malloc(5 * MiB);
    assert_non_null(s);
    assert_true(s != r);
    hak_free(s);
    hak_free(r);
}

/* calloc of a large block reused from the cache clears what the previous
 * user wrote, whether the cached pages were purged meanwhile or not. */
static void check_calloc_reuse(size_t n, bool purge)
{
    unsigned char *p = hak_malloc(n);
    assert_non_null(p);
    size_t us = hak_malloc_usable_size(p);
    memset(p, 0xCD, us);
    if (purge)
        hak_opt_values[HAK_OPT_PURGE_DELAY_MS] = 0;
    hak_free(p);
    if (purge) {
        /* the next large free runs a purge pass over the cache */
        usleep(5000);
        void *x = hak_malloc(40 * MiB + 12345); /* not cacheable: only triggers the pass */
        hak_free(x);
        assert_int_equal(record_of(p)->purged, 1);
    }
    unsigned char *q = hak_calloc(1, n);
    assert_ptr_equal(q, p);
    if (!all_bytes(q, n, 0))
        fail_msg("calloc(1, %zu) reused %p (%s) without clearing it", n, (void *)q,
                 purge ? "purged" : "dirty");
    memset(q, 0xEF, us);
    hak_free(q);
    /* a slightly smaller request: served by this or another cached
     * (dirty) block, cleared either way */
    size_t m = n - n / 8;
    q = hak_calloc(m, 1);
    assert_non_null(q);
    if (!all_bytes(q, m, 0))
        fail_msg("calloc(%zu, 1) = %p not cleared", m, (void *)q);
    hak_free(q);
    hak_opt_values[HAK_OPT_PURGE_DELAY_MS] = hak_options[HAK_OPT_PURGE_DELAY_MS].def;
}

static void test_calloc_zero_after_reuse(void **state)
{
    (void)state;
    check_calloc_reuse(2 * MiB + 5000, false);
    check_calloc_reuse(6 * MiB + 77, true);
    /* calloc overflow */
    errno = 0;
    assert_null(hak_calloc(SIZE_MAX / 4, 8));
    assert_int_equal(errno, ENOMEM);
}

/* realloc growth through the large sizes keeps the contents; shrinking
 * back into the small classes too. */
static void test_realloc_growth(void **state)
{
    (void)state;
    size_t n = 600 * 1024;
    unsigned char *p = hak_malloc(n);
    assert_non_null(p);
    pattern_fill(p, n, 5);
    const size_t steps[] = {MiB, 3 * MiB, 3 * MiB + 100, 10 * MiB, 50 * MiB, 70 * MiB};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        unsigned char *q = hak_realloc(p, steps[i]);
        assert_non_null(q);
        size_t bad = pattern_check(q, n, 5);
        if (bad != SIZE_MAX)
            fail_msg("realloc %zu -> %zu: byte %zu changed", n, steps[i], bad);
        assert_true(hak_malloc_usable_size(q) >= steps[i]);
        pattern_fill(q, steps[i], 5);
        p = q;
        n = steps[i];
    }
    const size_t down[] = {20 * MiB, 700 * 1024, 100 * 1024, 1000};
    for (size_t i = 0; i < sizeof down / sizeof down[0]; i++) {
        unsigned char *q = hak_realloc(p, down[i]);
        assert_non_null(q);
        size_t bad = pattern_check(q, down[i], 5);
        if (bad != SIZE_MAX)
            fail_msg("realloc %zu -> %zu: byte %zu changed", n, down[i], bad);
        assert_true(hak_malloc_usable_size(q) >= down[i]);
        p = q;
        n = down[i];
    }
    hak_free(p);
}

static void run_in_child(void (*child)(void), const char *name);

/* realloc to n bytes; NULL if the result does not hold the pattern of the
 * first `keep` bytes or is too small (reported on stderr); else fills all n.
 * No cmocka assertion: forked children use it too. */
static unsigned char *regrow_checked(unsigned char *p, size_t keep, size_t n)
{
    unsigned char *q = hak_realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "realloc -> %zu failed\n", n);
        return NULL;
    }
    size_t bad = pattern_check(q, keep < n ? keep : n, 7);
    if (bad != SIZE_MAX || hak_malloc_usable_size(q) < n) {
        fprintf(stderr, "realloc -> %zu: byte %zu changed or block too small\n", n, bad);
        return NULL;
    }
    pattern_fill(q, n, 7);
    return q;
}

static unsigned char *regrow(unsigned char *p, size_t keep, size_t n)
{
    unsigned char *q = regrow_checked(p, keep, n);
    assert_non_null(q);
    return q;
}

/* in a forked child: exits with code if the realloc goes wrong */
static unsigned char *regrow_or_exit(unsigned char *p, size_t keep, size_t n, int code)
{
    unsigned char *q = regrow_checked(p, keep, n);
    if (q == NULL)
        _exit(code);
    return q;
}

/* While one thread allocates, a buffer that realloc grows past
 * HAK_REALLOC_SPAN_MIN becomes an arena span and grows or shrinks there in
 * place; malloc of the same size stays in a size class; below
 * HAK_REALLOC_SPAN_MIN the buffer goes back to a class. (No test before
 * this one starts a thread in this process; the threaded ones fork.) */
static void test_realloc_spans(void **state)
{
    (void)state;
    assert_true(__atomic_load_n(&hak_heaps_made, __ATOMIC_RELAXED) <= 1);
    const size_t min = HAK_REALLOC_SPAN_MIN;
    unsigned char *m = hak_malloc(min + 1000);
    assert_null(record_of(m));
    unsigned char *p = hak_malloc(3000);
    pattern_fill(p, 3000, 7);
    p = regrow(p, 3000, min);
    assert_null(record_of(p)); /* not past the threshold */
    p = regrow(p, min, min + 1);
    hak_large_t *l = record_of(p);
    assert_non_null(l);
    assert_non_null(l->arena);
    assert_int_equal(l->state, HAK_LARGE_LIVE);
    assert_ptr_equal(l->user, p);
    size_t span = l->span;
    assert_true(span >= min + 1 && span % HAK_PAGE_SIZE == 0);
    /* within the span: the same block, without a move */
    unsigned char *q = regrow(p, min + 1, span);
    assert_ptr_equal(q, p);
    assert_ptr_equal(regrow(q, span, span / 2 + 1), p);
    assert_int_equal(record_of(p)->span, span);
    /* growing past it keeps the contents, still a span (in place when the
     * pages after it are free) */
    p = regrow(p, span / 2 + 1, 40 * 1024);
    l = record_of(p);
    assert_non_null(l);
    assert_true(l->span >= 40 * 1024);
    /* shrinking to half or less: the same span, its tail given back */
    q = regrow(p, 40 * 1024, min + 2000);
    assert_ptr_equal(q, p);
    assert_true(record_of(p)->span < 40 * 1024);
    /* to half of the span or less and not above the threshold: back to a
     * size class */
    p = regrow(p, min + 2000, 3000);
    assert_null(record_of(p));
    assert_true(hak_reg_lookup(p) & HAK_REG_SMALL);
    hak_free(p);
    hak_free(m);
}

static void *malloc_thread(void *arg)
{
    (void)arg;
    hak_free(hak_malloc(100));
    return NULL;
}

static void realloc_threaded_child(void)
{
    unsigned char *p = hak_malloc(3000);
    pattern_fill(p, 3000, 7);
    p = regrow_or_exit(p, 3000, HAK_REALLOC_SPAN_MIN + 4096, 20);
    hak_large_t *l = record_of(p);
    if (!l || !l->arena)
        _exit(10);
    size_t span = l->span;
    pthread_t t;
    if (pthread_create(&t, NULL, malloc_thread, NULL) != 0 || pthread_join(t, NULL) != 0)
        _exit(11);
    if (__atomic_load_n(&hak_heaps_made, __ATOMIC_RELAXED) != 2)
        _exit(12);
    /* a new growing buffer stays in the size classes */
    unsigned char *r = hak_malloc(3000);
    pattern_fill(r, 3000, 7);
    r = regrow_or_exit(r, 3000, HAK_REALLOC_SPAN_MIN + 4096, 21);
    if (record_of(r) || !(hak_reg_lookup(r) & HAK_REG_SMALL))
        _exit(13);
    /* the span made before still changes in place within its pages, and
     * goes to a size class when it must move */
    if (regrow_or_exit(p, HAK_REALLOC_SPAN_MIN + 4096, span, 22) != p)
        _exit(14);
    p = regrow_or_exit(p, span, 60 * 1024, 23);
    if (record_of(p) || !(hak_reg_lookup(p) & HAK_REG_SMALL))
        _exit(15);
    hak_free(p);
    hak_free(r);
    _exit(0);
}

/* Once a second thread has allocated, growing buffers stay in the size
 * classes (the arenas' lock would be shared). */
static void test_realloc_spans_threaded(void **state)
{
    (void)state;
    run_in_child(realloc_threaded_child, "realloc_threaded_child");
}

/* A thread with no heap of its own grows a block the main thread made:
 * another thread allocates, so the buffer stays in the size classes. */
static void *realloc_thread(void *arg)
{
    return regrow_checked(arg, 3000, HAK_REALLOC_SPAN_MIN + 4096);
}

static void realloc_heapless_child(void)
{
    unsigned char *p = hak_malloc(3000);
    pattern_fill(p, 3000, 7);
    if (__atomic_load_n(&hak_heaps_made, __ATOMIC_RELAXED) != 1)
        _exit(10);
    pthread_t t;
    void *r = NULL;
    if (pthread_create(&t, NULL, realloc_thread, p) != 0 || pthread_join(t, &r) != 0)
        _exit(11);
    if (r == NULL)
        _exit(12);
    if (record_of(r) || !(hak_reg_lookup(r) & HAK_REG_SMALL))
        _exit(13);
    hak_free(r);
    _exit(0);
}

static void test_realloc_spans_other_thread(void **state)
{
    (void)state;
    run_in_child(realloc_heapless_child, "realloc_heapless_child");
}

/* Impossible sizes fail with ENOMEM and leave everything as it was. */
static void test_enomem(void **state)
{
    (void)state;
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX,
                           (size_t)PTRDIFF_MAX + 1};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        assert_null(hak_malloc(huge[i]));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(hak_calloc(1, huge[i]));
        assert_int_equal(errno, ENOMEM);
    }
    char *p = hak_malloc(2 * MiB);
    assert_non_null(p);
    memset(p, 7, 2 * MiB);
    errno = 0;
    assert_null(hak_realloc(p, SIZE_MAX));
    assert_int_equal(errno, ENOMEM);
    assert_true(all_bytes(p, 2 * MiB, 7)); /* still valid, untouched */
    void *q = (void *)1;
    assert_int_equal(hak_posix_memalign(&q, 8 * MiB, SIZE_MAX - MiB), ENOMEM);
    assert_ptr_equal(q, (void *)1);
    errno = 0;
    assert_null(hak_aligned_alloc(4096, SIZE_MAX));
    assert_int_equal(errno, ENOMEM);
    hak_free(p);
}

/* Alignments above 4 KiB come from the large path, aligned as asked. */
static void test_posix_memalign_large_alignment(void **state)
{
    (void)state;
    const size_t aligns[] = {8 * 1024, 64 * 1024, 2 * MiB, 4 * MiB, 8 * MiB, 32 * MiB};
    const size_t sizes[] = {1, 100, 5000, 3 * MiB};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
            void *p = NULL;
            assert_int_equal(hak_posix_memalign(&p, aligns[i], sizes[j]), 0);
            assert_non_null(p);
            if ((uintptr_t)p % aligns[i])
                fail_msg("posix_memalign(%zu, %zu) = %p", aligns[i], sizes[j], p);
            assert_true(hak_malloc_usable_size(p) >= sizes[j]);
            memset(p, 0x11, sizes[j]);
            hak_free(p);
        }
    }
    /* a cached block reused for an aligned request keeps the alignment */
    void *a = NULL, *b = NULL;
    assert_int_equal(hak_posix_memalign(&a, 8 * MiB, 3 * MiB), 0);
    hak_free(a);
    assert_int_equal(hak_posix_memalign(&b, 8 * MiB, 3 * MiB), 0);
    assert_int_equal((uintptr_t)b % (8 * MiB), 0);
    hak_free(b);
    void *c = hak_memalign(16 * MiB, MiB);
    assert_non_null(c);
    assert_int_equal((uintptr_t)c % (16 * MiB), 0);
    hak_free(c);
}

/* A block bigger than half the cache is unmapped on free and its chunk
 * unregistered. */
static void test_uncacheable_unmapped(void **state)
{
    (void)state;
    size_t n = (size_t)hak_opt(HAK_OPT_LARGE_CACHE) / 2 + MiB;
    uint64_t mm, mu0, mu1, ma, mr, mapped0, mapped1, peak, purged;
    char *p = hak_malloc(n);
    assert_non_null(p);
    p[n - 1] = 1;
    _hak_os_counts(&mm, &mu0, &ma, &mr, &mapped0, &peak, &purged);
    hak_free(p);
    _hak_os_counts(&mm, &mu1, &ma, &mr, &mapped1, &peak, &purged);
    assert_true(mu1 > mu0);
    assert_true(mapped1 + n <= mapped0);
    assert_int_equal(hak_reg_lookup(p), 0);
}

/* The cache keeps at most HAKMEM_LARGE_CACHE bytes. */
static void test_cache_bound(void **state)
{
    (void)state;
    hak_opt_values[HAK_OPT_LARGE_CACHE] = 16 * MiB;
    void *v[8];
    for (int i = 0; i < 8; i++) {
        v[i] = hak_malloc(3 * MiB + (size_t)i * 8 * 4096);
        assert_non_null(v[i]);
    }
    for (int i = 0; i < 8; i++)
        hak_free(v[i]);
    uint64_t live, lbytes, cached, cbytes;
    _hak_large_counts(&live, &lbytes, &cached, &cbytes);
    assert_true(cbytes <= 16 * MiB);
    assert_true(cached >= 1);
    hak_malloc_trim(0);
    _hak_large_counts(&live, &lbytes, &cached, &cbytes);
    assert_int_equal(cached, 0);
    assert_int_equal(cbytes, 0);
}

/* While more bytes are live in large blocks than HAKMEM_LARGE_CACHE, freed
 * ones stay resident up to HAKMEM_LARGE_CACHE_LIVE percent of the live
 * bytes (100 by default); with 0, the fixed bound alone applies. */
static void test_cache_bound_follows_live(void **state)
{
    (void)state;
    hak_opt_values[HAK_OPT_LARGE_CACHE] = 8 * MiB;
    for (int pct = 100; pct >= 0; pct -= 100) {
        hak_opt_values[HAK_OPT_LARGE_CACHE_LIVE] = pct;
        hak_malloc_trim(0);
        uint64_t live, lbytes0, lbytes, cached, cbytes;
        _hak_large_counts(&live, &lbytes0, &cached, &cbytes);
        assert_int_equal(cbytes, 0);
        char *v[6];
        for (int i = 0; i < 6; i++) {
            v[i] = hak_malloc(4 * MiB);
            assert_non_null(v[i]);
            memset(v[i], i + 1, 4 * MiB);
        }
        for (int i = 0; i < 3; i++)
            hak_free(v[i]);
        _hak_large_counts(&live, &lbytes, &cached, &cbytes);
        assert_int_equal(lbytes - lbytes0, 12 * MiB);
        /* 12 MiB live: all 12 MiB freed stay (pct 100), or 8 MiB at most */
        if (pct ? cbytes < 12 * MiB : cbytes > 8 * MiB)
            fail_msg("HAKMEM_LARGE_CACHE_LIVE=%d: %llu bytes kept", pct,
                     (unsigned long long)cbytes);
        for (int i = 3; i < 6; i++) {
            assert_true(all_bytes(v[i], 4 * MiB, (unsigned char)(i + 1)));
            hak_free(v[i]);
        }
        /* nothing live any more: the fixed bound */
        _hak_large_counts(&live, &lbytes, &cached, &cbytes);
        assert_true(cbytes <= 8 * MiB);
    }
}

/* Arena spans: neighbours freed merge into one free span, realloc grows
 * into a free span that follows, shrinking gives the tail back, and the
 * merged memory serves a bigger request without a system call. */
static void test_arena_spans(void **state)
{
    (void)state;
    hak_malloc_trim(0);
    char *a = hak_malloc(MiB), *b = hak_malloc(MiB), *c = hak_malloc(MiB);
    assert_true(a && b && c);
    assert_non_null(record_of(a)->arena);
    assert_ptr_equal(b, a + MiB); /* carved one after the other */
    assert_ptr_equal(c, b + MiB);
    memset(a, 1, MiB);
    memset(b, 2, MiB);
    hak_free(b);
    hak_large_t *f = record_of(b);
    assert_int_equal(f->state, HAK_LARGE_CACHED);
    /* a grows into b's span, in place, keeping its contents */
    char *a2 = hak_realloc(a, MiB + MiB / 2);
    assert_ptr_equal(a2, a);
    assert_true(all_bytes(a, MiB, 1));
    assert_true(hak_malloc_usable_size(a) >= MiB + MiB / 2);
    /* and shrinks back: the tail is a free span again */
    assert_ptr_equal(hak_realloc(a, 100 * 1024 * 5), a);
    assert_int_equal(hak_malloc_usable_size(a), 500 * 1024);
    hak_free(a);
    /* a and b's spans merged: a 2 MiB request fits at a, no new mapping */
    hak_large_t *m = record_of(a);
    assert_ptr_equal(m, record_of(b));
    assert_true(m->user <= a && m->user + m->span >= c);
    uint64_t mm0, mm1, mu, ma, mr, mapped, peak, purged;
    _hak_os_counts(&mm0, &mu, &ma, &mr, &mapped, &peak, &purged);
    char *d = hak_malloc(2 * MiB);
    _hak_os_counts(&mm1, &mu, &ma, &mr, &mapped, &peak, &purged);
    assert_int_equal(mm1, mm0);
    assert_true(d >= m->user && d + 2 * MiB <= c);
    hak_free(d);
    hak_free(c);
    /* trim purges the dirty spans: nothing stays cached */
    hak_malloc_trim(0);
    uint64_t live, lbytes, cached, cbytes;
    _hak_large_counts(&live, &lbytes, &cached, &cbytes);
    assert_int_equal(cbytes, 0);
}

/* Arenas are 256 MiB: eight 30 MiB blocks (spans never cross arenas) take
 * at most two of them; with 64 MiB arenas they took four or more. */
static void test_arena_size(void **state)
{
    (void)state;
    hak_malloc_trim(0);
    char *v[8];
    struct hak_arena *seen[8];
    unsigned distinct = 0;
    for (int i = 0; i < 8; i++) {
        v[i] = hak_malloc(30 * MiB);
        assert_non_null(v[i]);
        hak_large_t *l = record_of(v[i]);
        assert_non_null(l);
        assert_non_null(l->arena);
        unsigned k = 0;
        while (k < distinct && seen[k] != l->arena)
            k++;
        if (k == distinct)
            seen[distinct++] = l->arena;
    }
    if (distinct > 2)
        fail_msg("eight 30 MiB blocks in %u arenas", distinct);
    for (int i = 0; i < 8; i++)
        hak_free(v[i]);
    hak_malloc_trim(0);
}

static size_t vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu", &pages) != 1)
        pages = 0;
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* In a child process: no large block live and no arena left to take new
 * blocks from (exits with code if a large block is live). */
static void no_arena_or_exit(int code)
{
    hak_malloc_trim(0);
    uint64_t live, lbytes, cached, cbytes;
    _hak_large_counts(&live, &lbytes, &cached, &cbytes);
    if (live != 0)
        _exit(code);
}

/* In a child process: a 30 MiB block that must be a span of an arena
 * (its arena in *arena if that is not NULL), with errno left alone; exits
 * with code if there is none, code + 1 if errno was set, code + 2 if the
 * block has a mapping of its own (no arena could be made). */
static char *arena_block_or_exit(int code, struct hak_arena **arena)
{
    errno = 0;
    char *p = hak_malloc(30 * MiB);
    if (!p)
        _exit(code);
    if (errno != 0)
        _exit(code + 1);
    hak_large_t *l = record_of(p);
    if (!l || !l->arena)
        _exit(code + 2);
    if (arena)
        *arena = l->arena;
    return p;
}

/* Under RLIMIT_AS every arena is 64 MiB: three 30 MiB blocks (two arenas)
 * leave room for a 100 MiB block within 400 MiB of address space, where a
 * second arena of 256 MiB would not; errno is left alone. */
static void arena_rlimit_child(void)
{
    no_arena_or_exit(10);
    size_t vm = vm_bytes();
    if (vm == 0)
        _exit(11);
    struct rlimit rl = {vm + 400 * MiB, vm + 400 * MiB};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(12);
    char *v[3];
    for (int i = 0; i < 3; i++)
        v[i] = arena_block_or_exit(13, NULL);
    char *big = hak_malloc(100 * MiB);
    if (!big)
        _exit(16);
    big[0] = big[100 * MiB - 1] = 1;
    hak_free(big);
    for (int i = 0; i < 3; i++)
        hak_free(v[i]);
    _exit(0);
}

/* Runs child (which _exits with 0 on success) in a forked process, so
 * that the arenas it makes and the limits it sets stay out of the other
 * tests; fails with its exit code or signal. */
static void run_in_child(void (*child)(void), const char *name)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child();
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        fail_msg("child killed by signal %d", WTERMSIG(st));
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0)
        fail_msg("child exited with %d (see %s)", WEXITSTATUS(st), name);
}

static void test_arena_rlimit(void **state)
{
    (void)state;
    run_in_child(arena_rlimit_child, "arena_rlimit_child");
}

/* This program's mmap (the core is linked in statically, so the
 * allocator's calls come here): with refuse_from set, any mapping of that
 * many bytes or more fails with ENOMEM, as where the kernel will not give
 * 256 MiB of address space without an RLIMIT_AS (strict overcommit, a
 * full address space). */
static size_t refuse_from;
static unsigned refused;

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (refuse_from && len >= refuse_from) {
        refused++;
        errno = ENOMEM;
        return MAP_FAILED;
    }
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    return r == -1 ? MAP_FAILED : (void *)r;
}

/* Where 256 MiB cannot be mapped, an arena is 64 MiB: three 30 MiB blocks
 * are still arena spans (two arenas, where one 256 MiB arena held them
 * all), errno is left alone, and mappings of 128 MiB and more were
 * refused. */
static void arena_fallback_child(void)
{
    no_arena_or_exit(10);
    refuse_from = 128 * MiB;
    char *v[3];
    struct hak_arena *arena[3];
    for (int i = 0; i < 3; i++) {
        v[i] = arena_block_or_exit(11, &arena[i]);
        v[i][0] = v[i][30 * MiB - 1] = (char)i;
    }
    if (refused == 0)
        _exit(14); /* no 256 MiB mapping was tried: the test tests nothing */
    if (arena[0] == arena[2] && arena[1] == arena[2])
        _exit(15); /* 90 MiB in one arena: not a 64 MiB one */
    for (int i = 0; i < 3; i++) {
        if (v[i][0] != (char)i || v[i][30 * MiB - 1] != (char)i)
            _exit(16);
        hak_free(v[i]);
    }
    _exit(0);
}

static void test_arena_map_fallback(void **state)
{
    (void)state;
    run_in_child(arena_fallback_child, "arena_fallback_child");
}

/* When no arena can be mapped, buffers realloc grows past
 * HAK_REALLOC_SPAN_MIN stay in the size classes, and the arena is not
 * tried again on every move (one refused attempt, not one per buffer). */
static void realloc_no_arena_child(void)
{
    no_arena_or_exit(10);
    if (__atomic_load_n(&hak_heaps_made, __ATOMIC_RELAXED) > 1)
        _exit(11);
    refuse_from = 64 * MiB;
    unsigned char *v[50];
    for (int i = 0; i < 50; i++) {
        v[i] = hak_malloc(3000);
        if (!v[i])
            _exit(12);
        pattern_fill(v[i], 3000, 7);
        v[i] = regrow_or_exit(v[i], 3000, HAK_REALLOC_SPAN_MIN + 4096, 13);
        if (record_of(v[i]) || !(hak_reg_lookup(v[i]) & HAK_REG_SMALL))
            _exit(14);
    }
    if (refused == 0)
        _exit(15); /* no arena was tried: the test tests nothing */
    if (refused > 4)
        _exit(16); /* tried again for later buffers */
    refuse_from = 0;
    for (int i = 0; i < 50; i++)
        hak_free(v[i]);
    _exit(0);
}

static void test_realloc_spans_no_arena(void **state)
{
    (void)state;
    run_in_child(realloc_no_arena_child, "realloc_no_arena_child");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_malloc_1mib),
    cmocka_unit_test(test_cache_reuse),
    cmocka_unit_test_teardown(test_calloc_zero_after_reuse, restore_options),
    cmocka_unit_test(test_realloc_growth),
    cmocka_unit_test(test_realloc_spans),
    cmocka_unit_test(test_realloc_spans_threaded),
    cmocka_unit_test(test_realloc_spans_other_thread),
    cmocka_unit_test(test_enomem),
    cmocka_unit_test(test_posix_memalign_large_alignment),
    cmocka_unit_test(test_uncacheable_unmapped),
    cmocka_unit_test_teardown(test_cache_bound, restore_options),
    cmocka_unit_test_teardown(test_cache_bound_follows_live, restore_options),
    cmocka_unit_test(test_arena_spans),
    cmocka_unit_test(test_arena_size),
    cmocka_unit_test(test_arena_rlimit),
    cmocka_unit_test(test_arena_map_fallback),
    cmocka_unit_test(test_realloc_spans_no_arena),
};

UNIT_MAIN("large", tests, group_setup, NULL)
