/*
 * test_options.c — _hak_options_init over fake environments: defaults,
 * booleans, enums, numbers, sizes with suffixes, rejected values (default
 * kept, warning naming the variable), unknown HAKMEM_ variables.
 *
 * SPDX-License-Identifier: MIT
 */
#include "unit.h"

static char errbuf[8192];

/* Reads the options from the given entries (NULL-terminated list built by
 * the macro) with stderr captured into errbuf. */
static void load(char **envp)
{
    unit_capture_t c;
    capture_begin(&c);
    _hak_options_init(envp);
    capture_end(&c, errbuf, sizeof errbuf);
}
#define LOAD(...)                                   \
    do {                                            \
        char *env_[] = {__VA_ARGS__, NULL};         \
        load(env_);                                 \
    } while (0)

static void assert_all_default_but(int except)
{
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        if (i == except)
            continue;
        if (hak_opt_values[i] != hak_options[i].def)
            fail_msg("HAKMEM_%s = %lld, default %lld", hak_options[i].name, hak_opt_values[i],
                     hak_options[i].def);
        if (hak_options[i].type == HAK_OT_STRING)
            assert_null(hak_opt_strings[i]);
    }
}

/* Sets one variable; expects the given value and no warning. */
static void opt_accepts(const char *entry, hak_opt_id_t id, long long want)
{
    char *env[] = {(char *)entry, NULL};
    load(env);
    if (hak_opt_values[id] != want)
        fail_msg("%s: HAKMEM_%s = %lld, expected %lld (stderr: %s)", entry, hak_options[id].name,
                 hak_opt_values[id], want, errbuf);
    if (errbuf[0] != '\0')
        fail_msg("%s: unexpected warning: %s", entry, errbuf);
    assert_all_default_but((int)id);
}

/* Sets one variable to a bad value; expects the default and a warning that
 * names the variable and the value. */
static void opt_rejects(const char *entry, hak_opt_id_t id)
{
    char *env[] = {(char *)entry, NULL};
    load(env);
    if (hak_opt_values[id] != hak_options[id].def)
        fail_msg("%s: HAKMEM_%s = %lld, expected the default %lld", entry, hak_options[id].name,
                 hak_opt_values[id], hak_options[id].def);
    char name[64];
    snprintf(name, sizeof name, "HAKMEM_%s", hak_options[id].name);
    if (strstr(errbuf, name) == NULL)
        fail_msg("%s: no warning naming %s (stderr: \"%s\")", entry, name, errbuf);
    const char *value = strchr(entry, '=') + 1;
    if (*value)
        assert_contains(errbuf, value);
    assert_all_default_but(-1);
}

static int teardown(void **state)
{
    (void)state;
    _hak_options_init(NULL);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    _hak_options_init(NULL);
    assert_all_default_but(-1);
    /* documented defaults */
    assert_int_equal(hak_opt(HAK_OPT_STATS), 0);
    assert_int_equal(hak_opt(HAK_OPT_ON_ERROR), 0);
    assert_int_equal(hak_opt(HAK_OPT_TCACHE_BYTES), 64 * 1024);
    assert_int_equal(hak_opt(HAK_OPT_MADVISE_BATCH), 64);
    assert_int_equal(hak_opt(HAK_OPT_LARGE_CACHE), 128LL << 20);
    assert_int_equal(hak_opt(HAK_OPT_LARGE_CACHE_LIVE), 100);
    /* an environment without HAKMEM_ variables: defaults, silence */
    LOAD("PATH=/usr/bin:/bin", "HOME=/root", "HAKMEM", "HAKMEMSTATS=1", "XHAKMEM_STATS=1",
         "hakmem_stats=1", "LANG=C");
    assert_all_default_but(-1);
    assert_string_equal(errbuf, "");
    /* every default lies in its own range */
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        const hak_option_t *o = &hak_options[i];
        assert_non_null(o->name);
        if (o->type != HAK_OT_STRING)
            assert_true(o->def >= o->min && o->def <= o->max);
    }
}

