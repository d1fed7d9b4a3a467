/*
 * large.c — blocks above the largest size class (64 KiB), blocks whose
 * alignment exceeds what size classes give (4 KiB), and buffers realloc
 * grows past HAK_REALLOC_SPAN_MIN while one thread allocates (arena spans
 * only: HAK_LARGE_SPAN).
 *
 * Arenas (default build). Blocks up to ARENA_MAX_BLOCK (32 MiB) with an
 * alignment up to 2 MiB are spans of pages inside arenas: regions of
 * 256 MiB mapped once (MAP_NORESERVE: untouched pages cost nothing); 64 MiB
 * under RLIMIT_AS, or if 256 cannot be mapped. A span never crosses
 * arenas, so an arena is several times the largest span: the pieces left
 * at arena ends are few. Every 2 MiB
 * chunk of an arena is registered as LARGE -> the arena, and each arena has
 * a page map (in the metadata arena) whose entries for the first and the
 * last page of every span, live or free, point to the span's record
 * (hak_large_t). The spans of an arena tile it: free(p) goes registry ->
 * arena -> page map -> record, and a span being freed finds its neighbours
 * through the page entries just before and just after it.
 *
 * A free span is either dirty (its pages may be resident and hold old data)
 * or clean (purged or never touched: it reads as zero). Adjacent free spans
 * of the same kind are always merged, so a dirty span's neighbours are live
 * or clean, and the other way round. A request takes, in this order:
 *   1. the best-fitting dirty span (smallest that fits, then lowest
 *      address): resident pages, no page fault, no system call;
 *   2. a dirty span together with the clean span next to it (only the clean
 *      part faults), the dirty one as big as possible;
 *   3. the best-fitting clean span (calloc then skips its memset);
 *   4. a new arena.
 * The chosen span is cut to size (an aligned request also cuts off a front
 * piece) and the pieces stay free. Free spans sit in size-segregated bins
 * (four per power of two of the page count), one set per kind.
 *
 * Dirty free bytes are bounded by HAKMEM_LARGE_CACHE, or by
 * HAKMEM_LARGE_CACHE_LIVE percent of the live large bytes if that is more
 * (cache_cap_locked): beyond the bound the least
 * recently freed dirty spans are purged (madvise, batched by os.c; a span
 * only partly over the bound is cut and only its tail purged) and become
 * clean. Dirty spans freed longer than HAKMEM_PURGE_DELAY_MS ago are purged
 * by the purge passes (at most twice per delay, from frees). A purge is
 * issued before large_lock is released, so no queued madvise can reach a
 * span handed out again. An arena that becomes one clean free span is
 * unmapped if another such arena is kept already (malloc_trim: all of them).
 *
 * Dedicated mappings. Bigger blocks, bigger alignments, the hardened build
 * (guard pages around every block) and the case where no arena can be
 * mapped use a mapping of their own, aligned to 2 MiB (or to the
 * alignment), with the user pointer at its start (hardened: after a guard
 * page, with another guard page after the block). The record is found
 * through the registry by the chunk of the user pointer; every such mapping
 * starts on a chunk boundary. Freed ones go to a cache (most recent first,
 * bounded by the same bound, blocks above half of it are unmapped
 * at once), are purged after the purge delay and beyond the bound the
 * oldest are unmapped; a request with no close fit may split a bigger one on
 * a 2 MiB boundary, and a block being cached absorbs cached blocks that
 * follow it. They grow with mremap (no copy).
 *
 * All of it under large_lock.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"

#define ARENA_SIZE ((size_t)256 << 20)
#define ARENA_SIZE_MIN ((size_t)64 << 20) /* see arena_size_locked */
#define ARENA_PAGES (ARENA_SIZE / HAK_PAGE_SIZE)
#define ARENA_MAX_BLOCK ((size_t)32 << 20)
#define ARENA_MAX_ALIGN HAK_SS_SIZE
#define ARENA_KEEP 1 /* fully free (clean) arenas kept mapped */
#define NBINS 61 /* bin_of(ARENA_PAGES) + 1 */
_Static_assert(ARENA_PAGES == (size_t)1 << 16, "NBINS is bin_of(ARENA_PAGES) + 1");
_Static_assert(ARENA_MAX_BLOCK <= ARENA_SIZE_MIN / 2, "a block fits any arena");
#define USE_ARENAS (HAK_GUARD == 0)

