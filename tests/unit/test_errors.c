/*
 * test_errors.c — invalid frees in warn mode (HAKMEM_ON_ERROR=warn): each
 * is reported on stderr with the function, the kind of error and the
 * address, nothing is corrupted, later allocations stay distinct; free(NULL)
 * is silent; free keeps errno; abort mode aborts.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "unit.h"

#define MiB ((size_t)1 << 20)

static char err[8192];
static unit_capture_t cap;
#define CAPTURE(stmt)                         \
    do {                                      \
        capture_begin(&cap);                  \
        stmt;                                 \
        capture_end(&cap, err, sizeof err);   \
    } while (0)

static int group_setup(void **state)
{
    (void)state;
    hak_ensure_init();
    hak_opt_values[HAK_OPT_ON_ERROR] = 1;
    return 0;
}

static uint64_t invalid_count(void)
{
    hak_stats_t s;
    hak_stats_get(&s);
    return s.invalid_frees;
}

/* The report names the function, the error and the address. */
static void assert_report(const char *fn, const char *what, const void *p)
{
    char addr[32], call[64];
    fmt_addr(addr, sizeof addr, p);
    snprintf(call, sizeof call, "%s()", fn);
    assert_contains(err, "hakmem");
    assert_contains(err, call);
    assert_contains(err, what);
    assert_contains(err, addr);
    /* exactly one line */
    int lines = 0;
    for (const char *c = err; *c; c++)
        lines += *c == '\n';
    if (lines != 1)
        fail_msg("expected one report line, got:\n%s", err);
}

/* n blocks of each size: all distinct and keeping their contents. */
static void assert_heap_consistent(const size_t *sizes, size_t nsizes, size_t per)
{
    size_t n = nsizes * per;
    void **v = calloc(n, sizeof *v);
    unit_range_t *r = calloc(n, sizeof *r);
    assert_true(v && r);
    for (size_t i = 0; i < n; i++) {
        size_t sz = sizes[i % nsizes];
        v[i] = hak_malloc(sz);
        assert_non_null(v[i]);
        pattern_fill(v[i], sz, i);
        r[i].lo = (uintptr_t)v[i];
        r[i].hi = (uintptr_t)v[i] + sz;
    }
    for (size_t i = 0; i < n; i++)
        if (pattern_check(v[i], sizes[i % nsizes], i) != SIZE_MAX)
            fail_msg("block %p (%zu bytes) overwritten", v[i], sizes[i % nsizes]);
    long o = ranges_first_overlap(r, n);
    if (o >= 0)
        fail_msg("blocks at %#lx and %#lx overlap (a block handed out twice?)",
                 (unsigned long)r[o - 1].lo, (unsigned long)r[o].lo);
    for (size_t i = 0; i < n; i++)
        hak_free(v[i]);
    free(v);
    free(r);
}

static void test_double_free_small(void **state)
{
    (void)state;
    const size_t sizes[] = {16, 48, 200, 3000, 40000, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = hak_malloc(sizes[i]);
        assert_non_null(p);
        hak_free(p);
        uint64_t inv = invalid_count();
        CAPTURE(hak_free(p));
        assert_report("free", "double free", p);
        assert_int_equal(invalid_count(), inv + 1);
        /* the block is handed out once, not twice */
        void *a = hak_malloc(sizes[i]), *b = hak_malloc(sizes[i]);
        assert_true(a && b && a != b);
        hak_free(a);
        hak_free(b);
    }
    /* a block freed, flushed to its slab, then freed again */
    unsigned c = hak_size_class(64 + HAK_PAD);
    /* (more than the list's bound can grow to, so a flush must happen) */
    size_t k = hak_tcache_cap[c] + 2;
    void **v = calloc(k, sizeof *v);
    for (size_t i = 0; i < k; i++)
        v[i] = hak_malloc(64);
    for (size_t i = 0; i < k; i++)
        hak_free(v[i]); /* more than the list holds: a flush moves some to their slab */
    size_t on_slab = k;
    for (size_t i = 0; i < k && on_slab == k; i++) {
        hak_slab_t *s = slab_of_block(v[i]);
        for (hak_block_t *b = s->free; b; b = hak_next(b))
            if (b == v[i]) {
                on_slab = i;
                break;
            }
    }
    assert_true(on_slab < k);
    CAPTURE(hak_free(v[on_slab]));
    assert_report("free", "double free", v[on_slab]);
    free(v);
    const size_t check[] = {16, 48, 64, 200, 3000, 40000, 300000};
    assert_heap_consistent(check, sizeof check / sizeof check[0], 50);
}

/* A block another thread freed is caught when freed again: by that
 * thread while the block waits in its chain of remote frees, and by the
 * owner once the chain went to the slab (at the freer's exit). */
