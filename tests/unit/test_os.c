/*
 * test_os.c — the OS layer: aligned mappings, the purge batch (merging of
 * adjacent ranges, one madvise per merged range, the batch limit), purged
 * pages reading as zero, in-place remapping, the metadata arena, counters.
 *
 * Nothing else in this program allocates through hakmem, so the purge
 * batch holds only what the tests put in it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "unit.h"

#define PG HAK_PAGE_SIZE
#define MiB ((size_t)1 << 20)

typedef struct {
    uint64_t mmaps, munmaps, madvises, ranges, mapped, peak, purged;
} os_counts_t;

static os_counts_t counts(void)
{
    os_counts_t c;
    _hak_os_counts(&c.mmaps, &c.munmaps, &c.madvises, &c.ranges, &c.mapped, &c.peak, &c.purged);
    return c;
}

static int group_setup(void **state)
{
    (void)state;
    hak_ensure_init(); /* option defaults (the batch limit) */
    _hak_os_purge_flush();
    return 0;
}

static int restore_batch(void **state)
{
    (void)state;
    _hak_os_purge_flush();
    hak_opt_values[HAK_OPT_MADVISE_BATCH] = hak_options[HAK_OPT_MADVISE_BATCH].def;
    return 0;
}

static void test_map_aligned(void **state)
{
    (void)state;
    const struct {
        size_t size, align;
    } cases[] = {
        {2 * MiB, 2 * MiB},  {3 * PG, 2 * MiB},   {2 * MiB, 4 * MiB},   {6 * MiB, 8 * MiB},
        {MiB, 64 * MiB},     {10 * MiB, 2 * MiB}, {2 * MiB, 2 * MiB},   {PG, PG},
        {5 * PG, 64 * 1024}, {4 * MiB, 32 * MiB}, {2 * MiB, 256 * MiB},
    };
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            size_t size = cases[i].size, align = cases[i].align;
            os_counts_t a = counts();
            char *p = _hak_os_map_aligned(size, align);
            assert_non_null(p);
            if ((uintptr_t)p % align)
                fail_msg("_hak_os_map_aligned(%zu, %zu) = %p", size, align, (void *)p);
            os_counts_t b = counts();
            assert_int_equal(b.mapped, a.mapped + size);
            assert_true(b.mmaps > a.mmaps);
            assert_true(b.peak >= b.mapped);
            /* fresh pages read as zero and are writable to the end */
            assert_true(all_bytes(p, 64, 0));
            assert_true(all_bytes(p + size - 64, 64, 0));
            p[0] = 1;
            p[size - 1] = 2;
            _hak_os_unmap(p, size);
            os_counts_t c = counts();
            assert_int_equal(c.mapped, a.mapped);
            assert_true(c.munmaps > b.munmaps);
        }
    }
    /* impossible sizes */
    errno = 0;
    assert_null(_hak_os_map_aligned(0, 2 * MiB));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(_hak_os_map_aligned((size_t)1 << 62, 2 * MiB));
    assert_int_equal(errno, ENOMEM);
}

/* Two mappings in a row: distinct, both aligned (the hint path). */
static void test_map_aligned_consecutive(void **state)
{
    (void)state;
    char *v[16];
    for (int i = 0; i < 16; i++) {
        v[i] = _hak_os_map_aligned(2 * MiB, 2 * MiB);
        assert_non_null(v[i]);
        assert_int_equal((uintptr_t)v[i] % (2 * MiB), 0);
        memset(v[i], i + 1, PG);
    }
    unit_range_t r[16];
    for (int i = 0; i < 16; i++) {
        assert_true(all_bytes(v[i], PG, (unsigned char)(i + 1)));
        r[i].lo = (uintptr_t)v[i];
        r[i].hi = (uintptr_t)v[i] + 2 * MiB;
    }
    assert_int_equal(ranges_first_overlap(r, 16), -1);
    for (int i = 0; i < 16; i++)
        _hak_os_unmap(v[i], 2 * MiB);
}

/* Adjacent ranges queued one after the other (before, after) become one
 * range: a single madvise at the flush, and they read as zero. */