static void test_stats_values(void **state)
{
    (void)state;
    opt_accepts("HAKMEM_STATS=json", HAK_OPT_STATS, 2);
    opt_accepts("HAKMEM_STATS=JSON", HAK_OPT_STATS, 2);
    opt_accepts("HAKMEM_STATS=1", HAK_OPT_STATS, 1);
    opt_accepts("HAKMEM_STATS=2", HAK_OPT_STATS, 2);
    opt_accepts("HAKMEM_STATS=yes", HAK_OPT_STATS, 1);
    opt_accepts("HAKMEM_STATS=on", HAK_OPT_STATS, 1);
    opt_accepts("HAKMEM_STATS=0", HAK_OPT_STATS, 0);
    opt_accepts("HAKMEM_STATS=off", HAK_OPT_STATS, 0);
    opt_accepts("HAKMEM_STATS=no", HAK_OPT_STATS, 0);
}

/* Every name of an enum is accepted, not only the last one. */
static void test_enum_names(void **state)
{
    (void)state;
    opt_accepts("HAKMEM_STATS=text", HAK_OPT_STATS, 1);
    opt_accepts("HAKMEM_STATS=Text", HAK_OPT_STATS, 1);
    opt_accepts("HAKMEM_ON_ERROR=warn", HAK_OPT_ON_ERROR, 1);
    opt_accepts("HAKMEM_ON_ERROR=abort", HAK_OPT_ON_ERROR, 0);
    opt_accepts("HAKMEM_ON_ERROR=1", HAK_OPT_ON_ERROR, 1);
}

static void test_bool_values(void **state)
{
    (void)state;
    const char *yes[] = {"1", "yes", "YES", "on", "true", "True", "y"};
    const char *no[] = {"0", "no", "off", "false", "n", "N"};
    char entry[64];
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        snprintf(entry, sizeof entry, "HAKMEM_THP=%s", yes[i]);
        opt_accepts(entry, HAK_OPT_THP, 1);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        snprintf(entry, sizeof entry, "HAKMEM_VERBOSE=%s", no[i]);
        opt_accepts(entry, HAK_OPT_VERBOSE, 0);
    }
}

static void test_numbers_and_sizes(void **state)
{
    (void)state;
    opt_accepts("HAKMEM_WARM_POOL=0", HAK_OPT_WARM_POOL, 0);
    opt_accepts("HAKMEM_WARM_POOL=64", HAK_OPT_WARM_POOL, 64);
    opt_accepts("HAKMEM_PURGE_DELAY_MS=150", HAK_OPT_PURGE_DELAY_MS, 150);
    opt_accepts("HAKMEM_MADVISE_BATCH=1", HAK_OPT_MADVISE_BATCH, 1);
    opt_accepts("HAKMEM_MADVISE_BATCH=256", HAK_OPT_MADVISE_BATCH, 256);
    opt_accepts("HAKMEM_TCACHE_BYTES=4096", HAK_OPT_TCACHE_BYTES, 4096);
    opt_accepts("HAKMEM_TCACHE_BYTES=2k", HAK_OPT_TCACHE_BYTES, 2048);
    opt_accepts("HAKMEM_TCACHE_BYTES=128K", HAK_OPT_TCACHE_BYTES, 128 * 1024);
    opt_accepts("HAKMEM_TCACHE_BYTES=1M", HAK_OPT_TCACHE_BYTES, 1024 * 1024);
    opt_accepts("HAKMEM_TCACHE_BYTES=16M", HAK_OPT_TCACHE_BYTES, 16 * 1024 * 1024);
    opt_accepts("HAKMEM_TCACHE_BYTES=1KB", HAK_OPT_TCACHE_BYTES, 1024);
    opt_accepts("HAKMEM_TCACHE_BYTES=3KiB", HAK_OPT_TCACHE_BYTES, 3 * 1024);
    opt_accepts("HAKMEM_LARGE_CACHE=1G", HAK_OPT_LARGE_CACHE, 1LL << 30);
    opt_accepts("HAKMEM_LARGE_CACHE=64G", HAK_OPT_LARGE_CACHE, 64LL << 30);
    opt_accepts("HAKMEM_LARGE_CACHE=512m", HAK_OPT_LARGE_CACHE, 512LL << 20);
    opt_accepts("HAKMEM_LARGE_CACHE=0", HAK_OPT_LARGE_CACHE, 0);
    opt_accepts("HAKMEM_LARGE_CACHE_LIVE=0", HAK_OPT_LARGE_CACHE_LIVE, 0);
    opt_accepts("HAKMEM_LARGE_CACHE_LIVE=1000", HAK_OPT_LARGE_CACHE_LIVE, 1000);
    opt_accepts("HAKMEM_SS_CACHE=4096", HAK_OPT_SS_CACHE, 4096);
}

