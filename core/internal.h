/*
 * hakmem internal declarations: constants, data structures and their
 * invariants, and the functions each module offers the others.
 *
 * Layers, lowest first (a module only calls modules listed before it):
 *   util.c      allocation-free formatting, error reporting, locks
 *   options.c   the HAKMEM_* option table, read from environ without allocating
 *   stats.c     counters and the exit report
 *   os.c        the only file that calls mmap/munmap/madvise/mremap; purge batching
 *   registry.c  hashed registry: 2 MiB chunk -> SuperSlab, arena or large block
 *   superslab.c SuperSlabs carved into slabs; slab states; abandoned slabs
 *   large.c     blocks above the small limit: page spans in arenas, or mappings
 *   heap.c      per-thread heaps: TLS free lists, warm pool, remote frees
 *   alloc.c     the hak_* entry points (fast paths inline here)
 *   init.c      start-up, fork handlers, thread-exit hook, exit report
 *   override.c  the standard malloc names (only in the overriding build)
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef HAKMEM_INTERNAL_H
#define HAKMEM_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem.h"

/* ---------------------------------------------------------------------- */
/* Compiler helpers                                                        */
/* ---------------------------------------------------------------------- */
#define HAK_LIKELY(x) __builtin_expect(!!(x), 1)
#define HAK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HAK_FAST static inline __attribute__((always_inline))
#define HAK_SLOW __attribute__((noinline, cold))
#define HAK_HIDDEN __attribute__((visibility("hidden")))
#define HAK_TLS __thread __attribute__((tls_model("initial-exec")))
#define HAK_ALIGNED(n) __attribute__((aligned(n)))

/* Loads, on the fast paths, of a word that other threads may write (a
 * registry key, a slab's owner or carved count). An aligned word load is
 * atomic on every target hakmem runs on; as a plain load the compiler can
 * fold it into a compare. Every pointer that reaches free() was handed out
 * after what these words guard was published, through the program's own
 * synchronisation. Thread-sanitizer builds keep an atomic load, so that the
 * race stays visible to the tool as the benign one it is. */
#if defined(__SANITIZE_THREAD__)
#define HAK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HAK_TSAN 1
#endif
#endif
#ifdef HAK_TSAN
#define HAK_FAST_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#else
#define HAK_FAST_LOAD(p) (*(p))
#endif

/* ---------------------------------------------------------------------- */
/* Geometry                                                                */
/* ---------------------------------------------------------------------- */
#define HAK_PAGE_SIZE ((size_t)4096)
#define HAK_SS_SHIFT 21                          /* SuperSlab: 2 MiB ...     */
#define HAK_SS_SIZE ((size_t)1 << HAK_SS_SHIFT)  /* ... aligned to its size  */
#define HAK_SS_MASK (HAK_SS_SIZE - 1)
#define HAK_SS_HEADER_SIZE ((size_t)8192)        /* slab 0 starts after it   */
#define HAK_MAX_SLABS 32                         /* 64 KiB slabs             */

#define HAK_NUM_CLASSES 44
#define HAK_NO_CLASS 0xFFFFu /* hak_slab_t.cls of a slab never carved in its shape */
/* Largest size class. Above it, blocks are page spans of the large-block
 * arenas, where freed memory of any size serves any later request: sizes
 * from 64 KiB up, which programs churn through in buffers of varied sizes,
 * then reuse each other's pages instead of each class keeping its own. */
#define HAK_SMALL_MAX ((size_t)64 * 1024)
/* A buffer that realloc grows past this (and that fits no larger class it
 * is in) moves, while one thread allocates (realloc_spans() in alloc.c),
 * to a page span of the large-block arenas, like the blocks
 * above HAK_SMALL_MAX: growing buffers pass through many classes, and each
 * class would keep its own peak of them; spans share their pages, and a
 * span grows in place into the free span after it. */
#define HAK_REALLOC_SPAN_MIN ((size_t)8 * 1024)
#define HAK_MIN_ALIGN 16
/* Alignments up to this are served from size classes; above, by the large
 * path (its spans are 2 MiB aligned or more). */
#define HAK_SMALL_ALIGN_MAX ((size_t)4096)
/* The hardened build (HAK_HARDENED) keeps an 8-byte canary word after
 * every small block and guard pages around large blocks and SuperSlabs. */
#ifdef HAK_HARDENED
#define HAK_PAD ((size_t)8)
#define HAK_GUARD HAK_PAGE_SIZE
#else
#define HAK_PAD ((size_t)0)
#define HAK_GUARD ((size_t)0)
#endif

/* Requests above this fail with ENOMEM (like glibc, PTRDIFF_MAX). */
#define HAK_MAX_REQUEST ((size_t)PTRDIFF_MAX - HAK_SS_SIZE * 2)

/* ---------------------------------------------------------------------- */
/* Size classes (sizeclass in alloc.c/heap.c; table in superslab.c)        */
/* ---------------------------------------------------------------------- */
extern const uint32_t hak_class_size[HAK_NUM_CLASSES] HAK_HIDDEN;
extern const uint8_t hak_class_small[65] HAK_HIDDEN;     /* (n+15)>>4 -> class */
/* n -> class * sizeof(hak_tlist_t) for n <= 1024: the byte offset of the
 * class's TLS list in a heap, malloc's fast path's one table look-up */
extern const uint16_t hak_size_tl[1025] HAK_HIDDEN;
extern const uint8_t hak_class_slab_shift[HAK_NUM_CLASSES] HAK_HIDDEN;

/* Class of a request of n bytes, n <= HAK_SMALL_MAX. Classes: 16..128 in
 * steps of 16, then four per power of two (e.g. 160 192 224 256). */
HAK_FAST unsigned hak_size_class(size_t n)
{
    if (HAK_LIKELY(n <= 1024))
        return hak_class_small[(n + 15) >> 4];
    unsigned b = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
    return 4u * b - 20u + (unsigned)(((n - 1) >> (b - 2)) & 3u);
}

/* ---------------------------------------------------------------------- */
/* Blocks                                                                  */
/* ---------------------------------------------------------------------- */
/* A free block. next links it in whichever single list holds it (a TLS
 * list, a slab's local list, a slab's remote list); key == hak_block_key(b)
 * while it is free and 0 once handed out, which is how a second free of the
 * same block is recognised. Every class is at least 16 bytes. */
typedef struct hak_block {
    struct hak_block *next;
    uintptr_t key;
} hak_block_t;

/* A TLS free list of one class in a heap (see hak_heap_t). */
typedef struct hak_tlist {
    hak_block_t *head;
    int32_t room;
    uint32_t pad;
} hak_tlist_t;

