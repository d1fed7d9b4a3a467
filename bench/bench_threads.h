/*
 * Thread helpers for the multi-threaded extra benchmarks: a start gate, a
 * stop flag, a bounded mailbox for handing blocks or batches between
 * threads, and a tagged block record.
 *
 * The mailbox's ring is allocated once, before the timed part; putting and
 * taking never allocate.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef BENCH_THREADS_H
#define BENCH_THREADS_H

#include "bench_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* A block handed out by malloc, with what is needed to verify it. */
typedef struct {
    void *p;
    uint64_t tag;
    size_t size;
} xblock_t;

static inline void *xalloc(size_t size)
{
    void *p = malloc(size);
    if (__builtin_expect(p == NULL, 0))
        bench_oom(size);
    return p;
}

/* malloc + pattern. */
static inline void xblock_new(xblock_t *b, size_t size, uint64_t tag)
{
    b->p = xalloc(size);
    b->size = size;
    b->tag = tag;
    pat_write(b->p, size, tag);
}

/* verify + free. */
static inline void xblock_free(xblock_t *b, const char *bench, unsigned long long where)
{
    pat_verify(b->p, b->size, b->tag, bench, where);
    free(b->p);
    b->p = NULL;
}

/* ------------------------------------------------------------------ */
/* Start gate: workers wait until main opens it, so thread start-up    */
/* is not timed and all workers begin together.                        */
/* ------------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned waiting;
    int open;
} gate_t;

static BENCH_UNUSED void gate_init(gate_t *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->waiting = 0;
    g->open = 0;
}

static BENCH_UNUSED void gate_wait(gate_t *g)
{
    pthread_mutex_lock(&g->lock);
    g->waiting++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

/* Waits until n workers are at the gate, then opens it; returns the time
 * (now_s) of the opening, taken before any worker can go on. */
static BENCH_UNUSED double gate_open(gate_t *g, unsigned n)
{
    pthread_mutex_lock(&g->lock);
    while (g->waiting < n)
        pthread_cond_wait(&g->cond, &g->lock);
    double t = now_s();
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    return t;
}

static BENCH_UNUSED pthread_t start_worker(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    for (int tries = 0;; tries++) {
        int rc = pthread_create(&t, NULL, fn, arg);
        if (rc == 0)
            return t;
        if (rc != EAGAIN || tries > 1000)
            bench_die("pthread_create: %s", strerror(rc));
        sleep_s(0.001);
    }
}

/* ------------------------------------------------------------------ */
/* Mailbox: a bounded FIFO of pointers under a mutex                   */
/* ------------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t lock;
    void **ring;
    unsigned cap, head, count;
    char pad[64];
} mailbox_t;

static BENCH_UNUSED void mailbox_init(mailbox_t *m, unsigned cap)
{
    pthread_mutex_init(&m->lock, NULL);
    m->ring = calloc(cap, sizeof *m->ring);
    if (!m->ring)
        bench_oom(cap * sizeof *m->ring);
    m->cap = cap;
    m->head = 0;
    m->count = 0;
}

static BENCH_UNUSED void mailbox_destroy(mailbox_t *m)
{
    free(m->ring);
    m->ring = NULL;
    pthread_mutex_destroy(&m->lock);
}

/* 1 when put, 0 when the mailbox is full. */
static BENCH_UNUSED int mailbox_put(mailbox_t *m, void *item)
{
    int ok = 0;
    pthread_mutex_lock(&m->lock);
    if (m->count < m->cap) {
        m->ring[(m->head + m->count) % m->cap] = item;
        m->count++;
        ok = 1;
    }
    pthread_mutex_unlock(&m->lock);
    return ok;
}

/* The oldest item, or NULL when empty. */
static BENCH_UNUSED void *mailbox_get(mailbox_t *m)
{
    void *item = NULL;
    pthread_mutex_lock(&m->lock);
    if (m->count > 0) {
        item = m->ring[m->head];
        m->head = (m->head + 1) % m->cap;
        m->count--;
    }
    pthread_mutex_unlock(&m->lock);
    return item;
}

/* Sum of per-thread counters kept on separate cache lines. */
typedef struct {
    uint64_t ops;
    char pad[56];
} counter_t;

/* Size skewed to small: band k (each 8x the previous, starting at
 * [min, 8*min)) is chosen with probability 2^-(k+1), the last band takes
 * the remainder; uniform inside the band. */
static BENCH_UNUSED size_t skew_size(rng_t *r, size_t min, size_t max)
{
    uint64_t x = rng_next(r);
    size_t lo = min;
    for (;;) {
        size_t hi = lo * 8 - 1;
        if (hi >= max || (x & 1) == 0) {
            if (hi > max)
                hi = max;
            return rng_range(r, lo, hi);
        }
        x >>= 1;
        lo *= 8;
    }
}

#endif /* BENCH_THREADS_H */
