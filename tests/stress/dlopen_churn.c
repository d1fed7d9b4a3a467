/*
 * dlopen_churn.c — dlopen/dlclose of libraries in a loop while other
 * threads allocate.
 *
 *   dlopen_churn [ITERATIONS [THREADS]]        defaults: 200 2
 *
 * Each iteration loads (RTLD_NOW | RTLD_LOCAL), uses and unloads each of
 * these libraries that exists on the machine:
 *   libz.so.1      compress2 + uncompress round trip (zlib allocates its state)
 *   libm.so.6      cos
 *   libcrypt.so.1  crypt_r with a SHA-512 salt
 *   libexpat.so.1  parse a small XML document (many small allocations)
 *   liblzma.so.5   lzma_easy_buffer_encode (allocates its encoder)
 *   libsqlite3.so.0  an in-memory database: create, insert, select, close
 * so the dynamic loader (which allocates and frees through the process's
 * malloc: link maps, TLS blocks of the libraries, their constructors)
 * churns while THREADS threads allocate, check and free blocks. Results are
 * checked (round trips, sums). Exit 0 on success; libraries that are not
 * present are skipped (at least one must be).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int stop;
static _Atomic long thread_ops, errors;

#define ERR(...)                                  \
    do {                                          \
        if (atomic_fetch_add(&errors, 1) < 10)    \
            fprintf(stderr, "dlopen_churn: " __VA_ARGS__); \
    } while (0)

static inline uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *alloc_thread(void *arg)
{
    uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ull | 1;
    enum { N = 256 };
    unsigned char *b[N] = {0};
    size_t len[N] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < 256; i++) {
            size_t k = rnd(&s) % N;
            if (b[k]) {
                unsigned char want = (unsigned char)((uintptr_t)b[k] >> 4);
                if (b[k][0] != want || b[k][len[k] - 1] != want)
                    ERR("thread block %p damaged\n", (void *)b[k]);
                free(b[k]);
            }
            uint64_t r = rnd(&s) % 100;
            len[k] = r < 90 ? 1 + rnd(&s) % 512 : r < 99 ? 512 + rnd(&s) % 32768 : 100000 + rnd(&s) % 900000;
            b[k] = malloc(len[k]);
            if (!b[k]) {
                ERR("malloc(%zu) failed\n", len[k]);
                continue;
            }
            unsigned char v = (unsigned char)((uintptr_t)b[k] >> 4);
            b[k][0] = v;
            b[k][len[k] - 1] = v;
        }
        atomic_fetch_add_explicit(&thread_ops, 256, memory_order_relaxed);
    }
    for (int k = 0; k < N; k++)
        free(b[k]);
    return NULL;
}

/* ---- one use of each library ------------------------------------------- */
typedef int (*compress2_fn)(unsigned char *, unsigned long *, const unsigned char *,
                            unsigned long, int);
typedef int (*uncompress_fn)(unsigned char *, unsigned long *, const unsigned char *,
                             unsigned long);

static int use_zlib(void *h)
{
    compress2_fn c2 = (compress2_fn)dlsym(h, "compress2");
    uncompress_fn un = (uncompress_fn)dlsym(h, "uncompress");
    if (!c2 || !un)
        return -1;
    size_t n = 64 * 1024;
    unsigned char *src = malloc(n), *cmp = malloc(n + 1024), *out = malloc(n);
    if (!src || !cmp || !out)
        return -1;
    for (size_t i = 0; i < n; i++)
        src[i] = (unsigned char)((i * 7) ^ (i >> 5));
    unsigned long clen = n + 1024, olen = n;
    int rc = c2(cmp, &clen, src, n, 6) == 0 && un(out, &olen, cmp, clen) == 0 && olen == n &&
                     memcmp(src, out, n) == 0
                 ? 0
                 : -1;
    free(src);
    free(cmp);
    free(out);
    return rc;
}

static int use_libm(void *h)
{
    double (*cosf_)(double) = (double (*)(double))dlsym(h, "cos");
    if (!cosf_)
        return -1;
    volatile double x = 0.0;
    return cosf_(x) == 1.0 ? 0 : -1;
}

struct crypt_data_pad { char buf[32768 + 8192]; }; /* >= sizeof(struct crypt_data) */
static int use_crypt(void *h)
{
    char *(*crypt_r_)(const char *, const char *, void *) =
        (char *(*)(const char *, const char *, void *))dlsym(h, "crypt_r");
    if (!crypt_r_)
        return -1;
    struct crypt_data_pad *cd = calloc(1, sizeof *cd);
    if (!cd)
        return -1;
    char *r = crypt_r_("hakmem", "$6$saltsalt$", cd);
    int rc = r && strncmp(r, "$6$saltsalt$", 12) == 0 && strlen(r) > 40 ? 0 : -1;
    free(cd);
    return rc;
}

typedef void *(*xml_create_fn)(const char *);
typedef int (*xml_parse_fn)(void *, const char *, int, int);
typedef void (*xml_free_fn)(void *);
typedef void (*xml_set_el_fn)(void *, void (*)(void *, const char *, const char **),
                              void (*)(void *, const char *));
typedef void (*xml_set_ud_fn)(void *, void *);

static void xml_start(void *ud, const char *name, const char **attrs)
{
    (void)name;
    long *count = ud;
    (*count)++;
    for (int i = 0; attrs[i]; i += 2)
        (*count) += (long)strlen(attrs[i + 1]);
}
static void xml_end(void *ud, const char *name)
{
    (void)ud;
    (void)name;
}

