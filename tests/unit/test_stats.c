/*
 * test_stats.c — hak_stats_get: call counters only while statistics are on
 * (and then exact), OS counters always, counters of exited threads kept,
 * the printed report, a fork while another thread holds the statistics'
 * locks.
 *
 * SPDX-License-Identifier: MIT
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

/* Statistics on or off for this thread, as the options would set them (the
 * fast paths' heap view follows). */
static void set_stats(int on)
{
    hak_stats_enabled = on;
    _hak_heap_set_fast();
}

static int group_setup(void **state)
{
    (void)state;
    hak_ensure_init();
    set_stats(0);
    return 0;
}

static int stats_off(void **state)
{
    (void)state;
    set_stats(0);
    return 0;
}

static hak_stats_t get(void)
{
    hak_stats_t s;
    memset(&s, 0xFF, sizeof s);
    assert_int_equal(hak_stats_get(&s), 0);
    return s;
}

/* malloc/free traffic of every kind: n small blocks of mixed sizes, a few
 * callocs, a few large blocks. Returns the number of allocation calls (each
 * is freed: as many free calls). */
static uint64_t traffic(unsigned n)
{
    void **v = calloc(n, sizeof *v);
    assert_non_null(v);
    uint64_t calls = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t sz = (i % 3 == 0) ? 24 : (i % 3 == 1) ? 700 : 9000;
        if (i % 50 == 7)
            v[i] = hak_calloc(3, sz);
        else if (i % 100 == 13)
            v[i] = hak_malloc((1u << 20) + i);
        else
            v[i] = hak_malloc(sz);
        assert_non_null(v[i]);
        calls++;
    }
    for (unsigned i = 0; i < n; i++)
        hak_free(v[i]);
    hak_free(NULL); /* not a call that counts */
    free(v);
    return calls;
}

/* The counters that only statistics keep. */
#define CALL_COUNTERS(X) \
    X(malloc_calls) X(free_calls) X(tls_hits) X(refills) X(warm_hits) X(warm_misses) \
    X(remote_frees) X(large_allocs) X(large_cache_hits)

static void test_disabled_counters_stay_zero(void **state)
{
    (void)state;
    assert_int_equal(hak_stats_enabled, 0);
    hak_stats_t a = get();
    traffic(3000);
    hak_stats_t b = get();
#define CHECK_ZERO(f)                                                                   \
    if (a.f != 0 || b.f != 0)                                                           \
        fail_msg("statistics off, yet " #f " = %llu then %llu", (unsigned long long)a.f, \
                 (unsigned long long)b.f);
    CALL_COUNTERS(CHECK_ZERO)
#undef CHECK_ZERO
}

/* OS counters are kept with statistics off. */
static void test_os_counters_always(void **state)
{
    (void)state;
    assert_int_equal(hak_stats_enabled, 0);
    hak_stats_t a = get();
    /* bigger than half the large cache: mapped, then unmapped */
    size_t big = (size_t)hak_opt(HAK_OPT_LARGE_CACHE) / 2 + (8u << 20);
    char *p = hak_malloc(big);
    assert_non_null(p);
    p[0] = p[big - 1] = 1;
    hak_stats_t b = get();
    assert_true(b.os_mmap > a.os_mmap);
    assert_true(b.os_mapped_bytes >= a.os_mapped_bytes + big);
    assert_true(b.os_mapped_peak >= b.os_mapped_bytes);
    hak_free(p);
    hak_stats_t c = get();
    assert_true(c.os_munmap > b.os_munmap);
    assert_true(c.os_mapped_bytes + big <= b.os_mapped_bytes);
    assert_true(c.os_mapped_peak >= b.os_mapped_peak);
    /* a purge pass shows in the madvise counters */
    void *q = hak_malloc(5000);
    hak_free(q);
    hak_malloc_trim(0);
    hak_stats_t d = get();
    assert_true(d.os_madvise >= c.os_madvise);
    assert_true(d.os_madvise_ranges >= d.os_madvise || d.os_madvise == 0);
}

