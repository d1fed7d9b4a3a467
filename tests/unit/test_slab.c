/*
 * test_slab.c — SuperSlabs and their slabs, driven directly: acquire,
 * geometry, block validation, release and reuse, abandon/adopt/reclaim.
 *
 * The test thread acts as the owner of the slabs it acquires (with its own
 * heap, from a first hak_malloc), so it may set their fields as the heap
 * would; every slab is given back with no live block.
 *
 * SPDX-License-Identifier: MIT
 */
#include <sys/resource.h>

#include "unit.h"

static hak_heap_t *heap;

static int group_setup(void **state)
{
    (void)state;
    void *p = hak_malloc(16);
    if (!p)
        return -1;
    hak_free(p);
    heap = hak_tls_heap;
    return heap == &hak_empty_heap ? -1 : 0;
}

/* Bytes of slab idx of a SuperSlab with slabs of 1 << shift bytes that
 * hold blocks. */
static size_t span_of(unsigned shift, unsigned idx)
{
    size_t n = (size_t)1 << shift;
    if (idx == 0)
        n -= HAK_SS_HEADER_SIZE;
    if (idx + 1 == (HAK_SS_SIZE >> shift))
        n -= HAK_GUARD;
    return n;
}

static void check_geometry(hak_slab_t *s, unsigned cls)
{
    uint32_t bs = hak_class_size[cls];
    unsigned shift = hak_class_slab_shift[cls];
    hak_superslab_t *ss = _hak_ss_of_slab(s);
    assert_int_equal(ss->magic, HAK_SS_MAGIC);
    assert_int_equal(ss->slab_shift, shift);
    assert_int_equal(ss->nslabs, HAK_SS_SIZE >> shift);
    assert_int_equal((uintptr_t)ss & HAK_SS_MASK, 0);
    assert_true(s->index < ss->nslabs);
    assert_ptr_equal(s, &ss->slabs[s->index]);
    assert_int_equal(s->state, HAK_SLAB_HOT);
    assert_ptr_equal(s->owner, heap);
    assert_int_equal(s->cls, cls);
    assert_int_equal(s->block_size, bs);
    char *base = (char *)ss + ((size_t)s->index << shift);
    assert_ptr_equal(s->start, s->index == 0 ? base + HAK_SS_HEADER_SIZE : base);
    size_t cap = span_of(shift, s->index) / bs;
    assert_int_equal((size_t)(s->end - s->start), cap * bs);
    assert_ptr_equal(hak_slab_bump(s), s->start);
    assert_int_equal(s->used, 0);
    assert_int_equal(s->free_count, 0);
    assert_null(s->free);
    assert_int_equal(atomic_load(&s->remote), HAK_RT_NORMAL);
    /* blocks of a power-of-two class up to 4 KiB are aligned to their size */
    assert_int_equal((uintptr_t)s->start % HAK_PAGE_SIZE, 0);
    /* the registry knows the SuperSlab; every address of the slab maps to
     * this slab record */
    assert_int_equal(hak_reg_lookup(s->start), (uintptr_t)ss | HAK_REG_SMALL);
    assert_int_equal(hak_reg_lookup(s->end - 1), (uintptr_t)ss | HAK_REG_SMALL);
    assert_ptr_equal(hak_ss_slab_of(ss, s->start), s);
    assert_ptr_equal(hak_ss_slab_of(ss, s->end - 1), s);
    assert_true(s->end <= (char *)ss + HAK_SS_SIZE - HAK_GUARD);
}

static const unsigned some_classes[] = {0, 1, 4, 7, 8, 13, 19, 23, 27, 28, 33, 39, 40, 41, 42, HAK_NUM_CLASSES - 1};
#define NSOME (sizeof some_classes / sizeof some_classes[0])