typedef struct hak_arena {
    uint32_t magic;            /* HAK_ARENA_MAGIC while mapped              */
    char *base;                /* `size` bytes, 2 MiB aligned               */
    size_t size;               /* ARENA_SIZE or ARENA_SIZE_MIN              */
    hak_large_t **map;         /* page -> span (first and last pages)       */
    struct hak_arena *next, *prev;
} hak_arena_t;

static hak_lock_t large_lock = HAK_LOCK_INIT;
static hak_large_t *cache_head, *cache_tail; /* head = most recently freed */
static size_t cache_bytes, cache_n;
static hak_large_t *meta_free;
static size_t meta_free_n;
static uint64_t live_n, live_bytes, last_purge_ms;

/* arenas */
static hak_arena_t *arenas, *arena_pool;
/* The last attempt to map an arena failed: realloc's spans (HAK_LARGE_SPAN)
 * then come only from the arenas there are, instead of trying to map one
 * again on every move of a growing buffer. */
static bool arena_map_failed;

static hak_large_t *bins[2][NBINS];          /* [purged][bin]              */
static hak_large_t *dirty_head;              /* dirty free spans           */
static size_t dirty_bytes, dirty_n;

void _hak_large_lock(void) { hak_lock(&large_lock); }
void _hak_large_unlock(void) { hak_unlock(&large_lock); }

static hak_large_t *meta_get_locked(void)
{
    hak_large_t *l = meta_free;
    if (l) {
        meta_free = l->next;
        meta_free_n--;
        memset(l, 0, sizeof *l);
        return l;
    }
    return _hak_meta_alloc(sizeof(hak_large_t));
}

static void meta_put_locked(hak_large_t *l)
{
    l->magic = 0;
    l->state = 0;
    l->arena = NULL;
    l->next = meta_free;
    meta_free = l;
    meta_free_n++;
}

/* Makes sure n records can be taken without failing. */
static bool meta_reserve_locked(size_t n)
{
    while (meta_free_n < n) {
        hak_large_t *l = _hak_meta_alloc(sizeof(hak_large_t));
        if (!l)
            return false;
        meta_put_locked(l);
    }
    return true;
}

/* ---- dedicated mappings: the cache ------------------------------------- */

static void cache_unlink(hak_large_t *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        cache_head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        cache_tail = l->prev;
    l->next = l->prev = NULL;
    cache_bytes -= l->map_size;
    cache_n--;
}

static void destroy_locked(hak_large_t *l)
{
    _hak_reg_remove(l->user);
    _hak_os_unmap(l->base, l->map_size);
    meta_put_locked(l);
}

/* Unmaps the oldest cached blocks until at most `keep` bytes stay cached;
 * returns the bytes unmapped. */
static size_t evict_locked(size_t keep)
{
    size_t n = 0;
    while (cache_bytes > keep && cache_tail) {
        hak_large_t *v = cache_tail;
        cache_unlink(v);
        n += v->map_size;
        destroy_locked(v);
    }
    return n;
}

static size_t purge_cache_locked(bool force, uint64_t now)
{
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    size_t bytes = 0;
    /* oldest first: walk from the tail */
    for (hak_large_t *l = cache_tail; l; l = l->prev) {
        if (!force && now - l->cached_at_ms < delay)
            break;
        if (!l->purged) {
            _hak_os_purge_add(l->user, l->span);
            l->purged = 1;
            bytes += l->span;
        }
    }
    return bytes;
}

/* No cached block fits closely: take the smallest bigger one, and if it is
 * at least 2 MiB bigger than needed, cut it on the first 2 MiB boundary
 * after `need`; the tail stays cached as a block of its own (its start is a
 * chunk boundary, so it gets its own registry key). Default build only (the
 * hardened layout has guard pages around each block). */
static hak_large_t *split_bigger_locked(size_t need)
{
    hak_large_t *big = NULL;
    for (hak_large_t *l = cache_head; l; l = l->next)
        if (l->span >= need && (!big || l->span < big->span))
            big = l;
    if (!big)
        return NULL;
    size_t head = hak_align_up(need, HAK_SS_SIZE);
    if (big->span < head + HAK_PAGE_SIZE)
        return big; /* less than 2 MiB to spare: take it whole */
    hak_large_t *t = meta_get_locked();
    if (!t)
        return big;
    if (!_hak_reg_insert(big->user + head, (uintptr_t)t | HAK_REG_LARGE)) {
        meta_put_locked(t);
        return big;
    }
    t->magic = HAK_LARGE_MAGIC;
    t->state = HAK_LARGE_CACHED;
    t->base = t->user = big->user + head;
    t->map_size = t->span = big->span - head;
    t->align = HAK_SS_SIZE;
    t->cached_at_ms = big->cached_at_ms;
    t->purged = big->purged;
    big->map_size = big->span = head;
    /* same age: right after big in the cache list; bytes unchanged */
    t->prev = big;
    t->next = big->next;
    if (big->next)
        big->next->prev = t;
    else
        cache_tail = t;
    big->next = t;
    cache_n++;
    return big;
}

