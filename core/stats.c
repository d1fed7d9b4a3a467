/*
 * stats.c — statistics. Per-thread counters (hak_tcounters_t, in each heap)
 * are plain increments guarded by one predictable branch on
 * hak_stats_enabled; a thread's counters are merged into `exited` when it
 * exits. OS counters are kept always (they are rare events). The report is
 * formatted into a static buffer and written with write(2): no allocation.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int hak_stats_enabled;
static hak_tcounters_t exited;
static hak_lock_t stats_lock = HAK_LOCK_INIT;  /* exited's counters; taken alone */
static hak_lock_t report_lock = HAK_LOCK_INIT; /* one report at a time; taken first */
static _Atomic(uint64_t) invalid_frees;
static _Atomic(uint64_t) next_interval_ms;
static _Atomic(int64_t) class_live[HAK_NUM_CLASSES + 1];
static _Atomic(int64_t) class_peak[HAK_NUM_CLASSES + 1];

void _hak_stats_live_add(unsigned cls, int64_t bytes)
{
    int64_t now = atomic_fetch_add_explicit(&class_live[cls], bytes, memory_order_relaxed) + bytes;
    if (bytes <= 0)
        return;
    int64_t peak = atomic_load_explicit(&class_peak[cls], memory_order_relaxed);
    while (now > peak && !atomic_compare_exchange_weak_explicit(&class_peak[cls], &peak, now,
                                                                memory_order_relaxed,
                                                                memory_order_relaxed)) {
    }
}

void _hak_stats_report_lock(void) { hak_lock(&report_lock); }
void _hak_stats_report_unlock(void) { hak_unlock(&report_lock); }
void _hak_stats_lock(void) { hak_lock(&stats_lock); }
void _hak_stats_unlock(void) { hak_unlock(&stats_lock); }

void _hak_stats_merge_exited(const hak_tcounters_t *c)
{
    hak_lock(&stats_lock);
    const uint64_t *src = (const uint64_t *)c;
    uint64_t *dst = (uint64_t *)&exited;
    for (size_t i = 0; i < sizeof(hak_tcounters_t) / sizeof(uint64_t); i++)
        dst[i] += src[i];
    hak_unlock(&stats_lock);
}

/* Counters of threads that have no heap (they only free, or only make
 * large allocations): kept here, with atomic adds. */
static hak_tcounters_t orphan;

void _hak_stats_count_orphan(size_t offset)
{
    __atomic_fetch_add((uint64_t *)((char *)&orphan + offset), 1, __ATOMIC_RELAXED);
}

void _hak_stats_note_invalid(void)
{
    atomic_fetch_add_explicit(&invalid_frees, 1, memory_order_relaxed);
}

static void totals(hak_tcounters_t *t)
{
    hak_lock(&stats_lock);
    *t = exited;
    hak_unlock(&stats_lock);
    /* (orphan counters are added with atomic read-modify-writes) */
    const uint64_t *o = (const uint64_t *)&orphan;
    uint64_t *dst = (uint64_t *)t;
    for (size_t i = 0; i < sizeof(hak_tcounters_t) / sizeof(uint64_t); i++)
        dst[i] += __atomic_load_n(&o[i], __ATOMIC_RELAXED);
    _hak_heap_sum_stats(t);
}

void _hak_stats_fill(hak_stats_t *out)
{
    memset(out, 0, sizeof *out);
    hak_tcounters_t t;
    totals(&t);
    out->malloc_calls = t.malloc_calls;
    out->free_calls = t.free_calls;
    out->tls_hits = t.tls_hits;
    out->refills = t.refills;
    out->warm_hits = t.warm_hits;
    out->warm_misses = t.warm_misses;
    out->remote_frees = t.remote_frees;
    out->large_allocs = t.large_allocs;
    int64_t live = 0;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
        live += atomic_load_explicit(&class_live[c], memory_order_relaxed);
    uint64_t ll, lb, lc, lcb;
    _hak_large_counts(&ll, &lb, &lc, &lcb);
    out->live_bytes = (live > 0 ? (uint64_t)live : 0) + lb;
    uint64_t ss_live, hot, dr, fr, cached;
    _hak_ss_counts(&ss_live, &hot, &dr, &fr, &cached);
    out->superslabs = ss_live;
    out->slabs_in_use = hot + dr;
    out->large_cache_hits = t.large_cache_hits;
    uint64_t purged;
    _hak_os_counts(&out->os_mmap, &out->os_munmap, &out->os_madvise, &out->os_madvise_ranges,
                   &out->os_mapped_bytes, &out->os_mapped_peak, &purged);
    out->invalid_frees = atomic_load(&invalid_frees);
}