extern uintptr_t hak_secret HAK_HIDDEN;
HAK_FAST uintptr_t hak_block_key(const void *b)
{
    return hak_secret ^ (uintptr_t)b;
}

/* Free-list links. In the hardened build a link is stored encoded with a
 * per-process secret and its own address, so a use-after-free write cannot
 * aim the list at memory of its choice; a decoded link that is not 16-byte
 * aligned is reported as corruption. */
#ifdef HAK_HARDENED
extern uintptr_t hak_link_secret HAK_HIDDEN;
HAK_HIDDEN void _hak_corrupt_list(const void *where) __attribute__((noreturn, cold));
HAK_FAST void hak_set_next(hak_block_t *b, hak_block_t *n)
{
    b->next = (hak_block_t *)((uintptr_t)n ^ hak_link_secret ^ ((uintptr_t)b >> 4));
}
/* hak_next (checked decoding) is defined after the registry, below. */
#else
HAK_FAST hak_block_t *hak_next(const hak_block_t *b) { return b->next; }
HAK_FAST void hak_set_next(hak_block_t *b, hak_block_t *n) { b->next = n; }
#endif

/* ---------------------------------------------------------------------- */
/* Slabs and SuperSlabs (superslab.c)                                      */
/* ---------------------------------------------------------------------- */
typedef enum {
    HAK_SLAB_UNUSED = 0, /* never carved since the SuperSlab was set up     */
    HAK_SLAB_HOT,        /* owned by a live thread's heap                   */
    HAK_SLAB_DRAINING,   /* its thread exited with blocks still live: no
                            owner; remote frees collect until adopted      */
    HAK_SLAB_FREE        /* no live block; may be purged and reused         */
} hak_slab_state_t;

/* Tag of hak_slab_t.remote (low bits; blocks are 16-byte aligned).
 * Transitions (O = owner, F = a remote freer, A = adopter/exiting owner;
 * R = a thread taking an idle heap's warm slabs, holding its `busy`):
 *   NORMAL -O-> FULL            owner takes the slab out of its warm pool
 *   FULL   -F-> NOTIFYING       first freer after that; it pushes the slab
 *                               on owner->pending, then:
 *   NOTIFYING -F-> NOTIFIED     the slab is in owner->pending
 *   NOTIFIED  -O-> NORMAL       owner drains pending, collects the list
 *   FULL      -O-> NORMAL       owner puts it back in the warm pool itself
 *   NORMAL/FULL/NOTIFIED -A-> ABANDONED (waits out NOTIFYING)
 *   NORMAL    -R-> ABANDONED    only NORMAL: a warm slab may be NOTIFYING
 *                               or NOTIFIED (re-warmed by a flush after a
 *                               freer's FULL -> NOTIFYING), on its way to
 *                               or on the pending stack: R leaves it
 *   ABANDONED -A-> NORMAL       adoption by another heap
 * Freers push in every state and keep the tag, except FULL -> NOTIFYING.
 * A slab may be released only with tag NORMAL (it is in no pending stack). */
#define HAK_RT_NORMAL 0u
#define HAK_RT_FULL 1u
#define HAK_RT_NOTIFYING 2u
#define HAK_RT_NOTIFIED 3u
#define HAK_RT_ABANDONED 4u
#define HAK_RT_MASK ((uintptr_t)7)

struct hak_heap;

/* Slab metadata, kept in the SuperSlab header (not in the slab's pages).
 * Invariants (owner thread's view, for a HOT slab):
 *   used + free_count + (end - bump) / block_size + |remote| == capacity
 *   blocks in TLS lists of the owner count as used.
 *   in_warm  <=> the slab is linked in owner->warm[cls]
 *   remote tag FULL only while !in_warm.
 * The first line holds what validation reads (free()'s fast path reads
 * the slab's fast records, hak_fastrec_t, instead). */
typedef struct hak_slab {
    /* --- read by validation (copied to the fast records) --- */
    struct hak_heap *owner;   /* HOT: owning heap; otherwise NULL          */
    char *start;              /* first block                               */
    uint64_t inv;             /* inverse of block_size's odd part mod 2^64 */
    uint64_t ncarved;         /* blocks carved from start (atomic, relaxed) */
    uint32_t block_size;
    uint16_t tl_off;          /* cls * sizeof(hak_tlist_t)                 */
    uint8_t rot;              /* trailing zero bits of block_size          */
    uint8_t state;            /* hak_slab_state_t                          */
    uint16_t cls;             /* FREE: class last carved, or HAK_NO_CLASS */
    uint8_t in_warm;
    uint8_t rf_limit;         /* blocks a remote freer gathers: hak_rf_limit */
    uint16_t rf_off;          /* offset of its class's hak_heap_t.rf slot  */
    /* --- owner only --- */
    hak_block_t *free;        /* local free list                           */
    uint32_t free_count;
    uint32_t used;
    char *end;                /* start + capacity * block_size             */
    struct hak_slab *wnext, *wprev;   /* owner->warm[cls]; FREE: dirty list */
    struct hak_slab *onext, *oprev;   /* owner->owned list / abandoned list */
    struct hak_slab *pnext;           /* owner->pending stack              */
    uint32_t freed_at_ms;             /* when it became FREE (purge delay) */
    uint8_t index;            /* slab number in its SuperSlab              */
    uint8_t dirty;            /* FREE and its pages not yet purged         */
    uint8_t in_owned;
    uint8_t pad0;
    /* --- shared --- */
    _Atomic(uintptr_t) remote;        /* remote-freed blocks | HAK_RT_ tag */
} hak_slab_t;

/* The lists linked through wnext/wprev (a heap's warm pool of a class; the
 * SuperSlab layer's FREE dirty slabs of a kind; a slab is on one at most):
 * s goes first on the list at *head, or leaves it. */
HAK_FAST void hak_wlist_push(hak_slab_t **head, hak_slab_t *s)
{
    s->wprev = NULL;
    s->wnext = *head;
    if (*head)
        (*head)->wprev = s;
    *head = s;
}

HAK_FAST void hak_wlist_remove(hak_slab_t **head, hak_slab_t *s)
{
    if (s->wprev)
        s->wprev->wnext = s->wnext;
    else
        *head = s->wnext;
    if (s->wnext)
        s->wnext->wprev = s->wprev;
    s->wnext = s->wprev = NULL;
}