static void test_acquire_geometry(void **state)
{
    (void)state;
    unit_ss_counts_t c0 = ss_counts();
    for (size_t i = 0; i < NSOME; i++) {
        unsigned cls = some_classes[i];
        hak_slab_t *s = _hak_ss_slab_acquire(cls, heap);
        assert_non_null(s);
        check_geometry(s, cls);
        unit_ss_counts_t c1 = ss_counts();
        assert_int_equal(c1.hot, c0.hot + 1);
        /* the slab's memory is usable */
        memset(s->start, 0x5A, (size_t)(s->end - s->start));
        _hak_ss_slab_release(s);
        assert_int_equal(s->state, HAK_SLAB_FREE);
        assert_null(s->owner);
        assert_int_equal(ss_counts().hot, c0.hot);
    }
}

/* hak_slab_is_block is true exactly at block starts below bump: checked
 * for every 16-byte address of the SuperSlab (header included), plus
 * unaligned ones around each block start. */
static void check_is_block(unsigned cls, size_t carved)
{
    hak_slab_t *s = _hak_ss_slab_acquire(cls, heap);
    assert_non_null(s);
    uint32_t bs = s->block_size;
    size_t cap = (size_t)(s->end - s->start) / bs;
    if (carved > cap)
        carved = cap;
    /* carve as the heap would */
    hak_slab_set_bump(s, s->start + carved * bs);
    char *ss = (char *)_hak_ss_of_slab(s);
    size_t bad = 0;
    for (char *p = ss; p < ss + HAK_SS_SIZE; p += 16) {
        bool want = p >= s->start && p < hak_slab_bump(s) && (size_t)(p - s->start) % bs == 0;
        bool got = hak_slab_is_block(s, p);
        if (got != want && bad++ < 5)
            print_error("class %u (size %u): hak_slab_is_block(%p) = %d, start %p bump %p\n",
                        cls, bs, (void *)p, got, (void *)s->start, (void *)hak_slab_bump(s));
    }
    for (size_t i = 0; i < carved; i++) {
        char *b = s->start + i * bs;
        for (int d = 1; d < 16; d++) {
            if (hak_slab_is_block(s, b + d) && bad++ < 5)
                print_error("class %u: %p + %d accepted\n", cls, (void *)b, d);
            if (hak_slab_is_block(s, b - d) && bad++ < 5)
                print_error("class %u: %p - %d accepted\n", cls, (void *)b, d);
        }
    }
    /* far below the slab start (pointer arithmetic wraps) */
    for (uintptr_t d = 16; d < ((uintptr_t)1 << 40); d <<= 1)
        if (hak_slab_is_block(s, s->start - d) && bad++ < 5)
            print_error("class %u: start - %#lx accepted\n", cls, (unsigned long)d);
    hak_slab_set_bump(s, s->start);
    _hak_ss_slab_release(s);
    assert_int_equal(bad, 0);
}

static void test_is_block_exact(void **state)
{
    (void)state;
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++)
        check_is_block(cls, 7);
    /* fully carved slabs */
    check_is_block(0, SIZE_MAX);
    check_is_block(5, SIZE_MAX);
    check_is_block(20, SIZE_MAX);
    check_is_block(41, SIZE_MAX);
    check_is_block(HAK_NUM_CLASSES - 1, SIZE_MAX);
}

/* Every 64 KiB page of a slab has a fast record that matches the slab: on
 * acquire, after each carve, and after release (no owner, nothing carved). */
static void check_fastrecs(hak_slab_t *s, hak_heap_t *owner)
{
    hak_superslab_t *ss = _hak_ss_of_slab(s);
    char *lo = (char *)ss + ((size_t)s->index << ss->slab_shift);
    char *hi = lo + ((size_t)1 << ss->slab_shift);
    for (char *pg = lo; pg < hi; pg += (size_t)1 << 16) {
        hak_fastrec_t *f = hak_fastrec_of(pg);
        assert_non_null(ss->fr); /* the slot of the SuperSlab's chunk */
        assert_ptr_equal(f, &ss->fr[(pg - (char *)ss) >> 16]);
        assert_ptr_equal(ss->fr[0].ss, ss);
        assert_ptr_equal(f->slab, s);
        assert_ptr_equal(f->owner, owner);
        assert_int_equal(f->tl_off, s->tl_off);
        assert_ptr_equal(f->start, s->start);
        assert_int_equal(f->inv, s->inv);
        assert_int_equal(f->rot, s->rot);
        assert_int_equal(f->ncarved, s->ncarved);
    }
}