/* ---- report ------------------------------------------------------------- */
static char report_buf[32768];

static void kv(hak_buf_t *b, bool json, bool *first, const char *key, uint64_t v)
{
    if (json) {
        _hak_buf_str(b, *first ? "\"" : ", \"");
        _hak_buf_str(b, key);
        _hak_buf_str(b, "\": ");
        _hak_buf_u64(b, v);
    } else {
        _hak_buf_str(b, "  ");
        _hak_buf_str(b, key);
        _hak_buf_pad(b, 28);
        _hak_buf_u64(b, v);
        _hak_buf_char(b, '\n');
    }
    *first = false;
}

static void section(hak_buf_t *b, bool json, bool *first_section, const char *name, bool *first)
{
    if (json) {
        _hak_buf_str(b, *first_section ? "\n  \"" : "},\n  \"");
        _hak_buf_str(b, name);
        _hak_buf_str(b, "\": {");
    } else {
        _hak_buf_str(b, name);
        _hak_buf_str(b, ":\n");
    }
    *first_section = false;
    *first = true;
}

static void format_report(hak_buf_t *b, bool json, bool all, bool warm, bool ssos)
{
    hak_tcounters_t t;
    totals(&t);
    uint64_t mm, mu, ma, mr, mapped, peak, purged;
    _hak_os_counts(&mm, &mu, &ma, &mr, &mapped, &peak, &purged);
    uint64_t ss_live, hot, dr, fr, cached;
    _hak_ss_counts(&ss_live, &hot, &dr, &fr, &cached);
    uint64_t ll, lb, lc, lcb;
    _hak_large_counts(&ll, &lb, &lc, &lcb);
    size_t rss_peak = 0, rss = _hak_os_rss_bytes(&rss_peak);
    uint64_t ops = t.malloc_calls + t.free_calls;
    bool fs = true, f;

    if (json)
        _hak_buf_str(b, "{\"hakmem\": {");
    else
        _hak_buf_str(b, "hakmem statistics\n");
    if (all) {
        section(b, json, &fs, "calls", &f);
        kv(b, json, &f, "malloc", t.malloc_calls);
        kv(b, json, &f, "free", t.free_calls);
        kv(b, json, &f, "tls_hits", t.tls_hits);
        kv(b, json, &f, "refills", t.refills);
        kv(b, json, &f, "flushes", t.flushes);
        kv(b, json, &f, "list_grows", t.list_grows);
        kv(b, json, &f, "remote_frees", t.remote_frees);
        kv(b, json, &f, "remote_collected", t.remote_collected);
        kv(b, json, &f, "large_allocs", t.large_allocs);
        kv(b, json, &f, "large_frees", t.large_frees);
        kv(b, json, &f, "large_cache_hits", t.large_cache_hits);
        kv(b, json, &f, "invalid_frees", atomic_load(&invalid_frees));
    }
    if (all || warm) {
        section(b, json, &fs, "warm_pool", &f);
        kv(b, json, &f, "hits", t.warm_hits);
        kv(b, json, &f, "misses", t.warm_misses);
        kv(b, json, &f, "adopted_slabs", t.adopted);
        kv(b, json, &f, "idle_slabs_taken", _hak_heap_idle_taken());
        kv(b, json, &f, "new_slabs", t.slabs_acquired);
        kv(b, json, &f, "new_superslabs", _hak_ss_mapped_total());
        if (!json) {
            _hak_buf_str(b, "  hit_rate_percent");
            _hak_buf_pad(b, 28);
            _hak_buf_fixed(b, t.warm_hits * 100, t.warm_hits + t.warm_misses, 1);
            _hak_buf_char(b, '\n');
        }
    }
    if (all || ssos) {
        section(b, json, &fs, "superslabs", &f);
        kv(b, json, &f, "mapped", ss_live);
        kv(b, json, &f, "empty_cached", cached);
        kv(b, json, &f, "slabs_hot", hot);
        kv(b, json, &f, "slabs_draining", dr);
        kv(b, json, &f, "slabs_free", fr);
        kv(b, json, &f, "large_live", ll);
        kv(b, json, &f, "large_live_bytes", lb);
        kv(b, json, &f, "large_cached", lc);
        kv(b, json, &f, "large_cached_bytes", lcb);
        section(b, json, &fs, "os", &f);
        kv(b, json, &f, "mmap", mm);
        kv(b, json, &f, "munmap", mu);
        kv(b, json, &f, "madvise", ma);
        kv(b, json, &f, "madvise_ranges", mr);
        kv(b, json, &f, "purged_bytes", purged);
        kv(b, json, &f, "mapped_bytes", mapped);
        kv(b, json, &f, "mapped_peak_bytes", peak);
        kv(b, json, &f, "rss_bytes", rss);
        kv(b, json, &f, "rss_peak_bytes", rss_peak);
        uint64_t sys = mm + mu + ma;
        if (json) {
            kv(b, json, &f, "syscalls_per_million_ops_x1000",
               ops ? (uint64_t)((unsigned __int128)sys * 1000000000u / ops) : 0);
        } else {
            _hak_buf_str(b, "  syscalls_per_million_ops");
            _hak_buf_pad(b, 28);
            _hak_buf_fixed(b, sys * 1000000u, ops, 3);
            _hak_buf_char(b, '\n');
        }
    }
    if (all) {
        if (json) {
            _hak_buf_str(b, "},\n  \"classes\": [");
        } else {
            _hak_buf_str(b, "size classes (with traffic):\n  class      size      allocs       frees  "
                            "live_bytes  peak_bytes\n");
        }
        bool fc = true;
        for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
            uint64_t a = t.class_allocs[c], fr2 = t.class_frees[c];
            if (!a && !fr2)
                continue;
            int64_t lv = atomic_load_explicit(&class_live[c], memory_order_relaxed);
            uint64_t live = lv > 0 ? (uint64_t)lv : 0;
            int64_t pk = atomic_load_explicit(&class_peak[c], memory_order_relaxed);
            uint64_t peakb = pk > 0 ? (uint64_t)pk : 0;
            if (json) {
                _hak_buf_str(b, fc ? "\n    {\"class\": " : ",\n    {\"class\": ");
                _hak_buf_u64(b, c);
                _hak_buf_str(b, ", \"size\": ");
                _hak_buf_u64(b, hak_class_size[c]);
                _hak_buf_str(b, ", \"allocs\": ");
                _hak_buf_u64(b, a);
                _hak_buf_str(b, ", \"frees\": ");
                _hak_buf_u64(b, fr2);
                _hak_buf_str(b, ", \"live_bytes\": ");
                _hak_buf_u64(b, live);
                _hak_buf_str(b, ", \"peak_bytes\": ");
                _hak_buf_u64(b, peakb);
                _hak_buf_str(b, "}");
            } else {
                _hak_buf_str(b, "  ");
                _hak_buf_pad(b, 7 - (c >= 10));
                _hak_buf_u64(b, c);
                _hak_buf_pad(b, 17);
                _hak_buf_u64(b, hak_class_size[c]);
                _hak_buf_pad(b, 29);
                _hak_buf_u64(b, a);
                _hak_buf_pad(b, 41);
                _hak_buf_u64(b, fr2);
                _hak_buf_pad(b, 53);
                _hak_buf_u64(b, live);
                _hak_buf_pad(b, 65);
                _hak_buf_u64(b, peakb);
                _hak_buf_char(b, '\n');
            }
            fc = false;
        }
        int64_t llv = atomic_load_explicit(&class_live[HAK_NUM_CLASSES], memory_order_relaxed);
        int64_t lpk = atomic_load_explicit(&class_peak[HAK_NUM_CLASSES], memory_order_relaxed);
        if (json) {
            _hak_buf_str(b, "],\n  \"large\": {\"allocs\": ");
            _hak_buf_u64(b, t.large_allocs);
            _hak_buf_str(b, ", \"frees\": ");
            _hak_buf_u64(b, t.large_frees);
            _hak_buf_str(b, ", \"live_bytes\": ");
            _hak_buf_u64(b, llv > 0 ? (uint64_t)llv : 0);
            _hak_buf_str(b, ", \"peak_bytes\": ");
            _hak_buf_u64(b, lpk > 0 ? (uint64_t)lpk : 0);
            _hak_buf_str(b, "}");
        } else if (t.large_allocs || t.large_frees) {
            _hak_buf_str(b, "  large");
            _hak_buf_pad(b, 29);
            _hak_buf_u64(b, t.large_allocs);
            _hak_buf_pad(b, 41);
            _hak_buf_u64(b, t.large_frees);
            _hak_buf_pad(b, 53);
            _hak_buf_u64(b, llv > 0 ? (uint64_t)llv : 0);
            _hak_buf_pad(b, 65);
            _hak_buf_u64(b, lpk > 0 ? (uint64_t)lpk : 0);
            _hak_buf_char(b, '\n');
        }
    } else if (json) {
        _hak_buf_str(b, "}");
    }
    if (json)
        _hak_buf_str(b, "\n}}\n");
    if (!all && !json && !warm && !ssos)
        b->len = 0;
}