/* A block being cached absorbs cached blocks that follow it in memory
 * (found through the registry at its end), undoing earlier splits so that
 * big requests can be served again. Default build only. */
static void merge_forward_locked(hak_large_t *l)
{
    while (!HAK_GUARD && (l->span & HAK_SS_MASK) == 0) {
        char *end = l->user + l->span;
        uintptr_t v = hak_reg_lookup(end);
        if (!(v & HAK_REG_LARGE))
            return;
        hak_large_t *n = (hak_large_t *)(v & ~(uintptr_t)3);
        if (n->magic != HAK_LARGE_MAGIC || n->user != end || n->base != end ||
            n->state != HAK_LARGE_CACHED)
            return;
        cache_unlink(n);
        _hak_reg_remove(n->user);
        l->span += n->span;
        l->map_size += n->map_size;
        l->purged = l->purged && n->purged;
        meta_put_locked(n);
    }
}

/* A dedicated mapping for a request of need bytes (page multiple). */
static hak_large_t *dedicated_alloc_locked(size_t size, size_t need, size_t align,
                                           bool *from_cache)
{
    size_t map_align = align > HAK_SS_SIZE ? align : HAK_SS_SIZE;
    /* hardened: a guard page before the block (the block keeps its
     * alignment) and one after it */
    size_t off = HAK_GUARD ? (align > HAK_GUARD ? align : HAK_GUARD) : 0;
    /* best fit among cached blocks no more than 1/4 bigger than needed */
    hak_large_t *best = NULL;
    for (hak_large_t *l = cache_head; l; l = l->next) {
        if (l->span >= need && l->span - need <= need / 4 &&
            (size_t)(l->user - l->base) == off &&
            ((uintptr_t)l->user & ((align > HAK_PAGE_SIZE ? align : HAK_PAGE_SIZE) - 1)) == 0 &&
            (!best || l->span < best->span)) {
            best = l;
            if (l->span == need)
                break;
        }
    }
    if (!best && !HAK_GUARD && align <= HAK_SS_SIZE)
        best = split_bigger_locked(need);
    hak_large_t *l = best;
    *from_cache = l != NULL;
    if (l) {
        cache_unlink(l);
    } else {
        l = meta_get_locked();
        if (!l)
            return NULL;
        size_t map_size = off + need + HAK_GUARD;
        char *base = _hak_os_map_aligned(map_size, map_align);
        if (!base) {
            /* give cached memory back and try once more */
            evict_locked(0);
            base = _hak_os_map_aligned(map_size, map_align);
        }
        if (!base || !_hak_reg_insert(base + off, (uintptr_t)l | HAK_REG_LARGE)) {
            if (base)
                _hak_os_unmap(base, map_size);
            meta_put_locked(l);
            return NULL;
        }
        if (HAK_GUARD) {
            _hak_os_guard(base + off - HAK_GUARD, HAK_GUARD);
            _hak_os_guard(base + off + need, HAK_GUARD);
        }
        l->base = base;
        l->map_size = map_size;
        l->align = map_align;
        l->user = base + off;
        l->span = need;
        l->purged = 1; /* fresh from the OS: reads as zero */
    }
    l->magic = HAK_LARGE_MAGIC;
    l->state = HAK_LARGE_LIVE;
    l->size = size;
    return l;
}

/* ---- arenas: free spans ------------------------------------------------ */

static unsigned bin_of(size_t pages)
{
    if (pages < 4)
        return (unsigned)pages;
    unsigned b = 63u - (unsigned)__builtin_clzll((unsigned long long)pages);
    return 4u * b - 4u + (unsigned)((pages >> (b - 2)) & 3u);
}

static size_t page_of(const hak_arena_t *a, const char *p)
{
    return (size_t)(p - a->base) / HAK_PAGE_SIZE;
}

/* Points the page entries of s's first and last pages at s. */
static void span_map(hak_large_t *s)
{
    hak_arena_t *a = s->arena;
    size_t i = page_of(a, s->user);
    a->map[i] = s;
    a->map[i + s->span / HAK_PAGE_SIZE - 1] = s;
}