static void test_enabled_exact_counts(void **state)
{
    (void)state;
    set_stats(1);
    hak_stats_t a = get();
    uint64_t calls = traffic(5000);
    hak_stats_t b = get();
    assert_int_equal(b.malloc_calls - a.malloc_calls, calls);
    assert_int_equal(b.free_calls - a.free_calls, calls);
    assert_int_equal(b.large_allocs - a.large_allocs, 50);
    /* every small malloc is a TLS hit or went through a refill */
    uint64_t small = calls - 50;
    uint64_t hits = b.tls_hits - a.tls_hits, refills = b.refills - a.refills;
    /* each refill hands out exactly one block to its malloc */
    if (hits + refills != small)
        fail_msg("%llu small allocations: %llu TLS hits + %llu refills", (unsigned long long)small,
                 (unsigned long long)hits, (unsigned long long)refills);
    assert_int_equal(b.remote_frees, a.remote_frees);
    /* a malloc/free pair on a warm list is a TLS hit */
    hak_stats_t c = get();
    for (int i = 0; i < 1000; i++)
        hak_free(hak_malloc(24));
    hak_stats_t d = get();
    assert_int_equal(d.malloc_calls - c.malloc_calls, 1000);
    assert_int_equal(d.free_calls - c.free_calls, 1000);
    assert_int_equal(d.tls_hits - c.tls_hits, 1000);
    assert_int_equal(d.refills, c.refills);
    /* exactly one more */
    void *p = hak_malloc(33);
    hak_stats_t e = get();
    assert_int_equal(e.malloc_calls, d.malloc_calls + 1);
    hak_free(p);
    hak_stats_t f = get();
    assert_int_equal(f.free_calls, e.free_calls + 1);
    set_stats(0);
}

/* live_bytes follows the class size of live small blocks. */
static void test_live_bytes(void **state)
{
    (void)state;
    set_stats(1);
    hak_stats_t a = get();
    void *v[10];
    for (int i = 0; i < 10; i++)
        v[i] = hak_malloc(1000);
    hak_stats_t b = get();
    size_t cs = hak_class_size[hak_size_class(1000 + HAK_PAD)];
    assert_int_equal(b.live_bytes - a.live_bytes, 10 * cs);
    void *big = hak_malloc(3u << 20);
    hak_stats_t c = get();
    assert_true(c.live_bytes - b.live_bytes >= (3u << 20));
    hak_free(big);
    for (int i = 0; i < 10; i++)
        hak_free(v[i]);
    hak_stats_t d = get();
    assert_int_equal(d.live_bytes, a.live_bytes);
    set_stats(0);
}

/* A large allocation served from the cache counts as a cache hit. */
static void test_large_cache_hits(void **state)
{
    (void)state;
    set_stats(1);
    void *p = hak_malloc(5u << 20);
    assert_non_null(p);
    hak_free(p);
    hak_stats_t a = get();
    void *q = hak_malloc(5u << 20);
    assert_ptr_equal(q, p); /* from the cache */
    hak_stats_t b = get();
    hak_free(q);
    set_stats(0);
    assert_int_equal(b.large_allocs - a.large_allocs, 1);
    if (b.large_cache_hits - a.large_cache_hits != 1)
        fail_msg("large allocation served from the cache: large_cache_hits went from %llu to "
                 "%llu",
                 (unsigned long long)a.large_cache_hits, (unsigned long long)b.large_cache_hits);
}

/* ---- other threads ------------------------------------------------------ */
#define NBLK 200

static void *alloc_free_and_exit(void *arg)
{
    (void)arg;
    void *v[NBLK];
    for (int i = 0; i < NBLK; i++)
        v[i] = hak_malloc(64);
    for (int i = 0; i < NBLK; i++)
        hak_free(v[i]);
    return NULL;
}

/* A thread's counts survive its exit. */
static void test_exited_thread_counted(void **state)
{
    (void)state;
    set_stats(1);
    hak_stats_t a = get();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, alloc_free_and_exit, NULL), 0);
    pthread_join(t, NULL);
    hak_stats_t b = get();
    set_stats(0);
    assert_int_equal(b.malloc_calls - a.malloc_calls, NBLK);
    assert_int_equal(b.free_calls - a.free_calls, NBLK);
}