static void test_fast_records_follow_slab(void **state)
{
    (void)state;
    /* one class of each slab size: 64 KiB, 512 KiB, 2 MiB */
    unsigned classes[] = {3, 30, HAK_NUM_CLASSES - 1};
    for (unsigned i = 0; i < 3; i++) {
        hak_slab_t *s = _hak_ss_slab_acquire(classes[i], heap);
        assert_non_null(s);
        check_fastrecs(s, heap);
        hak_slab_set_bump(s, s->start + 3 * (size_t)s->block_size);
        check_fastrecs(s, heap);
        assert_int_equal(s->ncarved, 3);
        /* a block start of the carved part passes, the next one does not */
        char *b = s->start + 2 * (size_t)s->block_size;
        assert_true(hak_fastrec_is_block(hak_fastrec_of(b), b));
        assert_false(hak_fastrec_is_block(hak_fastrec_of(b + s->block_size), b + s->block_size));
        /* the same page of a chunk that shares the slot (64 GiB away, in
         * either direction) gets the same record, and fails its check */
        char *alias = b + HAK_FR_SLOTS * HAK_SS_SIZE;
        assert_ptr_equal(hak_fastrec_of(alias), hak_fastrec_of(b));
        assert_false(hak_fastrec_is_block(hak_fastrec_of(alias), alias));
        alias = b - HAK_FR_SLOTS * HAK_SS_SIZE;
        assert_ptr_equal(hak_fastrec_of(alias), hak_fastrec_of(b));
        assert_false(hak_fastrec_is_block(hak_fastrec_of(alias), alias));
        /* inside a block, the SuperSlab header, NULL, the stack */
        char *hdr = (char *)_hak_ss_of_slab(s);
        int local = 0;
        assert_false(hak_fastrec_is_block(hak_fastrec_of(b + 16), b + 16));
        assert_false(hak_fastrec_is_block(hak_fastrec_of(hdr), hdr));
        assert_false(hak_fastrec_is_block(hak_fastrec_of(NULL), NULL));
        assert_false(hak_fastrec_is_block(hak_fastrec_of(&local), &local));
        hak_slab_set_bump(s, s->start);
        _hak_ss_slab_release(s);
        check_fastrecs(s, NULL);
    }
}

/* The record table's size: the whole table without a limit, the largest
 * power of two of slots that fits under one, none below 16 slots; and the
 * table in use answers for any address. */
static void test_record_table_size(void **state)
{
    (void)state;
    const size_t slot = HAK_MAX_SLABS * sizeof(hak_fastrec_t); /* 2 KiB */
    assert_int_equal(_hak_fr_slots_within(SIZE_MAX), HAK_FR_SLOTS);
    assert_int_equal(_hak_fr_slots_within(HAK_FR_SLOTS * slot), HAK_FR_SLOTS);
    assert_int_equal(_hak_fr_slots_within(HAK_FR_SLOTS * slot - 1), HAK_FR_SLOTS / 2);
    assert_int_equal(_hak_fr_slots_within((size_t)40 << 20 >> 5), 512); /* RLIMIT_AS 40 MiB */
    assert_int_equal(_hak_fr_slots_within(16 * slot), 16);
    assert_int_equal(_hak_fr_slots_within(16 * slot - 1), 0);
    assert_int_equal(_hak_fr_slots_within(0), 0);
    /* this process's table: the size for its limit (the full table
     * without one), and every address maps inside it */
    struct rlimit rl;
    size_t cap = SIZE_MAX;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        cap = (size_t)(rl.rlim_cur / 32);
    uintptr_t slots = _hak_fr_slots_within(cap);
    assert_true(slots > 0);
    assert_int_equal(hak_fr_mask, (slots * HAK_MAX_SLABS - 1) * sizeof(hak_fastrec_t));
    const uintptr_t probes[] = {0, 64, (uintptr_t)1 << 47, UINTPTR_MAX, (uintptr_t)&slot};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        uintptr_t off = (uintptr_t)hak_fastrec_of((void *)probes[i]) - (uintptr_t)hak_fr_base;
        assert_true(off < slots * slot && off % sizeof(hak_fastrec_t) == 0);
    }
}

