/*
 * linked: a program linked with -lhakmem (dynamically, rpath to build/, or
 * statically with libhakmem.a when built with -DITEST_STATIC).
 *
 * Checks that the hak_ API works (hak_malloc/hak_free/hak_calloc/...,
 * hak_version, hak_stats_get, hak_stats_print), that blocks can be passed
 * between the hak_ names and the standard names, and that plain malloc
 * resolves to hakmem: via dladdr (dynamic build) and via the statistics
 * counters when HAKMEM_STATS is set (both builds).
 */
#include "itest.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <strings.h>
#include <sys/stat.h>

#include "hakmem.h"

#ifdef ITEST_STATIC
#define NAME "static"
#else
#define NAME "linked"
#endif

static int stats_on;

static void check_version(void)
{
    const char *v = hak_version();
    CHECK(v != NULL, "hak_version() returned NULL");
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", HAKMEM_VERSION_MAJOR, HAKMEM_VERSION_MINOR, HAKMEM_VERSION_PATCH);
    if (strcmp(v, want) != 0)
        FAIL("hak_version() = \"%s\", header says \"%s\"", v, want);
}

#ifndef ITEST_STATIC
/* Every standard entry point visible in the process is hakmem's. */
static void check_symbols_resolve_to_hakmem(void)
{
    static const char *names[] = {"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
                                  "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
                                  "malloc_trim", "malloc_stats", "mallinfo2", "mallopt", "free_sized",
                                  "free_aligned_sized", "hak_malloc"};
    Dl_info hak_info;
    if (!dladdr((void *)hak_malloc, &hak_info) || !hak_info.dli_fname)
        FAIL("dladdr(hak_malloc) failed");
    if (!strstr(hak_info.dli_fname, "libhakmem"))
        FAIL("hak_malloc comes from %s, not libhakmem", hak_info.dli_fname);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *sym = dlsym(RTLD_DEFAULT, names[i]);
        if (!sym)
            FAIL("symbol %s not found in the process", names[i]);
        Dl_info info;
        if (!dladdr(sym, &info) || !info.dli_fname)
            FAIL("dladdr(%s) failed", names[i]);
        if (strcmp(info.dli_fname, hak_info.dli_fname) != 0)
            FAIL("%s resolves to %s, not to %s", names[i], info.dli_fname, hak_info.dli_fname);
    }
    /* the address the program itself calls */
    void *(*volatile m)(size_t) = malloc;
    Dl_info info;
    if (!dladdr((void *)m, &info) || !info.dli_fname || strcmp(info.dli_fname, hak_info.dli_fname) != 0)
        FAIL("the program's malloc is %s, not hakmem's", info.dli_fname ? info.dli_fname : "?");
}
#endif