static void free_insert(hak_large_t *s)
{
    s->state = HAK_LARGE_CACHED;
    s->map_size = s->span;
    s->base = s->user;
    hak_large_t **head = &bins[s->purged ? 1 : 0][bin_of(s->span / HAK_PAGE_SIZE)];
    s->prev = NULL;
    s->next = *head;
    if (*head)
        (*head)->prev = s;
    *head = s;
    if (!s->purged) {
        s->dprev = NULL;
        s->dnext = dirty_head;
        if (dirty_head)
            dirty_head->dprev = s;
        dirty_head = s;
        dirty_bytes += s->span;
        dirty_n++;
    }
}

static void free_remove(hak_large_t *s)
{
    hak_large_t **head = &bins[s->purged ? 1 : 0][bin_of(s->span / HAK_PAGE_SIZE)];
    if (s->prev)
        s->prev->next = s->next;
    else
        *head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    if (!s->purged) {
        if (s->dprev)
            s->dprev->dnext = s->dnext;
        else
            dirty_head = s->dnext;
        if (s->dnext)
            s->dnext->dprev = s->dprev;
        s->dnext = s->dprev = NULL;
        dirty_bytes -= s->span;
        dirty_n--;
    }
}

/* The free span of kind `purged` that page `page` of arena a maps to (the
 * first and last pages of every span are mapped), or NULL: no such page, or
 * the span there is live or of the other kind. */
static hak_large_t *free_span_at(const hak_arena_t *a, size_t page, uint8_t purged)
{
    if (page >= a->size / HAK_PAGE_SIZE)
        return NULL;
    hak_large_t *x = a->map[page];
    return x->state == HAK_LARGE_CACHED && x->purged == purged ? x : NULL;
}

/* The free span of kind `purged` just before / just after s, or NULL. */
static hak_large_t *free_prev(const hak_large_t *s, uint8_t purged)
{
    size_t i = page_of(s->arena, s->user);
    return i == 0 ? NULL : free_span_at(s->arena, i - 1, purged);
}

static hak_large_t *free_next(const hak_large_t *s, uint8_t purged)
{
    return free_span_at(s->arena, page_of(s->arena, s->user) + s->span / HAK_PAGE_SIZE, purged);
}

/* Joins free span b, which follows a in memory, into a (keeping the later
 * of their free times); b's record goes back to the pool. */
static void join(hak_large_t *a, hak_large_t *b)
{
    a->span += b->span;
    if (b->cached_at_ms > a->cached_at_ms)
        a->cached_at_ms = b->cached_at_ms;
    meta_put_locked(b);
}

/* Merges s (free, not in a bin) with free neighbours of its kind; returns
 * the merged span, not in a bin either. */
static hak_large_t *coalesce(hak_large_t *s)
{
    hak_large_t *p = free_prev(s, s->purged);
    if (p) {
        free_remove(p);
        join(p, s);
        s = p;
    }
    hak_large_t *n = free_next(s, s->purged);
    if (n) {
        free_remove(n);
        join(s, n);
    }
    span_map(s);
    return s;
}

/* A new free piece [p, p+n) of kind `purged`, in its bin; needs a reserved
 * record. Its neighbours are not free spans of its kind. */
static void piece_locked(hak_arena_t *a, char *p, size_t n, uint8_t purged, uint64_t at)
{
    hak_large_t *t = meta_get_locked();
    t->magic = HAK_LARGE_MAGIC;
    t->arena = a;
    t->user = t->base = p;
    t->span = t->map_size = n;
    t->purged = purged;
    t->cached_at_ms = at;
    span_map(t);
    free_insert(t);
}

/* Cuts [s->user + front, + need) out of free span s (removed from its bin
 * already) and returns s describing that part; the pieces before and after
 * stay free. Needs two reserved records. */
static hak_large_t *carve(hak_large_t *s, size_t front, size_t need)
{
    if (front) {
        piece_locked(s->arena, s->user, front, s->purged, s->cached_at_ms);
        s->user += front;
        s->span -= front;
    }
    if (s->span > need) {
        piece_locked(s->arena, s->user + need, s->span - need, s->purged, s->cached_at_ms);
        s->span = need;
    }
    s->base = s->user;
    s->map_size = s->span;
    span_map(s);
    return s;
}

static size_t front_of(const hak_large_t *s, size_t align)
{
    return (size_t)(hak_align_up((uintptr_t)s->user, align) - (uintptr_t)s->user);
}

/* Best fit among free spans of kind `purged`: the smallest that holds need
 * bytes at the alignment, the lowest address among equals. */