typedef struct {
    void *p;
    char err[sizeof err];
    uint64_t inv_before, inv_after;
} dfr_t;

static void *double_free_remote(void *arg)
{
    dfr_t *d = arg;
    hak_free(d->p);
    d->inv_before = invalid_count();
    CAPTURE(hak_free(d->p));
    d->inv_after = invalid_count();
    memcpy(d->err, err, sizeof err);
    return NULL;
}

static void test_double_free_remote(void **state)
{
    (void)state;
    const size_t sizes[] = {16, 64, 200, 3000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        dfr_t *d = calloc(1, sizeof *d);
        d->p = hak_malloc(sizes[i]);
        assert_non_null(d->p);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, double_free_remote, d), 0);
        pthread_join(t, NULL);
        memcpy(err, d->err, sizeof err);
        assert_report("free", "double free", d->p);
        assert_int_equal(d->inv_after, d->inv_before + 1);
        uint64_t inv = invalid_count();
        CAPTURE(hak_free(d->p));
        assert_report("free", "double free", d->p);
        assert_int_equal(invalid_count(), inv + 1);
        free(d);
    }
    const size_t check[] = {16, 64, 200, 3000};
    assert_heap_consistent(check, sizeof check / sizeof check[0], 50);
}

static void test_double_free_large(void **state)
{
    (void)state;
    /* cached on free: the second free finds it cached */
    void *p = hak_malloc(MiB);
    assert_non_null(p);
    hak_free(p);
    CAPTURE(hak_free(p));
    assert_report("free", "double free", p);
    void *a = hak_malloc(MiB), *b = hak_malloc(MiB);
    assert_true(a && b && a != b);
    hak_free(a);
    hak_free(b);
    /* too big to cache: unmapped on free, then unknown */
    size_t big = (size_t)hak_opt(HAK_OPT_LARGE_CACHE) / 2 + MiB;
    void *q = hak_malloc(big);
    assert_non_null(q);
    hak_free(q);
    CAPTURE(hak_free(q));
    assert_report("free", "invalid pointer", q);
    const size_t check[] = {MiB, 3 * MiB, 100};
    assert_heap_consistent(check, 3, 4);
}

static void test_free_stack_address(void **state)
{
    (void)state;
    char local[64];
    uint64_t inv = invalid_count();
    CAPTURE(hak_free(local + 16));
    assert_report("free", "invalid pointer", local + 16);
    assert_int_equal(invalid_count(), inv + 1);
    /* and static data, and a wild pointer */
    static char data[32];
    CAPTURE(hak_free(data));
    assert_report("free", "invalid pointer", data);
    CAPTURE(hak_free((void *)(uintptr_t)0x1000));
    assert_report("free", "invalid pointer", (void *)(uintptr_t)0x1000);
}

static void test_free_middle_of_block(void **state)
{
    (void)state;
    const size_t sizes[] = {32, 96, 1000, 7000, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = hak_malloc(sizes[i]);
        assert_non_null(p);
        memset(p, 0x99, sizes[i]);
        const size_t offs[] = {1, 8, 16, sizes[i] / 2 & ~(size_t)15, sizes[i] - 1};
        for (size_t j = 0; j < 5; j++) {
            if (offs[j] == 0)
                continue;
            CAPTURE(hak_free(p + offs[j]));
            assert_report("free", "invalid pointer", p + offs[j]);
        }
        assert_true(all_bytes(p, sizes[i], 0x99));
        /* the block itself is still live and frees silently */
        CAPTURE(hak_free(p));
        assert_string_equal(err, "");
    }
    char *l = hak_malloc(3 * MiB);
    assert_non_null(l);
    CAPTURE(hak_free(l + 4096));
    assert_report("free", "invalid pointer", l + 4096);
    CAPTURE(hak_free(l + 16));
    assert_report("free", "invalid pointer", l + 16);
    CAPTURE(hak_free(l));
    assert_string_equal(err, "");
    const size_t check[] = {32, 96, 1000, 7000, 100000};
    assert_heap_consistent(check, 5, 40);
}

/* A block-aligned address of a slab beyond what was carved, the slab's
 * tail after its last block, a slab never used, and the SuperSlab header. */
