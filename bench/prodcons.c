/*
 * prodcons: cross-thread free through a bounded queue.
 *
 *   prodcons [ITEMS [PRODUCERS [CONSUMERS [SEED]]]] [--min N] [--max N]
 *   defaults: 10000000 1 1 1, sizes 16..1024
 *
 * Producers malloc blocks of random sizes, write their patterns and pass
 * them to consumers through bounded single-producer single-consumer rings
 * (one per producer/consumer pair, 4096 blocks each, published 64 at a time,
 * spin-then-yield when full or empty); consumers verify and free them.
 * Every block is freed by a thread other than the one that allocated it.
 * Ops = mallocs + frees = 2 * ITEMS.
 *
 * Output: Throughput = N ops/s [items=.. producers=.. consumers=..] time=T.TTTs
 *
 * SPDX-License-Identifier: MIT
 */
#include "bench_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define RING_CAP 4096u /* items per ring, a power of two */
#define PUBLISH 64u     /* items written before the producer publishes */

typedef struct {
    void *p;
    uint64_t tag;
    size_t size;
} item_t;

/* Single-producer single-consumer ring, one per (producer, consumer) pair.
 * Indices only grow; the slot is index & (RING_CAP - 1). */
typedef struct {
    _Alignas(64) atomic_uint_fast64_t tail; /* written by the producer */
    _Alignas(64) atomic_uint_fast64_t head; /* written by the consumer */
    _Alignas(64) atomic_int closed;         /* producer is done */
    _Alignas(64) item_t item[RING_CAP];
} ring_t;

static struct {
    uint64_t items;
    unsigned producers, consumers;
    uint64_t seed;
    size_t min, max;
} cfg = {10000000, 1, 1, 1, 16, 1024};

static ring_t *g_rings; /* [producer * consumers + consumer] */

typedef struct {
    unsigned id;
    pthread_t thread;
    uint64_t done; /* items produced or consumed */
} worker_t;

static void usage(void)
{
    fprintf(stderr, "usage: prodcons [ITEMS [PRODUCERS [CONSUMERS [SEED]]]] [--min N] [--max N]\n"
                    "  defaults: 10000000 1 1 1, sizes 16..1024\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const bench_arg_t args[] = {
        {"ITEMS", BA_U64, &cfg.items},
        {"PRODUCERS", BA_UINT, &cfg.producers},
        {"CONSUMERS", BA_UINT, &cfg.consumers},
        {"SEED", BA_U64, &cfg.seed},
    };
    static const bench_arg_t opts[] = {
        {"--min", BA_SIZE, &cfg.min},
        {"--max", BA_SIZE, &cfg.max},
    };
    parse_cmdline(argc, argv, 1, args, 4, opts, 2, usage);
    if (cfg.min == 0 || cfg.min > cfg.max || cfg.max - cfg.min >= (1ULL << 32))
        bench_die("need 1 <= min <= max and max - min < 2^32");
    if (cfg.producers == 0 || cfg.consumers == 0 || cfg.producers > 16 || cfg.consumers > 16)
        bench_die("PRODUCERS and CONSUMERS must be in 1..16");
}

/* Spin briefly, then give the core away (there may be more threads than
 * cores). */
static void backoff(unsigned *spins)
{
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        sched_yield();
    }
}