/* A released slab is reused by the next acquire of its class. */
static void test_release_then_reacquire_reuses(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSOME; i++) {
        unsigned cls = some_classes[i];
        hak_slab_t *s1 = _hak_ss_slab_acquire(cls, heap);
        assert_non_null(s1);
        char *start = s1->start;
        start[0] = 1;
        _hak_ss_slab_release(s1);
        assert_int_equal(s1->state, HAK_SLAB_FREE);
        assert_int_equal(s1->dirty, 1);
        hak_slab_t *s2 = _hak_ss_slab_acquire(cls, heap);
        assert_non_null(s2);
        if (s2 != s1)
            fail_msg("class %u: released slab %p (start %p), re-acquired %p (start %p)", cls,
                     (void *)s1, (void *)start, (void *)s2, (void *)s2->start);
        check_geometry(s2, cls);
        /* and across classes of the same slab size */
        _hak_ss_slab_release(s2);
        unsigned other = cls + 1 < HAK_NUM_CLASSES &&
                                 hak_class_slab_shift[cls + 1] == hak_class_slab_shift[cls]
                             ? cls + 1
                             : cls;
        hak_slab_t *s3 = _hak_ss_slab_acquire(other, heap);
        assert_ptr_equal(s3, s1);
        check_geometry(s3, other);
        _hak_ss_slab_release(s3);
    }
}

/* Carves n blocks of s and puts them all on its free list, as the heap
 * does when every block it handed out has come back. */
static void carve_all_free(hak_slab_t *s, uint32_t n)
{
    hak_slab_set_bump(s, s->start + (size_t)n * s->block_size);
    s->used = n;
    for (uint32_t i = 0; i < n; i++) {
        hak_block_t *b = (hak_block_t *)(s->start + (size_t)i * s->block_size);
        b->key = hak_block_key(b);
        hak_slab_put(s, b, b, 1);
    }
    assert_int_equal(s->used, 0);
}

/* A slab released with every carved block on its free list keeps them
 * while it is resident: the next request of its class gets it back with
 * those blocks and carves nothing; while it is FREE no block of it is
 * valid. Another class, a purge, or a list that does not hold every
 * carved block start it afresh. */
static void test_release_keeps_carved_blocks(void **state)
{
    (void)state;
    const unsigned cls = 4, other = 5; /* 80 and 96 bytes: one slab size */
    const uint32_t n = 40;
    assert_int_equal(hak_class_slab_shift[cls], hak_class_slab_shift[other]);
    _hak_ss_purge(true);
    hak_slab_t *s = _hak_ss_slab_acquire(cls, heap);
    assert_non_null(s);
    carve_all_free(s, n);
    _hak_ss_slab_release(s);
    assert_int_equal(s->state, HAK_SLAB_FREE);
    assert_ptr_equal(hak_slab_bump(s), s->start);
    assert_false(hak_slab_is_block(s, s->start));
    hak_slab_t *r = _hak_ss_slab_acquire(cls, heap);
    assert_ptr_equal(r, s);
    assert_int_equal(s->free_count, n);
    assert_int_equal(s->used, 0);
    assert_ptr_equal(hak_slab_bump(s), s->start + (size_t)n * s->block_size);
    assert_true(hak_slab_is_block(s, s->start));
    bool seen[40] = {false};
    uint32_t k = 0;
    for (hak_block_t *b = s->free; b; b = hak_next(b), k++) {
        size_t i = (size_t)((char *)b - s->start) / s->block_size;
        assert_true(i < n);
        assert_false(seen[i]);
        seen[i] = true;
        assert_int_equal(b->key, hak_block_key(b));
    }
    assert_int_equal(k, n);
    /* another class of the slab size: carved afresh */
    _hak_ss_slab_release(s);
    r = _hak_ss_slab_acquire(other, heap);
    assert_ptr_equal(r, s);
    check_geometry(r, other);
    /* kept, then purged: afresh */
    carve_all_free(s, n);
    _hak_ss_slab_release(s);
    _hak_ss_purge(true);
    r = _hak_ss_slab_acquire(other, heap);
    assert_ptr_equal(r, s);
    check_geometry(r, other);
    /* a block missing from the list: nothing kept */
    carve_all_free(s, n);
    s->free = hak_next(s->free);
    s->free_count--;
    _hak_ss_slab_release(s);
    r = _hak_ss_slab_acquire(other, heap);
    assert_ptr_equal(r, s);
    check_geometry(r, other);
    _hak_ss_slab_release(s);
}