/* free()'s copy of a slab's fields, one per 64 KiB page of a SuperSlab,
 * in one table (hak_fr_base) indexed by the page's address bits: free()
 * finds it from the address alone, with a shift, a mask and an add, and
 * reads one cache line. A slab of 2^k bytes has 2^(k-16) copies, all
 * written by _hak_slab_publish when the slab is acquired for a class;
 * after that only the carved count (carve, release:
 * _hak_slab_publish_ncarved) and the owner (release, abandon, adopt:
 * _hak_slab_publish_owner) change, each rewritten alone. Only the owner's
 * own free() can pass the owner test, so only the owner relies on the
 * copies; another thread's free() takes the record's slab only as the
 * slab to check p on (free_other), and checks p on the slab itself. The
 * owner of an idle heap may be in free() between its owner
 * test and its push while another thread gives the slab up (heap.c, "idle
 * heaps"): what it reads after the test stays the same, and the push goes
 * to the freeing thread's own list of the class (tl_off into its heap),
 * never to another heap's. */
typedef struct hak_fastrec {
    struct hak_heap *owner;   /* as hak_slab_t.owner                       */
    uintptr_t tl_off;         /* as hak_slab_t.tl_off                      */
    char *start;
    uint64_t inv;
    uint64_t ncarved;
    hak_slab_t *slab;         /* the slab itself                           */
    uint8_t rot;
    uint8_t pad[7];
    struct hak_superslab *ss; /* record 0 of a slot: the SuperSlab owning
                                 the slot (NULL: free)                    */
} hak_fastrec_t;

/* SuperSlab header, at the start of its 2 MiB region. All fields but the
 * slabs' remote lists are protected by hak_ss_lock, except that a slab's
 * fields belong to its owner while it is HOT. */
typedef struct hak_superslab {
    uint32_t magic;
    uint8_t slab_shift;        /* 16 (64 KiB), 19 (512 KiB) or 21 (2 MiB)   */
    uint8_t nslabs;            /* HAK_SS_SIZE >> slab_shift                 */
    uint8_t nfree;             /* slabs in state UNUSED or FREE             */
    uint8_t on_partial;
    struct hak_superslab *next, *prev; /* partial list of its shift, or empty cache */
    uint64_t empty_since_ms;
    hak_fastrec_t *fr;         /* its slot of free()'s records (by 64 KiB
                                  page), or NULL if another SuperSlab has
                                  the slot: then every free() of its blocks
                                  takes the slow path                       */
    uint64_t pad[3];           /* slab records start on a cache line        */
    hak_slab_t slabs[HAK_MAX_SLABS];
} hak_superslab_t;

#define HAK_SS_MAGIC 0x48414b53u /* "HAKS" */

_Static_assert(sizeof(hak_superslab_t) <= HAK_SS_HEADER_SIZE,
               "SuperSlab header must fit before slab 0");
_Static_assert(sizeof(hak_block_t) <= HAK_MIN_ALIGN, "block header too big");
_Static_assert(sizeof(hak_slab_t) == 128, "slab record must be 128 bytes: indexing is a shift");
_Static_assert(sizeof(hak_fastrec_t) == 64, "a fast record is one cache line, found by a shift and a mask");
_Static_assert(HAK_MAX_SLABS << 16 == HAK_SS_SIZE, "one fast record per 64 KiB page");
_Static_assert(__builtin_offsetof(hak_superslab_t, slabs) == 64,
               "slab records must start on a cache line: free() reads one line");

/* Slab of a pointer known to lie in ss. */
HAK_FAST hak_slab_t *hak_ss_slab_of(hak_superslab_t *ss, const void *p)
{
    return &ss->slabs[((uintptr_t)p - (uintptr_t)ss) >> ss->slab_shift];
}

/* End of the carved part of s (read by remote freers: atomic, relaxed). */
HAK_FAST char *hak_slab_bump(const hak_slab_t *s)
{
    return s->start + __atomic_load_n(&s->ncarved, __ATOMIC_RELAXED) * s->block_size;
}
/* Copies s's free() fields to its fast records (superslab.c). */
HAK_HIDDEN void _hak_slab_publish(hak_slab_t *s);
/* Rewrites only the owner in s's fast records (s's owner changed). */
HAK_HIDDEN void _hak_slab_publish_owner(hak_slab_t *s);
/* Rewrites only the carved count in s's fast records. */
HAK_HIDDEN void _hak_slab_publish_ncarved(hak_slab_t *s);
HAK_FAST void hak_slab_set_bump(hak_slab_t *s, const char *bump)
{
    __atomic_store_n(&s->ncarved, (uint64_t)(bump - s->start) / s->block_size, __ATOMIC_RELAXED);
    _hak_slab_publish_ncarved(s);
}

/* free()'s record table: HAK_FR_SLOTS slots of HAK_MAX_SLABS records, one
 * slot per 2 MiB chunk number modulo HAK_FR_SLOTS (64 GiB of address space
 * before two chunks share a slot), mapped at start-up (_hak_fr_setup; 64
 * MiB of address space, less under RLIMIT_AS; only the pages of used slots
 * become resident). A
 * SuperSlab takes its chunk's slot if it is free; one whose slot is taken
 * publishes no records, so its blocks take free()'s slow path. Any pointer
 * gives a record: of the SuperSlab holding the slot, or a zeroed one (no
 * owner). The block check (hak_fastrec_is_block) then decides whether p
 * really lies in that record's slab, so a pointer of another chunk, of a
 * large block or of no allocator at all fails it: no registry lookup is
 * needed on the fast path. hak_fr_mask is 0 and hak_fr_base a single zeroed
 * record until the table is mapped (or if it cannot be); the base is
 * written before the mask, once, at initialisation. */
#define HAK_FR_SLOTS_LOG 15
#define HAK_FR_SLOTS ((uintptr_t)1 << HAK_FR_SLOTS_LOG)
extern hak_fastrec_t *hak_fr_base HAK_HIDDEN;
extern uintptr_t hak_fr_mask HAK_HIDDEN;
HAK_HIDDEN void _hak_fr_setup(void);
/* The most slots (a power of two, at least 16; else 0) whose table takes at
 * most cap bytes: _hak_fr_setup's size under an address-space limit. */
HAK_HIDDEN uintptr_t _hak_fr_slots_within(size_t cap);

/* free()'s record for p (any address). */
HAK_FAST hak_fastrec_t *hak_fastrec_of(const void *p)
{
    return (hak_fastrec_t *)((char *)HAK_FAST_LOAD(&hak_fr_base) +
                             (((uintptr_t)p >> 10) & HAK_FAST_LOAD(&hak_fr_mask)));
}

