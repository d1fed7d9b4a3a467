/*
 * superslab.c — SuperSlabs and the slabs carved from them.
 *
 * A SuperSlab is a 2 MiB region aligned to 2 MiB, registered in the hashed
 * registry. Its first 4 KiB hold this header; the rest is cut into slabs of
 * one size (64 KiB, 512 KiB or 2 MiB, by the size classes it serves), slab 0
 * starting after the header. Each slab holds blocks of one size class.
 *
 * Slab states (the tiers): UNUSED -> HOT (owned by one thread's heap) ->
 * FREE (no live block) -> HOT ...; HOT -> DRAINING when its thread exits
 * with blocks still live, DRAINING -> HOT when another heap adopts it, or
 * DRAINING -> FREE when remote frees have returned every block.
 *
 * Lock order: hak_ss_lock, then the registry lock, then the OS purge lock.
 * ss_lock protects: the partial lists, the empty cache, the abandoned lists,
 * every SuperSlab header field, and the fields of slabs that are not HOT.
 * A HOT slab's fields belong to its owner thread (but `remote`, atomic).
 *
 * Memory goes back to the OS lazily: a FREE slab stays dirty (and reusable
 * without page faults) for HAKMEM_PURGE_DELAY_MS, then its pages are queued
 * in the OS layer's madvise batch; an empty SuperSlab is kept in a small
 * cache (HAKMEM_SS_CACHE) before it is unmapped.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"

const uint32_t hak_class_size[HAK_NUM_CLASSES] = {
    16, 32, 48, 64, 80, 96, 112, 128,
    160, 192, 224, 256, 320, 384, 448, 512,
    640, 768, 896, 1024, 1280, 1536, 1792, 2048,
    2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
    10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768,
    40960, 49152, 57344, 65536,
};

/* The class of a size n <= 1024, as a formula (checked against
 * hak_size_class by the unit tests), and two tables made from it: the class
 * of (n + 15) >> 4, and, for malloc's fast path, indexed by n itself (no
 * rounding to do), the byte offset of the class's TLS list in a heap. */
#define SIZE_CLASS(n)                                                         \
    ((n) <= 128   ? ((n) + 15) / 16 - ((n) > 0)                               \
     : (n) <= 256 ? 7 + ((n) - 128 + 31) / 32                                 \
     : (n) <= 512 ? 11 + ((n) - 256 + 63) / 64                                \
                  : 15 + ((n) - 512 + 127) / 128)
#define T4(T, n) T(n) T((n) + 1) T((n) + 2) T((n) + 3)
#define T16(T, n) T4(T, n) T4(T, (n) + 4) T4(T, (n) + 8) T4(T, (n) + 12)
#define T64(T, n) T16(T, n) T16(T, (n) + 16) T16(T, (n) + 32) T16(T, (n) + 48)
#define T256(T, n) T64(T, n) T64(T, (n) + 64) T64(T, (n) + 128) T64(T, (n) + 192)
#define CLASS_OF_16THS(i) (uint8_t) SIZE_CLASS((i) * 16),
#define TL_OFF_OF_SIZE(n) (uint16_t)(SIZE_CLASS(n) * sizeof(hak_tlist_t)),
const uint8_t hak_class_small[65] = {T64(CLASS_OF_16THS, 0) CLASS_OF_16THS(64)};
const uint16_t hak_size_tl[1025] = {T256(TL_OFF_OF_SIZE, 0) T256(TL_OFF_OF_SIZE, 256)
                                        T256(TL_OFF_OF_SIZE, 512) T256(TL_OFF_OF_SIZE, 768)
                                            TL_OFF_OF_SIZE(1024)};
#undef CLASS_OF_16THS
#undef TL_OFF_OF_SIZE
#undef T4
#undef T16
#undef T64
#undef T256
#undef SIZE_CLASS

/* 64 KiB slabs up to 4 KiB blocks, 512 KiB up to 32 KiB, 2 MiB above:
 * at least 14 blocks per slab up to 32 KiB (slab 0 gives 8 KiB to the
 * SuperSlab header) and at least 31 above. */
