/*
 * test_freelist.c — the per-thread heap: TLS free lists (LIFO), their
 * counts and bounds (flush), refill carving, and the hak_* entry points that
 * sit on them (calloc, realloc, usable size, aligned allocation).
 *
 * SPDX-License-Identifier: MIT
 */
#include "unit.h"

static unsigned cls_of(size_t n) { return hak_size_class(n + HAK_PAD); }

static int group_setup(void **state)
{
    (void)state;
    void *p = hak_malloc(1); /* creates this thread's heap */
    if (!p || hak_tls_heap == &hak_empty_heap)
        return -1;
    hak_free(p);
    return 0;
}

/* free() puts the block on the TLS list; the next malloc of the class pops
 * it again (LIFO), for every class. */
static void test_lifo_reuse_every_class(void **state)
{
    (void)state;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        size_t n = hak_class_size[c] - HAK_PAD;
        void *p = hak_malloc(n);
        assert_non_null(p);
        uint32_t before = hak_heap_count(hak_tls_heap, c);
        hak_free(p);
        uint32_t after = hak_heap_count(hak_tls_heap, c);
        if (before + 1 <= hak_tls_heap->tl_max[c]) {
            assert_int_equal(after, before + 1);
            assert_ptr_equal(hak_tls_heap->tl[c].head, p);
        }
        void *q = hak_malloc(n);
        assert_non_null(q);
        if (before + 1 <= hak_tls_heap->tl_max[c] && addr_of(q) != addr_of(p))
            fail_msg("class %u: freed %p, next malloc(%zu) returned %p", c, p, n, q);
        if (before + 1 <= hak_tls_heap->tl_max[c])
            assert_int_equal(hak_heap_count(hak_tls_heap, c), before);
        hak_free(q);
    }
}

/* Several blocks: freed a, b, c come back as c, b, a. */
static void test_lifo_order(void **state)
{
    (void)state;
    unsigned c = cls_of(40);
    void *a = hak_malloc(40), *b = hak_malloc(40), *d = hak_malloc(40);
    assert_true(a && b && d);
    assert_true(a != b && b != d && a != d);
    uint32_t count = hak_heap_count(hak_tls_heap, c);
    hak_free(a);
    hak_free(b);
    hak_free(d);
    assert_int_equal(hak_heap_count(hak_tls_heap, c), count + 3);
    assert_ptr_equal(hak_malloc(40), d);
    assert_ptr_equal(hak_malloc(40), b);
    assert_ptr_equal(hak_malloc(40), a);
    assert_int_equal(hak_heap_count(hak_tls_heap, c), count);
    hak_free(a);
    hak_free(b);
    hak_free(d);
}

/* Frees k blocks of class c from v, checking each free: below the list's
 * bound it adds one to the count; over it, it either grows the bound (by
 * doubling, up to hak_tcache_cap) or flushes the list down to half the
 * bound. Counts the grows and the flushes. */
static void free_counting(void **v, size_t k, unsigned c, uint32_t *grows, uint32_t *flushes)
{
    hak_heap_t *h = hak_tls_heap;
    uint32_t cap = hak_tcache_cap[c];
    *grows = *flushes = 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t before = hak_heap_count(h, c), max = h->tl_max[c];
        hak_free(v[i]);
        uint32_t after = hak_heap_count(h, c), now = h->tl_max[c];
        bool grew = now != max;
        if (grew && now != (max < cap - max ? 2 * max : cap))
            fail_msg("class %u: free #%zu took the bound from %u to %u (cap %u)", c, i, max, now,
                     cap);
        uint32_t want = before + 1 <= max || grew ? before + 1 : max / 2;
        if (after != want)
            fail_msg("class %u (bound %u): free #%zu took count %u to %u, expected %u", c, max, i,
                     before, after, want);
        if (before + 1 > max)
            (*(grew ? grows : flushes))++;
        else if (grew)
            fail_msg("class %u: free #%zu grew the bound without an overflow", c, i);
    }
}

/* Every free adds one to the list's count until the count would exceed
 * the list's bound; that free flushes the list down to bound / 2. (The
 * list is marked as not having run dry since its last flush: then the
 * bound does not grow; test_bound_grows_while_list_swings covers that.) */