/* True if p is the start of a block carved from s. With off = p - start
 * taken modulo 2^64 and block_size = o * 2^rot (o odd, inv = o^-1 mod
 * 2^64): off is a multiple of block_size iff ror(off * inv, rot) <=
 * (2^64 - 1) / block_size, and then ror(off * inv, rot) = off / block_size
 * (divisibility by multiplication with the modular inverse). Any other off,
 * including p below start, gives a value above that bound, which is above
 * ncarved too. So one multiply, one rotate and one compare decide. */
HAK_FAST bool hak_is_carved_block(const void *p, const char *start, uint64_t inv, unsigned rot,
                                   uint64_t ncarved)
{
    uint64_t x = ((uintptr_t)p - (uintptr_t)start) * inv;
    x = (x >> rot) | (x << ((64 - rot) & 63));
    return x < ncarved;
}
HAK_FAST bool hak_slab_is_block(const hak_slab_t *s, const void *p)
{
    return hak_is_carved_block(p, s->start, s->inv, s->rot, HAK_FAST_LOAD(&s->ncarved));
}

/* hak_slab_is_block, on p's fast record. */
HAK_FAST bool hak_fastrec_is_block(const hak_fastrec_t *f, const void *p)
{
    return hak_is_carved_block(p, f->start, f->inv, f->rot, HAK_FAST_LOAD(&f->ncarved));
}

/* Gives the n blocks first .. last (linked through next) back to their
 * slab's local free list in one splice (caller owns s). */
HAK_FAST void hak_slab_put(hak_slab_t *s, hak_block_t *first, hak_block_t *last, uint32_t n)
{
    hak_set_next(last, s->free);
    s->free = first;
    s->free_count += n;
    s->used -= n;
}

/* Prefetch hints on remote lists. A block pushed on a remote list keeps,
 * in its third word, the block HAK_RT_HINT_DIST places further down the
 * list (as the freer found it), so that the owner, walking a list whose
 * blocks another core wrote last, has that many misses in flight instead
 * of one. A hint is only ever prefetched, never followed: a stale or wrong
 * one costs a useless prefetch. Only blocks of HAK_RT_HINT_MIN bytes or
 * more whose third word shares the first word's cache line carry one
 * (smaller blocks share their lines with blocks the freer is still freeing:
 * prefetching those took the lines from under it, a quarter off an
 * xmalloc-test of 64-byte blocks); none in the hardened build (its links
 * are encoded) or under the thread sanitizer (the freer reads links the
 * owner may be rewriting). */
#if !defined(HAK_HARDENED) && !defined(HAK_TSAN)
#define HAK_RT_HINTS 1
#define HAK_RT_HINT_DIST 4
#define HAK_RT_HINT_MIN 128
HAK_FAST bool hak_rt_has_hint(uint32_t block_size, const void *b)
{
    return block_size >= HAK_RT_HINT_MIN && ((uintptr_t)b & 63) <= 40;
}
HAK_FAST void **hak_rt_hint(hak_block_t *b) { return (void **)b + 2; }
#endif

/* Moves a chain of blocks (a remote list) to s's local free list; returns
 * its length. Caller acts as s's owner. */
HAK_HIDDEN uint32_t _hak_slab_take_chain(hak_slab_t *s, hak_block_t *b);
/* Takes s's remote list (keeping its tag) into the local free list. */
HAK_HIDDEN uint32_t _hak_slab_collect_remote(hak_slab_t *s);

/* Slab of a block known to be in a SuperSlab. */
HAK_FAST hak_slab_t *hak_block_slab(const void *b)
{
    return hak_ss_slab_of((hak_superslab_t *)((uintptr_t)b & ~HAK_SS_MASK), b);
}

/* Takes a FREE/UNUSED slab of class cls, sets it up HOT for heap. NULL if
 * the OS refuses memory. */
HAK_HIDDEN hak_slab_t *_hak_ss_slab_acquire(unsigned cls, struct hak_heap *heap);
/* Gives back a slab with no live block (used == 0, lists empty). */
HAK_HIDDEN void _hak_ss_slab_release(hak_slab_t *s);
/* Puts a slab that still has live blocks on the abandoned list of its class. */
HAK_HIDDEN void _hak_ss_slab_abandon(hak_slab_t *s);
/* Takes an abandoned slab of class cls for heap (collects its remote list).
 * NULL if there is none. */
HAK_HIDDEN hak_slab_t *_hak_ss_slab_adopt(unsigned cls, struct hak_heap *heap);
/* Purges FREE slabs and cached SuperSlabs freed longer than the delay ago
 * (all of them when force). Returns bytes given back. */
HAK_HIDDEN size_t _hak_ss_purge(bool force);
/* Releases empty DRAINING slabs whose remote lists hold all their blocks. */
HAK_HIDDEN size_t _hak_ss_reclaim_abandoned(void);
HAK_HIDDEN hak_superslab_t *_hak_ss_of_slab(const hak_slab_t *s);
HAK_HIDDEN void _hak_ss_for_each_slab_locked(void (*fn)(hak_slab_t *s));
HAK_HIDDEN void _hak_ss_lock(void);
HAK_HIDDEN void _hak_ss_unlock(void);
HAK_HIDDEN void _hak_ss_counts(uint64_t *ss_live, uint64_t *slabs_hot, uint64_t *slabs_draining,
                               uint64_t *slabs_free, uint64_t *ss_cached);
/* SuperSlabs mapped since start-up (not reused from the empty cache). */
HAK_HIDDEN uint64_t _hak_ss_mapped_total(void);

/* ---------------------------------------------------------------------- */
/* Large blocks (large.c)                                                  */
/* ---------------------------------------------------------------------- */
struct hak_arena;

/* Record of a large block, or of a free span inside an arena (large.c). */
typedef struct hak_large {
    uint32_t magic;
    uint32_t state;            /* HAK_LARGE_LIVE / HAK_LARGE_CACHED (free)  */
    char *base;                /* start of the mapping (2 MiB aligned); in
                                  an arena: == user                        */
    size_t map_size;           /* bytes mapped (page multiple); in an
                                  arena: == span                           */
    char *user;                /* pointer handed out (== base, or after a
                                  guard page in the hardened build)        */
    size_t span;               /* bytes usable from user (page multiple)   */
    size_t size;               /* bytes requested                          */
    size_t align;              /* alignment of the mapping (>= 2 MiB)       */
    uint64_t cached_at_ms;
    uint8_t purged;            /* pages given back: they read as zero      */
    struct hak_arena *arena;   /* the arena the span lies in; NULL: a
                                  mapping of its own                       */
    struct hak_large *next, *prev; /* cache list, free-span bin, or meta
                                      free list                            */
    struct hak_large *dnext, *dprev; /* arena: list of dirty free spans    */
} hak_large_t;