const uint8_t hak_class_slab_shift[HAK_NUM_CLASSES] = {
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 19, 19, 19, 19,
    19, 19, 19, 19, 19, 19, 19, 19, 21, 21, 21, 21,
};

/* o^-1 modulo 2^64 for odd o (Newton's iteration; each step doubles the
 * number of correct low bits, from 3). */
static uint64_t odd_inverse(uint64_t o)
{
    uint64_t x = o;
    for (int i = 0; i < 5; i++)
        x *= 2 - o * x;
    return x;
}

#define NKINDS 3
static hak_lock_t ss_lock = HAK_LOCK_INIT;
static hak_superslab_t *partial[NKINDS];   /* SuperSlabs with a slab to give */
static hak_superslab_t *empty_cache;       /* SuperSlabs with no slab in use */
/* FREE slabs whose pages may still be resident (dirty), by kind, the most
 * recently freed first, linked through wnext/wprev (only HOT slabs are in
 * warm pools). A slab is in its kind's list iff it is FREE and dirty. */
static hak_slab_t *dirty_slabs[NKINDS];
static unsigned empty_count;
static hak_slab_t *abandoned[HAK_NUM_CLASSES];
static unsigned abandoned_count;
static uint64_t last_purge_ms, last_reclaim_ms;
static uint64_t ss_live;                   /* SuperSlabs mapped            */
static uint64_t ss_mapped_total;           /* ... since start-up          */

uint64_t _hak_ss_mapped_total(void)
{
    return __atomic_load_n(&ss_mapped_total, __ATOMIC_RELAXED);
}

/* Every mapped SuperSlab, for purge passes and statistics: an intrusive
 * array grown in metadata memory. */
static hak_superslab_t **ss_list;
static size_t ss_list_len, ss_list_cap;

static unsigned kind_of_shift(unsigned shift)
{
    return shift == 16 ? 0u : shift == 19 ? 1u : 2u;
}

void _hak_ss_lock(void) { hak_lock(&ss_lock); }
void _hak_ss_unlock(void) { hak_unlock(&ss_lock); }

hak_superslab_t *_hak_ss_of_slab(const hak_slab_t *s)
{
    return (hak_superslab_t *)((uintptr_t)s & ~HAK_SS_MASK);
}

static char *slab_base(hak_superslab_t *ss, unsigned idx)
{
    char *b = (char *)ss + ((size_t)idx << ss->slab_shift);
    return idx == 0 ? b + HAK_SS_HEADER_SIZE : b;
}

/* Bytes of slab idx that hold blocks: slab 0 starts after the header; in
 * the hardened build the last page of a SuperSlab is a guard page. */
static size_t slab_span(hak_superslab_t *ss, unsigned idx)
{
    size_t n = (size_t)1 << ss->slab_shift;
    if (idx == 0)
        n -= HAK_SS_HEADER_SIZE;
    if (idx + 1u == ss->nslabs)
        n -= HAK_GUARD;
    return n;
}

static void list_push(hak_superslab_t **head, hak_superslab_t *ss)
{
    ss->prev = NULL;
    ss->next = *head;
    if (*head)
        (*head)->prev = ss;
    *head = ss;
}

static void list_remove(hak_superslab_t **head, hak_superslab_t *ss)
{
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        *head = ss->next;
    if (ss->next)
        ss->next->prev = ss->prev;
    ss->next = ss->prev = NULL;
}

static unsigned kind_of_slab(const hak_slab_t *s)
{
    return kind_of_shift(_hak_ss_of_slab(s)->slab_shift);
}

/* Whether s is FREE with pages that may be resident: then, and only then,
 * it is in its kind's dirty_slabs list. */
static bool slab_dirty_free(const hak_slab_t *s)
{
    return s->state == HAK_SLAB_FREE && s->dirty;
}

static void dirty_push(hak_slab_t *s) { hak_wlist_push(&dirty_slabs[kind_of_slab(s)], s); }