static void check_flush(unsigned c)
{
    size_t n = hak_class_size[c] - HAK_PAD;
    hak_heap_t *h = hak_tls_heap;
    uint32_t max = h->tl_max[c];
    assert_true(max >= hak_tcache_max[c] && max <= hak_tcache_cap[c]);
    size_t k = (size_t)max * 2 + 5;
    void **v = calloc(k, sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < k; i++) {
        v[i] = hak_malloc(n);
        assert_non_null(v[i]);
    }
    h->tl_dry[c] = 0;
    uint32_t grows, flushes;
    free_counting(v, k, c, &grows, &flushes);
    assert_int_equal(grows, 0);
    assert_int_equal(h->tl_max[c], max);
    assert_true(flushes >= 1);
    free(v);
}

static void test_flush_at_tcache_max(void **state)
{
    (void)state;
    /* the bound follows HAKMEM_TCACHE_BYTES (64 KiB by default), with a
     * floor of 16 blocks (of at most 1 MiB in all) */
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        size_t want = (size_t)hak_opt(HAK_OPT_TCACHE_BYTES) / hak_class_size[c];
        size_t floor = ((size_t)1 << 20) / hak_class_size[c];
        if (floor > 16)
            floor = 16;
        if (want < floor)
            want = floor;
        if (want < 1)
            want = 1;
        if (want > 1024)
            want = 1024;
        assert_int_equal(hak_tcache_max[c], want);
        /* and may grow to 16 times that, at most 8192 blocks */
        size_t cap = 16 * (size_t)hak_opt(HAK_OPT_TCACHE_BYTES) / hak_class_size[c];
        if (cap > 8192)
            cap = 8192;
        if (cap < want)
            cap = want;
        assert_int_equal(hak_tcache_cap[c], cap);
    }
    const unsigned classes[] = {0, 3, 9, 19, 27, 31, 40, 42, HAK_NUM_CLASSES - 1};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        check_flush(classes[i]);
}

/* Flushed blocks go back to their slab (free list + free_count) and the
 * blocks kept are still handed out in LIFO order. */
static void test_flush_returns_blocks_to_slab(void **state)
{
    (void)state;
    unsigned c = cls_of(96);
    uint32_t max = hak_tls_heap->tl_max[c];
    size_t k = max + 1;
    void **v = calloc(k, sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < k; i++)
        v[i] = hak_malloc(96);
    /* empty the list first: a flush then moves exactly max + 1 - max / 2 */
    while (hak_heap_count(hak_tls_heap, c) > 0) {
        void *x = hak_malloc(96);
        assert_non_null(x);
        v = realloc(v, ++k * sizeof *v);
        v[k - 1] = x;
    }
    uint64_t slab_free_before = 0;
    hak_slab_t *s0 = slab_of_block(v[0]);
    assert_non_null(s0);
    slab_free_before = s0->free_count;
    size_t freed = 0;
    hak_tls_heap->tl_dry[c] = 0; /* the overflow below flushes, the bound stays */
    for (size_t i = 0; i < k && hak_heap_count(hak_tls_heap, c) < max; i++, freed++)
        hak_free(v[i]);
    assert_int_equal(hak_heap_count(hak_tls_heap, c), max);
    hak_free(v[freed]); /* the one that overflows */
    freed++;
    assert_int_equal(hak_heap_count(hak_tls_heap, c), max / 2);
    /* the blocks flushed are the most recently freed ones (list head) */
    size_t flushed = max + 1 - max / 2;
    size_t on_slabs = 0;
    for (size_t i = freed - flushed; i < freed; i++) {
        hak_slab_t *s = slab_of_block(v[i]);
        assert_non_null(s);
        for (hak_block_t *b = s->free; b; b = hak_next(b))
            if (b == v[i]) {
                on_slabs++;
                break;
            }
    }
    assert_int_equal(on_slabs, flushed);
    assert_true(s0->free_count >= slab_free_before);
    /* runs of a slab go back whole: each slab's count matches its list */
    for (size_t i = freed - flushed; i < freed; i++) {
        hak_slab_t *s = slab_of_block(v[i]);
        uint32_t n = 0;
        for (hak_block_t *b = s->free; b; b = hak_next(b))
            n++;
        assert_int_equal(n, s->free_count);
    }
    /* the rest of the TLS list is v[freed - flushed - 1], ... */
    void *top = hak_malloc(96);
    assert_ptr_equal(top, v[freed - flushed - 1]);
    hak_free(top);
    for (size_t i = freed; i < k; i++)
        hak_free(v[i]);
    free(v);
}

