/*
 * fuzz_api.c — libFuzzer target for the hakmem API.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined and linked with the
 * core objects (every core/ source but override.c, so the standard malloc names
 * stay ASan's) compiled with the same sanitizers; see tests/reliability.mk
 * (targets fuzz, fuzz-smoke). Built twice: plain, and with -DHAK_HARDENED.
 *
 * The input is read as a sequence of operations. Each takes an opcode byte,
 * a slot byte (one of SLOTS live-block slots) and, as the operation needs,
 * size and alignment descriptors. Sizes range from 0 to several MiB, with
 * boundary values (size-class edges, 512 KiB, 2 MiB) and absurd ones
 * (SIZE_MAX, SIZE_MAX - k, PTRDIFF_MAX, 1 TiB); alignments are powers of two
 * from 1 to 4 MiB, non-powers and 0. Every entry point is exercised:
 * hak_malloc, hak_calloc, hak_realloc, hak_reallocarray,
 * hak_posix_memalign, hak_aligned_alloc, hak_memalign, hak_valloc,
 * hak_pvalloc, hak_free, hak_free_sized, hak_free_aligned_sized,
 * hak_malloc_usable_size, hak_malloc_trim.
 *
 * The oracle keeps, per slot, the block, its requested size, the alignment
 * asked for and a content seed. It checks:
 *   - results: NULL with errno ENOMEM for requests that cannot be met,
 *     EINVAL for invalid alignments, a block otherwise (within the memory
 *     budget);
 *   - alignment of every block (at least 16, or the alignment asked for;
 *     a page for valloc/pvalloc);
 *   - that a new block overlaps no live block;
 *   - hak_malloc_usable_size >= requested size;
 *   - content: every block is filled with its pattern and checked before it
 *     is freed or reallocated (realloc: the common prefix must survive, a
 *     failed realloc must leave the block intact); calloc'd blocks are zero.
 * Large blocks are filled and checked sparsely (first and last 4 KiB, one
 * byte per 64 KiB). ASan does not see inside hakmem's blocks (the core
 * takes its memory with mmap); the oracle does that checking. Everything
 * still live is freed at the end of each input.
 *
 * Seeds: tests/fuzz/corpus/. Inputs that once exposed a bug are kept in
 * tests/fuzz/regress/ and replayed by tests/fuzz/run.sh before fuzzing
 * (realloc_tiny_to_absurd: realloc of blocks of 0-24 bytes to SIZE_MAX,
 * SIZE_MAX - 3, PTRDIFF_MAX and 1 TiB).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

#define SLOTS 64
#define BUDGET ((size_t)96 << 20) /* live bytes at most (requests beyond are skipped) */
#define MAX_OPS 4096

typedef struct {
    unsigned char *p;
    size_t size;     /* requested */
    size_t align;    /* asked for (0: default) */
    uint32_t seed;
    uint8_t zeroed;  /* calloc'd and not yet filled */
} slot_t;

static slot_t slots[SLOTS];
static size_t live_bytes;

typedef struct {
    const uint8_t *d;
    size_t n, i;
} reader_t;

static uint8_t u8(reader_t *r) { return r->i < r->n ? r->d[r->i++] : 0; }
static uint32_t u32(reader_t *r)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++)
        v |= (uint32_t)u8(r) << (8 * k);
    return v;
}

static void die(const char *what, const void *p, size_t size, size_t extra)
{
    fprintf(stderr, "fuzz_api: ORACLE FAILURE: %s (block %p, size %zu, %zu)\n", what, p, size,
            extra);
    abort();
}

