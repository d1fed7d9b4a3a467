/*
 * heap.c — per-thread heaps: the TLS free lists, the warm pool behind them,
 * cross-thread (remote) frees, and what happens when a thread exits.
 *
 * The fast paths (alloc.c) only pop and push heap->tl[cls].head. When the
 * list is empty, _hak_heap_refill_alloc refills it from the warm pool: the
 * heap's slabs of that class that still have blocks to give (a local free
 * list, an uncarved tail, or remote frees). Only when the warm pool is empty
 * does it reach the SuperSlab layer (adopting an abandoned slab first).
 * When a list grows past its bound, _hak_heap_flush returns half of it to
 * the blocks' slabs, which rejoin the warm pool.
 *
 * A block freed by another thread goes on its slab's remote list (lock-free),
 * gathered with others of the same slab by the freeing thread and pushed
 * with them (_hak_heap_free_remote). The owner notices it either when it
 * next takes blocks from that slab (warm slabs) or, for slabs it stopped
 * watching (FULL: no block left to give), through heap->pending, on which
 * the first remote freer pushes the slab. The protocol is the tag state
 * machine in internal.h.
 *
 * A thread's heap lives in the metadata arena, reached through one
 * initial-exec TLS pointer that starts at hak_empty_heap (all lists empty),
 * so the fast path never asks "is this thread set up?": the first malloc
 * misses and lands here. The fast paths read a second TLS pointer,
 * hak_tls_fast: the heap, or hak_empty_heap while statistics are on. At thread exit (pthread key destructor) the heap
 * returns its cached blocks, gives back its empty slabs, abandons the others
 * (DRAINING) for other threads to adopt, and goes to a pool for reuse.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "internal.h"

hak_heap_t hak_empty_heap;
HAK_TLS hak_heap_t *hak_tls_heap = &hak_empty_heap;
HAK_TLS hak_heap_t *hak_tls_fast = &hak_empty_heap;
/* set when this thread's heap is retired at its exit: remote frees from
 * later destructors are pushed at once, not gathered in a new heap */
static HAK_TLS uint8_t hak_tls_retired;
uint32_t hak_tcache_max[HAK_NUM_CLASSES];
uint32_t hak_tcache_cap[HAK_NUM_CLASSES];
static uint64_t tcache_grow_budget;
static uint32_t carve_batch[HAK_NUM_CLASSES];
uint8_t hak_rf_limit[HAK_NUM_CLASSES]; /* blocks a remote-free chain holds */

static hak_lock_t heap_lock = HAK_LOCK_INIT;
static hak_heap_t *all_heaps, *free_heaps;
int hak_heaps_made;
static pthread_key_t heap_key;
static bool heap_key_ok;

void _hak_heap_lock(void) { hak_lock(&heap_lock); }
void _hak_heap_unlock(void) { hak_unlock(&heap_lock); }

static void destructor(void *arg);
static void rf_flush(hak_heap_t *h);

/* Called once from init (before any heap exists). */
void _hak_heap_setup(void)
{
    size_t bytes = (size_t)hak_opt(HAK_OPT_TCACHE_BYTES);
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        size_t n = bytes / hak_class_size[c];
        /* at least 16 blocks of classes up to 64 KiB (at most 1 MiB per
         * class): with fewer, a program that keeps a few such blocks in
         * flight flushes and refills on nearly every call */
        size_t floor = ((size_t)1 << 20) / hak_class_size[c];
        if (floor > 16)
            floor = 16;
        if (n < floor)
            n = floor;
        if (n < 1)
            n = 1;
        if (n > 1024)
            n = 1024;
        hak_tcache_max[c] = (uint32_t)n;
        /* a list may grow to 16 times that (at most 8192 blocks: a program
         * that frees a few thousand small blocks in a row, then allocates
         * them again, does so without a flush; 4096 left batches of 5000
         * blocks of 64 B at 0.92x tcmalloc's speed) */
        size_t cap = 16 * bytes / hak_class_size[c];
        if (cap > 8192)
            cap = 8192;
        if (cap < n)
            cap = n;
        hak_tcache_cap[c] = (uint32_t)cap;
        carve_batch[c] = (uint32_t)(n / 2 > 0 ? n / 2 : 1);
        size_t rf = HAK_RF_BYTES / hak_class_size[c];
        hak_rf_limit[c] = (uint8_t)(rf < HAK_RF_MAX ? rf : HAK_RF_MAX);
    }
    /* what a thread's lists may grow by, in all (2 MiB by default) */
    tcache_grow_budget = 32 * (uint64_t)bytes;
    if (!heap_key_ok && pthread_key_create(&heap_key, destructor) == 0)
        heap_key_ok = true;
}

/* ---- warm pool and owned list ---------------------------------------- */
static void warm_push(hak_heap_t *h, hak_slab_t *s)
{
    hak_wlist_push(&h->warm[s->cls], s);
    s->in_warm = 1;
    h->warm_n[s->cls]++;
}

