/*
 * os.c — the OS layer. The only file that calls mmap, munmap, mremap and
 * madvise. Everything that returns memory to the OS goes through the purge
 * batch: ranges are queued, adjacent ones merged, and issued together when
 * the batch is full or when the caller flushes it (at the end of a purge
 * pass), so freeing many slabs costs a few madvise calls, not one each.
 * Every call is counted.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static _Atomic(uint64_t) os_mmaps, os_munmaps, os_madvises, os_ranges, os_mapped, os_peak,
    os_purged;
static _Atomic(uintptr_t) map_hint;

static void note_mapped(int64_t delta)
{
    uint64_t now = atomic_fetch_add_explicit(&os_mapped, (uint64_t)delta, memory_order_relaxed) +
                   (uint64_t)delta;
    uint64_t peak = atomic_load_explicit(&os_peak, memory_order_relaxed);
    while (delta > 0 && now > peak &&
           !atomic_compare_exchange_weak_explicit(&os_peak, &peak, now, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static void *raw_map(void *hint, size_t size)
{
    atomic_fetch_add_explicit(&os_mmaps, 1, memory_order_relaxed);
    void *p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void raw_unmap(void *p, size_t size)
{
    if (size == 0)
        return;
    atomic_fetch_add_explicit(&os_munmaps, 1, memory_order_relaxed);
    munmap(p, size);
}

void *_hak_os_map_aligned(size_t size, size_t align)
{
    int saved = errno;
    if (size == 0 || size > HAK_MAX_REQUEST + HAK_SS_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    /* First try where the last aligned mapping ended: usually one call. */
    uintptr_t hint = atomic_load_explicit(&map_hint, memory_order_relaxed);
    if (hint) {
        void *p = raw_map((void *)hint, size);
        if (p && ((uintptr_t)p & (align - 1)) == 0) {
            atomic_store_explicit(&map_hint, hak_align_up((uintptr_t)p + size, align),
                                  memory_order_relaxed);
            note_mapped((int64_t)size);
            errno = saved;
            return p;
        }
        if (p)
            raw_unmap(p, size);
    }
    /* Over-map and trim to alignment. */
    size_t over = size + align - HAK_PAGE_SIZE;
    if (over < size) {
        errno = ENOMEM;
        return NULL;
    }
    char *raw = raw_map(NULL, over);
    if (!raw) {
        errno = ENOMEM;
        return NULL;
    }
    char *aligned = (char *)hak_align_up((uintptr_t)raw, align);
    size_t head = (size_t)(aligned - raw);
    size_t tail = over - head - size;
    raw_unmap(raw, head);
    raw_unmap(aligned + size, tail);
    atomic_store_explicit(&map_hint, hak_align_up((uintptr_t)aligned + size, align),
                          memory_order_relaxed);
    note_mapped((int64_t)size);
    errno = saved;
    return aligned;
}

static void purge_flush_overlapping(const void *p, size_t size);

/* Unmaps [p, p+size). A purge range still queued inside it is issued first,
 * while the memory is still ours: after munmap the kernel may hand the same
 * addresses to someone else (a thread stack), which a late MADV_DONTNEED
 * would wipe. */
void _hak_os_unmap(void *p, size_t size)
{
    int saved = errno;
    purge_flush_overlapping(p, size);
    raw_unmap(p, size);
    note_mapped(-(int64_t)size);
    errno = saved;
}

bool _hak_os_remap_inplace(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
    if (new_size == old_size)
        return true;
    if (new_size < old_size) {
        raw_unmap((char *)p + new_size, old_size - new_size);
        note_mapped(-(int64_t)(old_size - new_size));
        return true;
    }
    atomic_fetch_add_explicit(&os_mmaps, 1, memory_order_relaxed);
    void *q = mremap(p, old_size, new_size, 0);
    errno = saved;
    if (q == MAP_FAILED)
        return false;
    note_mapped((int64_t)(new_size - old_size));
    return true;
}