static hak_large_t *best_fit(uint8_t purged, size_t need, size_t align)
{
    hak_large_t *best = NULL;
    size_t best_front = 0;
    for (unsigned b = bin_of(need / HAK_PAGE_SIZE); b < NBINS; b++) {
        for (hak_large_t *s = bins[purged][b]; s; s = s->next) {
            size_t f = front_of(s, align);
            if (s->span < need || s->span - need < f)
                continue;
            if (!best || s->span < best->span || (s->span == best->span && s->user < best->user)) {
                best = s;
                best_front = f;
            }
        }
        if (best)
            break;
    }
    (void)best_front;
    return best;
}

/* Step 2: a dirty span too small on its own with a clean neighbour that
 * makes up the rest; the biggest such dirty span. Page alignment only. */
static hak_large_t *take_dirty_and_clean(size_t need)
{
    hak_large_t *best = NULL, *best_c = NULL;
    for (hak_large_t *d = dirty_head; d; d = d->dnext) {
        if (best && d->span <= best->span)
            continue;
        hak_large_t *c = free_next(d, 1);
        if (!c || d->span + c->span < need)
            c = free_prev(d, 1);
        if (c && d->span + c->span >= need) {
            best = d;
            best_c = c;
        }
    }
    if (!best)
        return NULL;
    hak_large_t *d = best, *c = best_c;
    free_remove(d);
    free_remove(c);
    size_t more = need - d->span;
    if (c->user > d->user) {
        /* the clean span follows: take its front */
        d->span = need;
        c->user += more;
        c->span -= more;
    } else {
        /* the clean span precedes: take its tail */
        d->user -= more;
        d->span = need;
        c->span -= more;
    }
    d->base = d->user;
    d->map_size = d->span;
    span_map(d);
    if (c->span) {
        span_map(c);
        free_insert(c);
    } else {
        meta_put_locked(c);
    }
    return d;
}

static bool arena_is_empty(const hak_arena_t *a)
{
    hak_large_t *s = a->map[0];
    return s->state == HAK_LARGE_CACHED && s->purged && s->span == a->size;
}

static void arena_unregister(hak_arena_t *a, size_t chunks)
{
    for (size_t c = 0; c < chunks; c++)
        _hak_reg_remove(a->base + c * HAK_SS_SIZE);
}

static void arena_destroy_locked(hak_arena_t *a)
{
    hak_large_t *s = a->map[0];
    free_remove(s);
    meta_put_locked(s);
    arena_unregister(a, a->size / HAK_SS_SIZE);
    _hak_os_unmap(a->base, a->size);
    a->magic = 0;
    if (a->prev)
        a->prev->next = a->next;
    else
        arenas = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->next = arena_pool;
    a->prev = NULL;
    arena_pool = a;
}

/* Unmaps arenas that are one clean free span, keeping `keep` of them. */
static size_t release_arenas_locked(size_t keep)
{
    size_t kept = 0, n = 0;
    for (hak_arena_t *a = arenas, *next; a; a = next) {
        next = a->next;
        if (!arena_is_empty(a))
            continue;
        if (kept < keep) {
            kept++;
            continue;
        }
        n += a->size;
        arena_destroy_locked(a);
    }
    return n;
}

/* The size of a new arena: ARENA_SIZE, but ARENA_SIZE_MIN where the
 * address space is limited (RLIMIT_AS): there every byte reserved counts
 * against the limit, and a big arena mostly empty could make a later
 * request fail. (A first arena of ARENA_SIZE_MIN, the others bigger, was
 * measured: the pieces stranded in the small one cost malloc-large 40 MB
 * of peak RSS over 2000 iterations.) */
static size_t arena_size_locked(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur != RLIM_INFINITY)
        return ARENA_SIZE_MIN;
    return ARENA_SIZE;
}

