/*
 * util.c — allocation-free helpers: number formatting into fixed buffers,
 * error reports written straight to stderr, and the spin lock's slow path.
 * Nothing here may call malloc, stdio or getenv.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

void _hak_buf_char(hak_buf_t *b, char c)
{
    if (b->len + 1 < b->cap)
        b->p[b->len++] = c;
    b->p[b->len < b->cap ? b->len : b->cap - 1] = '\0';
}

void _hak_buf_str(hak_buf_t *b, const char *s)
{
    while (*s)
        _hak_buf_char(b, *s++);
}

void _hak_buf_u64(hak_buf_t *b, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        _hak_buf_char(b, tmp[--n]);
}

void _hak_buf_i64(hak_buf_t *b, int64_t v)
{
    if (v < 0) {
        _hak_buf_char(b, '-');
        _hak_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        _hak_buf_u64(b, (uint64_t)v);
    }
}

void _hak_buf_hex(hak_buf_t *b, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        _hak_buf_char(b, tmp[--n]);
}

void _hak_buf_ptr(hak_buf_t *b, const void *p)
{
    _hak_buf_str(b, "0x");
    _hak_buf_hex(b, (uint64_t)(uintptr_t)p);
}

/* num/den printed with the given number of decimals, rounded. */
void _hak_buf_fixed(hak_buf_t *b, uint64_t num, uint64_t den, int decimals)
{
    if (den == 0) {
        _hak_buf_str(b, "-");
        return;
    }
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    unsigned __int128 v = ((unsigned __int128)num * scale * 2 + den) / ((unsigned __int128)den * 2);
    uint64_t ip = (uint64_t)(v / scale), fp = (uint64_t)(v % scale);
    _hak_buf_u64(b, ip);
    if (decimals > 0) {
        _hak_buf_char(b, '.');
        char tmp[24];
        for (int i = decimals - 1; i >= 0; i--) {
            tmp[i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        for (int i = 0; i < decimals; i++)
            _hak_buf_char(b, tmp[i]);
    }
}

void _hak_buf_pad(hak_buf_t *b, size_t col)
{
    /* pads with spaces up to column col of the current line */
    size_t line_start = b->len;
    while (line_start > 0 && b->p[line_start - 1] != '\n')
        line_start--;
    while (b->len - line_start < col && b->len + 1 < b->cap)
        _hak_buf_char(b, ' ');
}

void _hak_message(const char *msg)
{
    char buf[512];
    hak_buf_t b = {buf, 0, sizeof buf};
    _hak_buf_str(&b, "hakmem: ");
    _hak_buf_str(&b, msg);
    _hak_buf_char(&b, '\n');
    _hak_os_write_fd(2, b.p, b.len);
}

void _hak_fatal(const char *msg)
{
    _hak_message(msg);
    abort();
}

void _hak_report_bad_pointer(const char *fn, const void *p, const char *what, int cls,
                             size_t size)
{
    int saved = errno;
    char buf[320];
    hak_buf_t b = {buf, 0, sizeof buf};
    _hak_buf_str(&b, "hakmem: ");
    _hak_buf_str(&b, fn);
    _hak_buf_str(&b, "(): ");
    _hak_buf_str(&b, what);
    _hak_buf_str(&b, " ");
    _hak_buf_ptr(&b, p);
    if (cls >= 0) {
        _hak_buf_str(&b, " (size class ");
        _hak_buf_u64(&b, (uint64_t)cls);
        _hak_buf_str(&b, ", ");
        _hak_buf_u64(&b, size);
        _hak_buf_str(&b, " bytes)");
    } else if (size) {
        _hak_buf_str(&b, " (");
        _hak_buf_u64(&b, size);
        _hak_buf_str(&b, " bytes)");
    }
    bool warn = hak_opt(HAK_OPT_ON_ERROR) == 1;
    _hak_buf_str(&b, warn ? "; ignored (HAKMEM_ON_ERROR=warn)\n" : "; aborting\n");
    _hak_os_write_fd(2, b.p, b.len);
    _hak_stats_note_invalid();
    if (!warn)
        abort();
    errno = saved;
}

void _hak_lock_slow(hak_lock_t *l)
{
    for (unsigned spins = 0;; spins++) {
        int z = 0;
        if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->v, &z, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        else
            sched_yield();
    }
}
