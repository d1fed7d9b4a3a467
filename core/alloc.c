/*
 * alloc.c — the hak_* entry points. malloc and free have a fast path of a
 * few instructions (class lookup + TLS list pop; registry probe + ownership
 * and validity checks + TLS list push); everything else is a noinline
 * function reached from it.
 *
 * Checks kept on in the default build (see docs/ARCHITECTURE.md):
 *   free/realloc of a pointer whose 2 MiB chunk is not registered, of a
 *   pointer that is not the start of a carved block, of a block in a slab
 *   with no live block, and of a block already free (the free-block key) are
 *   reported with the function, address and size class.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static HAK_SLOW void stats_malloc(hak_heap_t *h, unsigned cls, bool hit)
{
    hak_count(&h->stats.malloc_calls);
    hak_count(&h->stats.class_allocs[cls]);
    if (hit)
        hak_count(&h->stats.tls_hits);
    _hak_stats_live_add(cls, hak_class_size[cls]);
}

static HAK_SLOW void stats_free(hak_heap_t *h, unsigned cls)
{
    hak_count(&h->stats.free_calls);
    hak_count(&h->stats.class_frees[cls]);
    _hak_stats_live_add(cls, -(int64_t)hak_class_size[cls]);
}

/* Counted on the caller's heap when it has one (frees need no heap). */
static HAK_SLOW void stats_free_other(unsigned cls, bool remote)
{
    hak_heap_t *h = hak_tls_heap;
    if (h == &hak_empty_heap) {
        _hak_stats_live_add(cls, -(int64_t)hak_class_size[cls]);
        _hak_stats_count_orphan(__builtin_offsetof(hak_tcounters_t, free_calls));
        _hak_stats_count_orphan(__builtin_offsetof(hak_tcounters_t, class_frees) +
                                cls * sizeof(uint64_t));
        if (remote)
            _hak_stats_count_orphan(__builtin_offsetof(hak_tcounters_t, remote_frees));
        return;
    }
    stats_free(h, cls);
    if (remote)
        hak_count(&h->stats.remote_frees);
}

/* The OS refused memory: give back this thread's cached blocks, empty
 * slabs and SuperSlabs, and cached large blocks (as malloc_trim does), so
 * that address space held for reuse serves the request instead. */
static HAK_SLOW void release_for_retry(void)
{
    _hak_heap_collect_all(hak_tls_heap);
    _hak_heap_reclaim_idle(hak_tls_heap, true);
    _hak_ss_purge(true);
    _hak_large_purge(true);
}

/* The malloc fast path found its list empty: refill it. With statistics
 * on, the fast path always lands here (its heap view is hak_empty_heap,
 * see hak_tls_fast), and a block in the TLS list counts as a hit. */
static HAK_SLOW void *malloc_refill(unsigned cls)
{
    hak_heap_t *h = hak_tls_heap;
    if (HAK_UNLIKELY(hak_stats_enabled) && h->tl[cls].head) {
        stats_malloc(h, cls, true);
        return hak_tl_pop(&h->tl[cls], h->tl[cls].head);
    }
    void *p = _hak_heap_refill_alloc(h, cls);
    if (HAK_UNLIKELY(!p) && errno == ENOMEM) {
        release_for_retry();
        p = _hak_heap_refill_alloc(hak_tls_heap, cls);
    }
    if (HAK_UNLIKELY(hak_stats_enabled) && p) {
        stats_malloc(hak_tls_heap, cls, false);
        _hak_stats_maybe_interval();
    }
    return p;
}

/* malloc_refill for the class whose list in hak_tls_fast is t. */
HAK_SLOW void *_hak_malloc_refill_tl(hak_tlist_t *t)
{
    return malloc_refill((unsigned)(t - hak_tls_fast->tl));
}