static void test_free_never_allocated(void **state)
{
    (void)state;
    char *p = hak_malloc(256);
    assert_non_null(p);
    hak_slab_t *s = slab_of_block(p);
    assert_non_null(s);
    uint32_t bs = s->block_size;
    unsigned c = s->cls;
    assert_true(hak_slab_bump(s) < s->end);
    char *beyond = s->end - bs; /* the last block: not carved yet */
    assert_true(beyond >= hak_slab_bump(s));
    uint32_t count = hak_heap_count(hak_tls_heap, c);
    char *bump = hak_slab_bump(s);
    CAPTURE(hak_free(beyond));
    assert_report("free", "invalid pointer", beyond);
    CAPTURE(hak_free(hak_slab_bump(s)));
    assert_report("free", "invalid pointer", bump);
    assert_ptr_equal(hak_slab_bump(s), bump);
    assert_int_equal(hak_heap_count(hak_tls_heap, c), count);
    /* past the last block, inside the slab */
    char *slab_end = (char *)_hak_ss_of_slab(s) + ((size_t)(s->index + 1) << _hak_ss_of_slab(s)->slab_shift);
    if (s->end < slab_end) {
        char *tail = s->end + ((size_t)(slab_end - s->end) & ~(size_t)15) - 16;
        if (tail >= s->end) {
            CAPTURE(hak_free(tail));
            assert_report("free", "invalid pointer", tail);
        }
    }
    /* the SuperSlab header (slab 0's slab record area and padding) */
    hak_superslab_t *ss = _hak_ss_of_slab(s);
    char *hdr = (char *)ss + HAK_SS_HEADER_SIZE - 16;
    CAPTURE(hak_free(hdr));
    assert_report("free", "invalid pointer", hdr);
    CAPTURE(hak_free(ss));
    assert_report("free", "invalid pointer", ss);
    assert_int_equal(ss->magic, HAK_SS_MAGIC);
    /* a slab of the SuperSlab that was never used */
    for (unsigned i = 0; i < ss->nslabs; i++) {
        hak_slab_t *u = &ss->slabs[i];
        if (u->state == HAK_SLAB_UNUSED || u->state == HAK_SLAB_FREE) {
            char *q = (char *)ss + ((size_t)i << ss->slab_shift) + (i == 0 ? HAK_SS_HEADER_SIZE : 0);
            CAPTURE(hak_free(q));
            assert_report("free", "invalid pointer", q);
            break;
        }
    }
    hak_free(p);
    const size_t check[] = {256, 16};
    assert_heap_consistent(check, 2, 200);
}

static void test_free_null_silent(void **state)
{
    (void)state;
    uint64_t inv = invalid_count();
    errno = EDOM;
    CAPTURE(hak_free(NULL));
    assert_string_equal(err, "");
    assert_int_equal(errno, EDOM);
    CAPTURE(hak_free_sized(NULL, 10); hak_free_aligned_sized(NULL, 64, 10));
    assert_string_equal(err, "");
    assert_int_equal(invalid_count(), inv);
}

/* free keeps errno on every path: fast, flush, large cached, large
 * unmapped, remote, and reporting. */
static void *free_one(void *p)
{
    errno = ERANGE;
    hak_free(p);
    return (void *)(intptr_t)(errno == ERANGE);
}

static void test_free_preserves_errno(void **state)
{
    (void)state;
    void *p = hak_malloc(100);
    errno = EDOM;
    hak_free(p);
    assert_int_equal(errno, EDOM);
    /* a flush, and slabs emptied on the way */
    unsigned c = hak_size_class(2000 + HAK_PAD);
    size_t k = 2 * hak_tcache_cap[c] + 64;
    void **v = calloc(k, sizeof *v);
    for (size_t i = 0; i < k; i++)
        v[i] = hak_malloc(2000);
    for (size_t i = 0; i < k; i++) {
        errno = EDOM;
        hak_free(v[i]);
        if (errno != EDOM)
            fail_msg("free #%zu of %zu changed errno to %d", i, k, errno);
    }
    free(v);
    hak_malloc_trim(0);
    /* large: cached, then unmapped */
    void *l1 = hak_malloc(MiB), *l2 = hak_malloc((size_t)hak_opt(HAK_OPT_LARGE_CACHE) / 2 + MiB);
    errno = EDOM;
    hak_free(l1);
    assert_int_equal(errno, EDOM);
    hak_free(l2);
    assert_int_equal(errno, EDOM);
    /* remote: freed by another thread */
    void *r = hak_malloc(64);
    pthread_t t;
    void *ok = NULL;
    assert_int_equal(pthread_create(&t, NULL, free_one, r), 0);
    pthread_join(t, &ok);
    assert_true(ok != NULL);
    /* reported */
    char x[16];
    errno = EDOM;
    CAPTURE(hak_free(x));
    assert_int_equal(errno, EDOM);
    void *d = hak_malloc(30);
    hak_free(d);
    errno = EDOM;
    CAPTURE(hak_free(d));
    assert_int_equal(errno, EDOM);
}