#define HAK_LARGE_MAGIC 0x48414b4cu /* "HAKL" */
#define HAK_ARENA_MAGIC 0x48414b41u /* "HAKA" */
#define HAK_LARGE_LIVE 1u
#define HAK_LARGE_CACHED 2u

/* The record of the span (live or free) that holds p, given p's registry
 * value v (kind HAK_REG_LARGE); NULL if there is none (p lies in an arena
 * that is gone). The record's user is p only if p starts the span. */
HAK_HIDDEN hak_large_t *_hak_large_find(uintptr_t v, const void *p);
/* flags: HAK_LARGE_ZERO clears the block (unless its pages are fresh);
 * HAK_LARGE_SPAN takes an arena span or nothing (NULL, errno ENOMEM), never
 * a mapping of its own. *cache_hit (may be NULL) tells whether the block
 * came from the cache. */
#define HAK_LARGE_ZERO 1u
#define HAK_LARGE_SPAN 2u
HAK_HIDDEN void *_hak_large_alloc(size_t size, size_t align, unsigned flags, bool *cache_hit);
HAK_HIDDEN void _hak_large_free(hak_large_t *l);
HAK_HIDDEN void *_hak_large_realloc(hak_large_t *l, size_t size);
HAK_HIDDEN size_t _hak_large_purge(bool force);
HAK_HIDDEN void _hak_large_lock(void);
HAK_HIDDEN void _hak_large_unlock(void);
HAK_HIDDEN void _hak_large_counts(uint64_t *live, uint64_t *live_bytes, uint64_t *cached,
                                  uint64_t *cached_bytes);

/* ---------------------------------------------------------------------- */
/* Registry (registry.c): chunk number (address >> 21) -> owner object.    */
/* ---------------------------------------------------------------------- */
#define HAK_REG_SMALL 1u
#define HAK_REG_LARGE 2u
#define HAK_REG_BITS 18
#define HAK_REG_SIZE ((uintptr_t)1 << HAK_REG_BITS)
#define HAK_REG_EMPTY ((uintptr_t)0)
#define HAK_REG_TOMB ((uintptr_t)1)   /* no real key: chunk 0 is never ours */

/* Slot i holds key hak_reg_keys[i] and value hak_reg_vals[i] (object
 * pointer | kind). The key of a chunk at address base is
 *   base | HAK_SS_MASK   for a SuperSlab (the chunk's last byte address),
 *   base | 2             for a large block,
 * so that no key equals EMPTY (0) or TOMB (1) and a key tells its kind.
 * Keys and values are separate arrays: a probe reads 8-byte keys, 8 per
 * cache line. (free()'s fast path does not use the registry: see
 * hak_fastrec_of.) */
extern _Atomic(uintptr_t) hak_reg_keys[HAK_REG_SIZE] HAK_HIDDEN;
extern _Atomic(uintptr_t) hak_reg_vals[HAK_REG_SIZE] HAK_HIDDEN;
extern _Atomic(uintptr_t) hak_reg_max_probe HAK_HIDDEN;

/* Home slot of a chunk: its low bits. Neighbouring chunks get neighbouring
 * slots, so the table pages a process touches stay few; chunks that share a
 * home are 512 GiB apart and simply probe on. */
HAK_FAST uintptr_t hak_reg_home(uintptr_t chunk)
{
    return chunk & (HAK_REG_SIZE - 1);
}

/* Key of chunk number `chunk` registered with kind SMALL or LARGE. */
HAK_FAST uintptr_t hak_reg_key(uintptr_t chunk, uintptr_t kind)
{
    return (chunk << HAK_SS_SHIFT) | (kind == HAK_REG_SMALL ? HAK_SS_MASK : 2u);
}

/* Value (pointer | kind) registered for p's 2 MiB chunk, or 0. Lock-free;
 * at most hak_reg_max_probe + 1 slots are looked at. See registry.c. */
HAK_HIDDEN uintptr_t _hak_reg_lookup_slow(const void *p);
HAK_FAST uintptr_t hak_reg_lookup(const void *p)
{
    uintptr_t chunk = (uintptr_t)p >> HAK_SS_SHIFT;
    uintptr_t i = hak_reg_home(chunk);
    uintptr_t k = atomic_load_explicit(&hak_reg_keys[i], memory_order_acquire);
    if (HAK_LIKELY(k > HAK_REG_TOMB && (k >> HAK_SS_SHIFT) == chunk))
        return atomic_load_explicit(&hak_reg_vals[i], memory_order_relaxed);
    return _hak_reg_lookup_slow(p);
}

#ifdef HAK_HARDENED
/* Decodes a link; it must be 16-byte aligned and point into a registered
 * SuperSlab, or the list was written to after the block was freed. */
HAK_FAST hak_block_t *hak_next(const hak_block_t *b)
{
    uintptr_t v = (uintptr_t)b->next ^ hak_link_secret ^ ((uintptr_t)b >> 4);
    if (HAK_UNLIKELY((v & (HAK_MIN_ALIGN - 1)) ||
                     (v && !(hak_reg_lookup((const void *)v) & HAK_REG_SMALL))))
        _hak_corrupt_list(b);
    return (hak_block_t *)v;
}
#endif

HAK_HIDDEN bool _hak_reg_insert(const void *chunk_addr, uintptr_t value);
HAK_HIDDEN void _hak_reg_remove(const void *chunk_addr);
HAK_HIDDEN void _hak_reg_lock(void);
HAK_HIDDEN void _hak_reg_unlock(void);
HAK_HIDDEN size_t _hak_reg_capacity(void);

/* ---------------------------------------------------------------------- */
/* Heaps (heap.c)                                                          */
/* ---------------------------------------------------------------------- */
/* Per-thread counters; summed into the process totals (stats.c). */
#define HAK_THREAD_COUNTERS(X)  \
    X(malloc_calls)             \
    X(free_calls)               \
    X(tls_hits)                 \
    X(refills)                  \
    X(warm_hits)                \
    X(warm_misses)              \
    X(flushes)                  \
    X(list_grows)               \
    X(remote_frees)             \
    X(remote_collected)         \
    X(adopted)                  \
    X(slabs_acquired)           \
    X(large_allocs)             \
    X(large_frees)              \
    X(large_cache_hits)

typedef struct hak_tcounters {
#define HAK_X(n) uint64_t n;
    HAK_THREAD_COUNTERS(HAK_X)
#undef HAK_X
    uint64_t class_allocs[HAK_NUM_CLASSES];
    uint64_t class_frees[HAK_NUM_CLASSES];
} hak_tcounters_t;