static void dirty_remove(hak_slab_t *s) { hak_wlist_remove(&dirty_slabs[kind_of_slab(s)], s); }

/* (Re)formats a SuperSlab for slabs of 1 << shift bytes. Slabs whose pages
 * may still be resident are marked FREE+dirty so a purge pass covers them. */
static void format_ss(hak_superslab_t *ss, unsigned shift)
{
    bool same = ss->magic == HAK_SS_MAGIC && ss->slab_shift == shift;
    bool any_dirty = false;
    uint8_t dirty[HAK_MAX_SLABS] = {0};
    uint16_t cls[HAK_MAX_SLABS] = {0};
    if (ss->magic == HAK_SS_MAGIC) {
        for (unsigned i = 0; i < ss->nslabs; i++) {
            dirty[i] = slab_dirty_free(&ss->slabs[i]);
            cls[i] = ss->slabs[i].cls;
            any_dirty |= dirty[i];
            if (dirty[i])
                dirty_remove(&ss->slabs[i]);
        }
    }
    uint64_t now = any_dirty ? _hak_os_now_ms() : 0;
    ss->magic = HAK_SS_MAGIC;
    ss->slab_shift = (uint8_t)shift;
    ss->nslabs = (uint8_t)(HAK_SS_SIZE >> shift);
    ss->nfree = ss->nslabs;
    for (unsigned i = 0; i < ss->nslabs; i++) {
        hak_slab_t *s = &ss->slabs[i];
        memset(s, 0, sizeof *s);
        s->index = (uint8_t)i;
        s->dirty = same ? dirty[i] : any_dirty;
        /* the class its pages were last carved for (none if reshaped) */
        s->cls = same ? cls[i] : HAK_NO_CLASS;
        __atomic_store_n(&s->state, s->dirty ? HAK_SLAB_FREE : HAK_SLAB_UNUSED, __ATOMIC_RELAXED);
        s->freed_at_ms = (uint32_t)now;
        if (s->dirty)
            dirty_push(s);
    }
}

static bool ss_list_add(hak_superslab_t *ss)
{
    if (ss_list_len == ss_list_cap) {
        size_t cap = ss_list_cap ? ss_list_cap * 2 : 512;
        hak_superslab_t **n = _hak_meta_alloc(cap * sizeof *n);
        if (!n)
            return false;
        if (ss_list_len)
            memcpy(n, ss_list, ss_list_len * sizeof *n);
        ss_list = n; /* the old array stays in the never-freed metadata arena */
        ss_list_cap = cap;
    }
    ss_list[ss_list_len++] = ss;
    return true;
}

static void ss_list_del(hak_superslab_t *ss)
{
    for (size_t i = 0; i < ss_list_len; i++) {
        if (ss_list[i] == ss) {
            ss_list[i] = ss_list[--ss_list_len];
            return;
        }
    }
}

/* ---- free()'s record table (see hak_fastrec_of) ---------------------- */
static hak_fastrec_t fr_fallback[1] __attribute__((aligned(64)));
hak_fastrec_t *hak_fr_base = fr_fallback;
uintptr_t hak_fr_mask;

uintptr_t _hak_fr_slots_within(size_t cap)
{
    uintptr_t slots = HAK_FR_SLOTS;
    while (slots >= 16 && slots * HAK_MAX_SLABS * sizeof(hak_fastrec_t) > cap)
        slots >>= 1;
    return slots >= 16 ? slots : 0;
}

/* Maps the record table (at initialisation, before any SuperSlab), from
 * the metadata arena (a mapping of its own, MAP_NORESERVE): the full 64 MiB
 * of address space, or less under an address-space limit (RLIMIT_AS: at
 * most 1/32 of it, so the program keeps its room) or if the mapping fails,
 * more chunks then sharing a slot; without any, every free() takes the slow
 * path. */
