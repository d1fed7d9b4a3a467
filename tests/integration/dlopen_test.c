/*
 * dlopen_test: dlopen/dlclose system libraries in a loop, and use them
 * (several of them allocate through malloc internally: zlib, expat, sqlite,
 * bzip2, xz), while other threads allocate and free concurrently.
 * dlopen itself allocates (link maps, TLS, dlerror strings) with malloc.
 */
#include "itest.h"

#include <dlfcn.h>
#include <pthread.h>

#define ITERATIONS 80

static volatile int stop;
static volatile unsigned long thread_ops[2];

static void *allocator_thread(void *arg)
{
    int id = (int)(uintptr_t)arg;
    uint64_t rng = 1000 + (uint64_t)id;
    void *slot[256] = {0};
    size_t slot_n[256] = {0};
    while (!stop) {
        unsigned k = (unsigned)(itest_rand(&rng) % 256);
        if (slot[k]) {
            size_t bad = itest_check(slot[k], slot_n[k], 11);
            if (bad != (size_t)-1)
                FAIL("allocating thread %d: block %p (%zu B) corrupted at %zu", id, slot[k], slot_n[k], bad);
            free(slot[k]);
        }
        uint64_t r = itest_rand(&rng);
        slot_n[k] = r % 64 == 0 ? 50000 + r % 100000 : 1 + r % 1500;
        slot[k] = malloc(slot_n[k]);
        if (!slot[k])
            FAIL("malloc(%zu) returned NULL", slot_n[k]);
        itest_fill(slot[k], slot_n[k], 11);
        thread_ops[id]++;
    }
    for (int k = 0; k < 256; k++)
        free(slot[k]);
    return NULL;
}

static void *must_sym(void *h, const char *lib, const char *name)
{
    void *s = dlsym(h, name);
    if (!s)
        FAIL("dlsym(%s, %s): %s", lib, name, dlerror());
    return s;
}

/* ---- per-library exercises; each returns a value checked by the caller ---- */

static int use_libm(void *h)
{
    double (*cos_)(double) = (double (*)(double))must_sym(h, "libm", "cos");
    double (*sqrt_)(double) = (double (*)(double))must_sym(h, "libm", "sqrt");
    return cos_(0.0) == 1.0 && sqrt_(16.0) == 4.0;
}

static unsigned char src_data[100000];

static int use_libz(void *h)
{
    typedef int (*compress2_t)(unsigned char *, unsigned long *, const unsigned char *, unsigned long, int);
    typedef int (*uncompress_t)(unsigned char *, unsigned long *, const unsigned char *, unsigned long);
    compress2_t compress2_ = (compress2_t)must_sym(h, "libz", "compress2");
    uncompress_t uncompress_ = (uncompress_t)must_sym(h, "libz", "uncompress");
    unsigned long clen = sizeof src_data + 1024, dlen = sizeof src_data;
    unsigned char *comp = malloc(clen), *out = malloc(dlen);
    CHECK(comp && out);
    int ok = compress2_(comp, &clen, src_data, sizeof src_data, 6) == 0 &&
             uncompress_(out, &dlen, comp, clen) == 0 && dlen == sizeof src_data &&
             memcmp(out, src_data, dlen) == 0;
    free(comp);
    free(out);
    return ok;
}

static int expat_elements;
static void expat_start(void *ud, const char *name, const char **attrs)
{
    (void)ud;
    (void)name;
    (void)attrs;
    expat_elements++;
}

static int use_libexpat(void *h)
{
    typedef void *(*create_t)(const char *);
    typedef void (*seth_t)(void *, void (*)(void *, const char *, const char **), void (*)(void *, const char *));
    typedef int (*parse_t)(void *, const char *, int, int);
    typedef void (*pfree_t)(void *);
    create_t create = (create_t)must_sym(h, "libexpat", "XML_ParserCreate");
    seth_t seth = (seth_t)must_sym(h, "libexpat", "XML_SetElementHandler");
    parse_t parse = (parse_t)must_sym(h, "libexpat", "XML_Parse");
    pfree_t pfree = (pfree_t)must_sym(h, "libexpat", "XML_ParserFree");
    void *p = create(NULL);
    if (!p)
        return 0;
    seth(p, expat_start, NULL);
    expat_elements = 0;
    char doc[8192];
    size_t n = (size_t)snprintf(doc, sizeof doc, "<root>");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "<e a=\"%d\">t</e>", i);
    n += (size_t)snprintf(doc + n, sizeof doc - n, "</root>");
    int ok = parse(p, doc, (int)n, 1) == 1 && expat_elements == 201;
    pfree(p);
    return ok;
}