/* A list that swings between running dry and overflowing doubles its bound
 * at the first overflow after each dry spell, up to hak_tcache_cap; other
 * overflows flush. The heap's budget limits the growth, and malloc_trim
 * puts every bound back. */
static void test_bound_grows_while_list_swings(void **state)
{
    (void)state;
    hak_heap_t *h = hak_tls_heap;
    hak_malloc_trim(0);
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        assert_int_equal(h->tl_max[c], hak_tcache_max[c]);
        assert_int_equal(hak_heap_count(h, c), 0);
    }
    const uint64_t budget = 32 * (uint64_t)hak_opt(HAK_OPT_TCACHE_BYTES);
    assert_int_equal(h->tl_grow_left, budget);

    unsigned c = cls_of(200);
    size_t n = hak_class_size[c] - HAK_PAD, bs = hak_class_size[c];
    uint32_t base = hak_tcache_max[c], cap = hak_tcache_cap[c];
    assert_true(cap > base);
    size_t k = (size_t)cap + 2; /* more than the list ever holds */
    void **v = calloc(k, sizeof *v);
    assert_non_null(v);
    uint32_t want = base, grows, flushes;
    for (int round = 0; round < 8; round++) {
        for (size_t i = 0; i < k; i++) {
            v[i] = hak_malloc(n);
            assert_non_null(v[i]);
        }
        assert_true(h->tl_dry[c]); /* it ran dry: refilled */
        free_counting(v, k, c, &grows, &flushes);
        uint32_t prev = want;
        want = want < cap - want ? 2 * want : cap;
        assert_int_equal(h->tl_max[c], want);
        /* once a round (one dry spell), until the cap */
        assert_int_equal(grows, prev < cap ? 1 : 0);
        assert_true(flushes >= 1);
        assert_int_equal(h->tl_grow_left, budget - (uint64_t)(want - base) * bs);
    }
    assert_int_equal(h->tl_max[c], cap);

    /* a reset of the bounds (the constructor re-read the options) keeps
     * what the lists hold: a list above its new bound flushes next */
    uint32_t held = hak_heap_count(h, c);
    assert_true(held > base);
    _hak_heap_reset_bounds(h);
    assert_int_equal(h->tl_max[c], base);
    assert_int_equal(hak_heap_count(h, c), held);
    assert_int_equal(h->tl_grow_left, budget);
    void *x = hak_malloc(n);
    hak_free(x);
    assert_int_equal(hak_heap_count(h, c), base / 2);

    hak_malloc_trim(0);
    assert_int_equal(h->tl_max[c], base);
    assert_int_equal(h->tl_grow_left, budget);

    /* out of budget: the list flushes instead of growing */
    h->tl_grow_left = (uint64_t)base * bs - 1;
    for (size_t i = 0; i < k; i++)
        v[i] = hak_malloc(n);
    free_counting(v, k, c, &grows, &flushes);
    assert_int_equal(grows, 0);
    assert_true(flushes >= 1);
    assert_int_equal(h->tl_max[c], base);
    hak_malloc_trim(0);
    assert_int_equal(h->tl_grow_left, budget);
    free(v);
}

/* A fresh slab is carved in address order: consecutive mallocs of a class
 * not used before return consecutive blocks, and the TLS list holds the
 * rest of the batch in order. Each carve takes the blocks that start in the
 * page the slab's bump pointer is in (at least one), so that it writes links
 * into one page and a class never holds more than a page of blocks it has not
 * used. */