static hak_arena_t *arena_new_locked(void)
{
    hak_arena_t *a = arena_pool;
    if (a) {
        arena_pool = a->next;
    } else if ((a = _hak_meta_alloc(sizeof *a)) == NULL) {
        return NULL;
    }
    if (!a->map && !(a->map = _hak_meta_alloc(ARENA_PAGES * sizeof(hak_large_t *))))
        goto fail; /* keep the record for later */
    /* address space only (untouched pages cost nothing); a smaller one if
     * that cannot be had (strict overcommit counts it all). errno is kept:
     * a failure here is not the caller's (it may still get a mapping of
     * its own) */
    int saved = errno;
    size_t size = arena_size_locked();
    char *base = _hak_os_map_aligned(size, HAK_SS_SIZE);
    if (!base && size > ARENA_SIZE_MIN) {
        size = ARENA_SIZE_MIN;
        base = _hak_os_map_aligned(size, HAK_SS_SIZE);
    }
    errno = saved;
    arena_map_failed = !base;
    if (!base)
        goto fail;
    a->base = base;
    a->size = size;
    for (size_t c = 0; c < size / HAK_SS_SIZE; c++) {
        if (!_hak_reg_insert(base + c * HAK_SS_SIZE, (uintptr_t)a | HAK_REG_LARGE)) {
            arena_unregister(a, c);
            _hak_os_unmap(base, size);
            goto fail;
        }
    }
    if (hak_opt(HAK_OPT_THP))
        _hak_os_thp_advise(base, size); /* asks for huge pages */
    a->magic = HAK_ARENA_MAGIC;
    a->prev = NULL;
    a->next = arenas;
    if (arenas)
        arenas->prev = a;
    arenas = a;
    /* fresh from the OS: one clean span */
    piece_locked(a, base, size, 1, 0);
    return a;
fail:
    a->next = arena_pool;
    arena_pool = a;
    return NULL;
}

/* A span of need bytes at the alignment, from the arenas; NULL if none can
 * be had. *zeroed: it reads as zero; *reused: some of it was resident. */
static hak_large_t *arena_alloc_locked(size_t need, size_t align, bool may_map, bool *zeroed,
                                       bool *reused)
{
    if (!meta_reserve_locked(3))
        return NULL;
    *zeroed = false;
    *reused = true;
    hak_large_t *s = best_fit(0, need, align);
    if (!s && align <= HAK_PAGE_SIZE && (s = take_dirty_and_clean(need)) != NULL)
        return s;
    if (!s) {
        *zeroed = true;
        *reused = false;
        s = best_fit(1, need, align);
        if (!s) {
            if (!may_map || !arena_new_locked())
                return NULL;
            s = best_fit(1, need, align);
            if (!s)
                return NULL;
        }
    }
    free_remove(s);
    return carve(s, front_of(s, align), need);
}

/* Purges dirty free span s but its first `keep` bytes (page multiple,
 * < s->span); the purged part joins its clean neighbours. Needs a reserved
 * record if keep > 0. Returns the bytes purged. */
static size_t purge_span_locked(hak_large_t *s, size_t keep)
{
    free_remove(s);
    if (keep) {
        piece_locked(s->arena, s->user, keep, 0, s->cached_at_ms);
        s->user += keep;
        s->span -= keep;
    }
    _hak_os_purge_add(s->user, s->span);
    size_t n = s->span;
    s->purged = 1;
    free_insert(coalesce(s));
    return n;
}

/* Purges the least recently freed dirty spans until at most cap bytes of
 * dirty spans remain. */
static size_t purge_to_bound_locked(size_t cap)
{
    size_t n = 0;
    while (dirty_bytes > cap && meta_reserve_locked(1)) {
        hak_large_t *old = dirty_head;
        for (hak_large_t *s = dirty_head; s; s = s->dnext)
            if (s->cached_at_ms <= old->cached_at_ms)
                old = s;
        size_t excess = hak_align_up(dirty_bytes - cap, HAK_PAGE_SIZE);
        n += purge_span_locked(old, old->span > excess ? old->span - excess : 0);
    }
    return n;
}

/* The bound on the cached dedicated mappings and the dirty arena spans
 * together: HAKMEM_LARGE_CACHE, or HAKMEM_LARGE_CACHE_LIVE percent of the
 * bytes in live large blocks if that is more. A program that keeps hundreds
 * of MiB in large blocks and replaces them with blocks of other sizes needs
 * free space of about that size to place the next one on resident pages;
 * with a fixed bound below it, every replacement purged old spans and
 * faulted fresh pages in (a 300 MiB heap of 5-25 MiB buffers: twice the
 * run time of a bound at its live size). */
static size_t cache_cap_locked(void)
{
    size_t cap = (size_t)hak_opt(HAK_OPT_LARGE_CACHE);
    uint64_t pct = (uint64_t)hak_opt(HAK_OPT_LARGE_CACHE_LIVE);
    uint64_t by_live = live_bytes / 100 * pct + live_bytes % 100 * pct / 100;
    return by_live > cap ? (size_t)by_live : cap;
}

/* The bound (cache_cap_locked) applies to the cached dedicated mappings
 * and the dirty arena spans together: the cached mappings go first (oldest
 * first), then dirty spans are purged. */
static void bound_locked(void)
{
    size_t cap = cache_cap_locked();
    evict_locked(cap > dirty_bytes ? cap - dirty_bytes : 0);
    purge_to_bound_locked(cap - cache_bytes);
}

