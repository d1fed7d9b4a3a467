/*
 * options.c — every HAKMEM_* environment variable, in one table. Read once
 * at start-up by scanning environ directly (no getenv, no allocation). A
 * value that does not parse is reported once, naming the variable, the value
 * and the default used; an unknown HAKMEM_ variable is reported too.
 *
 * Booleans accept 0/1/yes/no/on/off/true/false; sizes accept K, M and G
 * suffixes (powers of 1024); enums accept their names or their index.
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "internal.h"

#define KIB 1024LL
#define MIB (1024LL * 1024LL)
#define GIB (1024LL * 1024LL * 1024LL)

/* name, type, default, min, max, enum names, help */
const hak_option_t hak_options[HAK_OPT_COUNT] = {
    [HAK_OPT_STATS] = {"STATS", HAK_OT_ENUM, 0, 0, 2, "off|text|json",
                       "print statistics at exit: 0/off, 1/text, json"},
    [HAK_OPT_STATS_FILE] = {"STATS_FILE", HAK_OT_STRING, 0, 0, 0, NULL,
                            "write statistics to this file instead of stderr (%p = PID)"},
    [HAK_OPT_STATS_INTERVAL_MS] = {"STATS_INTERVAL_MS", HAK_OT_INT, 0, 0, 86400000, NULL,
                                   "also print statistics every N ms while running (0 = never)"},
    [HAK_OPT_ON_ERROR] = {"ON_ERROR", HAK_OT_ENUM, 0, 0, 1, "abort|warn",
                          "on an invalid or double free: report and abort, or report and go on"},
    [HAK_OPT_TCACHE_BYTES] = {"TCACHE_BYTES", HAK_OT_SIZE, 64 * KIB, 1 * KIB, 16 * MIB, NULL,
                              "bytes a thread's free list of one size class holds at first (at least 16 blocks); a list that keeps running empty and overflowing doubles, up to 16 times this (8192 blocks at most) and by 32 times this in all per thread"},
    [HAK_OPT_WARM_POOL] = {"WARM_POOL", HAK_OT_INT, 2, 0, 64, NULL,
                           "slabs per size class a thread keeps when they empty"},
    [HAK_OPT_PURGE_DELAY_MS] = {"PURGE_DELAY_MS", HAK_OT_INT, 2000, 0, 3600000, NULL,
                                "how long free memory stays resident before it is returned"},
    [HAK_OPT_MADVISE_BATCH] = {"MADVISE_BATCH", HAK_OT_INT, 64, 1, 256, NULL,
                               "ranges collected before a batch of madvise calls is issued"},
    [HAK_OPT_LARGE_CACHE] = {"LARGE_CACHE", HAK_OT_SIZE, 128 * MIB, 0, 64 * GIB, NULL,
                             "bytes of freed large blocks kept resident for reuse"},
    [HAK_OPT_LARGE_CACHE_LIVE] = {"LARGE_CACHE_LIVE", HAK_OT_INT, 100, 0, 1000, NULL,
                                  "while large blocks are live, freed large bytes kept resident may also reach this percentage of the live ones (the bigger of the two bounds applies)"},
    [HAK_OPT_SS_CACHE] = {"SS_CACHE", HAK_OT_INT, 8, 0, 4096, NULL,
                          "empty SuperSlabs (2 MiB each) kept mapped for reuse"},
    [HAK_OPT_THP] = {"THP", HAK_OT_BOOL, 0, 0, 1, NULL,
                     "ask for transparent huge pages on SuperSlabs and large-block arenas"},
    [HAK_OPT_WARM_POOL_STATS] = {"WARM_POOL_STATS", HAK_OT_BOOL, 0, 0, 1, NULL,
                                 "print the warm-pool part of the statistics at exit"},
    [HAK_OPT_SS_OS_STATS] = {"SS_OS_STATS", HAK_OT_BOOL, 0, 0, 1, NULL,
                             "print the SuperSlab and OS part of the statistics at exit"},
    [HAK_OPT_VERBOSE] = {"VERBOSE", HAK_OT_BOOL, 0, 0, 1, NULL,
                         "print the options in force at start-up"},
    [HAK_OPT_ZERO_ON_FREE] = {"ZERO_ON_FREE", HAK_OT_BOOL, 0, 0, 1, NULL,
                              "hardened library only: clear every block when it is freed"},
};

long long hak_opt_values[HAK_OPT_COUNT];
const char *hak_opt_strings[HAK_OPT_COUNT];
/* String values are copied: programs (redis, daemons setting a process
 * title) overwrite their environment strings. */
static char opt_string_store[HAK_OPT_COUNT][512];

static bool streq_ci(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y || y == '\0')
            return false;
    }
    return a[n] == '\0'; /* the value ends where the word does */
}

static bool parse_number(const char *s, bool size, long long *out)
{
    if (*s == '\0')
        return false;
    unsigned long long v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (~0ULL - d) / 10)
            return false;
        v = v * 10 + d;
        p++;
    }
    if (p == s)
        return false;
    if (size && *p) {
        unsigned long long mul = 1;
        switch (*p) {
        case 'k': case 'K': mul = 1024ULL; break;
        case 'm': case 'M': mul = 1024ULL * 1024ULL; break;
        case 'g': case 'G': mul = 1024ULL * 1024ULL * 1024ULL; break;
        default: return false;
        }
        p++;
        if (*p == 'b' || *p == 'B' || ((*p == 'i') && (p[1] == 'B' || p[1] == 'b')))
            p += *p == 'i' ? 2 : 1;
        if (v > (~0ULL >> 1) / mul)
            return false;
        v *= mul;
    }
    if (*p != '\0' || v > (unsigned long long)0x7fffffffffffffffLL)
        return false;
    *out = (long long)v;
    return true;
}