/* The other entry points that take a pointer validate it too. */
static void test_other_entry_points(void **state)
{
    (void)state;
    char x[32];
    errno = 0;
    void *r;
    CAPTURE(r = hak_realloc(x, 100));
    assert_null(r);
    assert_int_equal(errno, EINVAL);
    assert_report("realloc", "invalid pointer", x);
    size_t us;
    CAPTURE(us = hak_malloc_usable_size(x));
    assert_int_equal(us, 0);
    assert_report("malloc_usable_size", "invalid pointer", x);
    char *p = hak_malloc(64);
    CAPTURE(r = hak_realloc(p + 16, 10));
    assert_null(r);
    assert_report("realloc", "invalid pointer", p + 16);
    hak_free(p);
    CAPTURE(r = hak_realloc(p, 10));
    assert_null(r);
    assert_report("realloc", "use of freed block", p);
    /* free_sized with a size larger than the block */
    p = hak_malloc(64);
    CAPTURE(hak_free_sized(p, 4096));
    assert_contains(err, "free_sized");
    hak_free_sized(p, 64);
    p = hak_malloc(64);
    CAPTURE(hak_free_aligned_sized(p + 16, 4096, 16));
    assert_contains(err, "free_aligned_sized");
    hak_free(p);
}

/* SuperSlabs made while the record table has a single slot (as when it
 * cannot be mapped in full) share that slot: the first takes it, the others
 * publish no records, and free() of their blocks takes the slow path. Their
 * blocks still free, double frees and interior pointers are still reported,
 * and no block is handed out twice. */
static void test_superslab_without_record_slot(void **state)
{
    (void)state;
    uintptr_t saved = hak_fr_mask;
    __atomic_store_n(&hak_fr_mask, (uintptr_t)(HAK_MAX_SLABS - 1) * sizeof(hak_fastrec_t),
                     __ATOMIC_RELEASE);
    /* 8 MiB of 2000-byte and 40000-byte blocks: new SuperSlabs */
    enum { N = 4000 };
    void **v = calloc(N, sizeof *v);
    assert_non_null(v);
    size_t slow = 0;
    for (size_t i = 0; i < N; i++) {
        size_t sz = i % 8 == 0 ? 40000 : 2000;
        v[i] = hak_malloc(sz);
        assert_non_null(v[i]);
        pattern_fill(v[i], sz, i);
        slow += !hak_fastrec_is_block(hak_fastrec_of(v[i]), v[i]);
    }
    if (slow == 0)
        fail_msg("no block without a record: the test made no SuperSlab without a slot");
    for (size_t i = 0; i < N; i++)
        if (pattern_check(v[i], i % 8 == 0 ? 40000 : 2000, i) != SIZE_MAX)
            fail_msg("block %p overwritten", v[i]);
    /* a block of a SuperSlab without a slot: double and interior frees */
    size_t k = 0;
    while (hak_fastrec_is_block(hak_fastrec_of(v[k]), v[k]))
        k++;
    void *p = v[k];
    for (size_t i = 0; i < N; i++)
        if (i != k)
            hak_free(v[i]);
    uint64_t inv = invalid_count();
    CAPTURE(hak_free((char *)p + 16));
    assert_report("free", "invalid pointer", (char *)p + 16);
    hak_free(p);
    CAPTURE(hak_free(p));
    assert_report("free", "double free", p);
    assert_int_equal(invalid_count(), inv + 2);
    const size_t check[] = {16, 2000, 40000};
    assert_heap_consistent(check, sizeof check / sizeof check[0], 200);
    __atomic_store_n(&hak_fr_mask, saved, __ATOMIC_RELEASE);
    assert_heap_consistent(check, sizeof check / sizeof check[0], 200);
    free(v);
}

/* Abort mode: the report, then SIGABRT. */
static void test_abort_mode(void **state)
{
    (void)state;
    void *p = hak_malloc(80);
    hak_free(p);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        hak_opt_values[HAK_OPT_ON_ERROR] = 0;
        hak_free(p);
        _exit(0);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], err, sizeof err - 1);
    err[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_contains(err, "double free");
    assert_contains(err, "aborting");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_double_free_small),
    cmocka_unit_test(test_double_free_remote),
    cmocka_unit_test(test_double_free_large),
    cmocka_unit_test(test_free_stack_address),
    cmocka_unit_test(test_free_middle_of_block),
    cmocka_unit_test(test_free_never_allocated),
    cmocka_unit_test(test_free_null_silent),
    cmocka_unit_test(test_free_preserves_errno),
    cmocka_unit_test(test_other_entry_points),
    cmocka_unit_test(test_superslab_without_record_slot),
    cmocka_unit_test(test_abort_mode),
};

UNIT_MAIN("errors", tests, group_setup, NULL)