/* flags: HAK_LARGE_ZERO, HAK_LARGE_SPAN (see _hak_large_alloc) */
static HAK_SLOW void *malloc_large(size_t n, size_t align, unsigned flags)
{
    hak_ensure_init();
    bool hit = false;
    void *p = _hak_large_alloc(n, align, flags, &hit);
    if (HAK_UNLIKELY(!p) && !(flags & HAK_LARGE_SPAN) && n <= HAK_MAX_REQUEST &&
        align <= HAK_MAX_REQUEST / 2) {
        release_for_retry();
        p = _hak_large_alloc(n, align, flags, &hit);
    }
    if (HAK_UNLIKELY(hak_stats_enabled) && p) {
        _hak_stats_live_add(HAK_NUM_CLASSES, (int64_t)n);
        HAK_STAT_ANY(malloc_calls);
        HAK_STAT_ANY(large_allocs);
        if (hit)
            HAK_STAT_ANY(large_cache_hits);
    }
    return p;
}

/* ---- hardened build: canary after each small block ----------------------
 * The last 8 bytes of the block hold a canary and the requested size, and
 * up to 8 bytes right after the requested size hold a fill pattern. free()
 * checks both, so an overflow of even one byte past the requested size is
 * caught (and so is one that reaches the end of the block).
 * malloc_usable_size() returns the requested size, so a program that writes
 * up to it stays within bounds. */
#ifdef HAK_HARDENED
#define PAD_FILL 0xA5A5A5A5A5A5A5A5ull
HAK_FAST uint32_t pad_canary(const void *p)
{
    return (uint32_t)(hak_secret >> 32) ^ (uint32_t)((uintptr_t)p >> 4);
}
static void pad_write(void *p, size_t bs, size_t n)
{
    uint32_t w[2] = {pad_canary(p), (uint32_t)n};
    memcpy((char *)p + bs - HAK_PAD, w, sizeof w);
    size_t fill = bs - HAK_PAD - n;
    uint64_t pattern = PAD_FILL;
    if (fill >= 8)
        memcpy((char *)p + n, &pattern, 8);
    else
        memcpy((char *)p + n, &pattern, fill);
}
/* The requested size recorded in the block, or SIZE_MAX if the canary or
 * the fill after the requested size was overwritten. */
static size_t pad_size(const void *p, size_t bs)
{
    uint32_t w[2];
    memcpy(w, (const char *)p + bs - HAK_PAD, sizeof w);
    if (w[0] != pad_canary(p) || w[1] > bs - HAK_PAD)
        return SIZE_MAX;
    size_t n = w[1], fill = bs - HAK_PAD - n;
    uint64_t got = 0, want = PAD_FILL;
    if (fill >= 8) {
        memcpy(&got, (const char *)p + n, 8);
    } else {
        memcpy(&got, (const char *)p + n, fill);
        want &= (fill ? ~0ull >> (64 - 8 * fill) : 0);
    }
    return got == want ? n : SIZE_MAX;
}
#endif

/* A block of class cls, from this thread's TLS list if it has one. */
HAK_FAST void *alloc_class(unsigned cls)
{
    return hak_alloc_tl(&hak_tls_fast->tl[cls]);
}

/* A block of class cls for a request of n bytes (hardened: with its
 * canary written). */
HAK_FAST void *alloc_small(unsigned cls, size_t n)
{
    void *p = alloc_class(cls);
#ifdef HAK_HARDENED
    if (p)
        pad_write(p, hak_class_size[cls], n);
#else
    (void)n;
#endif
    return p;
}

HAK_API void *hak_malloc(size_t n)
{
#ifndef HAK_HARDENED
    if (HAK_LIKELY(n <= 1024))
        return hak_alloc_upto_1k(n);
#endif
    if (HAK_LIKELY(n <= HAK_SMALL_MAX - HAK_PAD))
        return alloc_small(hak_size_class(n + HAK_PAD), n);
    return malloc_large(n, 0, 0);
}

/* ---- free ------------------------------------------------------------- */

/* Whether p is a live block of slab s: s holds live blocks, p starts one
 * of its carved blocks, and p's free-block key is not set. */
HAK_FAST bool small_block_live(const hak_slab_t *s, void *p)
{
    unsigned st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
    hak_block_t *b = p;
    return (st == HAK_SLAB_HOT || st == HAK_SLAB_DRAINING) && hak_slab_is_block(s, p) &&
           b->key != hak_block_key(b)
#ifdef HAK_HARDENED
           && pad_size(p, s->block_size) != SIZE_MAX
#endif
        ;
}