static void warm_remove(hak_heap_t *h, hak_slab_t *s)
{
    hak_wlist_remove(&h->warm[s->cls], s);
    s->in_warm = 0;
    h->warm_n[s->cls]--;
}

static void owned_push(hak_heap_t *h, hak_slab_t *s)
{
    s->oprev = NULL;
    s->onext = h->owned;
    if (h->owned)
        h->owned->oprev = s;
    h->owned = s;
    s->in_owned = 1;
}

static void owned_remove(hak_heap_t *h, hak_slab_t *s)
{
    if (s->oprev)
        s->oprev->onext = s->onext;
    else
        h->owned = s->onext;
    if (s->onext)
        s->onext->oprev = s->oprev;
    s->onext = s->oprev = NULL;
    s->in_owned = 0;
}

static uintptr_t rt_tag(uintptr_t v) { return v & HAK_RT_MASK; }

/* ---- who works on the slab lists ---------------------------------------
 * The owner's slow paths that touch its slab lists (refill, flush,
 * malloc_trim, exit) run between heap_enter and heap_leave; a thread taking
 * slabs from an idle heap (_hak_heap_reclaim_idle below) takes the heap
 * only if the owner is outside them, and the owner waits while it works.
 * Uncontended, heap_enter is one compare-and-swap per slow path: the fast
 * paths, which only pop and push the TLS lists, take no part. Returns false
 * if the owner is inside already (a malloc from a signal handler that
 * interrupted a slow path goes on without the flag, as it always did). */