static void test_purge_merges_adjacent(void **state)
{
    (void)state;
    char *p = _hak_os_map_aligned(16 * PG, 2 * MiB);
    assert_non_null(p);
    memset(p, 0x5A, 16 * PG);
    os_counts_t a = counts();
    _hak_os_purge_add(p + 2 * PG, 2 * PG);  /* [2, 4) */
    _hak_os_purge_add(p + 4 * PG, 3 * PG);  /* [4, 7): appended */
    _hak_os_purge_add(p, 2 * PG);           /* [0, 2): prepended */
    _hak_os_purge_add(p + 7 * PG, PG);      /* [7, 8): appended */
    os_counts_t b = counts();
    assert_int_equal(b.madvises, a.madvises); /* nothing issued yet */
    assert_int_equal(b.ranges, a.ranges + 4);
    assert_true(all_bytes(p, 16 * PG, 0x5A)); /* still resident */
    _hak_os_purge_flush();
    os_counts_t c = counts();
    if (c.madvises != a.madvises + 1)
        fail_msg("4 adjacent ranges: %llu madvise calls at the flush, expected 1",
                 (unsigned long long)(c.madvises - a.madvises));
    assert_int_equal(c.purged, a.purged + 8 * PG);
    assert_true(all_bytes(p, 8 * PG, 0));
    assert_true(all_bytes(p + 8 * PG, 8 * PG, 0x5A));
    /* a flush with nothing queued issues nothing */
    _hak_os_purge_flush();
    assert_int_equal(counts().madvises, c.madvises);
    /* purged pages are usable again */
    memset(p, 0x77, 16 * PG);
    assert_true(all_bytes(p, 16 * PG, 0x77));
    _hak_os_unmap(p, 16 * PG);
}

/* Ranges that are not adjacent stay separate: one madvise each. */
static void test_purge_separate_ranges(void **state)
{
    (void)state;
    char *p = _hak_os_map_aligned(16 * PG, 2 * MiB);
    assert_non_null(p);
    memset(p, 0x6B, 16 * PG);
    os_counts_t a = counts();
    _hak_os_purge_add(p, PG);
    _hak_os_purge_add(p + 2 * PG, PG);
    _hak_os_purge_add(p + 4 * PG, 2 * PG);
    _hak_os_purge_add(p + 9 * PG, 0); /* empty: ignored */
    _hak_os_purge_flush();
    os_counts_t b = counts();
    assert_int_equal(b.madvises, a.madvises + 3);
    assert_int_equal(b.ranges, a.ranges + 3);
    for (int i = 0; i < 16; i++) {
        bool purged = i == 0 || i == 2 || i == 4 || i == 5;
        if (!all_bytes(p + (size_t)i * PG, PG, purged ? 0 : 0x6B))
            fail_msg("page %d: expected %s", i, purged ? "zeros" : "its contents");
    }
    _hak_os_unmap(p, 16 * PG);
}

/* HAKMEM_MADVISE_BATCH bounds the queue: adding a range to a full batch
 * issues the queued ones first. */
static void test_batch_limit(void **state)
{
    (void)state;
    hak_opt_values[HAK_OPT_MADVISE_BATCH] = 2;
    char *p = _hak_os_map_aligned(16 * PG, 2 * MiB);
    assert_non_null(p);
    memset(p, 0x42, 16 * PG);
    os_counts_t a = counts();
    _hak_os_purge_add(p, PG);
    _hak_os_purge_add(p + 2 * PG, PG);
    assert_int_equal(counts().madvises, a.madvises);
    assert_true(all_bytes(p, PG, 0x42));
    _hak_os_purge_add(p + 4 * PG, PG); /* batch full: the first two go out */
    os_counts_t b = counts();
    assert_int_equal(b.madvises, a.madvises + 2);
    assert_true(all_bytes(p, PG, 0));
    assert_true(all_bytes(p + 2 * PG, PG, 0));
    assert_true(all_bytes(p + 4 * PG, PG, 0x42)); /* still queued */
    /* merging into a queued range does not count against the limit */
    _hak_os_purge_add(p + 5 * PG, PG);
    assert_int_equal(counts().madvises, b.madvises);
    _hak_os_purge_flush();
    os_counts_t c = counts();
    assert_int_equal(c.madvises, b.madvises + 1);
    assert_true(all_bytes(p + 4 * PG, 2 * PG, 0));
    assert_true(all_bytes(p + 6 * PG, 10 * PG, 0x42));
    /* with a limit of 1 every new range flushes the previous one */
    hak_opt_values[HAK_OPT_MADVISE_BATCH] = 1;
    memset(p, 0x42, 16 * PG);
    os_counts_t d = counts();
    for (int i = 0; i < 8; i++)
        _hak_os_purge_add(p + (size_t)i * 2 * PG, PG);
    assert_int_equal(counts().madvises, d.madvises + 7);
    _hak_os_purge_flush();
    assert_int_equal(counts().madvises, d.madvises + 8);
    for (int i = 0; i < 16; i++)
        assert_true(all_bytes(p + (size_t)i * PG, PG, i % 2 ? 0x42 : 0));
    _hak_os_unmap(p, 16 * PG);
}

/* Shrinking in place gives the tail back; growing in place works when the
 * address space after the mapping is free. */