static void check_carve(unsigned c)
{
    hak_heap_t *h = hak_tls_heap;
    assert_null(h->tl[c].head);
    assert_int_equal(hak_heap_count(h, c), 0);
    size_t n = hak_class_size[c] - HAK_PAD, bs = hak_class_size[c];
    char *p0 = hak_malloc(n);
    assert_non_null(p0);
    hak_slab_t *s = slab_of_block(p0);
    assert_non_null(s);
    assert_ptr_equal(s->start, p0); /* first block of a new slab */
    assert_int_equal(s->block_size, bs);
    assert_int_equal(s->cls, c);
    assert_ptr_equal(s->owner, h);
    uint32_t batch = hak_heap_count(h, c) + 1; /* the carve batch, p0 popped */
    /* the first carve: the blocks that start in the slab's first page */
    assert_int_equal(batch, (HAK_PAGE_SIZE + bs - 1) / bs);
    assert_ptr_equal(hak_slab_bump(s), p0 + (size_t)batch * bs);
    assert_int_equal(s->used, batch);
    /* the list: p0 + bs, p0 + 2 bs, ... */
    uint32_t i = 1;
    for (hak_block_t *b = h->tl[c].head; b; b = hak_next(b), i++) {
        if ((char *)b != p0 + (size_t)i * bs)
            fail_msg("class %u: list entry %u is %p, expected %p", c, i, (void *)b,
                     (void *)(p0 + (size_t)i * bs));
        assert_int_equal(b->key, hak_block_key(b));
    }
    assert_int_equal(i, batch);
    /* and malloc hands them out in that order */
    void **v = calloc(batch, sizeof *v);
    v[0] = p0;
    for (i = 1; i < batch; i++) {
        v[i] = hak_malloc(n);
        assert_ptr_equal(v[i], p0 + (size_t)i * bs);
        assert_int_equal(((hak_block_t *)v[i])->key, 0);
    }
    assert_int_equal(hak_heap_count(h, c), 0);
    /* the next ones come from the next carves, right after the batch, each
     * up to the first block boundary at or past the end of the page the
     * bump pointer was in: never more than a page of blocks ahead */
    enum { NEXT = 24 };
    void *next[NEXT];
    size_t carved = batch; /* blocks carved so far */
    unsigned carves = 0;
    for (i = 0; i < NEXT; i++) {
        if (hak_heap_count(h, c) == 0) { /* this malloc carves */
            uintptr_t bump = (uintptr_t)p0 + carved * bs;
            uintptr_t page_end = (bump | (HAK_PAGE_SIZE - 1)) + 1;
            size_t want = (page_end - bump + bs - 1) / bs;
            if ((char *)s->end - (char *)bump < (ptrdiff_t)(want * bs))
                want = (size_t)((char *)s->end - (char *)bump) / bs;
            if (want == 0)
                break; /* slab full */
            next[i] = hak_malloc(n);
            carved += want;
            carves++;
            assert_ptr_equal(hak_slab_bump(s), p0 + carved * bs);
            assert_int_equal(hak_heap_count(h, c), want - 1);
        } else {
            next[i] = hak_malloc(n);
        }
        assert_ptr_equal(next[i], p0 + (size_t)(batch + i) * bs);
        assert_int_equal(s->used, carved);
    }
    assert_true(carves >= 3);
    while (i-- > 0)
        hak_free(next[i]);
    for (i = 0; i < batch; i++)
        hak_free(v[i]);
    free(v);
}

static void test_refill_carves_in_address_order(void **state)
{
    (void)state;
    /* classes no other test of this program touches before */
    check_carve(cls_of(7000));   /* 7168 */
    check_carve(cls_of(11000));  /* 12288 */
    check_carve(cls_of(1200));   /* 1280 */
}

/* Many blocks of every class at once: distinct, aligned, non-overlapping,
 * and each keeps its own contents. */