static bool heap_enter(hak_heap_t *h)
{
    uint32_t v = 0;
    while (!atomic_compare_exchange_weak_explicit(&h->busy, &v, HAK_HEAP_OWNER,
                                                  memory_order_acquire, memory_order_relaxed)) {
        if (v == HAK_HEAP_OWNER)
            return false;
        if (v == HAK_HEAP_RECLAIMER)
            sched_yield();
        v = 0;
    }
    atomic_store_explicit(&h->slow_seq,
                          atomic_load_explicit(&h->slow_seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return true;
}

static void heap_leave(hak_heap_t *h, bool entered)
{
    if (entered)
        atomic_store_explicit(&h->busy, 0, memory_order_release);
}

/* The run of blocks that starts at first (a block of s) and goes on, link
 * by link, while the blocks lie in s, max blocks at most: sets *last to
 * its last block and *n to its length, and returns the block after it. */
static hak_block_t *slab_run(const hak_slab_t *s, hak_block_t *first, uint32_t max,
                             hak_block_t **last, uint32_t *n)
{
    uintptr_t lo = (uintptr_t)s->start, span = (uintptr_t)(s->end - s->start);
    hak_block_t *l = first, *b = hak_next(first);
    uint32_t k = 1;
    while (k < max && b && (uintptr_t)b - lo < span) {
        l = b;
        k++;
        b = hak_next(b);
    }
    *last = l;
    *n = k;
    return b;
}

/* The n blocks first .. last of slab s (linked through next), taken from
 * h's TLS lists, go back to s: onto its local free list if h still owns s
 * (returns true), else as remote frees, one chain, to its new owner (h
 * went idle and gave s up meanwhile, see "idle heaps"). */
static bool put_back(hak_heap_t *h, hak_slab_t *s, hak_block_t *first, hak_block_t *last,
                     uint32_t n)
{
    if (HAK_UNLIKELY(__atomic_load_n(&s->owner, __ATOMIC_RELAXED) != h)) {
        _hak_heap_push_remote(s, first, last);
        return false;
    }
    hak_slab_put(s, first, last, n);
    return true;
}

/* Moves the slab's remote list to its local free list, keeping the tag.
 * Owner only. Returns the number of blocks moved. */
static uint32_t collect_remote(hak_heap_t *h, hak_slab_t *s)
{
    uint32_t n = _hak_slab_collect_remote(s);
    if (n)
        HAK_STAT(h, remote_collected);
    return n;
}

/* A slab whose blocks are all back goes back to the SuperSlab layer; with
 * keep_warm, not while its class has few warm slabs (the warm pool).
 * Only with tag NORMAL: FULL/NOTIFIED slabs may sit in a pending stack.
 * Returns true if it went back. */
static bool slab_release_if_empty(hak_heap_t *h, hak_slab_t *s, bool keep_warm)
{
    if (s->used != 0 || rt_tag(atomic_load_explicit(&s->remote, memory_order_acquire)) !=
                            HAK_RT_NORMAL)
        return false;
    if (keep_warm && s->in_warm && h->warm_n[s->cls] <= (unsigned)hak_opt(HAK_OPT_WARM_POOL))
        return false;
    if (s->in_warm)
        warm_remove(h, s);
    owned_remove(h, s);
    _hak_ss_slab_release(s);
    return true;
}

/* A slab got blocks back: make sure it is in the warm pool and, if it was
 * FULL, that remote freers stop notifying. */
static void slab_rewarm(hak_heap_t *h, hak_slab_t *s)
{
    if (s->in_warm)
        return;
    uintptr_t old = atomic_load_explicit(&s->remote, memory_order_relaxed);
    while (rt_tag(old) == HAK_RT_FULL &&
           !atomic_compare_exchange_weak_explicit(&s->remote, &old, old & ~HAK_RT_MASK,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
    }
    warm_push(h, s);
}

/* Replaces s's remote word (list and tag) with an empty list tagged `tag`,
 * first waiting out a freer that is notifying (it is a few instructions
 * from done); returns the old word, whose list the caller now owns. */
static uintptr_t rt_swap_after_notify(hak_slab_t *s, uintptr_t tag)
{
    uintptr_t old = atomic_load_explicit(&s->remote, memory_order_acquire);
    for (;;) {
        if (rt_tag(old) == HAK_RT_NOTIFYING) {
            sched_yield();
            old = atomic_load_explicit(&s->remote, memory_order_acquire);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&s->remote, &old, tag, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return old;
    }
}

/* Takes the remote frees of the slabs on h's pending stack; returns the
 * number of slabs that went back to the SuperSlab layer empty. */
static size_t drain_pending(hak_heap_t *h)
{
    if (atomic_load_explicit(&h->pending, memory_order_relaxed) == NULL)
        return 0;
    size_t n = 0;
    hak_slab_t *s = atomic_exchange_explicit(&h->pending, NULL, memory_order_acquire);
    while (s) {
        hak_slab_t *next = s->pnext;
        /* the freer that pushed s may not have finished: wait for NOTIFIED */
        uintptr_t old = rt_swap_after_notify(s, HAK_RT_NORMAL);
        s->pnext = NULL;
        _hak_slab_take_chain(s, (hak_block_t *)(old & ~HAK_RT_MASK));
        if (!s->in_warm)
            warm_push(h, s);
        n += slab_release_if_empty(h, s, true);
        s = next;
    }
    return n;
}

/* ---- bounds of the TLS lists ------------------------------------------ */
/* Every list of h back to its starting bound and the growth budget
 * refilled, keeping what the lists hold (a list above its new bound
 * flushes at its next free). */
void _hak_heap_reset_bounds(hak_heap_t *h)
{
    if (h == &hak_empty_heap)
        return;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        int32_t held = (int32_t)hak_heap_count(h, c);
        __atomic_store_n(&h->tl_max[c], hak_tcache_max[c], __ATOMIC_RELAXED);
        h->tl[c].room = (int32_t)hak_tcache_max[c] - held;
        h->tl_dry[c] = 0;
    }
    h->tl_grow_left = tcache_grow_budget;
}

/* tl[cls] went over its bound. If it also ran dry since its last flush, the
 * thread swings between freeing and allocating more blocks of the class
 * than the list holds, and each swing costs a flush and a refill: double
 * the bound instead (up to hak_tcache_cap, within the heap's budget).
 * Returns true if it grew (the list is within it again). */
static bool grow_bound(hak_heap_t *h, unsigned cls)
{
    bool dry = h->tl_dry[cls];
    h->tl_dry[cls] = 0;
    uint32_t cur = h->tl_max[cls], cap = hak_tcache_cap[cls];
    if (!dry || cur >= cap)
        return false;
    uint32_t add = cur < cap - cur ? cur : cap - cur;
    uint64_t bytes = (uint64_t)add * hak_class_size[cls];
    if (bytes > h->tl_grow_left)
        return false;
    h->tl_grow_left -= bytes;
    __atomic_store_n(&h->tl_max[cls], cur + add, __ATOMIC_RELAXED);
    h->tl[cls].room += (int32_t)add;
    HAK_STAT(h, list_grows);
    return true;
}

/* ---- thread set-up ---------------------------------------------------- */
static hak_heap_t *heap_create(void)
{
    hak_ensure_init();
    hak_lock(&heap_lock);
    if (hak_heaps_made < 2)
        __atomic_store_n(&hak_heaps_made, hak_heaps_made + 1, __ATOMIC_RELAXED);
    hak_heap_t *h = free_heaps;
    if (h) {
        free_heaps = h->next_free;
        hak_heap_t *next_all = h->next_all;
        memset(h, 0, sizeof *h);
        h->next_all = next_all;
    } else {
        h = _hak_meta_alloc(sizeof *h);
        if (h) {
            h->next_all = all_heaps;
            all_heaps = h;
        }
    }
    if (h) {
        h->live = 1;
        h->rng = (hak_secret ^ (uintptr_t)h) | 1;
        _hak_heap_reset_bounds(h);
    }
    hak_unlock(&heap_lock);
    if (!h)
        return NULL;
    hak_tls_heap = h;
    _hak_heap_set_fast();
    /* registers the destructor; may allocate (glibc, for high keys): fine,
     * the TLS pointer is already set */
    if (heap_key_ok)
        pthread_setspecific(heap_key, h);
    return h;
}

void _hak_heap_set_fast(void)
{
    hak_tls_fast = hak_stats_enabled ? &hak_empty_heap : hak_tls_heap;
}

/* ---- refill: the malloc slow path ------------------------------------ */
static void *refill(hak_heap_t *h, unsigned cls);

void *_hak_heap_refill_alloc(hak_heap_t *h, unsigned cls)
{
    if (HAK_UNLIKELY(h == &hak_empty_heap)) {
        h = heap_create();
        if (!h) {
            errno = ENOMEM;
            return NULL;
        }
    }
    bool entered = heap_enter(h);
    void *p = refill(h, cls);
    heap_leave(h, entered);
    return p;
}

static void *refill(hak_heap_t *h, unsigned cls)
{
    HAK_STAT(h, refills);
    h->tl_dry[cls] = 1;
    rf_flush(h);
    drain_pending(h);
    hak_block_t *list = h->tl[cls].head;
    if (list) /* draining may not refill this class, but a nested call might */
        goto pop;
    for (;;) {
        hak_slab_t *s = h->warm[cls];
        if (!s) {
            HAK_STAT(h, warm_misses);
            _hak_ss_reclaim_abandoned();
            s = _hak_ss_slab_adopt(cls, h);
            /* before the heap grows: the warm slabs of idle heaps (at most
             * every few ms); one of this class may now be abandoned */
            if (!s && _hak_heap_reclaim_idle(h, false))
                s = _hak_ss_slab_adopt(cls, h);
            if (s) {
                HAK_STAT(h, adopted);
            } else {
                s = _hak_ss_slab_acquire(cls, h);
                if (!s) {
                    errno = ENOMEM;
                    return NULL;
                }
                HAK_STAT(h, slabs_acquired);
            }
            owned_push(h, s);
            warm_push(h, s);
        } else {
            HAK_STAT(h, warm_hits);
        }
        /* blocks other threads freed come back before fresh ones are
         * carved: a slab fed by remote frees is reused, not carved out */
        if (!s->free && (atomic_load_explicit(&s->remote, memory_order_relaxed) & ~HAK_RT_MASK))
            collect_remote(h, s);
        if (s->free) {
            h->tl[cls].head = s->free;
            h->tl[cls].room = (int32_t)h->tl_max[cls] - (int32_t)s->free_count;
            s->used += s->free_count;
            s->free = NULL;
            s->free_count = 0;
            break;
        }
        if (hak_slab_bump(s) < s->end) {
            uint32_t bs = s->block_size;
            char *p = hak_slab_bump(s);
            size_t left = (size_t)(s->end - p) / bs;
            /* one page at a time: the blocks that start in the page the
             * bump pointer is in (one block if it is a page or more). Only
             * the links are written, so a carve touches one page, and a
             * class holds at most a page of blocks it has never used
             * (doubling carves held up to half of a class's pages unused
             * at its peak: random_mixed WS=8192, 260 KB). */
            uintptr_t page_end = ((uintptr_t)p | (HAK_PAGE_SIZE - 1)) + 1;
            size_t n = (page_end - (uintptr_t)p + bs - 1) / bs;
#ifdef HAK_HARDENED
            if (n < 16) /* the random order below needs some blocks to mix */
                n = 16;
#endif
            if (n > carve_batch[cls])
                n = carve_batch[cls];
            if (n > left)
                n = left;
            hak_block_t *head = NULL;
#ifdef HAK_HARDENED
            /* hardened: hand the batch out in a random order */
            uint16_t order[1024];
            for (uint32_t i = 0; i < n; i++)
                order[i] = (uint16_t)i;
            for (uint32_t i = n; i > 1; i--) {
                h->rng ^= h->rng << 13;
                h->rng ^= h->rng >> 7;
                h->rng ^= h->rng << 17;
                uint32_t j = (uint32_t)(h->rng % i);
                uint16_t t = order[i - 1];
                order[i - 1] = order[j];
                order[j] = t;
            }
            for (uint32_t i = n; i-- > 0;) {
                hak_block_t *b = (hak_block_t *)(p + (size_t)order[i] * bs);
                hak_set_next(b, head);
                b->key = hak_block_key(b);
                head = b;
            }
#else
            /* link back to front so the list runs in address order */
            for (uint32_t i = n; i-- > 0;) {
                hak_block_t *b = (hak_block_t *)(p + (size_t)i * bs);
                hak_set_next(b, head);
                b->key = hak_block_key(b);
                head = b;
            }
#endif
            hak_slab_set_bump(s, p + (size_t)n * bs);
            s->used += n;
            h->tl[cls].head = head;
            h->tl[cls].room = (int32_t)h->tl_max[cls] - (int32_t)n;
            break;
        }
        if (collect_remote(h, s))
            continue;
        /* exhausted: stop watching it; remote freers will notify */
        uintptr_t expect = HAK_RT_NORMAL;
        if (atomic_compare_exchange_strong_explicit(&s->remote, &expect, HAK_RT_FULL,
                                                    memory_order_acq_rel, memory_order_relaxed) ||
            rt_tag(expect) != HAK_RT_NORMAL) {
            warm_remove(h, s);
        }
        /* else blocks arrived meanwhile: loop collects them */
    }
    list = h->tl[cls].head;
pop:
    return hak_tl_pop(&h->tl[cls], list);
}

/* ---- flush: the free slow path when a TLS list is over its bound ------- */
void _hak_heap_flush(hak_heap_t *h, unsigned cls)
{
    if (grow_bound(h, cls))
        return;
    bool entered = heap_enter(h);
    HAK_STAT(h, flushes);
    int32_t room_after = (int32_t)(h->tl_max[cls] - h->tl_max[cls] / 2);
    /* The list goes back a run at a time: blocks that follow each other in
     * it and lie in one slab are spliced onto that slab's free list whole
     * (a program that frees blocks in the order it allocated them gives
     * runs of a slab's worth). The list ends early only if the bounds
     * changed under this heap, when the constructor re-read the options. */
    while (h->tl[cls].room < room_after && h->tl[cls].head) {
        hak_block_t *first = h->tl[cls].head, *last;
        hak_slab_t *s = hak_block_slab(first);
        uint32_t k;
        h->tl[cls].head = slab_run(s, first, (uint32_t)(room_after - h->tl[cls].room), &last, &k);
        h->tl[cls].room += (int32_t)k;
        if (HAK_UNLIKELY(!put_back(h, s, first, last, k)))
            continue;
        if (!s->in_warm)
            slab_rewarm(h, s);
        if (s->used == 0)
            slab_release_if_empty(h, s, true);
    }
    if (!h->tl[cls].head)
        h->tl[cls].room = (int32_t)h->tl_max[cls];
    heap_leave(h, entered);
}

/* ---- remote free ------------------------------------------------------ */
/* Pushes the chain head .. tail (linked through next; tail's link is set
 * here) of blocks of s, whose owner is another thread, on s's remote list
 * with one compare-and-swap; notifies the owner if s was FULL. */
void _hak_heap_push_remote(hak_slab_t *s, hak_block_t *head, hak_block_t *tail)
{
    uintptr_t old = atomic_load_explicit(&s->remote, memory_order_relaxed);
    uintptr_t tag;
#ifdef HAK_RT_HINTS
    /* the carved part of the slab, from the record's first line (the
     * second is the owner's, busy) */
    bool hint = hak_rt_has_hint(s->block_size, tail);
    uintptr_t lo = (uintptr_t)s->start;
    uintptr_t span = hint ? (uintptr_t)(hak_slab_bump(s) - s->start) : 0;
#endif
    for (;;) {
        tag = rt_tag(old);
        hak_set_next(tail, (hak_block_t *)(old & ~HAK_RT_MASK));
#ifdef HAK_RT_HINTS
        if (hint) {
            /* HAK_RT_HINT_DIST - 1 links down from the head. The owner may
             * take the list meanwhile and hand its blocks out, so a link
             * read may be anything: it is followed only if it is aligned
             * and lies in this slab's carved part (mapped while b is live) */
            uintptr_t far = old & ~HAK_RT_MASK;
            for (int i = 1; i < HAK_RT_HINT_DIST && far; i++) {
                uintptr_t nx = __atomic_load_n((uintptr_t *)far, __ATOMIC_RELAXED);
                far = nx - lo < span && !(nx & (HAK_MIN_ALIGN - 1)) ? nx : 0;
            }
            *hak_rt_hint(tail) = (void *)far;
        }
#endif
        uintptr_t nt = tag == HAK_RT_FULL ? HAK_RT_NOTIFYING : tag;
        if (atomic_compare_exchange_weak_explicit(&s->remote, &old, (uintptr_t)head | nt,
                                                  memory_order_acq_rel, memory_order_relaxed))
            break;
    }
    if (tag != HAK_RT_FULL)
        return;
    /* we moved FULL -> NOTIFYING: tell the owner, which cannot change now */
    hak_heap_t *owner = __atomic_load_n(&s->owner, __ATOMIC_ACQUIRE);
    hak_slab_t *top = atomic_load_explicit(&owner->pending, memory_order_relaxed);
    do {
        s->pnext = top;
    } while (!atomic_compare_exchange_weak_explicit(&owner->pending, &top, s,
                                                    memory_order_release, memory_order_relaxed));
    old = atomic_load_explicit(&s->remote, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->remote, &old,
                                                  (old & ~HAK_RT_MASK) | HAK_RT_NOTIFIED,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
    }
}

/* Pushes h's gathered remote frees, if any. */
static void rf_flush(hak_heap_t *h)
{
    uint32_t m = h->rf_mask;
    h->rf_mask = 0;
    while (m) {
        hak_rfchain_t *c = &h->rf[__builtin_ctz(m)];
        m &= m - 1;
        _hak_heap_push_remote(c->slab, c->head, c->tail);
        c->slab = NULL;
    }
}

/* _hak_heap_free_remote when b does not simply join its slot's chain: no
 * heap yet, no gathering for its class, another slab's chain in the slot,
 * or a full chain. */
void _hak_heap_free_remote_slow(hak_slab_t *s, hak_block_t *b)
{
    unsigned limit = s->rf_limit;
    hak_heap_t *h = hak_tls_heap;
    if (HAK_UNLIKELY(h == &hak_empty_heap))
        h = limit > 1 && !hak_tls_retired ? heap_create() : NULL;
    if (limit <= 1 || !h) {
        _hak_heap_push_remote(s, b, b);
        return;
    }
    hak_rfchain_t *c = (hak_rfchain_t *)((char *)h + s->rf_off);
    if (c->slab != s || c->n >= limit) {
        if (c->slab)
            _hak_heap_push_remote(c->slab, c->head, c->tail);
        c->slab = s;
        c->head = NULL;
        c->tail = b;
        c->n = 0;
        h->rf_mask |= 1u << (c - h->rf);
    }
    hak_rf_append(c, s, b, c->n);
}

/* b, a block of s, is freed by a thread other than s's owner. Blocks are
 * gathered by slab (one chain for each of HAK_RF_SLOTS size-class slots,
 * up to HAK_RF_MAX blocks and HAK_RF_BYTES bytes) and pushed on the slab's
 * remote list together: the compare-and-swap on the list, which also waits
 * for the freer's stores to the block, was most of the cost of a remote
 * free. A gathered block counts as live for its slab until then. A chain
 * goes out when a block of another slab takes its slot or it is full, and
 * all of them when this thread's malloc takes its slow path, at
 * malloc_trim and when the thread exits. A thread with no heap yet gets
 * one (it registers the thread-exit flush); once its heap is retired at
 * exit, or if none can be made, the block is pushed at once. free() takes
 * the common case inline (hak_heap_free_remote). */
void _hak_heap_free_remote(hak_slab_t *s, hak_block_t *b)
{
    hak_heap_free_remote(hak_tls_heap, s, b);
}

/* Every block of every TLS list back to its slab, a run of one slab at a
 * time (as _hak_heap_flush); with rewarm, slabs that get blocks back
 * rejoin the warm pool. */
static void return_cached_blocks(hak_heap_t *h, bool rewarm)
{
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        hak_block_t *b = h->tl[c].head;
        while (b) {
            hak_slab_t *s = hak_block_slab(b);
            hak_block_t *last;
            uint32_t k;
            hak_block_t *next = slab_run(s, b, UINT32_MAX, &last, &k);
            if (put_back(h, s, b, last, k) && rewarm && !s->in_warm)
                slab_rewarm(h, s);
            b = next;
        }
        h->tl[c].head = NULL;
        h->tl[c].room = (int32_t)h->tl_max[c];
    }
}

/* ---- thread exit -------------------------------------------------------- */
/* s, closed to notifications (ABANDONED, its remote list taken) and out of
 * its owner's lists, goes back to the SuperSlab layer if no block of it is
 * live, else on the abandoned list for another heap to adopt. */
static void slab_let_go(hak_slab_t *s)
{
    s->pnext = NULL;
    if (s->used == 0) {
        atomic_store_explicit(&s->remote, HAK_RT_NORMAL, memory_order_relaxed);
        _hak_ss_slab_release(s);
    } else {
        _hak_ss_slab_abandon(s);
    }
}

static void heap_teardown(hak_heap_t *h)
{
    /* 0. blocks of other threads' slabs this thread freed go out */
    rf_flush(h);
    /* 1. every cached block back to its slab (the warm pool is dropped
     *    below, so no re-warming) */
    return_cached_blocks(h, false);
    /* 2. close every owned slab to notifications (ABANDONED), taking what
     *    remote freers left; waits out freers that are notifying */
    for (hak_slab_t *s = h->owned; s; s = s->onext) {
        uintptr_t old = rt_swap_after_notify(s, HAK_RT_ABANDONED);
        _hak_slab_take_chain(s, (hak_block_t *)(old & ~HAK_RT_MASK));
    }
    /* 3. nothing can be pushed on pending any more: forget it */
    atomic_store_explicit(&h->pending, NULL, memory_order_relaxed);
    /* 4. empty slabs go back, the others are abandoned */
    hak_slab_t *s = h->owned;
    while (s) {
        hak_slab_t *next = s->onext;
        s->in_warm = 0;
        s->in_owned = 0;
        s->wnext = s->wprev = s->onext = s->oprev = NULL;
        slab_let_go(s);
        s = next;
    }
    h->owned = NULL;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        h->warm[c] = NULL;
        h->warm_n[c] = 0;
    }
}

static void heap_retire(hak_heap_t *h)
{
    bool entered = heap_enter(h);
    heap_teardown(h);
    heap_leave(h, entered);
    if (hak_stats_enabled)
        _hak_stats_merge_exited(&h->stats);
    hak_lock(&heap_lock);
    memset(&h->stats, 0, sizeof h->stats);
    h->live = 0;
    h->next_free = free_heaps;
    free_heaps = h;
    hak_unlock(&heap_lock);
}

static void destructor(void *arg)
{
    hak_heap_t *h = arg;
    if (!h || h == &hak_empty_heap)
        return;
    /* later destructors that allocate get a fresh heap (and this runs again) */
    if (hak_tls_heap == h) {
        hak_tls_heap = &hak_empty_heap;
        hak_tls_fast = &hak_empty_heap;
        hak_tls_retired = 1;
    }
    heap_retire(h);
}

/* A fork may catch a remote freer between FULL -> NOTIFYING and NOTIFIED;
 * in the child that freer does not exist, and the owner would wait for it
 * forever. Finish its work: the slab goes on its owner's pending stack
 * (unless it got there already) and is marked NOTIFIED. */
static void finish_notification(hak_slab_t *s)
{
    uintptr_t v = atomic_load_explicit(&s->remote, memory_order_relaxed);
    if (rt_tag(v) != HAK_RT_NOTIFYING)
        return;
    hak_heap_t *owner = s->owner;
    if (owner) {
        bool queued = false;
        for (hak_slab_t *x = atomic_load_explicit(&owner->pending, memory_order_relaxed); x;
             x = x->pnext)
            queued |= x == s;
        if (!queued) {
            s->pnext = atomic_load_explicit(&owner->pending, memory_order_relaxed);
            atomic_store_explicit(&owner->pending, s, memory_order_relaxed);
        }
    }
    atomic_store_explicit(&s->remote, (v & ~HAK_RT_MASK) | HAK_RT_NOTIFIED, memory_order_relaxed);
}

void _hak_heap_after_fork_child(void)
{
    _hak_ss_for_each_slab_locked(finish_notification);
}

/* Returns the thread's cached blocks to their slabs and releases empty
 * slabs (malloc_trim). */
void _hak_heap_collect_all(hak_heap_t *h)
{
    if (h == &hak_empty_heap)
        return;
    bool entered = heap_enter(h);
    rf_flush(h);
    drain_pending(h);
    return_cached_blocks(h, true);
    _hak_heap_reset_bounds(h);
    hak_slab_t *s = h->owned;
    while (s) {
        hak_slab_t *next = s->onext;
        collect_remote(h, s);
        slab_release_if_empty(h, s, false);
        s = next;
    }
    heap_leave(h, entered);
}

/* ---- idle heaps -----------------------------------------------------------
 * Remote frees to a slab wait on its remote list until the owner takes them,
 * in one of its slow paths. A thread that stopped allocating (a main thread
 * that filled the work and waits for the workers, which free it) never
 * does: its slabs stay its own, their freed blocks of no use to anyone. So
 * a thread about to take a new slab first looks (at most every
 * IDLE_SCAN_MS) at the other heaps, and gives up for those whose owner has
 * not entered a slow path since the last look the slabs of their warm
 * pools, as an exiting thread does: empty ones go back to the SuperSlab
 * layer, the others are abandoned for any heap to adopt. Slabs with
 * nothing to give (FULL) stay, and so do slabs on their way to the pending
 * stack or on it; once blocks come back to a FULL slab it is on the
 * pending stack, and the next look takes it. A heap where
 * nothing is found is looked at again after twice the wait, up to
 * IDLE_WAIT_MAX_MS. Blocks of a given-up slab may still sit in the owner's
 * TLS lists: malloc hands them out as before, and a flush sends them to
 * the slab's new owner as remote frees (the slab counts them as live). */
#define IDLE_SCAN_MS 10u
#define IDLE_WAIT_MAX_MS 1280u

static _Atomic(uint64_t) idle_scan_ms;
static _Atomic(uint64_t) idle_taken;

uint64_t _hak_heap_idle_taken(void)
{
    return atomic_load_explicit(&idle_taken, memory_order_relaxed);
}

/* h's warm slabs go back if empty, and the others are abandoned if
 * `abandon`. h is held (busy). Returns the number of slabs h gave up. */
static size_t give_up_warm_slabs(hak_heap_t *h, bool abandon)
{
    size_t n = drain_pending(h);
    hak_slab_t *s = h->owned;
    while (s) {
        hak_slab_t *next = s->onext;
        if (!abandon) {
            _hak_slab_collect_remote(s);
            n += slab_release_if_empty(h, s, false);
        } else if (s->in_warm) {
            /* NORMAL -> ABANDONED, or leave it: a warm slab is never FULL,
             * but it may be NOTIFYING or NOTIFIED, on its way to or on
             * h->pending (a freer moved it FULL -> NOTIFYING, then a flush
             * of h re-warmed it); a slab on a pending stack must not
             * change hands. NORMAL stays NORMAL while h is held: only FULL
             * moves to NOTIFYING. */
            uintptr_t old = atomic_load_explicit(&s->remote, memory_order_acquire);
            while (rt_tag(old) == HAK_RT_NORMAL &&
                   !atomic_compare_exchange_weak_explicit(&s->remote, &old, HAK_RT_ABANDONED,
                                                          memory_order_acq_rel,
                                                          memory_order_relaxed)) {
            }
            if (rt_tag(old) != HAK_RT_NORMAL) {
                s = next;
                continue;
            }
            _hak_slab_take_chain(s, (hak_block_t *)(old & ~HAK_RT_MASK));
            warm_remove(h, s);
            owned_remove(h, s);
            slab_let_go(s);
            n++;
        }
        s = next;
    }
    return n;
}

/* (all: malloc_trim, or the OS refused memory) */
size_t _hak_heap_reclaim_idle(hak_heap_t *self, bool all)
{
    uint64_t now = _hak_os_now_ms();
    if (!all && now - atomic_load_explicit(&idle_scan_ms, memory_order_relaxed) < IDLE_SCAN_MS)
        return 0;
    size_t n = 0;
    hak_lock(&heap_lock);
    if (!all && now - atomic_load_explicit(&idle_scan_ms, memory_order_relaxed) < IDLE_SCAN_MS) {
        hak_unlock(&heap_lock);
        return 0;
    }
    atomic_store_explicit(&idle_scan_ms, now, memory_order_relaxed);
    for (hak_heap_t *h = all_heaps; h; h = h->next_all) {
        if (!h->live || h == self)
            continue;
        uint32_t seq = atomic_load_explicit(&h->slow_seq, memory_order_relaxed);
        if (!all) {
            if (seq != h->idle_seq || h->idle_wait_ms == 0) {
                /* busy since the last look: idle from now on, maybe */
                h->idle_seq = seq;
                h->idle_wait_ms = IDLE_SCAN_MS;
                h->idle_next_ms = now + IDLE_SCAN_MS;
                continue;
            }
            if (now < h->idle_next_ms)
                continue;
        }
        uint32_t v = 0;
        if (!atomic_compare_exchange_strong_explicit(&h->busy, &v, HAK_HEAP_RECLAIMER,
                                                     memory_order_acquire, memory_order_relaxed))
            continue; /* its owner is in a slow path right now */
        size_t k = give_up_warm_slabs(h, !all);
        atomic_store_explicit(&h->busy, 0, memory_order_release);
        n += k;
        if (!all) {
            uint32_t w = h->idle_wait_ms * 2;
            h->idle_wait_ms = k ? IDLE_SCAN_MS : w < IDLE_WAIT_MAX_MS ? w : IDLE_WAIT_MAX_MS;
            h->idle_next_ms = now + h->idle_wait_ms;
        }
    }
    hak_unlock(&heap_lock);
    if (n)
        atomic_fetch_add_explicit(&idle_taken, n, memory_order_relaxed);
    return n;
}

void _hak_heap_sum_stats(hak_tcounters_t *out)
{
    hak_lock(&heap_lock);
    for (hak_heap_t *h = all_heaps; h; h = h->next_all) {
        if (!h->live)
            continue;
        const uint64_t *src = (const uint64_t *)&h->stats;
        uint64_t *dst = (uint64_t *)out;
        for (size_t i = 0; i < sizeof(hak_tcounters_t) / sizeof(uint64_t); i++)
            dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    }
    hak_unlock(&heap_lock);
}

uint64_t _hak_heap_cached_bytes(void)
{
    uint64_t n = 0;
    hak_lock(&heap_lock);
    for (hak_heap_t *h = all_heaps; h; h = h->next_all) {
        if (!h->live)
            continue;
        for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
            n += (uint64_t)((int32_t)__atomic_load_n(&h->tl_max[c], __ATOMIC_RELAXED) -
                            __atomic_load_n(&h->tl[c].room, __ATOMIC_RELAXED)) *
                 hak_class_size[c];
    }
    hak_unlock(&heap_lock);
    return n;
}