/* Freed slabs are reused by the class their pages were carved for: two
 * classes of one slab size release a slab each, in either order, and each
 * class gets its own back whichever asks first; a class with no slab of
 * its own freed takes another class's freed slab before fresh pages. */
static void test_reacquire_prefers_same_class(void **state)
{
    (void)state;
    const unsigned a = 5, b = 6, c = 12; /* 96, 112, 320 bytes: one slab size */
    assert_int_equal(hak_class_slab_shift[a], hak_class_slab_shift[b]);
    assert_int_equal(hak_class_slab_shift[a], hak_class_slab_shift[c]);
    /* no freed slab left resident by the tests before */
    _hak_ss_purge(true);
    hak_slab_t *last_a = NULL, *last_b = NULL;
    for (int order = 0; order < 2; order++) {
        hak_slab_t *sa = _hak_ss_slab_acquire(a, heap);
        hak_slab_t *sb = _hak_ss_slab_acquire(b, heap);
        assert_non_null(sa);
        assert_non_null(sb);
        _hak_ss_slab_release(order ? sb : sa);
        _hak_ss_slab_release(order ? sa : sb);
        hak_slab_t *rb = _hak_ss_slab_acquire(b, heap);
        hak_slab_t *ra = _hak_ss_slab_acquire(a, heap);
        if (ra != sa || rb != sb)
            fail_msg("release order %d: class %u got slab %u back (its own: %u), class %u got "
                     "%u (its own: %u)",
                     order, b, rb->index, sb->index, a, ra->index, sa->index);
        check_geometry(ra, a);
        check_geometry(rb, b);
        _hak_ss_slab_release(ra);
        _hak_ss_slab_release(rb);
        last_a = ra;
        last_b = rb;
    }
    /* both are freed and resident now; class c has none of its own and
     * takes the one freed last */
    hak_slab_t *rc = _hak_ss_slab_acquire(c, heap);
    assert_ptr_equal(rc, last_b);
    check_geometry(rc, c);
    /* a still finds its own */
    hak_slab_t *ra = _hak_ss_slab_acquire(a, heap);
    assert_ptr_equal(ra, last_a);
    _hak_ss_slab_release(ra);
    _hak_ss_slab_release(rc);
    /* and after a purge nothing is resident: fresh and purged slabs serve */
    _hak_ss_purge(true);
    hak_slab_t *p = _hak_ss_slab_acquire(a, heap);
    assert_non_null(p);
    check_geometry(p, a);
    assert_int_equal(p->dirty, 0);
    _hak_ss_slab_release(p);
}

/* An empty SuperSlab whose freed slabs wait for reuse is reshaped for
 * another slab size: its old slab records leave the freed-slab list of the
 * old size (a later request of that size never gets one) and its new slabs
 * are reused first by the new size. */