static void *free_all(void *arg)
{
    void **v = arg;
    for (int i = 0; i < NBLK; i++)
        hak_free(v[i]);
    return NULL;
}

/* A thread that only frees (its first call is free: it has no heap) still
 * has its frees counted, as remote frees. */
static void test_frees_by_thread_without_heap_counted(void **state)
{
    (void)state;
    set_stats(1);
    void *v[NBLK];
    for (int i = 0; i < NBLK; i++)
        v[i] = hak_malloc(48);
    hak_stats_t a = get();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_all, v), 0);
    pthread_join(t, NULL);
    hak_stats_t b = get();
    set_stats(0);
    if (b.free_calls - a.free_calls != NBLK || b.remote_frees - a.remote_frees != NBLK)
        fail_msg("a thread freed %d blocks of another: free_calls +%llu, remote_frees +%llu",
                 NBLK, (unsigned long long)(b.free_calls - a.free_calls),
                 (unsigned long long)(b.remote_frees - a.remote_frees));
}

static void *large_only(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        void *p = hak_malloc((2u << 20) + (size_t)i * 4096);
        hak_free(p);
    }
    return NULL;
}

/* A thread that only makes large allocations (it never gets a heap) has
 * its calls counted. */
static void test_large_calls_by_thread_without_heap_counted(void **state)
{
    (void)state;
    set_stats(1);
    hak_stats_t a = get();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, large_only, NULL), 0);
    pthread_join(t, NULL);
    hak_stats_t b = get();
    set_stats(0);
    if (b.malloc_calls - a.malloc_calls != 10 || b.free_calls - a.free_calls != 10 ||
        b.large_allocs - a.large_allocs != 10)
        fail_msg("10 large malloc/free pairs on a new thread: malloc_calls +%llu, free_calls "
                 "+%llu, large_allocs +%llu",
                 (unsigned long long)(b.malloc_calls - a.malloc_calls),
                 (unsigned long long)(b.free_calls - a.free_calls),
                 (unsigned long long)(b.large_allocs - a.large_allocs));
}

/* ---- report ------------------------------------------------------------- */
static char out[65536];

static void print_captured(void)
{
    unit_capture_t c;
    capture_begin(&c);
    hak_stats_print();
    capture_end(&c, out, sizeof out);
}

static void test_print_text(void **state)
{
    (void)state;
    set_stats(1);
    traffic(100);
    hak_stats_t s = get();
    print_captured();
    set_stats(0);
    assert_contains(out, "hakmem statistics");
    assert_contains(out, "malloc");
    assert_contains(out, "superslabs");
    char line[64];
    snprintf(line, sizeof line, "%llu\n", (unsigned long long)s.malloc_calls);
    assert_contains(out, line);
}

static void test_print_json(void **state)
{
    (void)state;
    long long saved = hak_opt_values[HAK_OPT_STATS];
    hak_opt_values[HAK_OPT_STATS] = 2;
    set_stats(1);
    traffic(100);
    hak_stats_t s = get();
    print_captured();
    set_stats(0);
    hak_opt_values[HAK_OPT_STATS] = saved;
    assert_true(strncmp(out, "{\"hakmem\": {", 12) == 0);
    /* balanced, and nothing after the closing brace but a newline */
    int depth = 0;
    bool in_str = false;
    size_t end = 0;
    for (size_t i = 0; out[i]; i++) {
        char ch = out[i];
        if (in_str) {
            if (ch == '"')
                in_str = false;
            continue;
        }
        if (ch == '"')
            in_str = true;
        else if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']') {
            depth--;
            assert_true(depth >= 0);
            if (depth == 0) {
                end = i;
                break;
            }
        }
    }
    assert_int_equal(depth, 0);
    assert_string_equal(out + end + 1, "\n");
    char kv[64];
    snprintf(kv, sizeof kv, "\"malloc\": %llu", (unsigned long long)s.malloc_calls);
    assert_contains(out, kv);
    assert_not_contains(out, ",}");
    assert_not_contains(out, ",]");
}

/* The report's large-block live bytes: after blocks resized in place by
 * realloc are freed, they are back where they started. */
