/*
 * test_sizeclass.c — the size-class table and hak_size_class().
 *
 * SPDX-License-Identifier: MIT
 */
#include "unit.h"

/* Sizes strictly increasing, multiples of 16, from 16 to HAK_SMALL_MAX. */
static void test_class_sizes_increasing(void **state)
{
    (void)state;
    assert_int_equal(hak_class_size[0], HAK_MIN_ALIGN);
    assert_int_equal(hak_class_size[HAK_NUM_CLASSES - 1], HAK_SMALL_MAX);
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        if (hak_class_size[c] % 16 != 0)
            fail_msg("class %u size %u is not a multiple of 16", c, hak_class_size[c]);
        if (c > 0 && hak_class_size[c] <= hak_class_size[c - 1])
            fail_msg("class %u size %u not above class %u size %u", c, hak_class_size[c], c - 1,
                     hak_class_size[c - 1]);
    }
}

/* Every request size maps to the tightest class that holds it. */
static void test_size_class_tightest(void **state)
{
    (void)state;
    for (size_t n = 0; n <= HAK_SMALL_MAX; n++) {
        unsigned c = hak_size_class(n);
        if (c >= HAK_NUM_CLASSES)
            fail_msg("hak_size_class(%zu) = %u out of range", n, c);
        if (hak_class_size[c] < n)
            fail_msg("hak_size_class(%zu) = %u: size %u too small", n, c, hak_class_size[c]);
        if (c > 0 && hak_class_size[c - 1] >= n)
            fail_msg("hak_size_class(%zu) = %u: class %u (size %u) would hold it", n, c, c - 1,
                     hak_class_size[c - 1]);
    }
}

/* The class boundaries map to their own class; one byte more to the next. */
static void test_size_class_boundaries(void **state)
{
    (void)state;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        assert_int_equal(hak_size_class(hak_class_size[c]), c);
        if (c + 1 < HAK_NUM_CLASSES)
            assert_int_equal(hak_size_class(hak_class_size[c] + 1), c + 1);
    }
    /* the lookup table agrees with the class sizes */
    for (unsigned i = 0; i < 65; i++) {
        size_t n = (size_t)i * 16;
        assert_int_equal(hak_class_small[i], hak_size_class(n));
    }
    /* so does malloc's table by size (the list offset of n's class) */
    for (size_t n = 0; n <= 1024; n++)
        if (hak_size_tl[n] != hak_size_class(n) * sizeof(hak_tlist_t))
            fail_msg("hak_size_tl[%zu] = %u, class %u", n, hak_size_tl[n], hak_size_class(n));
}

/* Above 128 bytes no request wastes more than a quarter of its size. */
static void test_internal_waste(void **state)
{
    (void)state;
    size_t worst_n = 0;
    double worst = 0;
    for (size_t n = 129; n <= HAK_SMALL_MAX; n++) {
        size_t cs = hak_class_size[hak_size_class(n)];
        double w = (double)(cs - n) / (double)n;
        if (w > worst) {
            worst = w;
            worst_n = n;
        }
        if ((cs - n) * 4 > n)
            fail_msg("request %zu gets class size %zu: waste %.1f%% > 25%%", n, cs,
                     100.0 * (double)(cs - n) / (double)n);
    }
    print_message("    worst internal waste above 128 bytes: %.2f%% (request %zu)\n",
                  worst * 100, worst_n);
}

/* Blocks a slab of class c holds. Slab 0 of a SuperSlab starts after the
 * SuperSlab header; with 2 MiB slabs every slab is a slab 0. */
static size_t slab_capacity(unsigned c, bool first)
{
    size_t span = (size_t)1 << hak_class_slab_shift[c];
    if (first)
        span -= HAK_SS_HEADER_SIZE;
    return span / hak_class_size[c];
}

static void test_slab_shift_valid(void **state)
{
    (void)state;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        unsigned sh = hak_class_slab_shift[c];
        if (sh != 16 && sh != 19 && sh != 21)
            fail_msg("class %u: slab shift %u", c, sh);
        if ((HAK_SS_SIZE >> sh) > HAK_MAX_SLABS)
            fail_msg("class %u: %zu slabs per SuperSlab > %d", c, HAK_SS_SIZE >> sh,
                     HAK_MAX_SLABS);
        if (c > 0 && sh < hak_class_slab_shift[c - 1])
            fail_msg("class %u: slab shift %u below the previous class's", c, sh);
    }
}

/* Every slab, the first one of a SuperSlab included (it loses the header),
 * holds at least 4 blocks of its class. */
static void test_slab_holds_four_blocks(void **state)
{
    (void)state;
    int bad = 0;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        size_t full = slab_capacity(c, false), first = slab_capacity(c, true);
        if (full < 4 || first < 4) {
            print_error("class %u (size %u, slab shift %u): %zu blocks per slab, %zu in slab 0 "
                        "(after the %zu-byte SuperSlab header)\n",
                        c, hak_class_size[c], hak_class_slab_shift[c], full, first,
                        HAK_SS_HEADER_SIZE);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_class_sizes_increasing),
    cmocka_unit_test(test_size_class_tightest),
    cmocka_unit_test(test_size_class_boundaries),
    cmocka_unit_test(test_internal_waste),
    cmocka_unit_test(test_slab_shift_valid),
    cmocka_unit_test(test_slab_holds_four_blocks),
};

UNIT_MAIN("sizeclass", tests, NULL, NULL)