static void test_reshaped_superslab_leaves_reuse_list(void **state)
{
    (void)state;
    const unsigned a = 3, big = 28; /* 64 KiB slabs; 512 KiB slabs */
    assert_int_equal(hak_class_slab_shift[a], 16);
    assert_int_equal(hak_class_slab_shift[big], 19);
    _hak_ss_purge(true);
    /* take slabs until one SuperSlab is entirely ours */
    enum { MAXS = 4 * HAK_MAX_SLABS };
    hak_slab_t *s[MAXS];
    unsigned n = 0;
    hak_superslab_t *mine = NULL;
    while (!mine) {
        assert_true(n < MAXS);
        s[n] = _hak_ss_slab_acquire(a, heap);
        assert_non_null(s[n]);
        hak_superslab_t *ss = _hak_ss_of_slab(s[n]);
        n++;
        unsigned count = 0;
        for (unsigned i = 0; i < n; i++)
            count += _hak_ss_of_slab(s[i]) == ss;
        if (count == ss->nslabs)
            mine = ss;
    }
    /* its slabs last, so it is the most recently emptied */
    for (unsigned i = 0; i < n; i++)
        if (_hak_ss_of_slab(s[i]) != mine)
            _hak_ss_slab_release(s[i]);
    for (unsigned i = 0; i < n; i++)
        if (_hak_ss_of_slab(s[i]) == mine)
            _hak_ss_slab_release(s[i]);
    assert_int_equal(mine->nfree, mine->nslabs);
    /* no SuperSlab of 512 KiB slabs has room (the purge unmapped the empty
     * ones): the empty cache's newest, ours, is reshaped */
    hak_slab_t *b1 = _hak_ss_slab_acquire(big, heap);
    assert_non_null(b1);
    assert_ptr_equal(_hak_ss_of_slab(b1), mine);
    check_geometry(b1, big);
    /* the other three slabs of the reshaped SuperSlab are dirty: reused
     * before fresh ones */
    hak_slab_t *b2 = _hak_ss_slab_acquire(big + 1, heap);
    assert_ptr_equal(_hak_ss_of_slab(b2), mine);
    check_geometry(b2, big + 1);
    /* 64 KiB requests never get a record of the old shape */
    for (unsigned i = 0; i < n; i++) {
        s[i] = _hak_ss_slab_acquire(a, heap);
        assert_non_null(s[i]);
        assert_ptr_not_equal(_hak_ss_of_slab(s[i]), mine);
        check_geometry(s[i], a);
    }
    for (unsigned i = 0; i < n; i++)
        _hak_ss_slab_release(s[i]);
    _hak_ss_slab_release(b1);
    _hak_ss_slab_release(b2);
}

/* One slab of every class at the same time (twice): no two overlap, none
 * overlaps a SuperSlab header. */
static void test_slabs_never_overlap(void **state)
{
    (void)state;
    hak_slab_t *s[2 * HAK_NUM_CLASSES];
    unit_range_t r[2 * HAK_NUM_CLASSES + 64];
    size_t nr = 0;
    for (unsigned i = 0; i < 2 * HAK_NUM_CLASSES; i++) {
        unsigned cls = i % HAK_NUM_CLASSES;
        s[i] = _hak_ss_slab_acquire(cls, heap);
        assert_non_null(s[i]);
        check_geometry(s[i], cls);
        r[nr].lo = (uintptr_t)s[i]->start;
        r[nr].hi = (uintptr_t)s[i]->end;
        nr++;
    }
    /* the headers of the SuperSlabs involved */
    for (unsigned i = 0; i < 2 * HAK_NUM_CLASSES; i++) {
        uintptr_t ss = (uintptr_t)_hak_ss_of_slab(s[i]);
        bool dup = false;
        for (size_t j = 2 * HAK_NUM_CLASSES; j < nr; j++)
            dup |= r[j].lo == ss;
        if (!dup && nr < sizeof r / sizeof r[0]) {
            r[nr].lo = ss;
            r[nr].hi = ss + HAK_SS_HEADER_SIZE;
            nr++;
        }
    }
    long o = ranges_first_overlap(r, nr);
    if (o >= 0)
        fail_msg("[%#lx, %#lx) overlaps [%#lx, %#lx)", (unsigned long)r[o - 1].lo,
                 (unsigned long)r[o - 1].hi, (unsigned long)r[o].lo, (unsigned long)r[o].hi);
    for (unsigned i = 0; i < 2 * HAK_NUM_CLASSES; i++)
        _hak_ss_slab_release(s[i]);
}

/* A slab with a live block is abandoned (DRAINING, no owner); a block
 * freed remotely lands on its remote list; adoption makes it HOT again with
 * that block on its local free list. */
