/*
 * A deliberately broken allocator for testing the benchmarks' own checks.
 *
 *   LD_PRELOAD=build/bench/libfaulty_malloc.so build/bench/random_mixed ...
 *
 * A thread-safe bump allocator over one 1 GiB region whose free() does
 * nothing. Every FAULTY_EVERY-th allocation (default 1000; 0 disables the
 * fault) hands out the previous block again, so two live blocks overlap.
 * Every benchmark must then stop with "VERIFY FAILED" instead of printing a
 * throughput. bench-smoke relies on this.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARENA_SIZE ((size_t)1 << 30)
#define HEADER 16u /* holds the block size; keeps 16-byte alignment */

static _Atomic(unsigned char *) g_arena;
static atomic_size_t g_next;
static atomic_uintptr_t g_last; /* most recent block handed out */
static atomic_ulong g_count;
static long g_every = -1;
static atomic_int g_pending; /* a fault is due at the next chance */

static unsigned char *arena(void)
{
    unsigned char *a = atomic_load(&g_arena);
    if (a)
        return a;
    void *m = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        abort();
    unsigned char *expected = NULL;
    if (!atomic_compare_exchange_strong(&g_arena, &expected, (unsigned char *)m)) {
        munmap(m, ARENA_SIZE);
        return expected;
    }
    return (unsigned char *)m;
}

static long every(void)
{
    if (g_every < 0) {
        const char *s = getenv("FAULTY_EVERY");
        g_every = s ? strtol(s, NULL, 10) : 1000;
    }
    return g_every;
}

static void *bump(size_t size, size_t align)
{
    if (size > ARENA_SIZE / 4)
        return NULL;
    if (align < 16)
        align = 16;
    unsigned char *a = arena();
    unsigned long n = atomic_fetch_add(&g_count, 1) + 1;
    long e = every();
    if (e > 0 && n % (unsigned long)e == 0)
        atomic_store(&g_pending, 1);
    if (align == 16 && atomic_load(&g_pending)) {
        uintptr_t last = atomic_load(&g_last);
        /* Hand the previous block out again if it is big enough. */
        if (last && ((size_t *)(last - HEADER))[0] >= size &&
            atomic_exchange(&g_pending, 0) == 1)
            return (void *)last;
    }
    size_t need = HEADER + size + align;
    size_t off = atomic_fetch_add(&g_next, need);
    if (off + need > ARENA_SIZE) { /* wrap around: also overlapping */
        atomic_store(&g_next, need);
        off = 0;
    }
    uintptr_t p = (uintptr_t)a + off + HEADER;
    p = (p + align - 1) & ~(uintptr_t)(align - 1);
    ((size_t *)(p - HEADER))[0] = size;
    atomic_store(&g_last, p);
    return (void *)p;
}

static size_t block_size(void *p)
{
    return ((size_t *)((uintptr_t)p - HEADER))[0];
}

void *malloc(size_t size)
{
    return bump(size, 16);
}

void free(void *p)
{
    (void)p;
}

void *calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = bump(n * size, 16);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *realloc(void *old, size_t size)
{
    void *p = bump(size, 16);
    if (p && old) {
        size_t keep = block_size(old);
        memmove(p, old, keep < size ? keep : size);
    }
    return p;
}

int posix_memalign(void **out, size_t align, size_t size)
{
    void *p = bump(size, align);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t size)
{
    return bump(size, align);
}

void *memalign(size_t align, size_t size)
{
    return bump(size, align);
}

void *valloc(size_t size)
{
    return bump(size, 4096);
}

void *pvalloc(size_t size)
{
    return bump((size + 4095) & ~(size_t)4095, 4096);
}

size_t malloc_usable_size(void *p)
{
    return p ? block_size(p) : 0;
}
