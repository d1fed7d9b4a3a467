/*
 * prodcons: producer/consumer traffic across threads.
 *
 *  1. P producer threads malloc blocks of varied sizes (8 B .. 64 KiB, a few
 *     up to 1 MiB), fill them with a pattern derived from address+size and
 *     pass them through a bounded queue.  C consumer threads verify the
 *     pattern, check malloc_usable_size, sometimes realloc the foreign block
 *     (cross-thread realloc), keep a few in a local batch to free in a
 *     different order, and free everything.
 *  2. Threads whose very first allocator call is free() of a block that
 *     another thread allocated - both while the owner is alive and after the
 *     owner thread has exited - and threads whose *only* allocator call is
 *     that free().
 */
#include "itest.h"

#include <malloc.h>
#include <pthread.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define ITEMS_PER_PRODUCER 60000
#define QCAP 512

struct item {
    void *p;
    size_t n;
};

static struct item q[QCAP];
static size_t q_head, q_tail, q_len;
static int producers_done;
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_not_full = PTHREAD_COND_INITIALIZER;

static void q_push(struct item it)
{
    pthread_mutex_lock(&q_mu);
    while (q_len == QCAP)
        pthread_cond_wait(&q_not_full, &q_mu);
    q[q_tail] = it;
    q_tail = (q_tail + 1) % QCAP;
    q_len++;
    pthread_cond_signal(&q_not_empty);
    pthread_mutex_unlock(&q_mu);
}

/* Returns 0 when the queue is drained and all producers finished. */
static int q_pop(struct item *out)
{
    pthread_mutex_lock(&q_mu);
    while (q_len == 0 && producers_done < PRODUCERS)
        pthread_cond_wait(&q_not_empty, &q_mu);
    if (q_len == 0) {
        pthread_mutex_unlock(&q_mu);
        return 0;
    }
    *out = q[q_head];
    q_head = (q_head + 1) % QCAP;
    q_len--;
    pthread_cond_signal(&q_not_full);
    pthread_mutex_unlock(&q_mu);
    return 1;
}

static size_t pick_size(uint64_t *rng)
{
    uint64_t r = itest_rand(rng);
    unsigned bucket = (unsigned)(r % 1000);
    r >>= 10;
    if (bucket < 700)               /* 8 .. 256 */
        return 8 + r % 249;
    if (bucket < 900)               /* 257 .. 4 KiB */
        return 257 + r % (4096 - 256);
    if (bucket < 990)               /* 4 KiB .. 64 KiB */
        return 4097 + r % (65536 - 4096);
    if (bucket < 998)               /* exactly 64 KiB-ish edges */
        return 65536 - 8 + r % 17;
    return 65537 + r % (1u << 20);  /* some bigger: up to ~1 MiB */
}

static void *producer(void *arg)
{
    uint64_t rng = 0x1234567ULL + (uint64_t)(uintptr_t)arg * 7919;
    for (int i = 0; i < ITEMS_PER_PRODUCER; i++) {
        size_t n = pick_size(&rng);
        void *p = malloc(n);
        if (!p)
            FAIL("producer: malloc(%zu) returned NULL (errno %d)", n, errno);
        itest_fill(p, n, 1);
        q_push((struct item){p, n});
    }
    pthread_mutex_lock(&q_mu);
    producers_done++;
    pthread_cond_broadcast(&q_not_empty);
    pthread_mutex_unlock(&q_mu);
    return NULL;
}

static unsigned long consumed[CONSUMERS];

static void verify_item(const struct item *it, const char *when)
{
    size_t bad = itest_check(it->p, it->n, 1);
    if (bad != (size_t)-1)
        FAIL("consumer (%s): block %p size %zu corrupted at offset %zu (byte 0x%02x; %zu of %zu bytes are zero)",
             when, it->p, it->n, bad, ((unsigned char *)it->p)[bad], itest_zero_bytes(it->p, it->n), it->n);
}

static void *consumer(void *arg)
{
    int id = (int)(uintptr_t)arg;
    uint64_t rng = 0xABCDEFULL + (uint64_t)id;
    struct item batch[16];
    int nb = 0;
    struct item it;

    while (q_pop(&it)) {
        verify_item(&it, "on receipt");
        size_t us = malloc_usable_size(it.p);
        if (us < it.n)
            FAIL("malloc_usable_size(%p)=%zu < requested %zu (from another thread)", it.p, us, it.n);
        uint64_t r = itest_rand(&rng);
        if (r % 10 == 0) {
            /* realloc a block that another thread allocated */
            size_t nn = pick_size(&rng);
            void *old = it.p;
            void *np = realloc(it.p, nn);
            if (!np)
                FAIL("cross-thread realloc(%p, %zu) returned NULL", old, nn);
            size_t keep = nn < it.n ? nn : it.n;
            size_t bad = itest_check_as(np, old, keep, it.n, 1);
            if (bad != (size_t)-1)
                FAIL("cross-thread realloc %p(%zu) -> %p(%zu): content lost at offset %zu", old, it.n,
                     np, nn, bad);
            itest_fill(np, nn, 1);
            it.p = np;
            it.n = nn;
        }
        if (r % 3 == 0 && nb < 16) {
            batch[nb++] = it;  /* free later, in reverse order */
        } else {
            free(it.p);
        }
        if (nb == 16 || (nb > 0 && (r >> 20) % 7 == 0)) {
            while (nb > 0) {
                nb--;
                verify_item(&batch[nb], "batched");
                free(batch[nb].p);
            }
        }
        consumed[id]++;
    }
    while (nb > 0) {
        nb--;
        verify_item(&batch[nb], "batched at end");
        free(batch[nb].p);
    }
    return NULL;
}