static void test_abandon_adopt(void **state)
{
    (void)state;
    unsigned cls = 9;
    assert_null(_hak_ss_slab_adopt(cls, heap)); /* nothing abandoned yet */
    hak_slab_t *s = _hak_ss_slab_acquire(cls, heap);
    assert_non_null(s);
    uint32_t bs = s->block_size;
    /* two blocks carved and handed out */
    hak_block_t *b0 = (hak_block_t *)s->start, *b1 = (hak_block_t *)(s->start + bs);
    hak_slab_set_bump(s, s->start + 2 * bs);
    s->used = 2;
    b0->key = b1->key = 0;
    _hak_ss_slab_abandon(s);
    assert_int_equal(s->state, HAK_SLAB_DRAINING);
    assert_null(s->owner);
    assert_int_equal(ss_counts().draining, 1);
    /* heap teardown marks the remote list ABANDONED */
    atomic_store(&s->remote, HAK_RT_ABANDONED);
    b0->key = hak_block_key(b0);
    _hak_heap_push_remote(s, b0, b0);
    assert_int_equal(atomic_load(&s->remote), (uintptr_t)b0 | HAK_RT_ABANDONED);
    hak_slab_t *a = _hak_ss_slab_adopt(cls, heap);
    assert_ptr_equal(a, s);
    assert_int_equal(s->state, HAK_SLAB_HOT);
    assert_ptr_equal(s->owner, heap);
    assert_int_equal(atomic_load(&s->remote), HAK_RT_NORMAL);
    assert_ptr_equal(s->free, b0);
    assert_int_equal(s->free_count, 1);
    assert_int_equal(s->used, 1);
    assert_null(_hak_ss_slab_adopt(cls, heap));
    /* give everything back */
    s->free = NULL;
    s->free_count = 0;
    s->used = 0;
    _hak_ss_slab_release(s);
    assert_int_equal(ss_counts().draining, 0);
}

/* Blocks freed remotely are pushed on the slab's remote list, newest
 * first; blocks of HAK_RT_HINT_MIN bytes or more whose third word shares
 * their first word's cache line carry in it the block HAK_RT_HINT_DIST
 * places further down the list (NULL near its end). Collecting the list
 * gives the owner every block, oldest first. */
static void test_remote_list_and_hints(void **state)
{
    (void)state;
    const size_t sizes[] = {48, 128, 160};
    enum { N = 12 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        unsigned cls = hak_size_class(sizes[k]);
        hak_slab_t *s = _hak_ss_slab_acquire(cls, heap);
        assert_non_null(s);
        uint32_t bs = s->block_size;
        hak_block_t *b[N];
        hak_slab_set_bump(s, s->start + N * (size_t)bs);
        s->used = N;
        for (int i = 0; i < N; i++) {
            b[i] = (hak_block_t *)(s->start + (size_t)i * bs);
            memset(b[i], 0xEE, bs); /* the program's data */
        }
        for (int i = 0; i < N; i++) {
            b[i]->key = hak_block_key(b[i]);
            _hak_heap_push_remote(s, b[i], b[i]);
        }
        /* the list: b[N-1], b[N-2], ..., b[0] */
        uintptr_t w = atomic_load(&s->remote);
        assert_int_equal(w & HAK_RT_MASK, HAK_RT_NORMAL);
        hak_block_t *x = (hak_block_t *)(w & ~HAK_RT_MASK);
        int hinted = 0;
        for (int pos = 0; pos < N; pos++, x = hak_next(x)) {
            int i = N - 1 - pos;
            assert_ptr_equal(x, b[i]);
#ifdef HAK_RT_HINTS
            if (hak_rt_has_hint(bs, x)) {
                void *want = i - HAK_RT_HINT_DIST >= 0 ? b[i - HAK_RT_HINT_DIST] : NULL;
                if (*hak_rt_hint(x) != want)
                    fail_msg("block size %u, list position %d: hint %p, want %p", bs, pos,
                             *hak_rt_hint(x), want);
                hinted++;
            } else {
                /* no hint: the block's third word is left as it was */
                assert_true(bs < HAK_RT_HINT_MIN || ((uintptr_t)x & 63) > 40);
                if (bs >= 3 * sizeof(void *))
                    assert_int_equal(((uint64_t *)x)[2], 0xEEEEEEEEEEEEEEEEull);
            }
#endif
        }
        assert_null(x);
#ifdef HAK_RT_HINTS
        if (bs >= HAK_RT_HINT_MIN)
            assert_true(hinted >= N / 2);
        else
            assert_int_equal(hinted, 0);
#else
        (void)hinted;
#endif
        /* collected: every block on the local list, oldest first */
        assert_int_equal(_hak_slab_collect_remote(s), N);
        assert_int_equal(atomic_load(&s->remote), HAK_RT_NORMAL);
        assert_int_equal(s->free_count, N);
        assert_int_equal(s->used, 0);
        x = s->free;
        for (int i = 0; i < N; i++, x = hak_next(x))
            assert_ptr_equal(x, b[i]);
        assert_null(x);
        s->free = NULL;
        s->free_count = 0;
        _hak_ss_slab_release(s);
    }
}