static void check_hak_api(void)
{
    /* hak_malloc / hak_free */
    for (size_t n = 1; n <= ((size_t)8 << 20); n = n * 3 + 1) {
        unsigned char *p = hak_malloc(n);
        if (!p)
            FAIL("hak_malloc(%zu) returned NULL", n);
        size_t us = hak_malloc_usable_size(p);
        if (us < n)
            FAIL("hak_malloc_usable_size = %zu < %zu", us, n);
        itest_fill(p, n, 1);
        if (itest_check(p, n, 1) != (size_t)-1)
            FAIL("hak_malloc(%zu) block not writable/readable", n);
        /* the standard name agrees on foreign-named blocks */
        if (malloc_usable_size(p) != us)
            FAIL("malloc_usable_size (%zu) != hak_malloc_usable_size (%zu)", malloc_usable_size(p), us);
        hak_free(p);
    }
    hak_free(NULL);

    /* calloc zeroes, realloc keeps content */
    unsigned char *c = hak_calloc(1000, 3);
    CHECK(c != NULL);
    for (int i = 0; i < 3000; i++)
        CHECK(c[i] == 0, "hak_calloc byte %d not zero", i);
    itest_fill(c, 3000, 2);
    unsigned char *r = hak_realloc(c, 100000);
    CHECK(r != NULL);
    CHECK(itest_check_as(r, c, 3000, 3000, 2) == (size_t)-1, "hak_realloc lost content");
    errno = 0;
    CHECK(hak_reallocarray(r, ITEST_OPAQUE(SIZE_MAX / 2), 3) == NULL && errno == ENOMEM,
          "hak_reallocarray overflow must fail with ENOMEM");
    hak_free(r);
    errno = 0;
    CHECK(hak_malloc(ITEST_OPAQUE(SIZE_MAX)) == NULL && errno == ENOMEM, "hak_malloc(SIZE_MAX)");
    errno = 0;
    CHECK(hak_calloc(ITEST_OPAQUE(SIZE_MAX / 2), 3) == NULL && errno == ENOMEM, "hak_calloc overflow");

    /* aligned variants */
    void *a = NULL;
    CHECK(hak_posix_memalign(&a, 4096, 5000) == 0 && a && (uintptr_t)a % 4096 == 0);
    hak_free(a);
    a = (void *)1;
    CHECK(hak_posix_memalign(&a, 24, 10) == EINVAL && a == (void *)1, "hak_posix_memalign(24) not EINVAL");
    a = hak_aligned_alloc(1u << 16, 1u << 16);
    CHECK(a && (uintptr_t)a % (1u << 16) == 0);
    hak_free_aligned_sized(a, 1u << 16, 1u << 16);
    a = hak_memalign(256, 1000);
    CHECK(a && (uintptr_t)a % 256 == 0);
    hak_free(a);
    a = hak_valloc(10);
    CHECK(a && (uintptr_t)a % (uintptr_t)itest_page_size() == 0);
    hak_free(a);
    a = hak_pvalloc(10);
    CHECK(a && (uintptr_t)a % (uintptr_t)itest_page_size() == 0 &&
          hak_malloc_usable_size(a) >= (size_t)itest_page_size());
    hak_free(a);
    a = hak_malloc(777);
    CHECK(a != NULL);
    hak_free_sized(a, 777);

    /* blocks cross between the hak_ names and the standard names */
    for (int i = 0; i < 1000; i++) {
        size_t n = 1 + (size_t)i * 37;
        void *p = hak_malloc(n);
        void *q = malloc(n);
        CHECK(p && q);
        memset(p, 1, n);
        memset(q, 2, n);
        free(p);
        q = hak_realloc(q, n + 10);
        CHECK(q != NULL);
        hak_free(q);
    }
    int t = hak_malloc_trim(0);
    CHECK(t == 0 || t == 1, "hak_malloc_trim returned %d", t);
}