void _hak_fr_setup(void)
{
    if (hak_fr_mask != 0)
        return;
    size_t cap = SIZE_MAX;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        cap = (size_t)(rl.rlim_cur / 32);
    for (uintptr_t slots = _hak_fr_slots_within(cap); slots >= 16; slots >>= 1) {
        hak_fastrec_t *t = _hak_meta_alloc(slots * HAK_MAX_SLABS * sizeof(hak_fastrec_t));
        if (t) {
            __atomic_store_n(&hak_fr_base, t, __ATOMIC_RELEASE);
            __atomic_store_n(&hak_fr_mask, (slots * HAK_MAX_SLABS - 1) * sizeof(hak_fastrec_t),
                             __ATOMIC_RELEASE);
            return;
        }
    }
}

/* Gives ss its chunk's slot of records if no other SuperSlab has it. */
static void fr_claim_locked(hak_superslab_t *ss)
{
    ss->fr = NULL;
    if (__atomic_load_n(&hak_fr_mask, __ATOMIC_ACQUIRE) < (HAK_MAX_SLABS - 1) * sizeof(hak_fastrec_t))
        return; /* no table */
    hak_fastrec_t *fr = hak_fastrec_of(ss); /* record 0 of the slot */
    if (fr->ss)
        return;
    fr->ss = ss;
    ss->fr = fr;
}

/* Empties ss's slot (before ss is unmapped): no record has an owner or a
 * carved block any more. */
static void fr_release_locked(hak_superslab_t *ss)
{
    hak_fastrec_t *fr = ss->fr;
    if (!fr)
        return;
    for (unsigned i = 0; i < HAK_MAX_SLABS; i++) {
        __atomic_store_n(&fr[i].owner, NULL, __ATOMIC_RELEASE);
        __atomic_store_n(&fr[i].ncarved, 0, __ATOMIC_RELAXED);
        fr[i].tl_off = 0;
        fr[i].start = NULL;
        fr[i].inv = 0;
        fr[i].rot = 0;
        fr[i].slab = NULL;
    }
    fr->ss = NULL;
    ss->fr = NULL;
}

static hak_superslab_t *ss_new_locked(unsigned shift)
{
    hak_superslab_t *ss = empty_cache;
    if (ss) {
        list_remove(&empty_cache, ss);
        empty_count--;
        format_ss(ss, shift);
        return ss;
    }
    ss = _hak_os_map_aligned(HAK_SS_SIZE, HAK_SS_SIZE);
    if (!ss)
        return NULL;
    _hak_os_thp_advise(ss, HAK_SS_SIZE);
    if (HAK_GUARD)
        _hak_os_guard((char *)ss + HAK_SS_SIZE - HAK_GUARD, HAK_GUARD);
    if (!ss_list_add(ss) || !_hak_reg_insert(ss, (uintptr_t)ss | HAK_REG_SMALL)) {
        ss_list_del(ss);
        _hak_os_unmap(ss, HAK_SS_SIZE);
        errno = ENOMEM;
        return NULL;
    }
    ss_live++;
    __atomic_store_n(&ss_mapped_total, ss_mapped_total + 1, __ATOMIC_RELAXED);
    fr_claim_locked(ss);
    format_ss(ss, shift);
    return ss;
}

static void ss_destroy_locked(hak_superslab_t *ss)
{
    for (unsigned i = 0; i < ss->nslabs; i++)
        if (slab_dirty_free(&ss->slabs[i]))
            dirty_remove(&ss->slabs[i]);
    fr_release_locked(ss);
    _hak_reg_remove(ss);
    ss_list_del(ss);
    ss->magic = 0;
    ss_live--;
    _hak_os_unmap(ss, HAK_SS_SIZE);
}

/* The slab to reuse for class cls: a dirty one, whose pages are resident
 * (fresh pages cost a fault each, slow on some machines, and add to the
 * peak RSS while freed ones sit idle), last carved for the same class if
 * one of the recently freed was: its resident pages then match what the
 * class uses, where another class's would keep pages resident that the
 * new one may never touch. NULL: none dirty. */
static hak_slab_t *dirty_pick(unsigned kind, unsigned cls)
{
    hak_slab_t *s = dirty_slabs[kind];
    for (unsigned n = 0; s && n < 64; s = s->wnext, n++)
        if (s->cls == cls)
            return s;
    return dirty_slabs[kind];
}