static void test_many_blocks_distinct(void **state)
{
    (void)state;
    size_t cap = 0, n = 0;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
        cap += hak_class_size[c] <= 4096 ? 300 : hak_class_size[c] <= 65536 ? 24 : 6;
    void **v = calloc(cap, sizeof *v);
    size_t *sz = calloc(cap, sizeof *sz);
    assert_true(v && sz);
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        size_t per = hak_class_size[c] <= 4096 ? 300 : hak_class_size[c] <= 65536 ? 24 : 6;
        size_t lo = c ? hak_class_size[c - 1] + 1 : 1, hi = hak_class_size[c] - HAK_PAD;
        for (size_t j = 0; j < per; j++) {
            size_t want = lo + (j * 7919) % (hi - lo + 1);
            void *p = hak_malloc(want);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % HAK_MIN_ALIGN, 0);
            assert_true(hak_malloc_usable_size(p) >= want);
            pattern_fill(p, want, n);
            v[n] = p;
            sz[n] = want;
            n++;
        }
    }
    assert_int_equal(n, cap);
    unit_range_t *r = calloc(n, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        size_t bad = pattern_check(v[i], sz[i], i);
        if (bad != SIZE_MAX)
            fail_msg("block %zu (%p, %zu bytes) overwritten at byte %zu", i, v[i], sz[i], bad);
        r[i].lo = (uintptr_t)v[i];
        r[i].hi = (uintptr_t)v[i] + hak_malloc_usable_size(v[i]);
    }
    long o = ranges_first_overlap(r, n);
    if (o >= 0)
        fail_msg("blocks [%#lx, %#lx) and [%#lx, %#lx) overlap", (unsigned long)r[o - 1].lo,
                 (unsigned long)r[o - 1].hi, (unsigned long)r[o].lo, (unsigned long)r[o].hi);
    for (size_t i = 0; i < n; i++)
        hak_free(v[i]);
    free(r);
    free(v);
    free(sz);
}

/* realloc up through every class boundary into the large path and back
 * down keeps the contents (up to the smaller size). */
static void test_realloc_across_classes(void **state)
{
    (void)state;
    size_t n = 1;
    unsigned char *p = hak_malloc(n);
    assert_non_null(p);
    pattern_fill(p, n, 77);
    unsigned moves = 0;
    while (n < 3 * HAK_SS_SIZE) {
        size_t m = n + n / 3 + 5;
        unsigned char *q = hak_realloc(p, m);
        assert_non_null(q);
        if (q != p)
            moves++;
        size_t bad = pattern_check(q, n, 77);
        if (bad != SIZE_MAX)
            fail_msg("realloc %zu -> %zu lost byte %zu", n, m, bad);
        pattern_fill(q, m, 77);
        p = q;
        n = m;
    }
    assert_true(moves > 10);
    while (n > 1) {
        size_t m = n / 2;
        unsigned char *q = hak_realloc(p, m);
        assert_non_null(q);
        size_t bad = pattern_check(q, m, 77);
        if (bad != SIZE_MAX)
            fail_msg("realloc %zu -> %zu lost byte %zu", n, m, bad);
        p = q;
        n = m;
    }
    /* realloc(NULL, n) mallocs; realloc(p, 0) frees and returns NULL */
    void *x = hak_realloc(NULL, 100);
    assert_non_null(x);
    assert_null(hak_realloc(x, 0));
    hak_free(p);
}

/* realloc within a class keeps the block; to a class more than twice
 * smaller moves it. */
static void test_realloc_in_place(void **state)
{
    (void)state;
    char *p = hak_malloc(1000);
    assert_non_null(p);
    size_t bs = hak_class_size[cls_of(1000)];
    assert_ptr_equal(hak_realloc(p, bs - HAK_PAD), p);
    assert_ptr_equal(hak_realloc(p, bs / 2 + 1), p);
    char *q = hak_realloc(p, 16);
    assert_non_null(q);
    assert_true(q != p);
    hak_free(q);
}

/* calloc clears memory that a previous user dirtied (the block comes back
 * from the TLS list, not from fresh pages). */
static void test_calloc_zeroes_reused(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 24, 200, 1000, 3000, 20000, 50000, HAK_SMALL_MAX - HAK_PAD};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned c = cls_of(n);
        unsigned char *p = hak_malloc(n);
        assert_non_null(p);
        /* room on the TLS list, so that the free below does not flush */
        void *hold[64];
        size_t nh = 0;
        while (hak_heap_count(hak_tls_heap, c) + 1 > hak_tls_heap->tl_max[c] && nh < 64)
            hold[nh++] = hak_malloc(n);
        assert_true(hak_heap_count(hak_tls_heap, c) + 1 <= hak_tls_heap->tl_max[c]);
        memset(p, 0xAB, hak_malloc_usable_size(p));
        hak_free(p);
        unsigned char *q = hak_calloc(1, n);
        assert_ptr_equal(q, p);
        if (!all_bytes(q, n, 0))
            fail_msg("calloc(1, %zu) reused %p without clearing it", n, (void *)q);
        memset(q, 0xCD, n);
        hak_free(q);
        q = hak_calloc(n, 1);
        assert_ptr_equal(q, p);
        assert_true(all_bytes(q, n, 0));
        hak_free(q);
        while (nh > 0)
            hak_free(hold[--nh]);
    }
    errno = 0;
    assert_null(hak_calloc(SIZE_MAX / 2, 3));
    assert_int_equal(errno, ENOMEM);
    void *z = hak_calloc(0, 10);
    assert_non_null(z);
    hak_free(z);
}