/* Purges dirty spans freed at least the purge delay ago (all if force). */
static size_t purge_arenas_locked(bool force, uint64_t now)
{
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    size_t n = 0;
    for (hak_large_t *s = dirty_head, *next; s; s = next) {
        next = s->dnext;
        if (force || now - s->cached_at_ms >= delay)
            n += purge_span_locked(s, 0);
    }
    return n;
}

/* The periodic purge pass (from frees), at most twice per purge delay. */
static void maybe_purge_locked(void)
{
    uint64_t now = _hak_os_now_ms();
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    if (now - last_purge_ms >= delay / 2 + 1) {
        purge_cache_locked(false, now);
        purge_arenas_locked(false, now);
        release_arenas_locked(ARENA_KEEP);
        last_purge_ms = now;
    }
}

/* Gives a live arena span back: merged with its dirty neighbours, then the
 * bound applied. */
static void arena_free_locked(hak_large_t *l)
{
    l->state = HAK_LARGE_CACHED;
    l->purged = 0;
    l->cached_at_ms = _hak_os_now_ms();
    free_insert(coalesce(l));
    bound_locked();
}

hak_large_t *_hak_large_find(uintptr_t v, const void *p)
{
    hak_large_t *o = (hak_large_t *)(v & ~(uintptr_t)3);
    if (__atomic_load_n(&o->magic, __ATOMIC_RELAXED) != HAK_ARENA_MAGIC)
        return o;
    hak_arena_t *a = (hak_arena_t *)o;
    hak_large_t *s = NULL;
    hak_lock(&large_lock);
    const char *c = p;
    if (a->magic == HAK_ARENA_MAGIC && c >= a->base && c < a->base + a->size) {
        s = a->map[page_of(a, c)];
        if (!s || s->state == 0 || s->arena != a || c < s->user || c >= s->user + s->span) {
            /* an inner page (its entry is stale): walk the spans */
            s = a->map[0];
            while (c >= s->user + s->span)
                s = a->map[page_of(a, s->user + s->span)];
        }
    }
    hak_unlock(&large_lock);
    return s;
}

/* ---- entry points ------------------------------------------------------ */

void *_hak_large_alloc(size_t size, size_t align, unsigned flags, bool *cache_hit)
{
    if (size > HAK_MAX_REQUEST || align > HAK_MAX_REQUEST / 2) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = hak_align_up(size ? size : 1, HAK_PAGE_SIZE);
    size_t a = align > HAK_PAGE_SIZE ? align : HAK_PAGE_SIZE;
    bool zeroed = false, hit = false;
    hak_large_t *l = NULL;
    hak_lock(&large_lock);
    if (USE_ARENAS && need <= ARENA_MAX_BLOCK && a <= ARENA_MAX_ALIGN)
        l = arena_alloc_locked(need, a, !(flags & HAK_LARGE_SPAN) || !arena_map_failed, &zeroed,
                               &hit);
    if (l) {
        l->magic = HAK_LARGE_MAGIC;
        l->state = HAK_LARGE_LIVE;
        l->size = size;
    } else {
        /* HAK_LARGE_SPAN (a buffer realloc moves out of the size classes):
         * with no arena, the caller takes a size class instead */
        l = flags & HAK_LARGE_SPAN ? NULL : dedicated_alloc_locked(size, need, align, &hit);
        if (!l) {
            hak_unlock(&large_lock);
            errno = ENOMEM;
            return NULL;
        }
        zeroed = l->purged;
    }
    live_n++;
    live_bytes += l->map_size;
    if (cache_hit)
        *cache_hit = hit;
    hak_unlock(&large_lock);
    if ((flags & HAK_LARGE_ZERO) && !zeroed)
        memset(l->user, 0, size);
    return l->user;
}

void _hak_large_free(hak_large_t *l)
{
    hak_lock(&large_lock);
    live_n--;
    live_bytes -= l->map_size;
    size_t cap = cache_cap_locked();
    if (l->arena) {
        arena_free_locked(l);
    } else if (l->map_size > cap / 2) {
        l->state = 0;
        destroy_locked(l);
    } else {
        l->state = HAK_LARGE_CACHED;
        l->cached_at_ms = _hak_os_now_ms();
        l->purged = 0;
        merge_forward_locked(l);
        l->prev = NULL;
        l->next = cache_head;
        if (cache_head)
            cache_head->prev = l;
        else
            cache_tail = l;
        cache_head = l;
        cache_bytes += l->map_size;
        cache_n++;
        bound_locked();
    }
    maybe_purge_locked();
    _hak_os_purge_flush();
    hak_unlock(&large_lock);
}