/* Frees of other threads' blocks that a thread gathers before pushing
 * them on their slab's remote list: a chain of blocks of one slab in each
 * of HAK_RF_SLOTS slots (chosen by size class), at most HAK_RF_MAX blocks
 * and HAK_RF_BYTES bytes (blocks over half that are pushed at once). */
#define HAK_RF_SLOTS 32
#define HAK_RF_MAX 32
#define HAK_RF_BYTES 16384
typedef struct {
    hak_slab_t *slab;
    hak_block_t *head, *tail;
    uint32_t n;
} hak_rfchain_t;

/* A thread's heap. The TLS free list of class c is tl[c].head, with
 * tl[c].room = tl_max[c] - (blocks in it): a free that takes the room
 * below 0 flushes (head and room share a cache line); the warm pool is warm[c], the owned slabs of class c with
 * blocks to give. Only the owning thread touches it, except `pending`
 * (remote freers push slabs there), the stats read at report time, and
 * the slab lists (warm, owned, pending and the slabs on them): the owner
 * works on those in its slow paths, holding `busy`; another thread may
 * hold `busy` instead to take the warm slabs of a heap whose owner
 * stopped allocating (heap.c, "idle heaps"). */
typedef struct hak_heap {
    hak_tlist_t tl[HAK_NUM_CLASSES];  /* TLS list of each class (head, room) */
    hak_slab_t *warm[HAK_NUM_CLASSES];
    uint16_t warm_n[HAK_NUM_CLASSES];  /* slabs in warm[c]                    */
    uint32_t tl_max[HAK_NUM_CLASSES];  /* bound of tl[c]: hak_tcache_max[c],
                                          raised by _hak_heap_flush        */
    uint8_t tl_dry[HAK_NUM_CLASSES];   /* tl[c] ran dry since its last flush */
    uint64_t tl_grow_left;             /* bytes the bounds may still grow by */
    hak_slab_t *owned;                 /* every slab this heap owns          */
    _Atomic(hak_slab_t *) pending;     /* slabs with remote frees to collect */
    /* this thread's frees of other threads' blocks, gathered by slab and
     * pushed on its remote list in one go (see _hak_heap_free_remote) */
    hak_rfchain_t rf[HAK_RF_SLOTS];
    uint32_t rf_mask;                  /* slots with a chain                */
    struct hak_heap *next_all;         /* every heap ever made               */
    struct hak_heap *next_free;        /* pool of heaps of exited threads    */
    uint8_t live;
    uint64_t rng;                      /* hardened: carve order             */
    /* HAK_HEAP_OWNER while the owner is in a slow path that touches its
     * slab lists, HAK_HEAP_RECLAIMER while another thread takes its warm
     * slabs, 0 otherwise */
    _Atomic(uint32_t) busy;
    _Atomic(uint32_t) slow_seq;        /* owner's slow paths so far         */
    /* heap_lock: idle-heap bookkeeping of the reclaiming threads */
    uint32_t idle_seq;                 /* slow_seq at the last look         */
    uint32_t idle_wait_ms;             /* back-off while nothing is found   */
    uint64_t idle_next_ms;             /* not looked at again before        */
    hak_tcounters_t stats;
} hak_heap_t;
#define HAK_HEAP_OWNER 1u
#define HAK_HEAP_RECLAIMER 2u
_Static_assert(__builtin_offsetof(hak_heap_t, rf) + sizeof(hak_rfchain_t) * HAK_RF_SLOTS <= 0xffff,
               "hak_slab_t.rf_off is 16 bits");

extern hak_heap_t hak_empty_heap HAK_HIDDEN;
/* This thread's heap (hak_empty_heap until its first allocation), and the
 * heap the fast paths use: the same, except while statistics are on, when
 * it stays hak_empty_heap (all lists empty, owner of no slab), so every
 * malloc and free takes the counting slow path and the fast paths need no
 * statistics test. */
extern HAK_TLS hak_heap_t *hak_tls_heap HAK_HIDDEN;
extern HAK_TLS hak_heap_t *hak_tls_fast HAK_HIDDEN;
/* Heaps created since start-up, counted up to 2 (a second one means a
 * second thread has allocated). Written under heap_lock, read with relaxed
 * loads. */
extern int hak_heaps_made HAK_HIDDEN;
/* Points the calling thread's hak_tls_fast at its heap or at the empty one. */
HAK_HIDDEN void _hak_heap_set_fast(void);
/* Starting bound of each class's TLS list (HAKMEM_TCACHE_BYTES), and how
 * far a heap's bound may grow (see _hak_heap_flush). */
extern uint32_t hak_tcache_max[HAK_NUM_CLASSES] HAK_HIDDEN;
extern uint32_t hak_tcache_cap[HAK_NUM_CLASSES] HAK_HIDDEN;
/* Pops the head b of TLS list t (not empty): the block is handed out. */
HAK_FAST void *hak_tl_pop(hak_tlist_t *t, hak_block_t *b)
{
    t->head = hak_next(b);
    t->room++;
    b->key = 0;
    return b;
}

/* Pushes free block b (key: its free-block key) on TLS list t; true if
 * that took the list over its bound (the caller flushes). */
HAK_FAST bool hak_tl_push(hak_tlist_t *t, hak_block_t *b, uintptr_t key)
{
    hak_set_next(b, t->head);
    b->key = key;
    t->head = b;
    return --t->room < 0;
}

/* Blocks in h's TLS list of class c. */
HAK_FAST uint32_t hak_heap_count(const hak_heap_t *h, unsigned c)
{
    return (uint32_t)((int32_t)h->tl_max[c] - h->tl[c].room);
}

HAK_HIDDEN void *_hak_heap_refill_alloc(hak_heap_t *h, unsigned cls);
/* malloc's slow path for TLS list t of hak_tls_fast (alloc.c) */
HAK_HIDDEN void *_hak_malloc_refill_tl(hak_tlist_t *t) __attribute__((noinline, cold));

/* A block from TLS list t of hak_tls_fast, refilling it if it is empty. */
HAK_FAST void *hak_alloc_tl(hak_tlist_t *t)
{
    hak_block_t *b = t->head;
    if (HAK_UNLIKELY(b == NULL))
        return _hak_malloc_refill_tl(t);
    return hak_tl_pop(t, b);
}

/* malloc's fast path for a request of up to 1 KiB (not in the hardened
 * build, which adds its canary): the class's list found from one table of
 * offsets. */
HAK_FAST void *hak_alloc_upto_1k(size_t n)
{
    return hak_alloc_tl((hak_tlist_t *)((char *)hak_tls_fast->tl + hak_size_tl[n]));
}
HAK_HIDDEN void _hak_heap_flush(hak_heap_t *h, unsigned cls);
/* b (its free-block key written), a block of slab s of another thread,
 * is freed: gathered with others of s, pushed later (heap.c). */