/* Reports what is wrong with p, which small_block_live refused. */
static HAK_SLOW void small_block_report(hak_slab_t *s, void *p, const char *fn)
{
    unsigned st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
    int cls = s->cls;
    if (st != HAK_SLAB_HOT && st != HAK_SLAB_DRAINING) {
        _hak_report_bad_pointer(fn, p, "invalid pointer (in a slab with no live block)", -1, 0);
        return;
    }
    if (!hak_slab_is_block(s, p)) {
        uintptr_t off = (uintptr_t)p - (uintptr_t)s->start;
        const char *what = (char *)p < s->start || (char *)p >= s->end
                               ? "invalid pointer (not a block)"
                           : (char *)p >= hak_slab_bump(s)
                               ? "invalid pointer (never allocated)"
                           : off % s->block_size ? "invalid pointer (not the start of a block)"
                                                 : "invalid pointer";
        _hak_report_bad_pointer(fn, p, what, cls, s->block_size);
        return;
    }
    hak_block_t *b = p;
    if (b->key == hak_block_key(b)) {
        bool is_free = fn[0] == 'f'; /* free, free_sized, free_aligned_sized */
        _hak_report_bad_pointer(fn, p, is_free ? "double free of" : "use of freed block", cls,
                                s->block_size);
        return;
    }
#ifdef HAK_HARDENED
    if (pad_size(p, s->block_size) == SIZE_MAX) {
        _hak_report_bad_pointer(fn, p, "heap overflow: canary after the block overwritten at", cls,
                                s->block_size);
        return;
    }
#endif
    /* (the block changed since small_block_live looked: another thread
     * frees or reallocates it at the same time) */
    _hak_report_bad_pointer(fn, p, "invalid pointer", cls, s->block_size);
}

/* Validates p as a live block of slab s; reports and returns false if not. */
HAK_FAST bool small_block_ok(hak_slab_t *s, void *p, const char *fn)
{
    if (HAK_LIKELY(small_block_live(s, p)))
        return true;
    small_block_report(s, p, fn);
    return false;
}

/* hardened: HAKMEM_ZERO_ON_FREE clears a block as it is freed */
HAK_FAST void zero_on_free(void *p, size_t bs)
{
#ifdef HAK_HARDENED
    if (HAK_UNLIKELY(hak_opt(HAK_OPT_ZERO_ON_FREE)))
        memset(p, 0, bs);
#else
    (void)p;
    (void)bs;
#endif
}

/* Pushes block b (key: its free-block key) of slab s on h's TLS list;
 * flushes half the list when it is over its bound. */
HAK_FAST void push_tl(hak_heap_t *h, hak_slab_t *s, hak_block_t *b, uintptr_t key)
{
    zero_on_free(b, s->block_size);
    if (HAK_UNLIKELY(hak_tl_push((hak_tlist_t *)((char *)h->tl + s->tl_off), b, key)))
        _hak_heap_flush(h, s->cls);
}

/* Pushes a validated block of h's own slab s on h's TLS list, counting it
 * when statistics are on. */
static void push_local(hak_heap_t *h, hak_slab_t *s, hak_block_t *b)
{
    if (HAK_UNLIKELY(hak_stats_enabled))
        stats_free(h, s->cls);
    push_tl(h, s, b, hak_block_key(b));
}

/* What free_small does not take: this thread's own block (statistics on,
 * a SuperSlab without a record slot, a fast record whose owner changed)
 * or another thread's block with statistics on or (hardened)
 * HAKMEM_ZERO_ON_FREE. b is a validated live block of s. */
static HAK_SLOW void free_small_rest(hak_slab_t *s, hak_block_t *b)
{
    hak_heap_t *h = hak_tls_heap;
    if (__atomic_load_n(&s->owner, __ATOMIC_RELAXED) == h) {
        push_local(h, s, b);
        return;
    }
    zero_on_free(b, s->block_size);
    if (HAK_UNLIKELY(hak_stats_enabled))
        stats_free_other(s->cls, true);
    b->key = hak_block_key(b);
    _hak_heap_free_remote(s, b);
}