/* ---- part 2: the first allocator call of a thread is free() ---- */

#define FIRST_FREE_THREADS 16
#define FF_BLOCKS 4
static void *ff_blocks[FIRST_FREE_THREADS][FF_BLOCKS];
static size_t ff_sizes[FF_BLOCKS] = {24, 1000, 40000, 3u << 20};

/* Does nothing but free(): its first and only allocator calls. */
static void *only_free(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < FF_BLOCKS; i++)
        free(blocks[i]);
    return NULL;
}

/* First call is free(), then it allocates, verifies and frees on its own. */
static void *free_then_alloc(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < FF_BLOCKS; i++)
        free(blocks[i]);
    void *mine[64];
    for (int i = 0; i < 64; i++) {
        size_t n = 16 + (size_t)i * 97;
        mine[i] = malloc(n);
        if (!mine[i])
            FAIL("malloc(%zu) after first-free returned NULL", n);
        itest_fill(mine[i], n, 2);
    }
    for (int i = 0; i < 64; i++) {
        size_t n = 16 + (size_t)i * 97;
        size_t bad = itest_check(mine[i], n, 2);
        if (bad != (size_t)-1)
            FAIL("block allocated after first-free corrupted at %zu", bad);
        free(mine[i]);
    }
    return NULL;
}

struct orphan_arg {
    void *blocks[256];
    size_t sizes[256];
};

/* Allocates blocks and exits without freeing them: they become orphans. */
static void *orphan_maker(void *arg)
{
    struct orphan_arg *oa = arg;
    for (int i = 0; i < 256; i++) {
        size_t n = 8 + ((size_t)i * 131) % 3000;
        if (i % 64 == 63)
            n = 100000 + (size_t)i;
        oa->sizes[i] = n;
        oa->blocks[i] = malloc(n);
        if (!oa->blocks[i])
            FAIL("orphan_maker: malloc(%zu) returned NULL", n);
        itest_fill(oa->blocks[i], n, 3);
    }
    return NULL;
}

/* First call: free of blocks whose owning thread has already exited. */
static void *orphan_freer(void *arg)
{
    struct orphan_arg *oa = arg;
    /* verify first (reads only, no allocator calls), then free */
    for (int i = 0; i < 256; i++) {
        size_t bad = itest_check(oa->blocks[i], oa->sizes[i], 3);
        if (bad != (size_t)-1)
            FAIL("orphan block %d (%p, %zu) corrupted at %zu after owner exit", i, oa->blocks[i],
                 oa->sizes[i], bad);
    }
    for (int i = 0; i < 256; i++)
        free(oa->blocks[i]);
    return NULL;
}

static void first_call_free_cases(void)
{
    pthread_t th[FIRST_FREE_THREADS];

    for (int round = 0; round < 4; round++) {
        for (int t = 0; t < FIRST_FREE_THREADS; t++)
            for (int i = 0; i < FF_BLOCKS; i++) {
                ff_blocks[t][i] = malloc(ff_sizes[i]);
                if (!ff_blocks[t][i])
                    FAIL("malloc(%zu) returned NULL", ff_sizes[i]);
                memset(ff_blocks[t][i], 0x5C, ff_sizes[i]);
            }
        for (int t = 0; t < FIRST_FREE_THREADS; t++) {
            void *(*fn)(void *) = (t & 1) ? free_then_alloc : only_free;
            if (pthread_create(&th[t], NULL, fn, ff_blocks[t]) != 0)
                FAIL("pthread_create failed");
        }
        for (int t = 0; t < FIRST_FREE_THREADS; t++)
            pthread_join(th[t], NULL);
    }

    /* Owner thread exits before the blocks are freed by a fresh thread. */
    for (int round = 0; round < 8; round++) {
        struct orphan_arg *oa = calloc(1, sizeof *oa);
        CHECK(oa != NULL);
        pthread_t a, b;
        pthread_create(&a, NULL, orphan_maker, oa);
        pthread_join(a, NULL);
        pthread_create(&b, NULL, orphan_freer, oa);
        pthread_join(b, NULL);
        free(oa);
    }

    /* The main thread must still work normally after all of that. */
    void *ps[1000];
    for (int i = 0; i < 1000; i++) {
        ps[i] = malloc((size_t)i + 1);
        CHECK(ps[i] != NULL);
        itest_fill(ps[i], (size_t)i + 1, 4);
    }
    for (int i = 0; i < 1000; i++) {
        CHECK(itest_check(ps[i], (size_t)i + 1, 4) == (size_t)-1, "block %d", i);
        free(ps[i]);
    }
}

int main(void)
{
    itest_init("prodcons", 60);

    /* Part 2 runs first so that its threads meet a fresh allocator state. */
    first_call_free_cases();

    pthread_t prod[PRODUCERS], cons[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        if (pthread_create(&cons[i], NULL, consumer, (void *)(uintptr_t)i) != 0)
            FAIL("pthread_create(consumer) failed");
    for (int i = 0; i < PRODUCERS; i++)
        if (pthread_create(&prod[i], NULL, producer, (void *)(uintptr_t)i) != 0)
            FAIL("pthread_create(producer) failed");
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(cons[i], NULL);

    unsigned long total = 0;
    for (int i = 0; i < CONSUMERS; i++)
        total += consumed[i];
    if (total != (unsigned long)PRODUCERS * ITEMS_PER_PRODUCER)
        FAIL("consumed %lu items, expected %lu", total, (unsigned long)PRODUCERS * ITEMS_PER_PRODUCER);
    printf("prodcons: OK (%lu blocks passed between threads)\n", total);
    return 0;
}