hak_slab_t *_hak_ss_slab_acquire(unsigned cls, struct hak_heap *heap)
{
    unsigned shift = hak_class_slab_shift[cls];
    unsigned kind = kind_of_shift(shift);
    hak_lock(&ss_lock);
    hak_slab_t *s = dirty_pick(kind, cls);
    hak_superslab_t *ss;
    if (!s && !partial[kind]) {
        ss = ss_new_locked(shift); /* on no list */
        if (!ss) {
            hak_unlock(&ss_lock);
            return NULL;
        }
        list_push(&partial[kind], ss);
        ss->on_partial = 1;
        s = dirty_pick(kind, cls); /* a reshaped SuperSlab's slabs are dirty */
    }
    if (s) {
        dirty_remove(s);
        ss = _hak_ss_of_slab(s);
        if (ss->nfree == ss->nslabs && !ss->on_partial) { /* in the empty cache */
            list_remove(&empty_cache, ss);
            empty_count--;
        }
    } else {
        /* no dirty slab of this kind anywhere: a clean one (UNUSED or
         * purged FREE) of a SuperSlab with room */
        ss = partial[kind];
        for (unsigned i = 0; i < ss->nslabs && !s; i++) {
            hak_slab_t *c = &ss->slabs[i];
            if (c->state == HAK_SLAB_UNUSED || c->state == HAK_SLAB_FREE)
                s = c;
        }
        if (!s || s->dirty)
            _hak_fatal("SuperSlab on the partial list has no clean free slab (metadata corrupted)");
    }
    ss->nfree--;
    if (ss->nfree == 0 && ss->on_partial) {
        list_remove(&partial[kind], ss);
        ss->on_partial = 0;
    } else if (ss->nfree != 0 && !ss->on_partial) {
        list_push(&partial[kind], ss);
        ss->on_partial = 1;
    }
    /* a dirty slab last released by this class keeps its carved blocks, all
     * on its free list (slab_release_locked): they are taken as they are */
    uint32_t kept = s->dirty && s->cls == cls ? s->free_count : 0;
    hak_block_t *kept_list = kept ? s->free : NULL;
    unsigned idx = s->index;
    uint32_t bs = hak_class_size[cls];
    s->start = slab_base(ss, idx);
    s->block_size = bs;
    s->rot = (uint8_t)__builtin_ctz(bs);
    s->inv = odd_inverse(bs >> s->rot);
    s->tl_off = (uint16_t)(cls * sizeof(hak_tlist_t));
    s->rf_limit = hak_rf_limit[cls];
    s->rf_off = (uint16_t)(offsetof(hak_heap_t, rf) + (cls % HAK_RF_SLOTS) * sizeof(hak_rfchain_t));
    s->end = s->start + (slab_span(ss, idx) / bs) * bs;
    /* nothing carved yet, or the kept blocks (the fast records are
     * published below) */
    __atomic_store_n(&s->ncarved, kept, __ATOMIC_RELAXED);
    s->cls = (uint16_t)cls;
    s->free = kept_list;
    s->free_count = kept;
    s->used = 0;
    s->dirty = 0;
    s->in_warm = 0;
    s->in_owned = 0;
    s->wnext = s->wprev = s->onext = s->oprev = s->pnext = NULL;
    atomic_store_explicit(&s->remote, HAK_RT_NORMAL, memory_order_relaxed);
    __atomic_store_n(&s->state, HAK_SLAB_HOT, __ATOMIC_RELAXED);
    __atomic_store_n(&s->owner, heap, __ATOMIC_RELEASE);
    _hak_slab_publish(s);
    hak_unlock(&ss_lock);
    return s;
}