/* Whether a free of another thread's block needs more than gathering it
 * for its slab's remote list. */
HAK_FAST bool free_remote_extra(void)
{
#ifdef HAK_HARDENED
    if (hak_opt(HAK_OPT_ZERO_ON_FREE))
        return true;
#endif
    return hak_stats_enabled;
}

/* A small block of slab s that the fast path did not take: validated,
 * then, the common case (another thread's block), gathered for its slab's
 * remote list without a call; the rest goes to free_small_rest. h: the
 * heap the fast path tested (hak_tls_fast). */
HAK_FAST void free_small(hak_heap_t *h, hak_slab_t *s, void *p)
{
    if (HAK_UNLIKELY(!small_block_live(s, p))) {
        small_block_report(s, p, "free");
        return;
    }
    hak_block_t *b = p;
    /* (with statistics on, h is the empty heap, which owns no slab) */
    if (HAK_UNLIKELY(__atomic_load_n(&s->owner, __ATOMIC_RELAXED) == h || free_remote_extra())) {
        free_small_rest(s, b);
        return;
    }
    b->key = hak_block_key(b);
    hak_heap_free_remote(h, s, b);
}

/* Validates p as a live large block; reports and returns NULL if not. */
static hak_large_t *large_block_ok(uintptr_t v, void *p, const char *fn)
{
    hak_large_t *l = _hak_large_find(v, p);
    if (l == NULL) {
        _hak_report_bad_pointer(fn, p, "invalid pointer (not allocated by hakmem)", -1, 0);
        return NULL;
    }
    unsigned st = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
    /* in an arena, freed blocks merge with free neighbours: any pointer
     * into a free span is taken for a block freed before */
    if (st != HAK_LARGE_LIVE && (l->user == p || l->arena != NULL)) {
        _hak_report_bad_pointer(fn, p, fn[0] == 'f' ? "double free of large block"
                                                    : "use of freed large block",
                                -1, l->span);
        return NULL;
    }
    if (l->user != p) {
        _hak_report_bad_pointer(fn, p, "invalid pointer (inside a large block)", -1, 0);
        return NULL;
    }
    return l;
}

/* What free_other does not take: a small block its fast record does not
 * name (a SuperSlab without a record slot, a record being rewritten), a
 * large block, a foreign pointer: the registry says which. */
static HAK_SLOW void free_rest(void *p)
{
    uintptr_t v = hak_reg_lookup(p);
    if (v & HAK_REG_SMALL) {
        hak_superslab_t *ss = (hak_superslab_t *)(v & ~(uintptr_t)3);
        free_small(hak_tls_fast, hak_ss_slab_of(ss, p), p);
        return;
    }
    if (v & HAK_REG_LARGE) {
        hak_large_t *l = large_block_ok(v, p, "free");
        if (l) {
            if (HAK_UNLIKELY(hak_stats_enabled)) {
                _hak_stats_live_add(HAK_NUM_CLASSES, -(int64_t)l->size);
                HAK_STAT_ANY(free_calls);
                HAK_STAT_ANY(large_frees);
            }
            _hak_large_free(l);
        }
        return;
    }
    _hak_report_bad_pointer("free", p, "invalid pointer (not allocated by hakmem)", -1, 0);
}

/* Everything free()'s fast path did not take: NULL, a small block of
 * another thread (the common case, taken here with no call but the rarer
 * ones'), a bad or double free; the rest (a block whose SuperSlab has no
 * record slot, large and foreign pointers) in free_rest. h and f: the heap
 * and the fast record the fast path tested. Not marked cold: in a program
 * that hands blocks between threads every other free comes here. */