static int use_libsqlite3(void *h)
{
    typedef int (*open_t)(const char *, void **);
    typedef int (*exec_t)(void *, const char *, int (*)(void *, int, char **, char **), void *, char **);
    typedef int (*close_t)(void *);
    open_t open_ = (open_t)must_sym(h, "libsqlite3", "sqlite3_open");
    exec_t exec_ = (exec_t)must_sym(h, "libsqlite3", "sqlite3_exec");
    close_t close_ = (close_t)must_sym(h, "libsqlite3", "sqlite3_close");
    void *db = NULL;
    if (open_(":memory:", &db) != 0)
        return 0;
    int ok = exec_(db,
                   "CREATE TABLE t(a INTEGER, b TEXT);"
                   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<2000)"
                   " INSERT INTO t SELECT x, hex(randomblob(20)) FROM c;"
                   "CREATE INDEX ib ON t(b);"
                   "SELECT count(*), sum(a) FROM t GROUP BY a % 7;",
                   NULL, NULL, NULL) == 0;
    close_(db);
    return ok;
}

static int use_libbz2(void *h)
{
    typedef int (*comp_t)(char *, unsigned *, char *, unsigned, int, int, int);
    typedef int (*decomp_t)(char *, unsigned *, char *, unsigned, int, int);
    comp_t comp = (comp_t)must_sym(h, "libbz2", "BZ2_bzBuffToBuffCompress");
    decomp_t decomp = (decomp_t)must_sym(h, "libbz2", "BZ2_bzBuffToBuffDecompress");
    unsigned clen = sizeof src_data + 2000, dlen = sizeof src_data;
    char *c = malloc(clen), *d = malloc(dlen);
    CHECK(c && d);
    int ok = comp(c, &clen, (char *)src_data, 20000, 1, 0, 0) == 0 &&
             decomp(d, &dlen, c, clen, 0, 0) == 0 && dlen == 20000 &&
             memcmp(d, src_data, dlen) == 0;
    free(c);
    free(d);
    return ok;
}

struct lib {
    const char *soname;
    int (*use)(void *);
    int required;
    int loaded;
};

static struct lib libs[] = {
    {"libm.so.6", use_libm, 1, 0},         {"libz.so.1", use_libz, 0, 0},
    {"libexpat.so.1", use_libexpat, 0, 0}, {"libsqlite3.so.0", use_libsqlite3, 0, 0},
    {"libbz2.so.1.0", use_libbz2, 0, 0},   {"liblzma.so.5", NULL, 0, 0},
};
#define NLIBS (sizeof libs / sizeof libs[0])

int main(void)
{
    itest_init("dlopen_test", 60);
    uint64_t s = 5;
    for (size_t i = 0; i < sizeof src_data; i++)
        src_data[i] = (unsigned char)("abcdefgh"[itest_rand(&s) % 8]);

    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, allocator_thread, (void *)(uintptr_t)i) == 0);

    for (int it = 0; it < ITERATIONS; it++) {
        void *handles[NLIBS] = {0};
        for (size_t l = 0; l < NLIBS; l++) {
            int flags = RTLD_NOW | ((it & 1) ? RTLD_GLOBAL : RTLD_LOCAL);
            handles[l] = dlopen(libs[l].soname, flags);
            if (!handles[l]) {
                if (libs[l].required)
                    FAIL("dlopen(%s): %s", libs[l].soname, dlerror());
                continue;
            }
            libs[l].loaded++;
            if (libs[l].use && !libs[l].use(handles[l]))
                FAIL("iteration %d: using %s gave a wrong result", it, libs[l].soname);
        }
        /* a failing dlopen allocates an error string */
        if (dlopen("libdoes-not-exist-itest.so.7", RTLD_NOW) != NULL)
            FAIL("dlopen of a missing library succeeded");
        const char *err = dlerror();
        if (!err || !*err)
            FAIL("dlerror() empty after a failed dlopen");
        /* close in a different order from opening */
        for (size_t l = NLIBS; l-- > 0;)
            if (handles[l] && dlclose(handles[l]) != 0)
                FAIL("dlclose(%s): %s", libs[l].soname, dlerror());
    }

    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    if (thread_ops[0] == 0 || thread_ops[1] == 0)
        FAIL("allocating threads made no progress");

    printf("dlopen_test: OK (");
    for (size_t l = 0; l < NLIBS; l++)
        printf("%s%s x%d", l ? ", " : "", libs[l].soname, libs[l].loaded);
    printf("; %lu + %lu allocations alongside)\n", thread_ops[0], thread_ops[1]);
    return 0;
}