/* Programs such as coreutils close stderr before exit handlers run; the
 * report then goes to a copy of stderr taken at start-up, used only while it
 * still is the same file. */
static int stderr_copy = -1;
static dev_t stderr_dev;
static ino_t stderr_ino;

void _hak_stats_keep_stderr(void)
{
    struct stat st;
    if (stderr_copy >= 0 || fstat(2, &st) != 0)
        return;
    stderr_copy = fcntl(2, F_DUPFD_CLOEXEC, 10);
    stderr_dev = st.st_dev;
    stderr_ino = st.st_ino;
}

static int stderr_fd(void)
{
    struct stat st;
    if (fcntl(2, F_GETFD) != -1 || stderr_copy < 0)
        return 2;
    if (fstat(stderr_copy, &st) == 0 && st.st_dev == stderr_dev && st.st_ino == stderr_ino)
        return stderr_copy;
    return 2;
}

static int open_stats_file(void)
{
    const char *pat = hak_opt_strings[HAK_OPT_STATS_FILE];
    if (!pat)
        return stderr_fd();
    char path[512];
    hak_buf_t b = {path, 0, sizeof path};
    for (const char *s = pat; *s; s++) {
        if (s[0] == '%' && s[1] == 'p') {
            _hak_buf_u64(&b, (uint64_t)getpid());
            s++;
        } else {
            _hak_buf_char(&b, *s);
        }
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        _hak_message("cannot open HAKMEM_STATS_FILE; writing statistics to stderr");
        return 2;
    }
    return fd;
}