/* ---- sizes and alignments ------------------------------------------------ */
static size_t pick_size(reader_t *r)
{
    uint8_t k = u8(r);
    uint32_t v = u32(r);
    static const size_t edge[] = {
        0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 127, 128, 129, 1023, 1024,
        1025, 4095, 4096, 4097, 8184, 8192, 65535, 65536, 65537, 131072,
        512 * 1024 - 8, 512 * 1024 - 1, 512 * 1024, 512 * 1024 + 1,
        (2u << 20) - 1, 2u << 20, (2u << 20) + 1, (4u << 20) + 4096,
    };
    if (k < 110)
        return v % 257;                              /* tiny and small */
    if (k < 170)
        return v % 8193;                             /* up to 8 KiB */
    if (k < 212)
        return v % (256 * 1024 + 1);                 /* up to 256 KiB */
    if (k < 222)
        return v % ((size_t)3 << 20);                /* up to 3 MiB */
    if (k < 224)
        return v % ((size_t)8 << 20);                /* up to 8 MiB */
    if (k < 244)
        return edge[v % (sizeof edge / sizeof edge[0])];
    switch (v % 8) {                                 /* absurd */
    case 0: return SIZE_MAX;
    case 1: return SIZE_MAX - (v >> 8) % 16;
    case 2: return (size_t)PTRDIFF_MAX;
    case 3: return (size_t)PTRDIFF_MAX + 1 + (v >> 8) % 4096;
    case 4: return (size_t)1 << 40;
    case 5: return SIZE_MAX / 2;
    case 6: return (size_t)PTRDIFF_MAX - ((v >> 8) % (8u << 20));
    default: return SIZE_MAX - 4096 * ((v >> 8) % 1024);
    }
}

static size_t pick_align(reader_t *r)
{
    uint8_t k = u8(r);
    if (k < 200)
        return (size_t)1 << (k % 23);                /* 1 .. 4 MiB */
    if (k < 215)
        return 0;
    if (k < 240)
        return (size_t)(k - 214) * 24;               /* non-powers of two */
    return (size_t)1 << (32 + k % 32);               /* enormous */
}

/* Above 64 GiB a request may succeed (hakmem reserves address space with
 * MAP_NORESERVE, so 1 TiB can be had) or fail with ENOMEM: either way the
 * block is not touched, only checked for alignment and freed at once.
 * Above 2^48 (more than the address space) it must fail. */
static int huge(size_t n) { return n > ((size_t)1 << 36); }
static int absurd(size_t n) { return n > ((size_t)1 << 48); }

/* ---- content ---------------------------------------------------------- */
static inline unsigned char pat(uint32_t seed, size_t i)
{
    uint32_t x = seed ^ (uint32_t)(i * 2654435761u) ^ (uint32_t)(i >> 12);
    return (unsigned char)(x ^ (x >> 13));
}

#define DENSE 8192
/* Bytes filled and checked: all of a block up to DENSE bytes; of a bigger
 * one, the first and last 4 KiB and one byte in every 64 KiB (touching
 * every page of MiB-sized blocks would make the fuzzer crawl). */
#define STRIDE ((size_t)65536)
static inline size_t next_checked(size_t i, size_t n)
{
    i++;
    if (n <= DENSE || i < 4096 || i + 4096 >= n)
        return i;
    size_t j = (i & ~(STRIDE - 1)) + 2049;
    if (j < i)
        j += STRIDE;
    return j < n - 4096 ? j : n - 4096;
}

static void fill(slot_t *s)
{
    for (size_t i = 0; i < s->size; i = next_checked(i, s->size))
        s->p[i] = pat(s->seed, i);
    s->zeroed = 0;
}

/* Checks bytes [0, upto) of block q against slot s's pattern (seed and
 * size as filled). */
static void verify(const slot_t *s, const unsigned char *q, size_t upto, const char *when)
{
    if (upto > s->size)
        upto = s->size;
    for (size_t i = 0; i < upto; i = next_checked(i, s->size)) {
        unsigned char want = s->zeroed ? 0 : pat(s->seed, i);
        if (q[i] != want) {
            fprintf(stderr, "fuzz_api: byte %zu is %#x, expected %#x (%s)\n", i, q[i], want,
                    when);
            die("block content changed", q, s->size, i);
        }
    }
}

static void check_align(const void *p, size_t align, const char *fn)
{
    size_t a = align < 16 ? 16 : align;
    if ((uintptr_t)p & (a - 1)) {
        fprintf(stderr, "fuzz_api: %s returned %p, not aligned to %zu\n", fn, p, a);
        die("misaligned block", p, 0, a);
    }
}