static void *producer(void *arg)
{
    worker_t *w = (worker_t *)arg;
    const unsigned nc = cfg.consumers;
    ring_t *rings = &g_rings[(size_t)w->id * nc];
    uint64_t tail[16] = {0}, head_seen[16] = {0};
    rng_t rng;
    rng_seed(&rng, cfg.seed, w->id + 1);
    /* Split ITEMS as evenly as possible. */
    uint64_t n = cfg.items / cfg.producers + (w->id < cfg.items % cfg.producers ? 1 : 0);
    unsigned c = 0; /* consumer receiving the current run of PUBLISH items */

    for (uint64_t i = 0; i < n; i++) {
        ring_t *r = &rings[c];
        if (tail[c] - head_seen[c] >= RING_CAP) {
            atomic_store_explicit(&r->tail, tail[c], memory_order_release);
            unsigned spins = 0;
            while (tail[c] - (head_seen[c] = atomic_load_explicit(&r->head, memory_order_acquire)) >=
                   RING_CAP)
                backoff(&spins);
        }
        size_t sz = rng_range(&rng, cfg.min, cfg.max);
        void *p = malloc(sz);
        if (!p)
            bench_oom(sz);
        uint64_t tag = make_tag(i, ((uint64_t)w->id << 40) ^ cfg.seed);
        pat_write(p, sz, tag);
        r->item[tail[c] & (RING_CAP - 1)] = (item_t){p, tag, sz};
        tail[c]++;
        if ((tail[c] & (PUBLISH - 1)) == 0) {
            atomic_store_explicit(&r->tail, tail[c], memory_order_release);
            c = (c + 1) % nc;
        }
    }
    for (unsigned k = 0; k < nc; k++) {
        atomic_store_explicit(&rings[k].tail, tail[k], memory_order_release);
        atomic_store_explicit(&rings[k].closed, 1, memory_order_release);
    }
    w->done = n;
    return NULL;
}

static void *consumer(void *arg)
{
    worker_t *w = (worker_t *)arg;
    const unsigned np = cfg.producers, nc = cfg.consumers;
    uint64_t n = 0;
    unsigned spins = 0;
    for (;;) {
        int progress = 0, open = 0;
        for (unsigned k = 0; k < np; k++) {
            ring_t *r = &g_rings[(size_t)k * nc + w->id];
            /* Read closed before tail: if it was closed, tail is final. */
            int closed = atomic_load_explicit(&r->closed, memory_order_acquire);
            uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
            uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
            if (!closed)
                open = 1;
            if (h == t)
                continue;
            for (; h != t; h++) {
                item_t *it = &r->item[h & (RING_CAP - 1)];
                pat_verify(it->p, it->size, it->tag, "prodcons", n);
                free(it->p);
                n++;
            }
            atomic_store_explicit(&r->head, h, memory_order_release);
            progress = 1;
        }
        if (progress)
            spins = 0;
        else if (!open)
            break;
        else
            backoff(&spins);
    }
    w->done = n;
    return NULL;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    unsigned nw = cfg.producers + cfg.consumers;
    worker_t *w = calloc(nw, sizeof *w);
    if (!w)
        bench_oom(nw * sizeof *w);
    size_t nrings = (size_t)cfg.producers * cfg.consumers;
    if (posix_memalign((void **)&g_rings, 64, nrings * sizeof *g_rings) != 0)
        bench_oom(nrings * sizeof *g_rings);
    memset(g_rings, 0, nrings * sizeof *g_rings);

    double t0 = now_s();
    for (unsigned i = 0; i < nw; i++) {
        int is_prod = i < cfg.producers;
        w[i].id = is_prod ? i : i - cfg.producers;
        int rc = pthread_create(&w[i].thread, NULL, is_prod ? producer : consumer, &w[i]);
        if (rc != 0)
            bench_die("pthread_create: %s", strerror(rc));
    }
    uint64_t produced = 0, consumed = 0;
    for (unsigned i = 0; i < nw; i++) {
        pthread_join(w[i].thread, NULL);
        if (i < cfg.producers)
            produced += w[i].done;
        else
            consumed += w[i].done;
    }
    double secs = now_s() - t0;
    free(w);
    free(g_rings);

    if (produced != cfg.items || consumed != cfg.items)
        bench_verify_failed("prodcons: produced %llu, consumed %llu, expected %llu",
                            (unsigned long long)produced, (unsigned long long)consumed,
                            (unsigned long long)cfg.items);

    printf("Throughput = %llu ops/s [items=%llu producers=%u consumers=%u] time=%.3fs\n",
           (unsigned long long)(2.0 * (double)cfg.items / secs), (unsigned long long)cfg.items,
           cfg.producers, cfg.consumers, secs);
    return 0;
}