static size_t purge_locked(uint64_t now, bool force)
{
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    size_t bytes = 0;
    for (size_t i = 0; i < ss_list_len; i++) {
        hak_superslab_t *ss = ss_list[i];
        for (unsigned j = 0; j < ss->nslabs; j++) {
            hak_slab_t *s = &ss->slabs[j];
            if (slab_dirty_free(s) &&
                (force || (uint32_t)now - s->freed_at_ms >= delay)) {
                char *b = slab_base(ss, j);
                size_t n = slab_span(ss, j);
                _hak_os_purge_add(b, n);
                dirty_remove(s);
                s->dirty = 0;
                s->free = NULL; /* the kept blocks' links are gone */
                s->free_count = 0;
                bytes += n;
            }
        }
    }
    _hak_os_purge_flush();
    /* Keep at most HAKMEM_SS_CACHE empty SuperSlabs mapped (purged). */
    unsigned keep = force ? 0u : (unsigned)hak_opt(HAK_OPT_SS_CACHE);
    while (empty_count > keep) {
        /* the oldest is at the tail */
        hak_superslab_t *ss = empty_cache;
        while (ss->next)
            ss = ss->next;
        if (!force && now - ss->empty_since_ms < delay)
            break;
        list_remove(&empty_cache, ss);
        empty_count--;
        ss_destroy_locked(ss);
    }
    last_purge_ms = now;
    return bytes;
}

static void maybe_purge_locked(void)
{
    uint64_t now = _hak_os_now_ms();
    uint64_t delay = (uint64_t)hak_opt(HAK_OPT_PURGE_DELAY_MS);
    if (now - last_purge_ms >= delay / 2 + 1)
        purge_locked(now, false);
}

static void slab_release_locked(hak_slab_t *s)
{
    hak_superslab_t *ss = _hak_ss_of_slab(s);
    __atomic_store_n(&s->owner, NULL, __ATOMIC_RELAXED);
    _hak_slab_publish_owner(s);
    uint64_t carved = __atomic_load_n(&s->ncarved, __ATOMIC_RELAXED);
    /* nothing carved: every free() into it is invalid */
    hak_slab_set_bump(s, s->start);
    __atomic_store_n(&s->state, HAK_SLAB_FREE, __ATOMIC_RELAXED);
    s->dirty = 1;
    dirty_push(s);
    uint64_t now = _hak_os_now_ms();
    s->freed_at_ms = (uint32_t)now;
    /* Every carved block is on the free list (used == 0): the list stays,
     * for the next slab request of this class while the pages are still
     * resident (_hak_ss_slab_acquire), which then carves nothing. A purge
     * or a reformat drops it. */
    if (s->free_count != carved) {
        s->free = NULL;
        s->free_count = 0;
    }
    atomic_store_explicit(&s->remote, HAK_RT_NORMAL, memory_order_relaxed);
    ss->nfree++;
    unsigned kind = kind_of_shift(ss->slab_shift);
    if (ss->nfree == ss->nslabs) {
        if (ss->on_partial) {
            list_remove(&partial[kind], ss);
            ss->on_partial = 0;
        }
        ss->empty_since_ms = now;
        list_push(&empty_cache, ss);
        empty_count++;
    } else if (!ss->on_partial) {
        list_push(&partial[kind], ss);
        ss->on_partial = 1;
    }
}

void _hak_ss_slab_release(hak_slab_t *s)
{
    hak_lock(&ss_lock);
    slab_release_locked(s);
    maybe_purge_locked();
    hak_unlock(&ss_lock);
}

static void abandoned_push(hak_slab_t *s)
{
    unsigned c = s->cls;
    s->oprev = NULL;
    s->onext = abandoned[c];
    if (abandoned[c])
        abandoned[c]->oprev = s;
    /* read without the lock as a hint: atomic stores */
    __atomic_store_n(&abandoned[c], s, __ATOMIC_RELAXED);
    __atomic_store_n(&abandoned_count, abandoned_count + 1, __ATOMIC_RELAXED);
}