static void check_overlap(const unsigned char *p, size_t n, int self)
{
    size_t len = n ? n : 1;
    for (int i = 0; i < SLOTS; i++) {
        if (i == self || !slots[i].p)
            continue;
        size_t ol = slots[i].size ? slots[i].size : 1;
        if (p < slots[i].p + ol && slots[i].p < p + len) {
            fprintf(stderr, "fuzz_api: new block %p (%zu) overlaps slot %d: %p (%zu)\n",
                    (void *)p, n, i, (void *)slots[i].p, slots[i].size);
            die("overlapping blocks", p, n, (size_t)i);
        }
    }
}

static void check_usable(const slot_t *s)
{
    size_t us = hak_malloc_usable_size(s->p);
    if (us < s->size)
        die("usable size below the requested size", s->p, s->size, us);
}

/* ---- slot management ------------------------------------------------------ */
/* Checks and frees the slot's block, if any. */
static void drop(slot_t *s)
{
    if (!s->p)
        return;
    verify(s, s->p, s->size, "before free");
    hak_free(s->p);
    live_bytes -= s->size;
    s->p = NULL;
    s->size = 0;
}

static void install(slot_t *s, void *p, size_t n, size_t align, uint32_t seed, int zeroed,
                    const char *fn)
{
    check_align(p, align, fn);
    check_overlap(p, n, (int)(s - slots));
    s->p = p;
    s->size = n;
    s->align = align;
    s->seed = seed;
    s->zeroed = (uint8_t)zeroed;
    live_bytes += n;
    if (zeroed)
        verify(s, p, n, "calloc contents");
    check_usable(s);
    fill(s);
}

static int fits(size_t n) { return !huge(n) && n <= BUDGET - live_bytes; }

/* A failed request: NULL, with errno ENOMEM (or EINVAL where allowed). */
static void expect_fail(void *p, int err, int allow_einval, size_t n, const char *fn)
{
    if (p)
        die("absurd request succeeded", p, n, 0);
    if (err != ENOMEM && !(allow_einval && err == EINVAL)) {
        fprintf(stderr, "fuzz_api: %s(%zu) failed with errno %d\n", fn, n, err);
        die("wrong errno", NULL, n, (size_t)err);
    }
}

/* The result of a huge request (see huge()). */
static void huge_done(void *p, int err, int allow_einval, size_t n, size_t align, const char *fn)
{
    if (absurd(n) || !p)
        return expect_fail(p, err, allow_einval, n, fn);
    check_align(p, align, fn);
    hak_free(p);
}