HAK_HIDDEN void _hak_heap_free_remote(hak_slab_t *s, hak_block_t *b);
/* Blocks of each class a remote freer gathers in a chain (0 or 1: none),
 * copied into each slab of the class with the offset of its chain. */
extern uint8_t hak_rf_limit[HAK_NUM_CLASSES] HAK_HIDDEN;
/* hak_heap_free_remote when b does not simply join its slot's chain. */
HAK_HIDDEN void _hak_heap_free_remote_slow(hak_slab_t *s, hak_block_t *b);

/* Adds block b of slab s to chain c, which holds n blocks of s. */
HAK_FAST void hak_rf_append(hak_rfchain_t *c, hak_slab_t *s, hak_block_t *b, uint32_t n)
{
#ifdef HAK_RT_HINTS
    /* the block HAK_RT_HINT_DIST places further down, if the chain is that
     * long (the tail's hint is set when the chain is pushed) */
    _Static_assert(HAK_RT_HINT_DIST == 4, "the walk below takes three links");
    if (hak_rt_has_hint(s->block_size, b))
        *hak_rt_hint(b) = n >= HAK_RT_HINT_DIST ? hak_next(hak_next(hak_next(c->head))) : NULL;
#else
    (void)s;
#endif
    hak_set_next(b, c->head);
    c->head = b;
    c->n = n + 1;
}

/* _hak_heap_free_remote for h, the calling thread's heap: a block that
 * joins its slot's chain takes this leaf, inline in free(); anything
 * else (no heap yet, another slab's chain in the slot, a full chain)
 * goes to _hak_heap_free_remote_slow. */
HAK_FAST void hak_heap_free_remote(hak_heap_t *h, hak_slab_t *s, hak_block_t *b)
{
    hak_rfchain_t *c = (hak_rfchain_t *)((char *)h + s->rf_off);
    uint32_t n = c->n;
    /* (the empty heap's chains stay empty) */
    if (HAK_UNLIKELY(c->slab != s || n >= s->rf_limit)) {
        _hak_heap_free_remote_slow(s, b);
        return;
    }
    hak_rf_append(c, s, b, n);
}
/* The chain head .. tail of blocks of s goes on s's remote list now. */
HAK_HIDDEN void _hak_heap_push_remote(hak_slab_t *s, hak_block_t *head, hak_block_t *tail);
HAK_HIDDEN void _hak_heap_setup(void);
/* Puts h's TLS list bounds back to the starting ones (after malloc_trim,
 * or when the constructor re-read the options). */
HAK_HIDDEN void _hak_heap_reset_bounds(struct hak_heap *h);
/* Fork child: completes notifications cut short by the fork. */
HAK_HIDDEN void _hak_heap_after_fork_child(void);
HAK_HIDDEN void _hak_heap_lock(void);
HAK_HIDDEN void _hak_heap_unlock(void);
HAK_HIDDEN void _hak_heap_sum_stats(hak_tcounters_t *out);
HAK_HIDDEN void _hak_heap_collect_all(hak_heap_t *h);
/* Takes the warm slabs (released if empty, abandoned if not) of other
 * threads' heaps whose owners have not been in a slow path for a while;
 * at most every few ms. all: at once, and only the empty slabs, of every
 * other heap whose owner is not in a slow path right now. self: the
 * caller's heap, or hak_empty_heap. Returns the number of slabs taken. */
HAK_HIDDEN size_t _hak_heap_reclaim_idle(hak_heap_t *self, bool all);
/* Slabs taken from other heaps so far (_hak_heap_reclaim_idle). */
HAK_HIDDEN uint64_t _hak_heap_idle_taken(void);
HAK_HIDDEN uint64_t _hak_heap_cached_bytes(void);

/* ---------------------------------------------------------------------- */
/* OS layer (os.c)                                                         */
/* ---------------------------------------------------------------------- */
/* Maps size bytes (page multiple) aligned to align (power of two >= page).
 * NULL with errno ENOMEM on failure. */
HAK_HIDDEN void *_hak_os_map_aligned(size_t size, size_t align);
HAK_HIDDEN void _hak_os_unmap(void *p, size_t size);
/* Moves a mapping's pages onto target, a fresh mapping of new_size bytes
 * (mremap); false, nothing changed, on failure. */
HAK_HIDDEN bool _hak_os_remap_onto(void *old, size_t old_size, void *target, size_t new_size);
/* Grows or shrinks a mapping in place; true on success. */
HAK_HIDDEN bool _hak_os_remap_inplace(void *p, size_t old_size, size_t new_size);
/* Queues [p, p+size) to be given back to the OS; flushed as one batch. */
HAK_HIDDEN void _hak_os_purge_add(void *p, size_t size);
HAK_HIDDEN void _hak_os_purge_flush(void);
HAK_HIDDEN uint64_t _hak_os_now_ms(void);
HAK_HIDDEN void _hak_os_counts(uint64_t *mmaps, uint64_t *munmaps, uint64_t *madvises,
                               uint64_t *ranges, uint64_t *mapped, uint64_t *peak,
                               uint64_t *purged_bytes);
HAK_HIDDEN size_t _hak_os_rss_bytes(size_t *peak);
HAK_HIDDEN void _hak_os_write_fd(int fd, const char *s, size_t n);
HAK_HIDDEN void *_hak_meta_alloc(size_t size);  /* zeroed, never freed */
HAK_HIDDEN void _hak_os_thp_advise(void *p, size_t size);
HAK_HIDDEN void _hak_os_lock(void);
/* Makes [p, p+size) inaccessible (guard pages, hardened build). */
HAK_HIDDEN void _hak_os_guard(void *p, size_t size);
HAK_HIDDEN void _hak_os_unlock(void);