static void emit(bool all, bool warm, bool ssos)
{
    hak_lock(&report_lock);
    hak_buf_t b = {report_buf, 0, sizeof report_buf};
    format_report(&b, hak_opt(HAK_OPT_STATS) == 2, all, warm, ssos);
    if (b.len) {
        int fd = open_stats_file();
        _hak_os_write_fd(fd, b.p, b.len);
        if (fd != 2 && fd != stderr_copy)
            close(fd);
    }
    hak_unlock(&report_lock);
}

void _hak_stats_report(void)
{
    bool all = hak_opt(HAK_OPT_STATS) != 0;
    bool warm = hak_opt(HAK_OPT_WARM_POOL_STATS) != 0;
    bool ssos = hak_opt(HAK_OPT_SS_OS_STATS) != 0;
    if (all || warm || ssos)
        emit(all, warm, ssos);
}

HAK_API void hak_stats_print(void)
{
    hak_ensure_init();
    emit(true, false, false);
}

void _hak_stats_maybe_interval(void)
{
    long long iv = hak_opt(HAK_OPT_STATS_INTERVAL_MS);
    if (iv <= 0)
        return;
    uint64_t now = _hak_os_now_ms();
    uint64_t next = atomic_load_explicit(&next_interval_ms, memory_order_relaxed);
    if (next == 0) {
        atomic_compare_exchange_strong(&next_interval_ms, &next, now + (uint64_t)iv);
        return;
    }
    if (now < next ||
        !atomic_compare_exchange_strong(&next_interval_ms, &next, now + (uint64_t)iv))
        return;
    emit(true, false, false);
}

HAK_API int hak_stats_get(hak_stats_t *out)
{
    if (!out)
        return -1;
    hak_ensure_init();
    _hak_stats_fill(out);
    return 0;
}