/* Moves the pages of [old, old+old_size) onto target, a mapping of
 * new_size bytes made by _hak_os_map_aligned (which it replaces): no copy,
 * no page faults for what was resident. false if that fails; then both
 * mappings are as they were. */
bool _hak_os_remap_onto(void *old, size_t old_size, void *target, size_t new_size)
{
    int saved = errno;
    purge_flush_overlapping(old, old_size);
    atomic_fetch_add_explicit(&os_mmaps, 1, memory_order_relaxed);
    void *r = mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    errno = saved;
    if (r == MAP_FAILED)
        return false;
    note_mapped(-(int64_t)old_size); /* the target was counted when mapped */
    return true;
}

/* ---- purge batching --------------------------------------------------- */
#define PURGE_BATCH_MAX 256
static hak_lock_t purge_lock = HAK_LOCK_INIT;
static struct {
    char *p;
    size_t n;
} purge_batch[PURGE_BATCH_MAX];
static unsigned purge_len;

static void purge_flush_locked(void)
{
    int saved = errno;
    for (unsigned i = 0; i < purge_len; i++) {
        atomic_fetch_add_explicit(&os_madvises, 1, memory_order_relaxed);
        if (madvise(purge_batch[i].p, purge_batch[i].n, MADV_DONTNEED) == 0)
            atomic_fetch_add_explicit(&os_purged, purge_batch[i].n, memory_order_relaxed);
    }
    purge_len = 0;
    errno = saved;
}

void _hak_os_purge_add(void *p, size_t size)
{
    if (size == 0)
        return;
    char *c = p;
    hak_lock(&purge_lock);
    atomic_fetch_add_explicit(&os_ranges, 1, memory_order_relaxed);
    /* merge with a queued neighbour */
    for (unsigned i = 0; i < purge_len; i++) {
        if (purge_batch[i].p + purge_batch[i].n == c) {
            purge_batch[i].n += size;
            hak_unlock(&purge_lock);
            return;
        }
        if (c + size == purge_batch[i].p) {
            purge_batch[i].p = c;
            purge_batch[i].n += size;
            hak_unlock(&purge_lock);
            return;
        }
    }
    unsigned limit = (unsigned)hak_opt(HAK_OPT_MADVISE_BATCH);
    if (limit == 0 || limit > PURGE_BATCH_MAX)
        limit = PURGE_BATCH_MAX;
    if (purge_len >= limit)
        purge_flush_locked();
    purge_batch[purge_len].p = c;
    purge_batch[purge_len].n = size;
    purge_len++;
    hak_unlock(&purge_lock);
}

static void purge_flush_overlapping(const void *p, size_t size)
{
    const char *lo = p, *hi = lo + size;
    hak_lock(&purge_lock);
    for (unsigned i = 0; i < purge_len; i++) {
        if (purge_batch[i].p < hi && purge_batch[i].p + purge_batch[i].n > lo) {
            purge_flush_locked();
            break;
        }
    }
    hak_unlock(&purge_lock);
}

void _hak_os_purge_flush(void)
{
    hak_lock(&purge_lock);
    purge_flush_locked();
    hak_unlock(&purge_lock);
}

/* ---- misc ------------------------------------------------------------- */
uint64_t _hak_os_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void _hak_os_counts(uint64_t *mmaps, uint64_t *munmaps, uint64_t *madvises, uint64_t *ranges,
                    uint64_t *mapped, uint64_t *peak, uint64_t *purged_bytes)
{
    *mmaps = atomic_load(&os_mmaps);
    *munmaps = atomic_load(&os_munmaps);
    *madvises = atomic_load(&os_madvises);
    *ranges = atomic_load(&os_ranges);
    *mapped = atomic_load(&os_mapped);
    *peak = atomic_load(&os_peak);
    *purged_bytes = atomic_load(&os_purged);
}