/* Resizes a live arena block in place; false if that cannot be done. */
static bool arena_realloc_locked(hak_large_t *l, size_t size, size_t need)
{
    if (need <= l->span) {
        /* shrink: give back the tail if at least half is unused */
        if (need <= l->span / 2 && meta_reserve_locked(1)) {
            hak_large_t *t = meta_get_locked();
            t->magic = HAK_LARGE_MAGIC;
            t->arena = l->arena;
            t->user = l->user + need;
            t->span = l->span - need;
            live_bytes -= t->span;
            l->span = l->map_size = need;
            span_map(l);
            span_map(t);
            arena_free_locked(t);
        }
        l->size = size;
        return true;
    }
    if (need > ARENA_MAX_BLOCK)
        return false;
    /* grow into the free span that follows, with some slack */
    hak_large_t *n = free_next(l, 0);
    if (!n)
        n = free_next(l, 1);
    if (!n || l->span + n->span < need)
        return false;
    size_t want = hak_align_up(need + need / 8, HAK_PAGE_SIZE);
    if (want > l->span + n->span)
        want = l->span + n->span;
    size_t take = want - l->span;
    free_remove(n);
    if (n->span > take) {
        n->user += take;
        n->span -= take;
        span_map(n);
        free_insert(n);
    } else {
        meta_put_locked(n);
    }
    live_bytes += take;
    l->span = l->map_size = want;
    span_map(l);
    l->size = size;
    return true;
}

/* Resizes a live large block; NULL (block untouched) if that needs a move,
 * which the caller then does through a new allocation. */
void *_hak_large_realloc(hak_large_t *l, size_t size)
{
    if (size > HAK_MAX_REQUEST)
        return NULL;
    size_t need = hak_align_up(size ? size : 1, HAK_PAGE_SIZE);
    hak_lock(&large_lock);
    void *r = NULL;
    if (l->arena) {
        if (arena_realloc_locked(l, size, need))
            r = l->user;
        _hak_os_purge_flush();
    } else if (need <= l->span) {
        /* shrink: give back the tail if at least half is unused */
        if (!HAK_GUARD && need <= l->span / 2 &&
            _hak_os_remap_inplace(l->base, l->map_size, need)) {
            live_bytes -= l->map_size - need;
            l->map_size = l->span = need;
        }
        l->size = size;
        r = l->user;
    } else if (!HAK_GUARD) {
        /* grow in place, with some slack so repeated growth stays cheap;
         * else move the pages (mremap) to an aligned place: no copy */
        size_t want = hak_align_up(need + need / 8, HAK_PAGE_SIZE);
        if (_hak_os_remap_inplace(l->base, l->map_size, want) ||
            (want = need, _hak_os_remap_inplace(l->base, l->map_size, need))) {
            live_bytes += want - l->map_size;
            l->map_size = l->span = want;
            l->size = size;
            r = l->user;
        } else {
            /* the new place is registered before any page moves, so a
             * failure at any step leaves the block where it was */
            char *target = _hak_os_map_aligned(want, l->align);
            if (target && _hak_reg_insert(target, (uintptr_t)l | HAK_REG_LARGE)) {
                if (_hak_os_remap_onto(l->base, l->map_size, target, want)) {
                    _hak_reg_remove(l->user);
                    live_bytes += want - l->map_size;
                    l->base = l->user = target;
                    l->map_size = l->span = want;
                    l->size = size;
                    r = target;
                } else {
                    _hak_reg_remove(target);
                    _hak_os_unmap(target, want);
                }
            } else if (target) {
                _hak_os_unmap(target, want);
            }
        }
    }
    hak_unlock(&large_lock);
    return r;
}

size_t _hak_large_purge(bool force)
{
    hak_lock(&large_lock);
    uint64_t now = _hak_os_now_ms();
    size_t n = purge_cache_locked(force, now);
    n += purge_arenas_locked(force, now);
    _hak_os_purge_flush();
    if (force) {
        n += evict_locked(0);
        n += release_arenas_locked(0);
    } else {
        release_arenas_locked(ARENA_KEEP);
    }
    last_purge_ms = now;
    hak_unlock(&large_lock);
    return n;
}

void _hak_large_counts(uint64_t *live, uint64_t *lbytes, uint64_t *cached, uint64_t *cbytes)
{
    hak_lock(&large_lock);
    *live = live_n;
    *lbytes = live_bytes;
    *cached = cache_n + dirty_n;
    *cbytes = cache_bytes + dirty_bytes;
    hak_unlock(&large_lock);
}