static __attribute__((noinline)) void free_other(void *p, hak_heap_t *h, const hak_fastrec_t *f)
{
    /* free(NULL) is 7-18 % of the frees of git or gcc: two instructions
     * here spare it the probe */
    if (p == NULL)
        return;
    /* p's fast record names its slab if p is a block of it. Another
     * thread may be rewriting the record (see hak_fastrec_t), so it only
     * names the slab to check: free_small checks p on the slab itself */
    hak_slab_t *s = HAK_FAST_LOAD(&f->slab);
    if (HAK_LIKELY(s != NULL && hak_fastrec_is_block(f, p))) {
        free_small(h, s, p);
        return;
    }
    free_rest(p);
}

/* This thread's TLS list of fast record f's class went over its bound
 * (f's owner may have changed since the owner test: see hak_fastrec_t). */
static HAK_SLOW void flush_rec(hak_fastrec_t *f)
{
    _hak_heap_flush(hak_tls_heap, f->slab->cls);
}

HAK_API void hak_free(void *p)
{
    /* p's record (of the SuperSlab holding p's slot, or an empty one);
     * the block check then tells whether p is a block of that record's
     * slab at all: anything else (NULL, a large block, a SuperSlab without
     * the slot, a foreign pointer) goes to free_other */
    hak_fastrec_t *f = hak_fastrec_of(p);
    hak_block_t *b = p;
    uintptr_t key = hak_block_key(b);
    hak_heap_t *h = hak_tls_fast;
    if (HAK_LIKELY(HAK_FAST_LOAD(&f->owner) == h && hak_fastrec_is_block(f, p)
#ifndef HAK_UNCHECKED /* a measurement build only: see scripts/checks-cost.sh */
                   && b->key != key
#endif
#ifdef HAK_HARDENED
                   && pad_size(p, f->slab->block_size) != SIZE_MAX
#endif
                   )) {
        zero_on_free(b, f->slab->block_size);
        if (HAK_UNLIKELY(hak_tl_push((hak_tlist_t *)((char *)h + f->tl_off), b, key)))
            flush_rec(f);
        return;
    }
    free_other(p, h, f);
}

/* ---- sizes -------------------------------------------------------------- */

/* Usable size of a live block, validating it; 0 (after a report) if p is
 * not one. */
static size_t usable_checked(const void *cp, const char *fn)
{
    void *p = (void *)cp;
    uintptr_t v = hak_reg_lookup(p);
    if (v & HAK_REG_SMALL) {
        hak_superslab_t *ss = (hak_superslab_t *)(v & ~(uintptr_t)3);
        hak_slab_t *s = hak_ss_slab_of(ss, p);
        if (!small_block_ok(s, p, fn))
            return 0;
#ifdef HAK_HARDENED
        return pad_size(p, s->block_size);
#else
        return s->block_size;
#endif
    }
    if (v & HAK_REG_LARGE) {
        hak_large_t *l = large_block_ok(v, p, fn);
        return l ? l->span : 0;
    }
    _hak_report_bad_pointer(fn, p, "invalid pointer (not allocated by hakmem)", -1, 0);
    return 0;
}

HAK_API size_t hak_malloc_usable_size(const void *p)
{
    if (p == NULL)
        return 0;
    return usable_checked(p, "malloc_usable_size");
}

HAK_API void hak_free_sized(void *p, size_t size)
{
    if (p == NULL)
        return;
    /* hakmem validates every pointer through the registry anyway, so the
     * size buys no shortcut; it is checked against the block instead. */
    size_t us = usable_checked(p, "free_sized");
    if (us == 0)
        return;
    if (size > us) {
        _hak_report_bad_pointer("free_sized", p, "size larger than the block at", -1, size);
        return;
    }
    hak_free(p);
}

HAK_API void hak_free_aligned_sized(void *p, size_t alignment, size_t size)
{
    if (p == NULL)
        return;
    if (alignment && ((uintptr_t)p & (alignment - 1)) != 0) {
        _hak_report_bad_pointer("free_aligned_sized", p, "pointer not aligned as stated:", -1,
                                alignment);
        return;
    }
    hak_free_sized(p, size);
}

/* ---- calloc / realloc --------------------------------------------------- */

