/*
 * bf.h — helpers for the bad-input cases in tests/badfree/.
 *
 * Each case is a small program that makes one bad call (an invalid or
 * double free, a heap overflow, ...) and, if it survives it, checks that
 * the allocator is still usable and prints "CONTINUED". Before the bad call
 * it prints "PTR <address>" so that run.sh can check that the allocator's
 * report names that exact address. Output goes through write(2) so that it
 * is not lost in a stdio buffer when the process is killed by a signal.
 *
 * The cases use only the standard malloc API: run.sh runs each one under
 * LD_PRELOAD of libhakmem.so, of libhakmem_hardened.so, and under glibc.
 */
#ifndef BADFREE_BF_H
#define BADFREE_BF_H

#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void bf_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bf_say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = (int)sizeof buf - 1;
    if (n > 0 && write(1, buf, (size_t)n) < 0)
        _exit(99);
}

/* Hides a pointer's provenance from the compiler, so that it neither warns
 * about nor optimises away the deliberately bad calls. */
static inline void *bf_launder(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

#define BF_PTR(p) bf_say("PTR %p\n", (void *)(p))

/* After a bad call that was survived: the allocator must still hand out
 * distinct, writable blocks of the given size. Returns 0 if so. */
static int bf_still_usable(size_t size)
{
    enum { N = 8 };
    unsigned char *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = malloc(size);
        if (b[i] == NULL) {
            bf_say("malloc(%zu) returned NULL after the bad call\n", size);
            return 1;
        }
        memset(b[i], 0x30 + i, size);
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < i; j++) {
            if (b[i] == b[j]) {
                bf_say("SAME BLOCK HANDED OUT TWICE: %p\n", (void *)b[i]);
                return 1;
            }
        }
        for (size_t k = 0; k < size; k += 61) {
            if (b[i][k] != 0x30 + i) {
                bf_say("OVERLAPPING BLOCKS: %p\n", (void *)b[i]);
                return 1;
            }
        }
    }
    for (int i = 0; i < N; i++)
        free(b[i]);
    return 0;
}

static int bf_continued(size_t size)
{
    if (bf_still_usable(size))
        return 3;
    bf_say("CONTINUED\n");
    return 0;
}

#endif