/* An abandoned slab whose blocks all come back remotely is reclaimed
 * (released) without being adopted. */
static void test_reclaim_abandoned(void **state)
{
    (void)state;
    unsigned cls = 10;
    hak_slab_t *s = _hak_ss_slab_acquire(cls, heap);
    assert_non_null(s);
    uint32_t bs = s->block_size;
    hak_slab_set_bump(s, s->start + 3 * bs);
    s->used = 3;
    _hak_ss_slab_abandon(s);
    atomic_store(&s->remote, HAK_RT_ABANDONED);
    for (int i = 0; i < 3; i++) {
        hak_block_t *b = (hak_block_t *)(s->start + (size_t)i * bs);
        b->key = hak_block_key(b);
        _hak_heap_push_remote(s, b, b);
    }
    /* a reclaim pass runs at most every 10 ms */
    usleep(20000);
    assert_int_equal(_hak_ss_reclaim_abandoned(), 1);
    assert_int_equal(s->state, HAK_SLAB_FREE);
    assert_null(_hak_ss_slab_adopt(cls, heap));
    assert_int_equal(ss_counts().draining, 0);
}

/* A purge pass gives dirty FREE slabs' pages back: they read as zero and
 * are no longer dirty. */
static void test_purge_free_slabs(void **state)
{
    (void)state;
    /* a live block keeps the SuperSlab mapped through the forced purge */
    void *live = hak_malloc(16);
    assert_non_null(live);
    hak_slab_t *s = _hak_ss_slab_acquire(3, heap);
    assert_non_null(s);
    bool same_ss = _hak_ss_of_slab(s) == _hak_ss_of_slab(slab_of_block(live));
    memset(s->start, 0xEE, (size_t)(s->end - s->start));
    _hak_ss_slab_release(s);
    assert_int_equal(s->dirty, 1);
    uint64_t mm, mu, ma0, ma1, mr, mapped, peak, purged0, purged1;
    _hak_os_counts(&mm, &mu, &ma0, &mr, &mapped, &peak, &purged0);
    assert_true(_hak_ss_purge(true) > 0);
    _hak_os_counts(&mm, &mu, &ma1, &mr, &mapped, &peak, &purged1);
    assert_true(ma1 > ma0);
    assert_true(purged1 > purged0);
    if (same_ss) {
        assert_int_equal(s->dirty, 0);
        assert_int_equal(s->state, HAK_SLAB_FREE);
        assert_true(all_bytes(s->start, (size_t)(s->end - s->start), 0));
    }
    hak_free(live);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_acquire_geometry),
    cmocka_unit_test(test_is_block_exact),
    cmocka_unit_test(test_fast_records_follow_slab),
    cmocka_unit_test(test_record_table_size),
    cmocka_unit_test(test_release_then_reacquire_reuses),
    cmocka_unit_test(test_reacquire_prefers_same_class),
    cmocka_unit_test(test_release_keeps_carved_blocks),
    cmocka_unit_test(test_reshaped_superslab_leaves_reuse_list),
    cmocka_unit_test(test_abandon_adopt),
    cmocka_unit_test(test_reclaim_abandoned),
    cmocka_unit_test(test_remote_list_and_hints),
    cmocka_unit_test(test_slabs_never_overlap),
    cmocka_unit_test(test_purge_free_slabs),
};

UNIT_MAIN("slab", tests, group_setup, NULL)