static void abandoned_remove(hak_slab_t *s)
{
    unsigned c = s->cls;
    if (s->oprev)
        s->oprev->onext = s->onext;
    else
        __atomic_store_n(&abandoned[c], s->onext, __ATOMIC_RELAXED);
    if (s->onext)
        s->onext->oprev = s->oprev;
    s->onext = s->oprev = NULL;
    __atomic_store_n(&abandoned_count, abandoned_count - 1, __ATOMIC_RELAXED);
}

void _hak_ss_slab_abandon(hak_slab_t *s)
{
    hak_lock(&ss_lock);
    __atomic_store_n(&s->owner, NULL, __ATOMIC_RELEASE);
    _hak_slab_publish_owner(s);
    __atomic_store_n(&s->state, HAK_SLAB_DRAINING, __ATOMIC_RELAXED);
    s->in_warm = 0;
    s->in_owned = 0;
    s->wnext = s->wprev = NULL;
    abandoned_push(s);
    hak_unlock(&ss_lock);
}

/* The first of s's fast records and, in *n, their number (one per 64 KiB
 * page); NULL if another SuperSlab has the slot (no records). */
static hak_fastrec_t *slab_records(const hak_slab_t *s, unsigned *n)
{
    hak_superslab_t *ss = _hak_ss_of_slab(s);
    unsigned k = ss->slab_shift - 16u;
    *n = 1u << k;
    return ss->fr ? &ss->fr[(unsigned)s->index << k] : NULL;
}

void _hak_slab_publish_owner(hak_slab_t *s)
{
    unsigned n;
    hak_fastrec_t *fr = slab_records(s, &n);
    hak_heap_t *owner = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);
    for (unsigned i = 0; fr && i < n; i++)
        __atomic_store_n(&fr[i].owner, owner, __ATOMIC_RELEASE);
}

void _hak_slab_publish_ncarved(hak_slab_t *s)
{
    unsigned n;
    hak_fastrec_t *fr = slab_records(s, &n);
    uint64_t ncarved = __atomic_load_n(&s->ncarved, __ATOMIC_RELAXED);
    for (unsigned i = 0; fr && i < n; i++)
        __atomic_store_n(&fr[i].ncarved, ncarved, __ATOMIC_RELAXED);
}

void _hak_slab_publish(hak_slab_t *s)
{
    unsigned n;
    hak_fastrec_t *fr = slab_records(s, &n);
    hak_heap_t *owner = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);
    uint64_t ncarved = __atomic_load_n(&s->ncarved, __ATOMIC_RELAXED);
    for (unsigned i = 0; fr && i < n; i++) {
        hak_fastrec_t *f = &fr[i];
        /* a new owner is written last, a departing one first (only the
         * owner's own free() can pass the owner test anyway) */
        if (!owner)
            __atomic_store_n(&f->owner, NULL, __ATOMIC_RELAXED);
        f->tl_off = s->tl_off;
        f->start = s->start;
        f->inv = s->inv;
        f->rot = s->rot;
        f->slab = s;
        __atomic_store_n(&f->ncarved, ncarved, __ATOMIC_RELAXED);
        if (owner)
            __atomic_store_n(&f->owner, owner, __ATOMIC_RELEASE);
    }
}

uint32_t _hak_slab_take_chain(hak_slab_t *s, hak_block_t *b)
{
    uint32_t n = 0;
    /* the head stays in a register: stored through s at each step (the
     * prefetch's load may alias it), the walk cost 9-15 % on xmalloc-test */
    hak_block_t *head = s->free;
#ifdef HAK_RT_HINTS
    uint32_t bs = s->block_size;
#endif
    while (b) {
        hak_block_t *next = hak_next(b);
#ifdef HAK_RT_HINTS
        if (hak_rt_has_hint(bs, b))
            __builtin_prefetch(*hak_rt_hint(b), 1);
#endif
        hak_set_next(b, head);
        head = b;
        n++;
        b = next;
    }
    s->free = head;
    s->free_count += n;
    s->used -= n;
    return n;
}

