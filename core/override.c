/*
 * override.c — the glibc extras that programs call: mallinfo, mallinfo2,
 * malloc_stats, malloc_info, mallopt. Only in the overriding build (the
 * standard allocation names are aliases at the end of alloc.c).
 *
 * Figures: "arena" is the memory mapped for SuperSlabs, "hblk*" the large
 * blocks, "uordblks" the bytes in live blocks (exact while HAKMEM_STATS is
 * on; otherwise estimated from the slabs in use), "fordblks" the rest of
 * what is mapped, "keepcost" the freed large blocks kept for reuse.
 * mallopt accepts glibc's parameters and ignores them (hakmem tunes itself
 * through HAKMEM_* variables), returning 1 as glibc does on success.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define HAK_EXPORT __attribute__((visibility("default")))

static struct mallinfo2 info2(void)
{
    hak_ensure_init();
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    uint64_t ss, hot, dr, fr, cached;
    _hak_ss_counts(&ss, &hot, &dr, &fr, &cached);
    uint64_t ll, lb, lc, lcb;
    _hak_large_counts(&ll, &lb, &lc, &lcb);
    hak_stats_t st;
    _hak_stats_fill(&st);
    size_t arena = (size_t)ss * HAK_SS_SIZE;
    size_t in_use;
    if (hak_stats_enabled) {
        in_use = (size_t)(st.live_bytes - lb);
    } else {
        /* slabs in use, less what threads hold in their free lists */
        uint64_t slab_bytes = (hot + dr) * (uint64_t)64 * 1024;
        uint64_t cachedb = _hak_heap_cached_bytes();
        in_use = slab_bytes > cachedb ? (size_t)(slab_bytes - cachedb) : 0;
    }
    if (in_use > arena)
        in_use = arena;
    mi.arena = arena;
    mi.ordblks = (size_t)fr + 1;
    mi.smblks = 0;
    mi.hblks = (size_t)ll;
    mi.hblkhd = (size_t)lb;
    mi.usmblks = 0;
    mi.fsmblks = (size_t)_hak_heap_cached_bytes();
    mi.uordblks = in_use;
    mi.fordblks = arena - in_use;
    mi.keepcost = (size_t)lcb;
    return mi;
}

HAK_EXPORT struct mallinfo2 mallinfo2(void) { return info2(); }

static int clamp_int(size_t v) { return v > 0x7fffffff ? 0x7fffffff : (int)v; }

HAK_EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = info2();
    struct mallinfo m;
    m.arena = clamp_int(m2.arena);
    m.ordblks = clamp_int(m2.ordblks);
    m.smblks = clamp_int(m2.smblks);
    m.hblks = clamp_int(m2.hblks);
    m.hblkhd = clamp_int(m2.hblkhd);
    m.usmblks = clamp_int(m2.usmblks);
    m.fsmblks = clamp_int(m2.fsmblks);
    m.uordblks = clamp_int(m2.uordblks);
    m.fordblks = clamp_int(m2.fordblks);
    m.keepcost = clamp_int(m2.keepcost);
    return m;
}

HAK_EXPORT void malloc_stats(void)
{
    struct mallinfo2 m = info2();
    uint64_t mm, mu, ma, mr, mapped, peak, purged;
    _hak_os_counts(&mm, &mu, &ma, &mr, &mapped, &peak, &purged);
    char buf[1024];
    hak_buf_t b = {buf, 0, sizeof buf};
    _hak_buf_str(&b, "Arena 0:\nsystem bytes     = ");
    _hak_buf_u64(&b, m.arena);
    _hak_buf_str(&b, "\nin use bytes     = ");
    _hak_buf_u64(&b, m.uordblks);
    _hak_buf_str(&b, "\nTotal (incl. mmap):\nsystem bytes     = ");
    _hak_buf_u64(&b, m.arena + m.hblkhd + m.keepcost);
    _hak_buf_str(&b, "\nin use bytes     = ");
    _hak_buf_u64(&b, m.uordblks + m.hblkhd);
    _hak_buf_str(&b, "\nmax mmap regions = ");
    _hak_buf_u64(&b, m.hblks);
    _hak_buf_str(&b, "\nmax mmap bytes   = ");
    _hak_buf_u64(&b, peak);
    _hak_buf_str(&b, "\n");
    _hak_os_write_fd(2, b.p, b.len);
}

HAK_EXPORT int malloc_info(int options, FILE *fp)
{
    if (options != 0 || fp == NULL) {
        errno = EINVAL;
        return -1;
    }
    struct mallinfo2 m = info2();
    uint64_t ss, hot, dr, fr, cached;
    _hak_ss_counts(&ss, &hot, &dr, &fr, &cached);
    fprintf(fp,
            "<malloc version=\"1\">\n"
            "<heap nr=\"0\">\n"
            "<sizes>\n</sizes>\n"
            "<total type=\"fast\" count=\"0\" size=\"%zu\"/>\n"
            "<total type=\"rest\" count=\"%llu\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n"
            "<system type=\"max\" size=\"%zu\"/>\n"
            "<aspace type=\"total\" size=\"%zu\"/>\n"
            "<aspace type=\"mprotect\" size=\"%zu\"/>\n"
            "</heap>\n"
            "<total type=\"fast\" count=\"0\" size=\"%zu\"/>\n"
            "<total type=\"rest\" count=\"%llu\" size=\"%zu\"/>\n"
            "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n"
            "<system type=\"max\" size=\"%zu\"/>\n"
            "<aspace type=\"total\" size=\"%zu\"/>\n"
            "<aspace type=\"mprotect\" size=\"%zu\"/>\n"
            "</malloc>\n",
            m.fsmblks, (unsigned long long)fr, m.fordblks, m.arena, m.arena, m.arena, m.arena,
            m.fsmblks, (unsigned long long)fr, m.fordblks, m.hblks, m.hblkhd,
            m.arena + m.hblkhd + m.keepcost, m.arena + m.hblkhd + m.keepcost,
            m.arena + m.hblkhd + m.keepcost, m.arena + m.hblkhd + m.keepcost);
    return 0;
}

HAK_EXPORT int mallopt(int param, int value)
{
    (void)value;
    switch (param) {
    case M_MXFAST:
    case M_TRIM_THRESHOLD:
    case M_TOP_PAD:
    case M_MMAP_THRESHOLD:
    case M_MMAP_MAX:
    case M_CHECK_ACTION:
    case M_PERTURB:
    case M_ARENA_TEST:
    case M_ARENA_MAX:
        return 1;
    default:
        return 0;
    }
}
