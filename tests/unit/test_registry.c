/*
 * test_registry.c — the hashed chunk registry: insert, lookup anywhere in a
 * chunk, remove, growth, tombstone reuse, lock-free lookups while a writer
 * grows and rebuilds the table.
 *
 * The registry stores numbers only, so the tests register fake chunks in a
 * range the allocator never maps (high canonical user addresses) and remove
 * every one of them before they end. The allocator's own SuperSlabs live in
 * the same table and must stay findable throughout.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>

#include "unit.h"

#define FAKE_BASE ((uintptr_t)0x7e0000000000ull)
#define FAKE(i) ((void *)(FAKE_BASE + (uintptr_t)(i) * HAK_SS_SIZE))
#define FAKE_VALUE(i) ((((uintptr_t)(i) + 1) << 4) | HAK_REG_LARGE)
#define MANY 20000

static void *real_block; /* a block of the allocator, registered as SMALL */

static int group_setup(void **state)
{
    (void)state;
    real_block = hak_malloc(64);
    if (!real_block || !(hak_reg_lookup(real_block) & HAK_REG_SMALL))
        return -1;
    /* the fake range must be free of real chunks */
    for (uintptr_t i = 0; i < 4 * MANY; i++)
        if (hak_reg_lookup(FAKE(i)) != 0)
            return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    hak_free(real_block);
    return 0;
}

static void assert_real_block_found(void)
{
    uintptr_t v = hak_reg_lookup(real_block);
    assert_true(v & HAK_REG_SMALL);
    assert_int_equal(v & ~(uintptr_t)3, (uintptr_t)real_block & ~HAK_SS_MASK);
}

/* A value is found from any address inside its 2 MiB chunk and from no
 * address outside it. */
static void test_lookup_whole_chunk(void **state)
{
    (void)state;
    for (uintptr_t i = 10; i < 13; i++)
        assert_true(_hak_reg_insert(FAKE(i), FAKE_VALUE(i)));
    for (uintptr_t i = 10; i < 13; i++) {
        char *c = FAKE(i);
        assert_int_equal(hak_reg_lookup(c), FAKE_VALUE(i));
        assert_int_equal(hak_reg_lookup(c + 1), FAKE_VALUE(i));
        assert_int_equal(hak_reg_lookup(c + 4096), FAKE_VALUE(i));
        assert_int_equal(hak_reg_lookup(c + HAK_SS_SIZE / 2 + 17), FAKE_VALUE(i));
        assert_int_equal(hak_reg_lookup(c + HAK_SS_SIZE - 1), FAKE_VALUE(i));
    }
    /* neighbours */
    assert_int_equal(hak_reg_lookup((char *)FAKE(10) - 1), 0);
    assert_int_equal(hak_reg_lookup(FAKE(9)), 0);
    assert_int_equal(hak_reg_lookup(FAKE(13)), 0);
    assert_int_equal(hak_reg_lookup((char *)FAKE(13) + 100), 0);
    assert_int_equal(hak_reg_lookup(FAKE(12 + 1024)), 0);
    /* removing the middle one leaves the others */
    _hak_reg_remove(FAKE(11));
    assert_int_equal(hak_reg_lookup(FAKE(11)), 0);
    assert_int_equal(hak_reg_lookup((char *)FAKE(11) + 12345), 0);
    assert_int_equal(hak_reg_lookup((char *)FAKE(10) + 12345), FAKE_VALUE(10));
    assert_int_equal(hak_reg_lookup((char *)FAKE(12) + 12345), FAKE_VALUE(12));
    /* removing something never inserted changes nothing */
    _hak_reg_remove(FAKE(500));
    assert_int_equal(hak_reg_lookup(FAKE(10)), FAKE_VALUE(10));
    /* re-insert with another value */
    assert_true(_hak_reg_insert(FAKE(11), FAKE_VALUE(99)));
    assert_int_equal(hak_reg_lookup(FAKE(11)), FAKE_VALUE(99));
    for (uintptr_t i = 10; i < 13; i++)
        _hak_reg_remove(FAKE(i));
    for (uintptr_t i = 10; i < 13; i++)
        assert_int_equal(hak_reg_lookup(FAKE(i)), 0);
    assert_real_block_found();
}

/* Many entries (the table is fixed-size): all stay findable, then all go
 * away. */