static int use_expat(void *h)
{
    xml_create_fn create = (xml_create_fn)dlsym(h, "XML_ParserCreate");
    xml_parse_fn parse = (xml_parse_fn)dlsym(h, "XML_Parse");
    xml_free_fn pfree = (xml_free_fn)dlsym(h, "XML_ParserFree");
    xml_set_el_fn set_el = (xml_set_el_fn)dlsym(h, "XML_SetElementHandler");
    xml_set_ud_fn set_ud = (xml_set_ud_fn)dlsym(h, "XML_SetUserData");
    if (!create || !parse || !pfree || !set_el || !set_ud)
        return -1;
    /* 200 elements, each with an attribute of 10 characters */
    size_t cap = 64 + 200 * 40;
    char *doc = malloc(cap);
    if (!doc)
        return -1;
    size_t len = (size_t)sprintf(doc, "<root>");
    for (int i = 0; i < 200; i++)
        len += (size_t)sprintf(doc + len, "<item v=\"abcdefghij\">%d</item>", i);
    len += (size_t)sprintf(doc + len, "</root>");
    void *p = create(NULL);
    if (!p) {
        free(doc);
        return -1;
    }
    long count = 0;
    set_ud(p, &count);
    set_el(p, xml_start, xml_end);
    int ok = parse(p, doc, (int)len, 1);
    pfree(p);
    free(doc);
    return ok == 1 && count == 201 + 200 * 10 ? 0 : -1;
}

typedef int (*lzma_enc_fn)(uint32_t, int, const void *, const uint8_t *, size_t, uint8_t *,
                           size_t *, size_t);
static int use_lzma(void *h)
{
    lzma_enc_fn enc = (lzma_enc_fn)dlsym(h, "lzma_easy_buffer_encode");
    if (!enc)
        return -1;
    size_t n = 16 * 1024, cap = n + 1024, pos = 0;
    uint8_t *src = malloc(n), *out = malloc(cap);
    if (!src || !out)
        return -1;
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)(i % 251);
    /* preset 0, LZMA_CHECK_CRC32 = 1 */
    int rc = enc(0, 1, NULL, src, n, out, &pos, cap) == 0 && pos > 0 ? 0 : -1;
    free(src);
    free(out);
    return rc;
}

typedef int (*sq_open_fn)(const char *, void **);
typedef int (*sq_exec_fn)(void *, const char *, int (*)(void *, int, char **, char **), void *,
                          char **);
typedef int (*sq_close_fn)(void *);
static int sq_cb(void *ud, int n, char **vals, char **names)
{
    (void)names;
    if (n == 1 && vals[0])
        *(long *)ud = atol(vals[0]);
    return 0;
}
static int use_sqlite(void *h)
{
    sq_open_fn op = (sq_open_fn)dlsym(h, "sqlite3_open");
    sq_exec_fn ex = (sq_exec_fn)dlsym(h, "sqlite3_exec");
    sq_close_fn cl = (sq_close_fn)dlsym(h, "sqlite3_close");
    if (!op || !ex || !cl)
        return -1;
    void *db = NULL;
    if (op(":memory:", &db) != 0)
        return -1;
    long sum = -1;
    int rc = ex(db,
                "CREATE TABLE t(a INTEGER, b TEXT);"
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<500)"
                " INSERT INTO t SELECT x, printf('row %d', x) FROM c;"
                "SELECT sum(a) FROM t WHERE b LIKE 'row %';",
                sq_cb, &sum, NULL);
    cl(db);
    return rc == 0 && sum == 500 * 501 / 2 ? 0 : -1;
}

static const struct {
    const char *name;
    int (*use)(void *);
} libs[] = {
    {"libz.so.1", use_zlib},         {"libm.so.6", use_libm},
    {"libcrypt.so.1", use_crypt},    {"libexpat.so.1", use_expat},
    {"liblzma.so.5", use_lzma},      {"libsqlite3.so.0", use_sqlite},
};
#define NLIBS (sizeof libs / sizeof libs[0])

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 200;
    int nthreads = argc > 2 ? atoi(argv[2]) : 2;
    if (iters < 1 || nthreads < 0 || nthreads > 64) {
        fprintf(stderr, "usage: %s [ITERATIONS [THREADS]]\n", argv[0]);
        return 2;
    }
    alarm(600);
    int present[NLIBS] = {0}, npresent = 0;
    for (size_t i = 0; i < NLIBS; i++) {
        void *h = dlopen(libs[i].name, RTLD_NOW | RTLD_LOCAL);
        if (h) {
            present[i] = 1;
            npresent++;
            dlclose(h);
        }
    }
    if (npresent == 0) {
        fprintf(stderr, "dlopen_churn: none of the libraries is present\n");
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[64];
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, alloc_thread, (void *)(uintptr_t)(i + 1)) != 0)
            return 2;
    long loads = 0;
    for (int it = 0; it < iters; it++) {
        for (size_t i = 0; i < NLIBS; i++) {
            if (!present[i])
                continue;
            void *h = dlopen(libs[i].name, RTLD_NOW | RTLD_LOCAL);
            if (!h) {
                ERR("dlopen(%s): %s\n", libs[i].name, dlerror());
                continue;
            }
            loads++;
            if (libs[i].use(h) != 0)
                ERR("%s: wrong result (iteration %d)\n", libs[i].name, it);
            if (dlclose(h) != 0)
                ERR("dlclose(%s): %s\n", libs[i].name, dlerror());
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("dlopen_churn: %ld loads of %d libraries (", loads, npresent);
    int first = 1;
    for (size_t i = 0; i < NLIBS; i++)
        if (present[i]) {
            printf("%s%s", first ? "" : " ", libs[i].name);
            first = 0;
        }
    long e = atomic_load(&errors);
    printf("), %d threads (%ld ops), %.2f s, %ld errors: %s\n", nthreads,
           atomic_load(&thread_ops), secs, e, e ? "FAILED" : "OK");
    return e ? 1 : 0;
}