/* usable size is the class size; malloc(0) gives a unique block. */
static void test_usable_size(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 5000; n += 37) {
        void *p = hak_malloc(n);
        assert_non_null(p);
        assert_int_equal(hak_malloc_usable_size(p), hak_class_size[cls_of(n)] - HAK_PAD);
        hak_free(p);
    }
    void *a = hak_malloc(0), *b = hak_malloc(0);
    assert_true(a && b && a != b);
    hak_free(a);
    hak_free(b);
    assert_int_equal(hak_malloc_usable_size(NULL), 0);
}

/* Aligned requests up to 4 KiB come from the size classes, aligned. */
static void test_aligned_small(void **state)
{
    (void)state;
    for (size_t a = 16; a <= 4096; a *= 2) {
        for (size_t n = 1; n < 3 * a; n += a / 2 + 3) {
            void *p = NULL;
            assert_int_equal(hak_posix_memalign(&p, a, n), 0);
            assert_non_null(p);
            if ((uintptr_t)p % a)
                fail_msg("posix_memalign(%zu, %zu) = %p", a, n, p);
            assert_true(hak_malloc_usable_size(p) >= n);
            assert_true(slab_of_block(p) != NULL);
            memset(p, 1, n);
            hak_free(p);
            void *q = hak_aligned_alloc(a, n);
            assert_non_null(q);
            assert_int_equal((uintptr_t)q % a, 0);
            hak_free(q);
        }
    }
    void *p = (void *)1;
    assert_int_equal(hak_posix_memalign(&p, 24, 10), EINVAL);
    assert_ptr_equal(p, (void *)1);
    void *v = hak_valloc(10);
    assert_non_null(v);
    assert_int_equal((uintptr_t)v % HAK_PAGE_SIZE, 0);
    hak_free(v);
    v = hak_pvalloc(5000);
    assert_non_null(v);
    assert_int_equal((uintptr_t)v % HAK_PAGE_SIZE, 0);
    assert_true(hak_malloc_usable_size(v) >= 8192);
    hak_free(v);
}

/* malloc_trim gives every cached block back: the TLS lists empty. */
static void test_trim_empties_lists(void **state)
{
    (void)state;
    void *v[50];
    for (int i = 0; i < 50; i++)
        v[i] = hak_malloc(48);
    for (int i = 0; i < 50; i++)
        hak_free(v[i]);
    assert_true(hak_heap_count(hak_tls_heap, cls_of(48)) >= 50);
    hak_malloc_trim(0);
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        assert_int_equal(hak_heap_count(hak_tls_heap, c), 0);
        assert_null(hak_tls_heap->tl[c].head);
    }
    void *p = hak_malloc(48);
    assert_non_null(p);
    hak_free(p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_refill_carves_in_address_order),
    cmocka_unit_test(test_lifo_reuse_every_class),
    cmocka_unit_test(test_lifo_order),
    cmocka_unit_test(test_flush_at_tcache_max),
    cmocka_unit_test(test_flush_returns_blocks_to_slab),
    cmocka_unit_test(test_bound_grows_while_list_swings),
    cmocka_unit_test(test_many_blocks_distinct),
    cmocka_unit_test(test_realloc_across_classes),
    cmocka_unit_test(test_realloc_in_place),
    cmocka_unit_test(test_calloc_zeroes_reused),
    cmocka_unit_test(test_usable_size),
    cmocka_unit_test(test_aligned_small),
    cmocka_unit_test(test_trim_empties_lists),
};

UNIT_MAIN("freelist", tests, group_setup, NULL)