static bool parse_bool(const char *s, long long *out)
{
    static const char *yes[] = {"1", "yes", "on", "true", "y"};
    static const char *no[] = {"0", "no", "off", "false", "n"};
    for (unsigned i = 0; i < 5; i++) {
        if (streq_ci(s, yes[i], strlen(yes[i]))) {
            *out = 1;
            return true;
        }
        if (streq_ci(s, no[i], strlen(no[i]))) {
            *out = 0;
            return true;
        }
    }
    return false;
}

static bool parse_enum(const hak_option_t *o, const char *s, long long *out)
{
    long long idx = 0;
    const char *n = o->enum_names;
    while (*n) {
        const char *e = n;
        while (*e && *e != '|')
            e++;
        if (streq_ci(s, n, (size_t)(e - n))) {
            *out = idx;
            return true;
        }
        idx++;
        n = *e ? e + 1 : e;
    }
    /* numbers and booleans name the entries by index */
    long long v;
    if ((parse_number(s, false, &v) || parse_bool(s, &v)) && v >= o->min && v <= o->max) {
        *out = v;
        return true;
    }
    return false;
}

static void warn_value(const hak_option_t *o, const char *value)
{
    char buf[400];
    hak_buf_t b = {buf, 0, sizeof buf};
    _hak_buf_str(&b, "hakmem: HAKMEM_");
    _hak_buf_str(&b, o->name);
    _hak_buf_str(&b, "='");
    _hak_buf_str(&b, value);
    _hak_buf_str(&b, "' is not valid (");
    switch (o->type) {
    case HAK_OT_BOOL: _hak_buf_str(&b, "expected 0/1/yes/no/on/off"); break;
    case HAK_OT_ENUM:
        _hak_buf_str(&b, "expected one of ");
        _hak_buf_str(&b, o->enum_names);
        break;
    case HAK_OT_STRING:
        _hak_buf_str(&b, "expected a path of at most 511 bytes");
        break;
    default:
        _hak_buf_str(&b, "expected ");
        _hak_buf_str(&b, o->type == HAK_OT_SIZE ? "a size from " : "a number from ");
        _hak_buf_i64(&b, o->min);
        _hak_buf_str(&b, " to ");
        _hak_buf_i64(&b, o->max);
        if (o->type == HAK_OT_SIZE)
            _hak_buf_str(&b, ", with an optional K/M/G suffix");
        break;
    }
    _hak_buf_str(&b, "); using the default ");
    _hak_buf_i64(&b, o->def);
    _hak_buf_char(&b, '\n');
    _hak_os_write_fd(2, b.p, b.len);
}

static void warn_unknown(const char *entry)
{
    char buf[300];
    hak_buf_t b = {buf, 0, sizeof buf};
    _hak_buf_str(&b, "hakmem: unknown variable ");
    const char *e = entry;
    while (*e && *e != '=' && b.len < 200)
        _hak_buf_char(&b, *e++);
    _hak_buf_str(&b, " ignored (see docs/ENV.md for the HAKMEM_ variables)\n");
    _hak_os_write_fd(2, b.p, b.len);
}

/* Reads the options from envp (may be NULL: defaults), warning about bad
 * values and unknown HAKMEM_ variables. */
void _hak_options_init(char **envp)
{
    for (unsigned i = 0; i < HAK_OPT_COUNT; i++) {
        hak_opt_values[i] = hak_options[i].def;
        hak_opt_strings[i] = NULL;
    }
    if (!envp)
        return;
    for (char **ep = envp; *ep; ep++) {
        const char *e = *ep;
        if (strncmp(e, "HAKMEM_", 7) != 0)
            continue;
        const char *name = e + 7;
        const char *eq = strchr(name, '=');
        if (!eq)
            continue;
        size_t nlen = (size_t)(eq - name);
        const char *value = eq + 1;
        unsigned i;
        for (i = 0; i < HAK_OPT_COUNT; i++) {
            if (strlen(hak_options[i].name) == nlen &&
                strncmp(hak_options[i].name, name, nlen) == 0)
                break;
        }
        if (i == HAK_OPT_COUNT) {
            warn_unknown(e);
            continue;
        }
        const hak_option_t *o = &hak_options[i];
        long long v = 0;
        bool ok;
        switch (o->type) {
        case HAK_OT_BOOL: ok = parse_bool(value, &v); break;
        case HAK_OT_ENUM: ok = parse_enum(o, value, &v); break;
        case HAK_OT_STRING:
            ok = *value != '\0' && strlen(value) < sizeof opt_string_store[i];
            if (ok) {
                memcpy(opt_string_store[i], value, strlen(value) + 1);
                hak_opt_strings[i] = opt_string_store[i];
            }
            v = 1;
            break;
        default:
            ok = parse_number(value, o->type == HAK_OT_SIZE, &v) && v >= o->min && v <= o->max;
            break;
        }
        if (!ok) {
            if (*value != '\0' || o->type != HAK_OT_STRING)
                warn_value(o, value);
            continue;
        }
        hak_opt_values[i] = v;
    }
}