size_t _hak_os_rss_bytes(size_t *peak)
{
    int saved = errno;
    size_t rss = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[128];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            const char *s = buf;
            while (*s && *s != ' ')
                s++;
            while (*s == ' ')
                s++;
            while (*s >= '0' && *s <= '9')
                rss = rss * 10 + (size_t)(*s++ - '0');
            rss *= HAK_PAGE_SIZE;
        }
    }
    if (peak) {
        /* ru_maxrss lags: the kernel folds the current RSS into it only
         * now and then, so it can read below what statm just said */
        struct rusage ru;
        *peak = getrusage(RUSAGE_SELF, &ru) == 0 ? (size_t)ru.ru_maxrss * 1024u : 0;
        if (*peak < rss)
            *peak = rss;
    }
    errno = saved;
    return rss;
}

void _hak_os_write_fd(int fd, const char *s, size_t n)
{
    int saved = errno;
    /* A report to a pipe whose reader is gone must not kill the program:
     * SIGPIPE is blocked around the writes, and one they raise is taken
     * back before the mask is restored. A SIGPIPE that was already pending
     * (the program's own) is left as it was. */
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    bool masked = pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask) == 0;
    bool was_pending = masked && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    bool broken = false;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EPIPE)
            broken = true;
        if (w <= 0)
            break;
        s += w;
        n -= (size_t)w;
    }
    if (masked) {
        if (broken && !was_pending) {
            static const struct timespec now = {0, 0};
            while (sigtimedwait(&pipe_set, NULL, &now) < 0 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    }
    errno = saved;
}

/* ---- metadata arena: heaps and large-block records ---------------------- */
#define META_CHUNK ((size_t)64 * 1024)
static hak_lock_t meta_lock = HAK_LOCK_INIT;
static char *meta_cur, *meta_end;

void *_hak_meta_alloc(size_t size)
{
    size = hak_align_up(size, 64);
    hak_lock(&meta_lock);
    if (size > META_CHUNK / 2) {
        /* big (an arena's page map): a mapping of its own, so that what
         * is left of the current chunk still serves small requests */
        size_t n = hak_align_up(size, HAK_PAGE_SIZE);
        int saved = errno;
        char *p = raw_map(NULL, n);
        errno = saved;
        if (p)
            note_mapped((int64_t)n);
        hak_unlock(&meta_lock);
        return p;
    }
    if (meta_cur == NULL || (size_t)(meta_end - meta_cur) < size) {
        int saved = errno;
        char *p = raw_map(NULL, META_CHUNK);
        errno = saved;
        if (!p) {
            hak_unlock(&meta_lock);
            return NULL;
        }
        note_mapped((int64_t)META_CHUNK);
        meta_cur = p;
        meta_end = p + META_CHUNK;
    }
    void *r = meta_cur;
    meta_cur += size;
    hak_unlock(&meta_lock);
    return r;
}

/* ---- transparent huge pages -------------------------------------------- */
static int thp_system_always = -1;

static int read_thp_always(void)
{
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strstr(buf, "[always]") != NULL;
}

/* HAKMEM_THP=1 asks for huge pages on SuperSlabs; otherwise, where the
 * system would give them unasked (THP "always"), they are declined so that
 * touching one block does not make 2 MiB resident. */
void _hak_os_thp_advise(void *p, size_t size)
{
    int saved = errno;
    if (hak_opt(HAK_OPT_THP)) {
        atomic_fetch_add_explicit(&os_madvises, 1, memory_order_relaxed);
        madvise(p, size, MADV_HUGEPAGE);
    } else {
        if (thp_system_always < 0)
            thp_system_always = read_thp_always();
        if (thp_system_always) {
            atomic_fetch_add_explicit(&os_madvises, 1, memory_order_relaxed);
            madvise(p, size, MADV_NOHUGEPAGE);
        }
    }
    errno = saved;
}

/* fork: the purge batch and metadata arena locks (taken last). */
void _hak_os_lock(void)
{
    hak_lock(&meta_lock);
    hak_lock(&purge_lock);
}

void _hak_os_unlock(void)
{
    hak_unlock(&purge_lock);
    hak_unlock(&meta_lock);
}

void _hak_os_guard(void *p, size_t size)
{
    int saved = errno;
    mprotect(p, size, PROT_NONE);
    errno = saved;
}