static void test_out_of_range_and_garbage(void **state)
{
    (void)state;
    opt_rejects("HAKMEM_TCACHE_BYTES=32M", HAK_OPT_TCACHE_BYTES);   /* above max */
    opt_rejects("HAKMEM_TCACHE_BYTES=512", HAK_OPT_TCACHE_BYTES);   /* below min */
    opt_rejects("HAKMEM_TCACHE_BYTES=10X", HAK_OPT_TCACHE_BYTES);   /* bad suffix */
    opt_rejects("HAKMEM_TCACHE_BYTES=1.5M", HAK_OPT_TCACHE_BYTES);
    opt_rejects("HAKMEM_TCACHE_BYTES=-4096", HAK_OPT_TCACHE_BYTES);
    opt_rejects("HAKMEM_TCACHE_BYTES=64KX", HAK_OPT_TCACHE_BYTES);
    opt_rejects("HAKMEM_LARGE_CACHE=65G", HAK_OPT_LARGE_CACHE);
    opt_rejects("HAKMEM_LARGE_CACHE=99999999999999999999", HAK_OPT_LARGE_CACHE);
    opt_rejects("HAKMEM_LARGE_CACHE=9999999999G", HAK_OPT_LARGE_CACHE);
    opt_rejects("HAKMEM_LARGE_CACHE_LIVE=1001", HAK_OPT_LARGE_CACHE_LIVE);
    opt_rejects("HAKMEM_LARGE_CACHE_LIVE=50%", HAK_OPT_LARGE_CACHE_LIVE);
    opt_rejects("HAKMEM_WARM_POOL=65", HAK_OPT_WARM_POOL);
    opt_rejects("HAKMEM_WARM_POOL=abc", HAK_OPT_WARM_POOL);
    opt_rejects("HAKMEM_WARM_POOL=10K", HAK_OPT_WARM_POOL); /* no suffix on counts */
    opt_rejects("HAKMEM_WARM_POOL=", HAK_OPT_WARM_POOL);
    opt_rejects("HAKMEM_WARM_POOL= 3", HAK_OPT_WARM_POOL);
    opt_rejects("HAKMEM_PURGE_DELAY_MS=-1", HAK_OPT_PURGE_DELAY_MS);
    opt_rejects("HAKMEM_MADVISE_BATCH=0", HAK_OPT_MADVISE_BATCH);
    opt_rejects("HAKMEM_MADVISE_BATCH=257", HAK_OPT_MADVISE_BATCH);
    opt_rejects("HAKMEM_STATS=3", HAK_OPT_STATS);
    opt_rejects("HAKMEM_STATS=xml", HAK_OPT_STATS);
    opt_rejects("HAKMEM_STATS=jsonx", HAK_OPT_STATS);
    opt_rejects("HAKMEM_ON_ERROR=ignore", HAK_OPT_ON_ERROR);
    opt_rejects("HAKMEM_THP=maybe", HAK_OPT_THP);
    opt_rejects("HAKMEM_THP=2", HAK_OPT_THP);
}

/* A boolean or enum value is the whole word: a longer value that starts
 * with one is garbage, not that word. */