/* ---------------------------------------------------------------------- */
/* Options (options.c)                                                     */
/* ---------------------------------------------------------------------- */
typedef enum {
    HAK_OPT_STATS,            /* 0 off, 1 text, 2 json                      */
    HAK_OPT_STATS_FILE,
    HAK_OPT_STATS_INTERVAL_MS,
    HAK_OPT_ON_ERROR,         /* 0 abort, 1 warn                            */
    HAK_OPT_TCACHE_BYTES,     /* bytes a TLS list of one class starts with  */
    HAK_OPT_WARM_POOL,        /* empty slabs kept per class in a heap       */
    HAK_OPT_PURGE_DELAY_MS,
    HAK_OPT_MADVISE_BATCH,    /* ranges per purge batch                     */
    HAK_OPT_LARGE_CACHE,      /* bytes of freed large spans kept            */
    HAK_OPT_LARGE_CACHE_LIVE, /* ... or up to this % of live large bytes    */
    HAK_OPT_SS_CACHE,         /* empty SuperSlabs kept mapped               */
    HAK_OPT_THP,              /* transparent huge pages on SuperSlabs       */
    HAK_OPT_WARM_POOL_STATS,
    HAK_OPT_SS_OS_STATS,
    HAK_OPT_VERBOSE,
    HAK_OPT_ZERO_ON_FREE,     /* hardened build: clear blocks when freed    */
    HAK_OPT_COUNT
} hak_opt_id_t;

typedef enum { HAK_OT_BOOL, HAK_OT_INT, HAK_OT_SIZE, HAK_OT_ENUM, HAK_OT_STRING } hak_opt_type_t;

typedef struct hak_option {
    const char *name;          /* without the HAKMEM_ prefix                */
    hak_opt_type_t type;
    long long def, min, max;
    const char *enum_names;    /* "a|b|c" for HAK_OT_ENUM                   */
    const char *help;
} hak_option_t;

extern const hak_option_t hak_options[HAK_OPT_COUNT] HAK_HIDDEN;
extern long long hak_opt_values[HAK_OPT_COUNT] HAK_HIDDEN;
extern const char *hak_opt_strings[HAK_OPT_COUNT] HAK_HIDDEN;
HAK_HIDDEN void _hak_options_init(char **envp);
HAK_FAST long long hak_opt(hak_opt_id_t id) { return hak_opt_values[id]; }

/* ---------------------------------------------------------------------- */
/* Stats (stats.c)                                                         */
/* ---------------------------------------------------------------------- */
extern int hak_stats_enabled HAK_HIDDEN;
/* One more in a per-thread counter. Only its thread writes it, but reports
 * read it from other threads: relaxed atomic accesses, which compile to a
 * plain load and store. */
HAK_FAST void hak_count(uint64_t *c)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}
#define HAK_STAT(h, field) \
    do { if (HAK_UNLIKELY(hak_stats_enabled)) hak_count(&(h)->stats.field); } while (0)
HAK_HIDDEN void _hak_stats_report(void);
HAK_HIDDEN void _hak_stats_keep_stderr(void);
HAK_HIDDEN void _hak_stats_fill(hak_stats_t *out);
HAK_HIDDEN void _hak_stats_merge_exited(const hak_tcounters_t *c);
HAK_HIDDEN void _hak_stats_note_invalid(void);
/* Counts one event in a thread-less counter (offsetof(hak_tcounters_t, x)). */
HAK_HIDDEN void _hak_stats_count_orphan(size_t offset);
/* Counts event `field` on the calling thread's heap, or as an orphan. */
#define HAK_STAT_ANY(field)                                                    \
    do {                                                                       \
        if (hak_tls_heap != &hak_empty_heap)                                   \
            hak_count(&hak_tls_heap->stats.field);                             \
        else                                                                   \
            _hak_stats_count_orphan(__builtin_offsetof(hak_tcounters_t, field)); \
    } while (0)
HAK_HIDDEN void _hak_stats_maybe_interval(void);
/* The fork handlers' hold on the statistics locks: the report lock is
 * taken before every other lock of the library (a report takes them while
 * holding it), the counters' lock after all of them (it is held alone). */
HAK_HIDDEN void _hak_stats_report_lock(void);
HAK_HIDDEN void _hak_stats_report_unlock(void);
HAK_HIDDEN void _hak_stats_lock(void);
HAK_HIDDEN void _hak_stats_unlock(void);
/* Live bytes per size class (index HAK_NUM_CLASSES: large blocks), kept
 * exactly while statistics are on, with their peaks. */
HAK_HIDDEN void _hak_stats_live_add(unsigned cls, int64_t bytes);

/* ---------------------------------------------------------------------- */
/* Utilities (util.c)                                                      */
/* ---------------------------------------------------------------------- */
typedef struct hak_buf {
    char *p;
    size_t len, cap;
} hak_buf_t;
HAK_HIDDEN void _hak_buf_str(hak_buf_t *b, const char *s);
HAK_HIDDEN void _hak_buf_u64(hak_buf_t *b, uint64_t v);
HAK_HIDDEN void _hak_buf_i64(hak_buf_t *b, int64_t v);
HAK_HIDDEN void _hak_buf_hex(hak_buf_t *b, uint64_t v);
HAK_HIDDEN void _hak_buf_ptr(hak_buf_t *b, const void *p);
HAK_HIDDEN void _hak_buf_fixed(hak_buf_t *b, uint64_t num, uint64_t den, int decimals);
HAK_HIDDEN void _hak_buf_pad(hak_buf_t *b, size_t col);
HAK_HIDDEN void _hak_buf_char(hak_buf_t *b, char c);
/* Writes a line "hakmem: <msg>\n" to stderr without allocating. */
HAK_HIDDEN void _hak_message(const char *msg);
/* Reports a bad pointer passed to fn; aborts unless HAKMEM_ON_ERROR=warn. */
HAK_HIDDEN void _hak_report_bad_pointer(const char *fn, const void *p, const char *what,
                                        int cls, size_t size);
HAK_HIDDEN void _hak_fatal(const char *msg) __attribute__((noreturn));

/* A small spin lock that yields; process-private, fork-safe via handlers. */
typedef struct { _Atomic(int) v; } hak_lock_t;
#define HAK_LOCK_INIT { 0 }
HAK_HIDDEN void _hak_lock_slow(hak_lock_t *l);
HAK_FAST void hak_lock(hak_lock_t *l)
{
    int z = 0;
    if (HAK_LIKELY(atomic_compare_exchange_weak_explicit(&l->v, &z, 1, memory_order_acquire,
                                                         memory_order_relaxed)))
        return;
    _hak_lock_slow(l);
}
HAK_FAST void hak_unlock(hak_lock_t *l) { atomic_store_explicit(&l->v, 0, memory_order_release); }

/* ---------------------------------------------------------------------- */
/* Start-up (init.c)                                                       */
/* ---------------------------------------------------------------------- */
extern _Atomic(int) hak_init_state HAK_HIDDEN; /* 0 none, 1 running, 2 done */
HAK_HIDDEN void _hak_init_slow(void);
HAK_FAST void hak_ensure_init(void)
{
    if (HAK_UNLIKELY(atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2))
        _hak_init_slow();
}

HAK_FAST size_t hak_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

#endif /* HAKMEM_INTERNAL_H */