static void check_stats(void)
{
    hak_stats_t s0, s1, s2;
    memset(&s0, 0xFF, sizeof s0);
    CHECK(hak_stats_get(&s0) == 0, "hak_stats_get failed");

    enum { N = 10000 };
    static void *ps[N];
    for (int i = 0; i < N; i++) {
        ps[i] = malloc(100);
        CHECK(ps[i] != NULL);
        memset(ps[i], 3, 100);
    }
    void *big = malloc(16u << 20);
    CHECK(big != NULL);
    memset(big, 4, 1u << 20);
    CHECK(hak_stats_get(&s1) == 0);
    for (int i = 0; i < N; i++)
        free(ps[i]);
    free(big);
    CHECK(hak_stats_get(&s2) == 0);

    /* os_* counters are always kept */
    if (s1.os_mmap == 0)
        FAIL("stats: os_mmap is 0 after allocating 16 MiB");
    if (s1.os_mapped_bytes < (16u << 20))
        FAIL("stats: os_mapped_bytes = %llu with a 16 MiB block live", (unsigned long long)s1.os_mapped_bytes);
    if (s1.os_mapped_peak < s1.os_mapped_bytes)
        FAIL("stats: os_mapped_peak %llu < os_mapped_bytes %llu", (unsigned long long)s1.os_mapped_peak,
             (unsigned long long)s1.os_mapped_bytes);

    if (stats_on) {
        uint64_t dm = s1.malloc_calls - s0.malloc_calls, df = s2.free_calls - s1.free_calls;
        if (dm < N + 1)
            FAIL("HAKMEM_STATS=1: malloc_calls grew by %llu over %d malloc() calls: malloc is not hakmem's",
                 (unsigned long long)dm, N + 1);
        if (df < N + 1)
            FAIL("HAKMEM_STATS=1: free_calls grew by %llu over %d free() calls", (unsigned long long)df, N + 1);
        if (s1.live_bytes < s0.live_bytes + (uint64_t)N * 100)
            FAIL("HAKMEM_STATS=1: live_bytes %llu -> %llu after %d x 100 B", (unsigned long long)s0.live_bytes,
                 (unsigned long long)s1.live_bytes, N);
        if (s2.live_bytes >= s1.live_bytes)
            FAIL("HAKMEM_STATS=1: live_bytes did not drop after free (%llu -> %llu)",
                 (unsigned long long)s1.live_bytes, (unsigned long long)s2.live_bytes);
        if (s1.large_allocs == 0)
            FAIL("HAKMEM_STATS=1: large_allocs is 0 after a 16 MiB malloc");
    } else {
        if (s1.malloc_calls != 0 || s1.free_calls != 0)
            FAIL("statistics disabled, but malloc_calls=%llu free_calls=%llu (documented to read 0)",
                 (unsigned long long)s1.malloc_calls, (unsigned long long)s1.free_calls);
    }

    /* hak_stats_print writes to stderr, not stdout */
    fflush(stdout);
    fflush(stderr);
    char path[] = "/tmp/itest_statsXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    int saved = dup(2);
    CHECK(saved >= 0);
    dup2(fd, 2);
    hak_stats_print();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    close(fd);
    if (st.st_size == 0)
        FAIL("hak_stats_print() wrote nothing to stderr");
}

/* A small multi-threaded workload through the standard names. */
static void check_head(const unsigned char *b, size_t n, unsigned k)
{
    size_t m = n < 64 ? n : 64;
    for (size_t j = 0; j < m; j++)
        if (b[j] != (unsigned char)k)
            FAIL("workload block %p (slot %u, %zu B) corrupted at %zu", (const void *)b, k, n, j);
}

static void *work(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 1000 + 1;
    void *slot[128] = {0};
    size_t slot_n[128] = {0};
    for (int i = 0; i < 100000; i++) {
        unsigned k = (unsigned)(itest_rand(&rng) % 128);
        if (slot[k]) {
            check_head(slot[k], slot_n[k], k);
            free(slot[k]);
        }
        size_t n = 1 + itest_rand(&rng) % (i % 100 == 0 ? 200000 : 2000);
        slot[k] = malloc(n);
        if (!slot[k])
            FAIL("malloc(%zu) failed in workload", n);
        memset(slot[k], (int)k, n < 64 ? n : 64);
        slot_n[k] = n;
    }
    for (int k = 0; k < 128; k++) {
        if (slot[k])
            check_head(slot[k], slot_n[k], k);
        free(slot[k]);
    }
    return NULL;
}

static void workload(void)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, work, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
}

int main(void)
{
    itest_init(NAME, 60);
    /* off when unset, empty, or one of the documented "off" spellings */
    const char *e = getenv("HAKMEM_STATS");
    stats_on = e && *e && strcmp(e, "0") != 0 && strcasecmp(e, "off") != 0 && strcasecmp(e, "no") != 0 &&
               strcasecmp(e, "false") != 0 && strcasecmp(e, "n") != 0;

    check_version();
#ifndef ITEST_STATIC
    check_symbols_resolve_to_hakmem();
#endif
    check_hak_api();
    check_stats();
    workload();
    printf("%s: OK (hakmem %s, statistics %s)\n", NAME, hak_version(), stats_on ? "on" : "off");
    return 0;
}