static void test_many_entries(void **state)
{
    (void)state;
    size_t cap0 = _hak_reg_capacity();
    assert_true(cap0 >= 16);
    assert_int_equal(cap0 & (cap0 - 1), 0);
    for (uintptr_t i = 0; i < MANY; i++) {
        assert_true(_hak_reg_insert(FAKE(i), FAKE_VALUE(i)));
        if (i % 4096 == 0) /* spot checks while growing */
            for (uintptr_t j = 0; j <= i; j += 97)
                assert_int_equal(hak_reg_lookup(FAKE(j)), FAKE_VALUE(j));
    }
    size_t cap1 = _hak_reg_capacity();
    assert_int_equal(cap1, cap0); /* fixed: nothing is ever moved */
    assert_true(cap1 >= 2 * (size_t)MANY);
    for (uintptr_t i = 0; i < MANY; i++) {
        uintptr_t v = hak_reg_lookup((char *)FAKE(i) + (i * 4099) % HAK_SS_SIZE);
        if (v != FAKE_VALUE(i))
            fail_msg("entry %lu: lookup %#lx, expected %#lx", (unsigned long)i, (unsigned long)v,
                     (unsigned long)FAKE_VALUE(i));
    }
    assert_int_equal(hak_reg_lookup(FAKE(MANY)), 0);
    assert_real_block_found();
    /* the allocator keeps working with the table this full */
    void *p = hak_malloc(30000), *q = hak_malloc(3 << 20);
    assert_true(p && q);
    assert_true(hak_reg_lookup(p) & HAK_REG_SMALL);
    assert_true(hak_reg_lookup(q) & HAK_REG_LARGE);
    hak_free(p);
    hak_free(q);
    for (uintptr_t i = 0; i < MANY; i += 2)
        _hak_reg_remove(FAKE(i));
    for (uintptr_t i = 0; i < MANY; i++)
        assert_int_equal(hak_reg_lookup(FAKE(i)), (i & 1) ? FAKE_VALUE(i) : 0);
    for (uintptr_t i = 1; i < MANY; i += 2)
        _hak_reg_remove(FAKE(i));
    for (uintptr_t i = 0; i < MANY; i++)
        assert_int_equal(hak_reg_lookup(FAKE(i)), 0);
    assert_int_equal(_hak_reg_capacity(), cap1); /* removal never shrinks */
    assert_real_block_found();
}

/* Insert/remove cycles reuse tombstones (same key) or rebuild the table at
 * the same size (distinct keys): the capacity stays bounded. */
static void test_tombstone_reuse(void **state)
{
    (void)state;
    size_t cap = _hak_reg_capacity();
    uint64_t mapped0 = os_mapped_bytes();
    /* the same key over and over: its tombstone is reused, no memory */
    for (int i = 0; i < 200000; i++) {
        assert_true(_hak_reg_insert(FAKE(7), FAKE_VALUE(i)));
        assert_int_equal(hak_reg_lookup(FAKE(7)), FAKE_VALUE(i));
        _hak_reg_remove(FAKE(7));
    }
    assert_int_equal(hak_reg_lookup(FAKE(7)), 0);
    assert_int_equal(_hak_reg_capacity(), cap);
    assert_int_equal(os_mapped_bytes(), mapped0);
    /* a few keys in rotation */
    for (int i = 0; i < 64 * 1500; i++) {
        uintptr_t k = (uintptr_t)(i % 64);
        assert_true(_hak_reg_insert(FAKE(k), FAKE_VALUE(k)));
        if (i % 64 == 63)
            for (uintptr_t j = 0; j < 64; j++)
                _hak_reg_remove(FAKE(j));
    }
    for (uintptr_t j = 0; j < 64; j++)
        assert_int_equal(hak_reg_lookup(FAKE(j)), 0);
    assert_int_equal(_hak_reg_capacity(), cap);
    /* distinct keys, a few live at a time: tombstones pile up and force
     * rebuilds, which must not grow the table */
    const uintptr_t window = 100;
    for (uintptr_t i = 0; i < 300000; i++) {
        assert_true(_hak_reg_insert(FAKE(i % (4 * MANY)), FAKE_VALUE(i)));
        if (i >= window)
            _hak_reg_remove(FAKE((i - window) % (4 * MANY)));
        if (_hak_reg_capacity() > cap)
            fail_msg("capacity grew from %zu to %zu after %lu insert/remove cycles with %lu "
                     "live",
                     cap, _hak_reg_capacity(), (unsigned long)i, (unsigned long)window);
    }
    for (uintptr_t i = 300000 - window; i < 300000; i++) {
        assert_int_equal(hak_reg_lookup(FAKE(i % (4 * MANY))), FAKE_VALUE(i));
        _hak_reg_remove(FAKE(i % (4 * MANY)));
    }
    for (uintptr_t i = 0; i < 4 * MANY; i++)
        assert_int_equal(hak_reg_lookup(FAKE(i)), 0);
    print_message("    metadata mapped for rebuilt tables: %llu KiB\n",
                  (unsigned long long)(os_mapped_bytes() - mapped0) / 1024);
    assert_real_block_found();
}

/* Lookups need no lock: a reader keeps finding a fixed set of entries (and
 * never finds removed ones) while a writer inserts, removes, grows and
 * rebuilds the table. */