/* ---- one operation ------------------------------------------------------ */
static void run_op(reader_t *r)
{
    uint8_t op = u8(r) % 16;
    slot_t *s = &slots[u8(r) % SLOTS];
    uint32_t seed = u32(r);
    switch (op) {
    case 0: { /* malloc */
        size_t n = pick_size(r);
        if (!fits(n) && !huge(n))
            return;
        drop(s);
        errno = 0;
        void *p = hak_malloc(n);
        int e = errno;
        if (huge(n))
            return huge_done(p, e, 0, n, 16, "hak_malloc");
        if (!p)
            die("hak_malloc failed", NULL, n, (size_t)e);
        install(s, p, n, 0, seed, 0, "hak_malloc");
        return;
    }
    case 1: { /* calloc */
        size_t a = pick_size(r), b = u8(r) % 5;
        if (u8(r) < 16)
            b = SIZE_MAX / (a ? a : 1) + 1; /* overflowing product */
        size_t n;
        int ovf = __builtin_mul_overflow(a, b, &n);
        if (!ovf && !fits(n) && !huge(n))
            return;
        drop(s);
        errno = 0;
        void *p = hak_calloc(a, b);
        int e = errno;
        if (ovf)
            return expect_fail(p, e, 0, n, "hak_calloc");
        if (huge(n))
            return huge_done(p, e, 0, n, 16, "hak_calloc");
        if (!p)
            die("hak_calloc failed", NULL, n, (size_t)e);
        install(s, p, n, 0, seed, 1, "hak_calloc");
        return;
    }
    case 2:
    case 3: { /* realloc / reallocarray */
        size_t n, a = 0, b = 0;
        int ovf = 0;
        if (op == 2) {
            n = pick_size(r);
        } else {
            a = pick_size(r) % 65536;
            b = u8(r) % 9;
            if (u8(r) < 16)
                b = SIZE_MAX / (a ? a : 1) + 1;
            ovf = __builtin_mul_overflow(a, b, &n);
        }
        if (!ovf && !fits(n) && !huge(n) && n > s->size)
            return;
        if (s->p) {
            verify(s, s->p, s->size, "before realloc");
            check_usable(s);
        }
        slot_t old = *s;
        errno = 0;
        void *p = op == 2 ? hak_realloc(s->p, n) : hak_reallocarray(s->p, a, b);
        int e = errno;
        const char *fn = op == 2 ? "hak_realloc" : "hak_reallocarray";
        if (ovf || absurd(n) || (huge(n) && !p)) {
            expect_fail(p, e, 0, n, fn);
            if (old.p)
                verify(&old, old.p, old.size, "after a failed realloc");
            return;
        }
        if (huge(n)) {
            /* granted: the old contents moved, the old block is gone */
            check_align(p, 16, fn);
            if (old.p) {
                verify(&old, p, old.size, "huge realloc prefix");
                live_bytes -= old.size;
                s->p = NULL;
                s->size = 0;
            }
            hak_free(p);
            return;
        }
        if (n == 0 && old.p) {
            /* frees the block; may return NULL (glibc, hakmem) or a block */
            live_bytes -= old.size;
            s->p = NULL;
            s->size = 0;
            if (p)
                install(s, p, 0, 0, seed, 0, fn);
            return;
        }
        if (!p)
            die("realloc failed", old.p, n, (size_t)e);
        if (old.p) {
            /* the common prefix moved with the block */
            slot_t moved = old;
            verify(&moved, p, old.size < n ? old.size : n, "realloc prefix");
            live_bytes -= old.size;
        }
        s->p = NULL;
        install(s, p, n, 0, seed, 0, fn);
        return;
    }
    case 4:
    case 5:
    case 6:
    case 7:
    case 8: { /* posix_memalign, aligned_alloc, memalign, valloc, pvalloc */
        size_t align = pick_align(r), n = pick_size(r);
        if (op == 7 || op == 8)
            align = 4096;
        size_t need = n;
        if (op == 8 && !huge(n))
            need = (n + 4095) & ~(size_t)4095;
        if (align > ((size_t)1 << 30) && op <= 6) {
            /* enormous alignment: may fail (ENOMEM/EINVAL) or, for a small
             * block, succeed with a huge reserved mapping; freed at once */
            void *p = NULL;
            errno = 0;
            int rc = op == 4 ? hak_posix_memalign(&p, align, n)
                     : op == 5 ? (p = hak_aligned_alloc(align, n), p ? 0 : errno)
                               : (p = hak_memalign(align, n), p ? 0 : errno);
            if (p && op == 4 && rc != 0)
                die("posix_memalign failed but set the pointer", p, n, align);
            if (!p || rc != 0) {
                if (rc != ENOMEM && rc != EINVAL)
                    die("enormous alignment: wrong error", NULL, n, (size_t)rc);
                return;
            }
            if (absurd(n))
                die("absurd request with an enormous alignment succeeded", p, n, align);
            if (huge(n)) {
                hak_free(p);
                return;
            }
            check_align(p, align, "aligned allocation");
            hak_free(p);
            return;
        }
        if (!huge(need) && !fits(need + align))
            return;
        drop(s);
        void *p = NULL;
        errno = 0;
        int rc = 0, e;
        const char *fn;
        size_t eff = align; /* alignment the block must have */
        switch (op) {
        case 4:
            fn = "hak_posix_memalign";
            p = (void *)0x1;
            rc = hak_posix_memalign(&p, align, n);
            e = errno;
            if (align < sizeof(void *) || (align & (align - 1))) {
                if (rc != EINVAL || p != (void *)0x1)
                    die("posix_memalign with an invalid alignment did not fail with EINVAL",
                        p, n, align);
                return;
            }
            if (huge(n)) {
                if (rc == 0 && !absurd(n)) {
                    check_align(p, align, fn);
                    hak_free(p);
                } else if (rc != ENOMEM || p != (void *)0x1) {
                    die("posix_memalign of an absurd request did not fail with ENOMEM", p, n,
                        (size_t)rc);
                }
                return;
            }
            if (rc != 0)
                die("posix_memalign failed", NULL, n, (size_t)rc);
            break;
        case 5:
            fn = "hak_aligned_alloc";
            p = hak_aligned_alloc(align, n);
            e = errno;
            if (align == 0 || (align & (align - 1))) {
                /* hakmem rejects these with EINVAL (C17 leaves them undefined) */
                if (p)
                    install(s, p, n, 16, seed, 0, fn);
                else if (e != EINVAL)
                    die("aligned_alloc with a bad alignment: wrong errno", NULL, n, (size_t)e);
                return;
            }
            if (huge(n))
                return huge_done(p, e, 1, n, align, fn);
            if (!p)
                die("aligned_alloc failed", NULL, n, (size_t)e);
            break;
        case 6:
            fn = "hak_memalign";
            p = hak_memalign(align, n);
            e = errno;
            /* a non-power of two is rounded up to the next power */
            eff = 1;
            while (eff < align)
                eff <<= 1;
            if (huge(n))
                return huge_done(p, e, 1, n, eff, fn);
            if (!p)
                die("memalign failed", NULL, n, (size_t)e);
            break;
        case 7:
            fn = "hak_valloc";
            p = hak_valloc(n);
            e = errno;
            if (huge(n))
                return huge_done(p, e, 0, n, 4096, fn);
            if (!p)
                die("valloc failed", NULL, n, (size_t)e);
            break;
        default:
            fn = "hak_pvalloc";
            p = hak_pvalloc(n);
            e = errno;
            if (huge(n))
                return huge_done(p, e, 0, n, 4096, fn);
            if (!p)
                die("pvalloc failed", NULL, n, (size_t)e);
            n = need;
            break;
        }
        install(s, p, n, eff, seed, 0, fn);
        return;
    }
    case 9:
    case 10: /* free */
        if (s->p)
            drop(s);
        else
            hak_free(NULL);
        return;
    case 11: /* free_sized, free_aligned_sized */
        if (s->p) {
            verify(s, s->p, s->size, "before free_sized");
            if (s->align > 16 && (seed & 1))
                hak_free_aligned_sized(s->p, s->align, s->size);
            else
                hak_free_sized(s->p, s->size);
            live_bytes -= s->size;
            s->p = NULL;
            s->size = 0;
        } else {
            hak_free_sized(NULL, 0);
        }
        return;
    case 12: /* usable size */
        if (s->p) {
            check_usable(s);
            verify(s, s->p, s->size, "usable size");
        } else if (hak_malloc_usable_size(NULL) != 0) {
            die("malloc_usable_size(NULL) != 0", NULL, 0, 0);
        }
        return;
    case 13: /* trim */
        if ((seed & 7) == 0)
            hak_malloc_trim(seed >> 8);
        return;
    case 14: /* rewrite a block's content */
        if (s->p) {
            verify(s, s->p, s->size, "before rewrite");
            s->seed = seed;
            fill(s);
        }
        return;
    default: /* several small allocations at once, freed in another order */
    {
        void *tmp[16];
        size_t cnt = 1 + seed % 16, sz = (seed >> 4) % 2048;
        for (size_t i = 0; i < cnt; i++) {
            tmp[i] = hak_malloc(sz);
            if (!tmp[i])
                die("small malloc failed", NULL, sz, 0);
            check_align(tmp[i], 16, "hak_malloc");
            check_overlap(tmp[i], sz, -1);
            memset(tmp[i], (int)i, sz);
        }
        for (size_t i = 0; i < cnt; i++) {
            size_t j = (i * 7 + seed) % cnt;
            if (tmp[j]) {
                const unsigned char *c = tmp[j];
                for (size_t k = 0; k < sz; k++)
                    if (c[k] != (unsigned char)j)
                        die("scratch block changed", c, sz, k);
                hak_free(tmp[j]);
                tmp[j] = NULL;
            }
        }
        for (size_t i = 0; i < cnt; i++)
            if (tmp[i])
                hak_free(tmp[i]);
        return;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader_t r = {data, size, 0};
    for (int ops = 0; r.i < r.n && ops < MAX_OPS; ops++)
        run_op(&r);
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p) {
            verify(&slots[i], slots[i].p, slots[i].size, "at the end");
            hak_free(slots[i].p);
            slots[i].p = NULL;
            slots[i].size = 0;
        }
    }
    live_bytes = 0;
    return 0;
}
