/*
 * large.c — blocks above the largest size class (448 KiB), and blocks whose
 * alignment exceeds what size classes give (4 KiB).
 *
 * Each large block is its own mapping, aligned to 2 MiB (or to its
 * alignment, if larger), with the user pointer at the start of the mapping
 * (in the hardened build: after a guard page, with another guard page after
 * the block). Its record (hak_large_t) lives in the metadata arena, not in
 * the block, and is found through the registry by the 2 MiB chunk of the
 * user pointer; every large mapping starts on a chunk boundary and the user
 * pointer lies in the mapping's first chunk or one only it covers, so no two
 * objects share a chunk.
 *
 * Freed blocks go to a cache (most recent first, bounded by
 * HAKMEM_LARGE_CACHE bytes) and are reused by later requests of a similar
 * size, so repeated large malloc/free does not map and unmap each time.
 * Cached blocks keep their pages for HAKMEM_PURGE_DELAY_MS, then are purged
 * (madvise, batched) but kept mapped; beyond the bound the oldest are
 * unmapped. All of it under large_lock.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static hak_lock_t large_lock = HAK_LOCK_INIT;
static hak_large_t *cache_head, *cache_tail; /* head = most recently freed */
static size_t cache_bytes, cache_n;
static hak_large_t *meta_free;
static uint64_t live_n, live_bytes, last_purge_ms;

void _hak_large_lock(void) { hak_lock(&large_lock); }
void _hak_large_unlock(void) { hak_unlock(&large_lock); }

static hak_large_t *meta_get_locked(void)
{
    hak_large_t *l = meta_free;
    if (l) {
        meta_free = l->next;
        memset(l, 0, sizeof *l);
        return l;
    }
    return _hak_meta_alloc(sizeof(hak_large_t));
}

static void meta_put_locked(hak_large_t *l)
{
    l->magic = 0;
    l->state = 0;
    l->next = meta_free;
    meta_free = l;
}

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

static size_t purge_cache_locked(bool force)
{
    uint64_t now = _hak_os_now_ms();
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
    if (bytes)
        _hak_os_purge_flush();
    last_purge_ms = now;
    return bytes;
}

/* No cached block fits closely: take the smallest bigger one, and if it is
 * at least 2 MiB bigger than needed, cut it on the first 2 MiB boundary
 * after `need`; the tail stays cached as a block of its own (its start is a
 * chunk boundary, so it gets its own registry key). No system call, and the
 * pages reused are already resident: on a machine where fresh pages are
 * slow, this is what keeps large-block churn from faulting. Default build
 * only (the hardened layout has guard pages around each block). */
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
        if (n->user != end || n->base != end || n->state != HAK_LARGE_CACHED)
            return;
        cache_unlink(n);
        _hak_reg_remove(n->user);
        l->span += n->span;
        l->map_size += n->map_size;
        l->purged = l->purged && n->purged;
        meta_put_locked(n);
    }
}

void *_hak_large_alloc(size_t size, size_t align, bool zero, bool *cache_hit)
{
    if (size > HAK_MAX_REQUEST || align > HAK_MAX_REQUEST / 2) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = hak_align_up(size ? size : 1, HAK_PAGE_SIZE);
    size_t map_align = align > HAK_SS_SIZE ? align : HAK_SS_SIZE;
    /* hardened: a guard page before the block (the block keeps its
     * alignment) and one after it */
    size_t off = HAK_GUARD ? (align > HAK_GUARD ? align : HAK_GUARD) : 0;
    hak_lock(&large_lock);
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
    bool from_cache = l != NULL;
    if (l) {
        cache_unlink(l);
    } else {
        l = meta_get_locked();
        if (!l) {
            hak_unlock(&large_lock);
            errno = ENOMEM;
            return NULL;
        }
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
            hak_unlock(&large_lock);
            errno = ENOMEM;
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
    live_n++;
    live_bytes += l->map_size;
    bool must_zero = zero && from_cache && !l->purged;
    if (cache_hit)
        *cache_hit = from_cache;
    hak_unlock(&large_lock);
    if (must_zero)
        memset(l->user, 0, size);
    return l->user;
}

void _hak_large_free(hak_large_t *l)
{
    hak_lock(&large_lock);
    live_n--;
    live_bytes -= l->map_size;
    size_t cap = (size_t)hak_opt(HAK_OPT_LARGE_CACHE);
    if (l->map_size > cap / 2) {
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
        evict_locked(cap);
    }
    uint64_t now = _hak_os_now_ms();
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    if (now - last_purge_ms >= delay / 2 + 1)
        purge_cache_locked(false);
    hak_unlock(&large_lock);
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
    if (need <= l->span) {
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
    size_t n = purge_cache_locked(force);
    if (force)
        n += evict_locked(0);
    hak_unlock(&large_lock);
    return n;
}

void _hak_large_counts(uint64_t *live, uint64_t *lbytes, uint64_t *cached, uint64_t *cbytes)
{
    hak_lock(&large_lock);
    *live = live_n;
    *lbytes = live_bytes;
    *cached = cache_n;
    *cbytes = cache_bytes;
    hak_unlock(&large_lock);
}
