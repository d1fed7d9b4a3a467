/*
 * hakmem — a drop-in malloc replacement.
 *
 * Public API. The standard names (malloc, free, ...) are exported by
 * libhakmem.so / libhakmem.a and map onto the hak_-prefixed functions below;
 * call the hak_ names to use hakmem explicitly next to another allocator.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION_MAJOR 0
#define HAKMEM_VERSION_MINOR 1
#define HAKMEM_VERSION_PATCH 0

#if defined(__GNUC__)
#define HAK_API __attribute__((visibility("default")))
#define HAK_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define HAK_API
#define HAK_MALLOC_ATTR
#endif

HAK_API HAK_MALLOC_ATTR void *hak_malloc(size_t size);
HAK_API void hak_free(void *ptr);
HAK_API HAK_MALLOC_ATTR void *hak_calloc(size_t count, size_t size);
HAK_API void *hak_realloc(void *ptr, size_t size);
HAK_API void *hak_reallocarray(void *ptr, size_t count, size_t size);
HAK_API int hak_posix_memalign(void **out, size_t alignment, size_t size);
HAK_API HAK_MALLOC_ATTR void *hak_aligned_alloc(size_t alignment, size_t size);
HAK_API HAK_MALLOC_ATTR void *hak_memalign(size_t alignment, size_t size);
HAK_API HAK_MALLOC_ATTR void *hak_valloc(size_t size);
HAK_API HAK_MALLOC_ATTR void *hak_pvalloc(size_t size);
HAK_API size_t hak_malloc_usable_size(const void *ptr);
/* C23: the size (and alignment) must be those given at allocation. */
HAK_API void hak_free_sized(void *ptr, size_t size);
HAK_API void hak_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* Returns free memory to the OS. pad is ignored. 1 if memory was released. */
HAK_API int hak_malloc_trim(size_t pad);

/* Statistics snapshot (process-wide, merged over all threads that ran). */
typedef struct hak_stats {
    uint64_t malloc_calls;       /* allocations of any kind               */
    uint64_t free_calls;         /* frees of any kind (NULL excluded)     */
    uint64_t tls_hits;           /* malloc served from the TLS free list  */
    uint64_t refills;            /* TLS free list refills                 */
    uint64_t warm_hits;          /* refills served by the warm pool       */
    uint64_t warm_misses;        /* refills that needed a new slab        */
    uint64_t slabs_in_use;       /* slabs now owned by a thread or draining */
    uint64_t superslabs;         /* SuperSlabs mapped now                 */
    uint64_t remote_frees;       /* frees of blocks owned by another thread */
    uint64_t large_allocs;       /* allocations above the small limit     */
    uint64_t large_cache_hits;   /* large allocations served from cache   */
    uint64_t os_mmap;            /* mmap calls                            */
    uint64_t os_munmap;          /* munmap calls                          */
    uint64_t os_madvise;         /* madvise calls                         */
    uint64_t os_madvise_ranges;  /* ranges returned by those madvise calls */
    uint64_t os_mapped_bytes;    /* bytes currently mapped from the OS    */
    uint64_t os_mapped_peak;     /* peak of os_mapped_bytes               */
    uint64_t live_bytes;         /* bytes in live blocks: large blocks always,
                                    small ones (by class size) with stats on */
    uint64_t invalid_frees;      /* bad pointers reported                 */
} hak_stats_t;

/* Fills *out; returns 0 (-1 if out is NULL). The call counters
 * (malloc_calls .. large_cache_hits) are only kept while statistics are
 * enabled (HAKMEM_STATS and friends); otherwise they read 0. The other
 * fields are always filled. */
HAK_API int hak_stats_get(hak_stats_t *out);
/* Prints the human-readable statistics summary to stderr. */
HAK_API void hak_stats_print(void);
/* "MAJOR.MINOR.PATCH" */
HAK_API const char *hak_version(void);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_H */