uint32_t _hak_slab_collect_remote(hak_slab_t *s)
{
    uintptr_t old = atomic_load_explicit(&s->remote, memory_order_relaxed);
    if ((old & ~HAK_RT_MASK) == 0)
        return 0;
    while (!atomic_compare_exchange_weak_explicit(&s->remote, &old, old & HAK_RT_MASK,
                                                  memory_order_acquire, memory_order_relaxed)) {
    }
    return _hak_slab_take_chain(s, (hak_block_t *)(old & ~HAK_RT_MASK));
}

hak_slab_t *_hak_ss_slab_adopt(unsigned cls, struct hak_heap *heap)
{
    if (__atomic_load_n(&abandoned[cls], __ATOMIC_RELAXED) == NULL)
        return NULL;
    hak_lock(&ss_lock);
    hak_slab_t *s = abandoned[cls];
    if (s) {
        abandoned_remove(s);
        _hak_slab_collect_remote(s);
        /* ABANDONED -> NORMAL; freers pushing meanwhile keep their blocks */
        uintptr_t old = atomic_load_explicit(&s->remote, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&s->remote, &old, old & ~HAK_RT_MASK,
                                                      memory_order_acq_rel, memory_order_relaxed)) {
        }
        __atomic_store_n(&s->state, HAK_SLAB_HOT, __ATOMIC_RELAXED);
        __atomic_store_n(&s->owner, heap, __ATOMIC_RELEASE);
        _hak_slab_publish_owner(s);
    }
    hak_unlock(&ss_lock);
    return s;
}

static size_t reclaim_locked(void)
{
    size_t n = 0;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        hak_slab_t *s = abandoned[c];
        while (s) {
            hak_slab_t *next = s->onext;
            _hak_slab_collect_remote(s);
            if (s->used == 0) {
                abandoned_remove(s);
                slab_release_locked(s);
                n++;
            }
            s = next;
        }
    }
    __atomic_store_n(&last_reclaim_ms, _hak_os_now_ms(), __ATOMIC_RELAXED);
    return n;
}

size_t _hak_ss_reclaim_abandoned(void)
{
    if (__atomic_load_n(&abandoned_count, __ATOMIC_RELAXED) == 0)
        return 0;
    /* at most every 10 ms: a sweep walks every abandoned slab. Checked
     * before the lock too, so warm-pool misses in between take no lock. */
    if (_hak_os_now_ms() - __atomic_load_n(&last_reclaim_ms, __ATOMIC_RELAXED) < 10)
        return 0;
    hak_lock(&ss_lock);
    size_t n = 0;
    if (_hak_os_now_ms() - last_reclaim_ms >= 10)
        n = reclaim_locked();
    hak_unlock(&ss_lock);
    return n;
}

size_t _hak_ss_purge(bool force)
{
    hak_lock(&ss_lock);
    if (force)
        reclaim_locked();
    size_t n = purge_locked(_hak_os_now_ms(), force);
    hak_unlock(&ss_lock);
    return n;
}

void _hak_ss_counts(uint64_t *live, uint64_t *hot, uint64_t *draining, uint64_t *freed,
                    uint64_t *cached)
{
    hak_lock(&ss_lock);
    *live = ss_live;
    *hot = *draining = *freed = 0;
    for (size_t i = 0; i < ss_list_len; i++) {
        hak_superslab_t *ss = ss_list[i];
        for (unsigned j = 0; j < ss->nslabs; j++) {
            unsigned st = ss->slabs[j].state;
            *hot += st == HAK_SLAB_HOT;
            *draining += st == HAK_SLAB_DRAINING;
            *freed += st == HAK_SLAB_FREE;
        }
    }
    *cached = empty_count;
    hak_unlock(&ss_lock);
}

/* Calls fn on every slab of every mapped SuperSlab. For the fork child
 * handler only: the caller holds ss_lock (taken by the prepare handler) and
 * is the only thread. */
void _hak_ss_for_each_slab_locked(void (*fn)(hak_slab_t *s))
{
    for (size_t i = 0; i < ss_list_len; i++) {
        hak_superslab_t *ss = ss_list[i];
        for (unsigned j = 0; j < ss->nslabs; j++)
            fn(&ss->slabs[j]);
    }
}