static void test_remap_inplace(void **state)
{
    (void)state;
    char *p = _hak_os_map_aligned(8 * MiB, 2 * MiB);
    assert_non_null(p);
    memset(p, 9, 8 * MiB);
    os_counts_t a = counts();
    assert_true(_hak_os_remap_inplace(p, 8 * MiB, 2 * MiB));
    os_counts_t b = counts();
    assert_int_equal(b.mapped, a.mapped - 6 * MiB);
    assert_true(all_bytes(p, 2 * MiB, 9));
    assert_true(_hak_os_remap_inplace(p, 2 * MiB, 2 * MiB));
    /* the tail just given back is free: growing into it succeeds */
    if (_hak_os_remap_inplace(p, 2 * MiB, 4 * MiB)) {
        assert_int_equal(counts().mapped, b.mapped + 2 * MiB);
        assert_true(all_bytes(p, 2 * MiB, 9));
        assert_true(all_bytes(p + 2 * MiB, 2 * MiB, 0));
        _hak_os_unmap(p, 4 * MiB);
    } else {
        _hak_os_unmap(p, 2 * MiB);
    }
    assert_int_equal(counts().mapped, a.mapped - 8 * MiB);
}

/* The metadata arena: zeroed, 64-byte aligned, distinct, counted. */
static void test_meta_alloc(void **state)
{
    (void)state;
    unit_range_t r[200];
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)1 + (size_t)(i * 977) % 5000;
        if (i == 199)
            n = 300 * 1024; /* bigger than an arena chunk */
        char *m = _hak_meta_alloc(n);
        assert_non_null(m);
        assert_int_equal((uintptr_t)m % 64, 0);
        assert_true(all_bytes(m, n, 0));
        memset(m, 0xA1, n);
        r[i].lo = (uintptr_t)m;
        r[i].hi = (uintptr_t)m + n;
    }
    assert_int_equal(ranges_first_overlap(r, 200), -1);
}

static void test_misc(void **state)
{
    (void)state;
    uint64_t t0 = _hak_os_now_ms();
    usleep(30000);
    uint64_t t1 = _hak_os_now_ms();
    assert_true(t1 >= t0 + 20);
    assert_true(t1 < t0 + 5000);
    size_t peak = 0;
    size_t rss = _hak_os_rss_bytes(&peak);
    assert_true(rss > 0);
    assert_true(peak > 0);
    /* the peak is never below the current figure, even right after fresh
     * pages came into use (the kernel's ru_maxrss lags behind them): each
     * round takes RSS to a new high */
    char *m = mmap(NULL, 40 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    for (int i = 0; i < 20; i++) {
        memset(m + i * 2 * MiB, 1, 2 * MiB);
        rss = _hak_os_rss_bytes(&peak);
        if (peak < rss)
            fail_msg("round %d: peak %zu below current %zu", i, peak, rss);
    }
    munmap(m, 40 * MiB);
    /* the OS layer keeps errno */
    errno = EDOM;
    char *p = _hak_os_map_aligned(2 * MiB, 2 * MiB);
    assert_int_equal(errno, EDOM);
    _hak_os_purge_add(p, PG);
    _hak_os_purge_flush();
    _hak_os_unmap(p, 2 * MiB);
    assert_int_equal(errno, EDOM);
}

/* In a child: write to a pipe whose read end is closed, with SIGPIPE at its
 * default action (unblocked), or blocked with one already pending when
 * program_pending. Exit status 0 if the write left the program alive, the
 * mask as it was, and a pending SIGPIPE exactly when the program had one. */
static void write_to_broken_pipe(bool program_pending)
{
    int fds[2];
    if (pipe(fds) != 0)
        _exit(10);
    close(fds[0]);
    signal(SIGPIPE, SIG_DFL);
    sigset_t set, mask, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (program_pending) {
        sigprocmask(SIG_BLOCK, &set, NULL);
        raise(SIGPIPE);
    } else {
        sigprocmask(SIG_UNBLOCK, &set, NULL);
    }
    errno = EDOM;
    _hak_os_write_fd(fds[1], "report\n", 7);
    if (errno != EDOM)
        _exit(11);
    sigprocmask(SIG_BLOCK, NULL, &mask);
    if (sigismember(&mask, SIGPIPE) != program_pending)
        _exit(12);
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) != program_pending)
        _exit(13);
    _exit(0);
}

static void test_write_to_broken_pipe(void **state)
{
    (void)state;
    for (int program_pending = 0; program_pending < 2; program_pending++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            write_to_broken_pipe(program_pending);
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (WIFSIGNALED(st))
            fail_msg("program_pending=%d: killed by signal %d", program_pending, WTERMSIG(st));
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_map_aligned),
    cmocka_unit_test(test_map_aligned_consecutive),
    cmocka_unit_test(test_purge_merges_adjacent),
    cmocka_unit_test(test_purge_separate_ranges),
    cmocka_unit_test_teardown(test_batch_limit, restore_batch),
    cmocka_unit_test(test_remap_inplace),
    cmocka_unit_test(test_meta_alloc),
    cmocka_unit_test(test_misc),
    cmocka_unit_test(test_write_to_broken_pipe),
};

UNIT_MAIN("os", tests, group_setup, NULL)