static long long report_large_live(void)
{
    long long saved = hak_opt_values[HAK_OPT_STATS];
    hak_opt_values[HAK_OPT_STATS] = 2;
    print_captured();
    hak_opt_values[HAK_OPT_STATS] = saved;
    const char *l = strstr(out, "\"large\": {");
    if (!l)
        return -1;
    const char *v = strstr(l, "\"live_bytes\": ");
    return v ? atoll(v + strlen("\"live_bytes\": ")) : -1;
}

static void test_report_large_live_after_realloc(void **state)
{
    (void)state;
    set_stats(1);
    long long before = report_large_live();
    assert_true(before >= 0);
    /* shrinking in place (to a quarter: the tail is unmapped) */
    char *p = hak_malloc(8u << 20);
    assert_non_null(p);
    char *q = hak_realloc(p, 2u << 20);
    assert_ptr_equal(q, p);
    long long live = report_large_live();
    hak_free(q);
    long long after = report_large_live();
    set_stats(0);
    if (live != before + (2 << 20) || after != before)
        fail_msg("large live_bytes in the report: %lld before, %lld with a block of 8 MiB "
                 "shrunk to 2 MiB by realloc (expected %lld), %lld after freeing it",
                 before, live, before + (2 << 20), after);
}

static void test_get_null(void **state)
{
    (void)state;
    assert_int_equal(hak_stats_get(NULL), -1);
}

/* A thread holds one of the statistics' locks (as one inside mallinfo2 or
 * a report does) while another forks. The fork must wait for it: a child
 * that inherited the lock held would spin forever at its first statistics
 * call (hak_stats_get takes the counters' lock, hak_stats_print the
 * report's). */
static _Atomic int holder_state; /* 1: the lock is held */

static void *hold_lock(void *arg)
{
    int report = *(int *)arg;
    if (report)
        _hak_stats_report_lock();
    else
        _hak_stats_lock();
    atomic_store(&holder_state, 1);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the fork starts meanwhile */
    if (report)
        _hak_stats_report_unlock();
    else
        _hak_stats_unlock();
    return NULL;
}

static void test_fork_while_stats_locked(void **state)
{
    (void)state;
    for (int report = 0; report < 2; report++) {
        atomic_store(&holder_state, 0);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, hold_lock, &report), 0);
        while (atomic_load(&holder_state) != 1)
            sched_yield();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            hak_stats_t st;
            if (report) {
                int null = open("/dev/null", O_WRONLY);
                if (null >= 0)
                    dup2(null, 2);
                hak_stats_print();
            } else if (hak_stats_get(&st) != 0) {
                _exit(3);
            }
            _exit(0);
        }
        int st = 0;
        pid_t got = 0;
        for (int i = 0; i < 500 && got == 0; i++) { /* up to 5 s */
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            got = waitpid(pid, &st, WNOHANG);
        }
        if (got == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
        assert_int_equal(pthread_join(t, NULL), 0);
        if (got == 0)
            fail_msg("the child of a fork made while another thread held the %s lock "
                     "did not finish its statistics call in 5 s",
                     report ? "report" : "counters'");
        assert_int_equal(got, pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_disabled_counters_stay_zero),
    cmocka_unit_test(test_os_counters_always),
    cmocka_unit_test_teardown(test_enabled_exact_counts, stats_off),
    cmocka_unit_test_teardown(test_live_bytes, stats_off),
    cmocka_unit_test_teardown(test_large_cache_hits, stats_off),
    cmocka_unit_test_teardown(test_exited_thread_counted, stats_off),
    cmocka_unit_test_teardown(test_frees_by_thread_without_heap_counted, stats_off),
    cmocka_unit_test_teardown(test_large_calls_by_thread_without_heap_counted, stats_off),
    cmocka_unit_test_teardown(test_print_text, stats_off),
    cmocka_unit_test_teardown(test_print_json, stats_off),
    cmocka_unit_test_teardown(test_report_large_live_after_realloc, stats_off),
    cmocka_unit_test(test_get_null),
    cmocka_unit_test(test_fork_while_stats_locked),
};

UNIT_MAIN("stats", tests, group_setup, NULL)