#define STABLE 512
#define STABLE_AT(i) (4 * MANY + 1000 + (uintptr_t)(i) * 3)
static _Atomic(int) reader_stop;
static _Atomic(long) reader_errors, reader_rounds;

static void *reader(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&reader_stop, memory_order_acquire)) {
        for (uintptr_t i = 0; i < STABLE; i++) {
            uintptr_t v = hak_reg_lookup((char *)FAKE(STABLE_AT(i)) + i);
            if (v != FAKE_VALUE(STABLE_AT(i)))
                atomic_fetch_add(&reader_errors, 1);
            /* the gaps between stable entries are never registered */
            if (hak_reg_lookup(FAKE(STABLE_AT(i) + 1)) != 0)
                atomic_fetch_add(&reader_errors, 1);
        }
        if (!(hak_reg_lookup(real_block) & HAK_REG_SMALL))
            atomic_fetch_add(&reader_errors, 1);
        atomic_fetch_add(&reader_rounds, 1);
    }
    return NULL;
}

static void test_lockfree_lookup_during_growth(void **state)
{
    (void)state;
    for (uintptr_t i = 0; i < STABLE; i++)
        assert_true(_hak_reg_insert(FAKE(STABLE_AT(i)), FAKE_VALUE(STABLE_AT(i))));
    atomic_store(&reader_stop, 0);
    atomic_store(&reader_errors, 0);
    atomic_store(&reader_rounds, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, NULL), 0);
    /* grow (distinct keys kept), then churn (rebuilds), several times */
    for (int round = 0; round < 3; round++) {
        uintptr_t n = (uintptr_t)MANY * (round + 1);
        if (n > 4 * MANY)
            n = 4 * MANY;
        for (uintptr_t i = 0; i < n; i++)
            assert_true(_hak_reg_insert(FAKE(i), FAKE_VALUE(i)));
        for (uintptr_t i = 0; i < n; i++)
            _hak_reg_remove(FAKE(i));
    }
    while (atomic_load(&reader_rounds) < 10)
        sched_yield();
    atomic_store_explicit(&reader_stop, 1, memory_order_release);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&reader_errors), 0);
    for (uintptr_t i = 0; i < STABLE; i++)
        _hak_reg_remove(FAKE(STABLE_AT(i)));
    for (uintptr_t i = 0; i < STABLE; i++)
        assert_int_equal(hak_reg_lookup(FAKE(STABLE_AT(i))), 0);
    assert_real_block_found();
}

/* Consecutive chunks (the common case: SuperSlabs mapped next to each
 * other) get distinct, neighbouring home slots. */
static void test_home_keeps_neighbours_apart(void **state)
{
    (void)state;
    uintptr_t base = FAKE_BASE >> HAK_SS_SHIFT;
    for (uintptr_t i = 1; i < 4096; i++)
        assert_int_equal(hak_reg_home(base + i), (hak_reg_home(base) + i) & (HAK_REG_SIZE - 1));
}

/* Chunks that share a home slot (HAK_REG_SIZE chunks apart) probe on: all
 * are found; after removals a missing key is still answered 0 (the probe is
 * bounded by the longest displacement). */
static void test_colliding_homes(void **state)
{
    (void)state;
    const uintptr_t stride = (uintptr_t)HAK_REG_SIZE << HAK_SS_SHIFT; /* 512 GiB */
    char *base = (char *)FAKE(3);
    enum { N = 12 };
#define SMALL_VALUE(i) ((((uintptr_t)(i) + 1) << 4) | HAK_REG_SMALL)
    for (uintptr_t i = 0; i < N; i++)
        assert_true(_hak_reg_insert(base + i * stride, SMALL_VALUE(i)));
    for (uintptr_t i = 0; i < N; i++)
        assert_int_equal(hak_reg_lookup(base + i * stride + 4096), SMALL_VALUE(i));
    for (uintptr_t i = 0; i < N; i += 2)
        _hak_reg_remove(base + i * stride);
    for (uintptr_t i = 0; i < N; i++)
        assert_int_equal(hak_reg_lookup(base + i * stride), (i & 1) ? SMALL_VALUE(i) : 0);
    assert_int_equal(hak_reg_lookup(base + N * stride), 0);
    for (uintptr_t i = 1; i < N; i += 2)
        _hak_reg_remove(base + i * stride);
    for (uintptr_t i = 0; i <= N; i++)
        assert_int_equal(hak_reg_lookup(base + i * stride), 0);
    assert_real_block_found();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_lookup_whole_chunk),
    cmocka_unit_test(test_many_entries),
    cmocka_unit_test(test_tombstone_reuse),
    cmocka_unit_test(test_lockfree_lookup_during_growth),
    cmocka_unit_test(test_home_keeps_neighbours_apart),
    cmocka_unit_test(test_colliding_homes),
};

UNIT_MAIN("registry", tests, group_setup, group_teardown)