static void test_no_prefix_matches(void **state)
{
    (void)state;
    opt_rejects("HAKMEM_THP=yesplease", HAK_OPT_THP);
    opt_rejects("HAKMEM_THP=10", HAK_OPT_THP);
    opt_rejects("HAKMEM_THP=offset", HAK_OPT_THP);
    opt_rejects("HAKMEM_VERBOSE=nope", HAK_OPT_VERBOSE);
    opt_rejects("HAKMEM_VERBOSE=yellow", HAK_OPT_VERBOSE);
    opt_rejects("HAKMEM_STATS=1x", HAK_OPT_STATS);
    opt_rejects("HAKMEM_STATS=texts", HAK_OPT_STATS);
    opt_rejects("HAKMEM_ON_ERROR=warning", HAK_OPT_ON_ERROR);
}

static void test_unknown_variable_warned(void **state)
{
    (void)state;
    LOAD("HAKMEM_FOO=1");
    assert_all_default_but(-1);
    assert_contains(errbuf, "HAKMEM_FOO");
    /* a misspelt option is not taken for the real one */
    LOAD("HAKMEM_STAT=1", "HAKMEM_STATSS=1", "HAKMEM_stats=1");
    assert_all_default_but(-1);
    assert_contains(errbuf, "HAKMEM_STAT");
    assert_contains(errbuf, "HAKMEM_STATSS");
    assert_contains(errbuf, "HAKMEM_stats");
    /* known and unknown together: the known ones still apply */
    LOAD("HAKMEM_FOO=1", "HAKMEM_STATS=json", "HAKMEM_BAR=x", "HAKMEM_WARM_POOL=5");
    assert_int_equal(hak_opt(HAK_OPT_STATS), 2);
    assert_int_equal(hak_opt(HAK_OPT_WARM_POOL), 5);
    assert_contains(errbuf, "HAKMEM_FOO");
    assert_contains(errbuf, "HAKMEM_BAR");
    assert_not_contains(errbuf, "HAKMEM_STATS");
}

static void test_string_option(void **state)
{
    (void)state;
    char *env[] = {"HAKMEM_STATS_FILE=/tmp/hakmem-%p.txt", NULL};
    load(env);
    assert_non_null(hak_opt_strings[HAK_OPT_STATS_FILE]);
    assert_string_equal(hak_opt_strings[HAK_OPT_STATS_FILE], "/tmp/hakmem-%p.txt");
    assert_string_equal(errbuf, "");
    /* empty: unset, silently */
    LOAD("HAKMEM_STATS_FILE=");
    assert_null(hak_opt_strings[HAK_OPT_STATS_FILE]);
    assert_string_equal(errbuf, "");
}

/* The last occurrence wins; reading again starts from the defaults. */
static void test_reload(void **state)
{
    (void)state;
    LOAD("HAKMEM_WARM_POOL=3", "HAKMEM_WARM_POOL=7");
    assert_int_equal(hak_opt(HAK_OPT_WARM_POOL), 7);
    LOAD("HAKMEM_STATS=json");
    assert_int_equal(hak_opt(HAK_OPT_WARM_POOL), hak_options[HAK_OPT_WARM_POOL].def);
    assert_int_equal(hak_opt(HAK_OPT_STATS), 2);
    _hak_options_init(NULL);
    assert_all_default_but(-1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_defaults, teardown),
    cmocka_unit_test_teardown(test_stats_values, teardown),
    cmocka_unit_test_teardown(test_enum_names, teardown),
    cmocka_unit_test_teardown(test_bool_values, teardown),
    cmocka_unit_test_teardown(test_numbers_and_sizes, teardown),
    cmocka_unit_test_teardown(test_out_of_range_and_garbage, teardown),
    cmocka_unit_test_teardown(test_no_prefix_matches, teardown),
    cmocka_unit_test_teardown(test_unknown_variable_warned, teardown),
    cmocka_unit_test_teardown(test_string_option, teardown),
    cmocka_unit_test_teardown(test_reload, teardown),
};

UNIT_MAIN("options", tests, NULL, NULL)