HAK_API void *hak_calloc(size_t count, size_t size)
{
    size_t n;
    if (HAK_UNLIKELY(__builtin_mul_overflow(count, size, &n))) {
        errno = ENOMEM;
        return NULL;
    }
    if (n <= HAK_SMALL_MAX - HAK_PAD) {
        void *p = alloc_small(hak_size_class(n + HAK_PAD), n);
        if (p)
            memset(p, 0, n);
        return p;
    }
    return malloc_large(n, 0, HAK_LARGE_ZERO);
}

/* Whether realloc moves growing buffers to arena spans (HAK_REALLOC_SPAN_MIN):
 * only while one thread allocates, the calling one (no heap of another
 * thread). The arenas are shared under one lock; two threads growing
 * buffers through it ran 4x slower than through their own size classes. */
static inline bool realloc_spans(void)
{
    int made = __atomic_load_n(&hak_heaps_made, __ATOMIC_RELAXED);
    return !HAK_GUARD && (made == 0 || (made == 1 && hak_tls_heap != &hak_empty_heap));
}

HAK_API void *hak_realloc(void *p, size_t n)
{
    if (p == NULL)
        return hak_malloc(n);
    if (n == 0) { /* as glibc: frees and returns NULL */
        hak_free(p);
        return NULL;
    }
    if (n > HAK_MAX_REQUEST) { /* before any size arithmetic can wrap */
        (void)usable_checked(p, "realloc");
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t v = hak_reg_lookup(p);
    size_t old;
    bool span = false; /* the new block should be an arena span */
    if (v & HAK_REG_SMALL) {
        hak_superslab_t *ss = (hak_superslab_t *)(v & ~(uintptr_t)3);
        hak_slab_t *s = hak_ss_slab_of(ss, p);
        if (!small_block_ok(s, p, "realloc")) {
            errno = EINVAL;
            return NULL;
        }
        size_t bs = s->block_size;
        /* same block if it fits and is not more than twice what is needed */
        bool keep = n + HAK_PAD <= bs && (n + HAK_PAD > bs / 2 || bs <= 16);
#ifdef HAK_HARDENED
        old = pad_size(p, bs);
        if (keep)
            pad_write(p, bs, n);
#else
        old = bs;
#endif
        if (keep)
            return p;
        span = n > HAK_REALLOC_SPAN_MIN && n + HAK_PAD > bs && realloc_spans();
    } else if (v & HAK_REG_LARGE) {
        hak_large_t *l = large_block_ok(v, p, "realloc");
        if (!l) {
            errno = EINVAL;
            return NULL;
        }
        old = l->span;
        size_t before = l->size;
        void *r = NULL;
        /* An arena span that still fits and is not more than twice what is
         * needed stays as it is, without the lock: its record changes only
         * through calls on this block, which the caller owns, and only
         * statistics read its size. */
        if (l->arena && n <= l->span && n > l->span / 2) {
            l->size = n;
            r = p;
        } else if (n > (l->arena && realloc_spans() ? HAK_REALLOC_SPAN_MIN : HAK_SMALL_MAX)) {
            /* (an arena span stays a span down to HAK_REALLOC_SPAN_MIN) */
            r = _hak_large_realloc(l, n);
            span = r == NULL;
        }
        if (r) {
            if (HAK_UNLIKELY(hak_stats_enabled))
                _hak_stats_live_add(HAK_NUM_CLASSES, (int64_t)n - (int64_t)before);
            return r;
        }
    } else {
        _hak_report_bad_pointer("realloc", p, "invalid pointer (not allocated by hakmem)", -1, 0);
        errno = EINVAL;
        return NULL;
    }
    void *q = NULL;
    if (span && n <= HAK_SMALL_MAX) {
        int e = errno;
        q = malloc_large(n, 0, HAK_LARGE_SPAN);
        errno = e;
    }
    if (q == NULL)
        q = hak_malloc(n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    hak_free(p);
    return q;
}

HAK_API void *hak_reallocarray(void *p, size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return hak_realloc(p, n);
}

/* ---- aligned allocation ------------------------------------------------- */

static void *alloc_aligned(size_t align, size_t n)
{
    if (align <= HAK_MIN_ALIGN)
        return hak_malloc(n);
    if (n > HAK_MAX_REQUEST || align > HAK_MAX_REQUEST / 2) {
        errno = ENOMEM;
        return NULL;
    }
    if (align <= HAK_SMALL_ALIGN_MAX && n <= HAK_SMALL_MAX - HAK_PAD) {
        /* every block of a class whose size is a multiple of align is
         * aligned: slabs start on 4 KiB boundaries at least */
        size_t need = n + HAK_PAD;
        unsigned cls = hak_size_class(need < align ? align : need);
        while (cls < HAK_NUM_CLASSES && hak_class_size[cls] % align != 0)
            cls++;
        if (cls < HAK_NUM_CLASSES)
            return alloc_small(cls, n);
    }
    return malloc_large(n, align, 0);
}

HAK_API int hak_posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(align, n);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

HAK_API void *hak_aligned_alloc(size_t align, size_t n)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(align, n);
}

HAK_API void *hak_memalign(size_t align, size_t n)
{
    /* glibc: a non-power-of-two alignment is rounded up */
    if (align > HAK_MAX_REQUEST / 2) {
        errno = EINVAL;
        return NULL;
    }
    if (align & (align - 1)) {
        size_t a = 1;
        while (a < align)
            a <<= 1;
        align = a;
    }
    return alloc_aligned(align, n);
}

HAK_API void *hak_valloc(size_t n) { return alloc_aligned(HAK_PAGE_SIZE, n); }

HAK_API void *hak_pvalloc(size_t n)
{
    if (n > HAK_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(HAK_PAGE_SIZE, hak_align_up(n ? n : 1, HAK_PAGE_SIZE));
}

/* ---- maintenance -------------------------------------------------------- */

HAK_API int hak_malloc_trim(size_t pad)
{
    (void)pad;
    hak_ensure_init();
    _hak_heap_collect_all(hak_tls_heap);
    size_t n = _hak_heap_reclaim_idle(hak_tls_heap, true);
    n += _hak_ss_purge(true);
    n += _hak_large_purge(true);
    return n > 0;
}

HAK_API const char *hak_version(void)
{
#define HAK_STR2(x) #x
#define HAK_STR(x) HAK_STR2(x)
    return HAK_STR(HAKMEM_VERSION_MAJOR) "." HAK_STR(HAKMEM_VERSION_MINOR) "." HAK_STR(
        HAKMEM_VERSION_PATCH);
}

/* ---- the standard names --------------------------------------------------
 * In the overriding build (libhakmem.so / libhakmem.a) the standard names are
 * aliases of the functions above: same code, no extra jump. The core build
 * used by unit tests leaves them to libc. */
#ifdef HAK_OVERRIDE
#define HAK_ALIAS(name, target) \
    extern __typeof__(target) name __attribute__((alias(#target), visibility("default")))
HAK_ALIAS(malloc, hak_malloc);
HAK_ALIAS(free, hak_free);
HAK_ALIAS(calloc, hak_calloc);
HAK_ALIAS(realloc, hak_realloc);
HAK_ALIAS(reallocarray, hak_reallocarray);
HAK_ALIAS(posix_memalign, hak_posix_memalign);
HAK_ALIAS(aligned_alloc, hak_aligned_alloc);
HAK_ALIAS(memalign, hak_memalign);
HAK_ALIAS(valloc, hak_valloc);
HAK_ALIAS(pvalloc, hak_pvalloc);
HAK_ALIAS(malloc_usable_size, hak_malloc_usable_size);
HAK_ALIAS(free_sized, hak_free_sized);
HAK_ALIAS(free_aligned_sized, hak_free_aligned_sized);
HAK_ALIAS(malloc_trim, hak_malloc_trim);
HAK_ALIAS(cfree, hak_free);
#endif
/* for the C++ operators (cxx.c): direct calls, not through the PLT */
#define HAK_INTERNAL(name, target) \
    extern __typeof__(target) name __attribute__((alias(#target), visibility("hidden")))
HAK_INTERNAL(_hak_malloc, hak_malloc);
HAK_INTERNAL(_hak_free, hak_free);
HAK_INTERNAL(_hak_memalign, hak_memalign);
