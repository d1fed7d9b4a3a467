/*
 * test_threads.c — heaps of several threads: remote frees (producer /
 * consumer) with the blocks coming back to their owner, threads exiting
 * with live blocks freed later by another, a thread whose first call is a
 * free, heap reuse across thread lifetimes, all-to-all remote frees, and a
 * churn of 200 threads. Every block carries a pattern checked before it is
 * freed, so a block handed out twice shows. Meant to be clean under
 * ThreadSanitizer (make tsan-test).
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>

#include "unit.h"

#define MiB ((size_t)1 << 20)

/* ---- tagged blocks ---------------------------------------------------------
 * The first 16 bytes of a block hold its address and size xor a tag; the
 * rest (up to 256 bytes) a pattern derived from them. */
#define TAG 0x5EED5EED5EED5EEDull

static void tag_block(void *p, size_t n)
{
    uint64_t *w = p;
    w[0] = (uint64_t)(uintptr_t)p ^ TAG;
    w[1] = (uint64_t)n ^ TAG;
    size_t body = n - 16 < 256 ? n - 16 : 256;
    pattern_fill((char *)p + 16, body, (uint64_t)(uintptr_t)p);
}

static bool block_ok(const void *p, size_t n)
{
    const uint64_t *w = p;
    if (w[0] != ((uint64_t)(uintptr_t)p ^ TAG) || w[1] != ((uint64_t)n ^ TAG))
        return false;
    size_t body = n - 16 < 256 ? n - 16 : 256;
    return pattern_check((const char *)p + 16, body, (uint64_t)(uintptr_t)p) == SIZE_MAX;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static size_t random_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng) % 1000;
    if (r < 900)
        return 16 + rng_next(rng) % 2032;
    if (r < 995)
        return 2048 + rng_next(rng) % (62 * 1024);
    return HAK_SMALL_MAX + rng_next(rng) % (2 * MiB);
}

static int group_setup(void **state)
{
    (void)state;
    hak_ensure_init();
    return 0;
}

/* ---- a blocking queue of blocks ------------------------------------------ */
typedef struct {
    void *p;
    size_t n;
} item_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    item_t *buf;
    size_t cap, head, len;
    bool closed;
} queue_t;

static void q_init(queue_t *q, size_t cap)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->buf = calloc(cap, sizeof *q->buf);
    q->cap = cap;
    q->head = q->len = 0;
    q->closed = false;
}

static void q_destroy(queue_t *q)
{
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->buf);
}

static void q_push(queue_t *q, item_t it)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == q->cap)
        pthread_cond_wait(&q->cv, &q->mu);
    q->buf[(q->head + q->len) % q->cap] = it;
    q->len++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* false when the queue is closed and empty */
static bool q_pop(queue_t *q, item_t *it)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == 0 && !q->closed)
        pthread_cond_wait(&q->cv, &q->mu);
    bool ok = q->len > 0;
    if (ok) {
        *it = q->buf[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

/* non-blocking */
static bool q_try_pop(queue_t *q, item_t *it)
{
    pthread_mutex_lock(&q->mu);
    bool ok = q->len > 0;
    if (ok) {
        *it = q->buf[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

static void q_close(queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* ---- producer / consumer ---------------------------------------------------- */
#define PC_ROUNDS 60
#define PC_PER_ROUND 2000
#define PC_WARMUP 15

typedef struct {
    queue_t q;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long consumed;            /* blocks freed by the consumer so far */
    long bad;                 /* blocks that failed their check */
    uint64_t mapped_warm, mapped_end;
    size_t owned_warm, owned_max;
    unit_ss_counts_t ss_warm, ss_end;
} pc_t;

static size_t owned_slabs(void)
{
    size_t n = 0;
    for (hak_slab_t *s = hak_tls_heap->owned; s; s = s->onext)
        n++;
    return n;
}

static void *producer(void *arg)
{
    pc_t *pc = arg;
    static const size_t sizes[] = {24, 64, 200, 1000};
    for (int round = 0; round < PC_ROUNDS; round++) {
        for (int i = 0; i < PC_PER_ROUND; i++) {
            size_t n = sizes[i % 4];
            void *p = hak_malloc(n);
            if (!p)
                abort();
            tag_block(p, n);
            q_push(&pc->q, (item_t){p, n});
        }
        /* wait until the consumer freed this round */
        pthread_mutex_lock(&pc->mu);
        while (pc->consumed < (long)(round + 1) * PC_PER_ROUND)
            pthread_cond_wait(&pc->cv, &pc->mu);
        pthread_mutex_unlock(&pc->mu);
        size_t owned = owned_slabs();
        if (round == PC_WARMUP) {
            pc->mapped_warm = os_mapped_bytes();
            pc->owned_warm = owned;
            pc->ss_warm = ss_counts();
        }
        if (round >= PC_WARMUP && owned > pc->owned_max)
            pc->owned_max = owned;
    }
    pc->mapped_end = os_mapped_bytes();
    pc->ss_end = ss_counts();
    q_close(&pc->q);
    return NULL;
}

static void *consumer(void *arg)
{
    pc_t *pc = arg;
    item_t it;
    while (q_pop(&pc->q, &it)) {
        bool ok = block_ok(it.p, it.n);
        hak_free(it.p);
        pthread_mutex_lock(&pc->mu);
        if (!ok)
            pc->bad++;
        pc->consumed++;
        pthread_cond_broadcast(&pc->cv);
        pthread_mutex_unlock(&pc->mu);
    }
    return NULL;
}

/* One thread allocates, another frees (remote frees); the owner gets the
 * blocks back, so after a warm-up neither its slabs nor the memory mapped
 * grow. */
static void test_producer_consumer(void **state)
{
    (void)state;
    pc_t *pc = calloc(1, sizeof *pc);
    q_init(&pc->q, 512);
    pthread_mutex_init(&pc->mu, NULL);
    pthread_cond_init(&pc->cv, NULL);
    pthread_t tp, tc;
    assert_int_equal(pthread_create(&tc, NULL, consumer, pc), 0);
    assert_int_equal(pthread_create(&tp, NULL, producer, pc), 0);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    assert_int_equal(pc->bad, 0);
    assert_int_equal(pc->consumed, (long)PC_ROUNDS * PC_PER_ROUND);
    print_message("    producer: %zu slabs owned after warm-up, at most %zu later; mapped %llu KiB "
                  "-> %llu KiB\n",
                  pc->owned_warm, pc->owned_max, (unsigned long long)pc->mapped_warm / 1024,
                  (unsigned long long)pc->mapped_end / 1024);
    /* the owner reuses what the consumer frees: no new slabs, no new memory */
    assert_true(pc->owned_max <= pc->owned_warm + 2);
    assert_true(pc->mapped_end <= pc->mapped_warm + HAK_SS_SIZE);
    assert_true(pc->ss_end.ss_live <= pc->ss_warm.ss_live + 1);
    pthread_mutex_destroy(&pc->mu);
    pthread_cond_destroy(&pc->cv);
    q_destroy(&pc->q);
    free(pc);
}

/* ---- threads exiting with live blocks ------------------------------------- */
#define EXIT_THREADS 8
#define EXIT_BLOCKS 600

typedef struct {
    void *p[EXIT_BLOCKS];
    size_t n[EXIT_BLOCKS];
    uint64_t seed;
} exit_batch_t;

static void *alloc_and_exit(void *arg)
{
    exit_batch_t *b = arg;
    uint64_t rng = b->seed;
    for (int i = 0; i < EXIT_BLOCKS; i++) {
        size_t n = i < 4 ? MiB + (size_t)i * 4096 : random_size(&rng);
        if (n > 64 * 1024 && i >= 4)
            n = 64 * 1024;
        b->p[i] = hak_malloc(n);
        if (!b->p[i])
            abort();
        b->n[i] = n;
        tag_block(b->p[i], n);
    }
    /* free a few locally before leaving */
    for (int i = EXIT_BLOCKS - 50; i < EXIT_BLOCKS; i++) {
        hak_free(b->p[i]);
        b->p[i] = NULL;
    }
    return NULL;
}

static void test_thread_exit_with_live_blocks(void **state)
{
    (void)state;
    exit_batch_t *b = calloc(EXIT_THREADS, sizeof *b);
    pthread_t t[EXIT_THREADS];
    for (int i = 0; i < EXIT_THREADS; i++) {
        b[i].seed = 0x1234567ull * (uint64_t)(i + 1);
        assert_int_equal(pthread_create(&t[i], NULL, alloc_and_exit, &b[i]), 0);
    }
    for (int i = 0; i < EXIT_THREADS; i++)
        pthread_join(t[i], NULL);
    /* their slabs are abandoned (DRAINING) while blocks are live */
    assert_true(ss_counts().draining > 0);
    for (int i = 0; i < EXIT_THREADS; i++)
        for (int j = 0; j < EXIT_BLOCKS; j++)
            if (b[i].p[j] && !block_ok(b[i].p[j], b[i].n[j]))
                fail_msg("thread %d block %d (%p) changed after its thread exited", i, j,
                         b[i].p[j]);
    /* the main thread frees them all (into slabs nobody owns) */
    for (int i = 0; i < EXIT_THREADS; i++)
        for (int j = 0; j < EXIT_BLOCKS; j++)
            hak_free(b[i].p[j]);
    hak_malloc_trim(0);
    unit_ss_counts_t c = ss_counts();
    if (c.draining != 0)
        fail_msg("%llu slabs still DRAINING after every block was freed and a trim",
                 (unsigned long long)c.draining);
    free(b);
}

/* ---- a thread whose first call is free ------------------------------------- */
#define FF_BLOCKS 500

typedef struct {
    void **v;
    bool heapless_before, heapless_after, heap_later;
} ff_t;

static void *first_call_free(void *arg)
{
    ff_t *f = arg;
    f->heapless_before = hak_tls_heap == &hak_empty_heap;
    for (int i = 0; i < FF_BLOCKS; i++)
        hak_free(f->v[i]);
    f->heapless_after = hak_tls_heap == &hak_empty_heap;
    void *p = hak_malloc(10);
    f->heap_later = p != NULL && hak_tls_heap != &hak_empty_heap;
    hak_free(p);
    return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void test_first_call_is_free(void **state)
{
    (void)state;
    void **v = calloc(FF_BLOCKS, sizeof *v);
    uintptr_t *sorted = calloc(FF_BLOCKS, sizeof *sorted);
    for (int i = 0; i < FF_BLOCKS; i++) {
        v[i] = hak_malloc(48);
        tag_block(v[i], 48);
        sorted[i] = (uintptr_t)v[i];
    }
    qsort(sorted, FF_BLOCKS, sizeof *sorted, cmp_ptr);
    ff_t f = {v, false, false, false};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, first_call_free, &f), 0);
    pthread_join(t, NULL);
    assert_true(f.heapless_before);
    /* freeing other threads' blocks gives the thread a heap, to gather
     * them in until it exits */
    assert_false(f.heapless_after);
    assert_true(f.heap_later);
    /* the owner (this thread) gets every one of them back */
    uint64_t mapped0 = os_mapped_bytes();
    size_t cap = 40000, got = 0, n = 0;
    void **mine = calloc(cap, sizeof *mine);
    bool *seen = calloc(FF_BLOCKS, sizeof *seen);
    while (got < FF_BLOCKS && n < cap) {
        void *p = hak_malloc(48);
        assert_non_null(p);
        mine[n++] = p;
        uintptr_t key = (uintptr_t)p;
        uintptr_t *hit = bsearch(&key, sorted, FF_BLOCKS, sizeof *sorted, cmp_ptr);
        if (hit && !seen[hit - sorted]) {
            seen[hit - sorted] = true;
            got++;
        }
    }
    print_message("    %zu mallocs to get the %d remotely freed blocks back\n", n, FF_BLOCKS);
    assert_int_equal(got, FF_BLOCKS);
    assert_true(os_mapped_bytes() <= mapped0 + HAK_SS_SIZE);
    for (size_t i = 0; i < n; i++)
        hak_free(mine[i]);
    free(mine);
    free(seen);
    free(sorted);
    free(v);
}

/* ---- remote frees are gathered ---------------------------------------------
 * A thread freeing blocks of another thread's slab keeps them in a chain
 * of that slab until the chain is full, the thread's malloc takes its slow
 * path, or the thread exits; then the chain goes on the slab's remote list
 * in one push. */
#define RG_ALLOC 600

typedef struct {
    void **v;   /* blocks of slab s, to free in order */
    size_t n;
    size_t step[3]; /* free up to step[k], then wait */
    pthread_barrier_t bar;
} rg_t;

static void *gather_frees(void *arg)
{
    rg_t *g = arg;
    size_t i = 0;
    for (int k = 0; k < 3; k++) {
        for (; i < g->step[k]; i++)
            hak_free(g->v[i]);
        if (k == 2) {
            /* a malloc slow path (a class this thread never used) */
            void *p = hak_malloc(20000);
            hak_free(p);
        }
        pthread_barrier_wait(&g->bar); /* main looks */
        pthread_barrier_wait(&g->bar); /* main is done looking */
    }
    for (; i < g->n; i++)
        hak_free(g->v[i]);
    return NULL;
}

/* the blocks on s's remote list, all of them among v[0 .. k) */
static size_t remote_list_len(hak_slab_t *s, void **v, size_t k)
{
    size_t n = 0;
    uintptr_t w = atomic_load(&s->remote);
    for (hak_block_t *b = (hak_block_t *)(w & ~HAK_RT_MASK); b; b = hak_next(b)) {
        bool found = false;
        for (size_t i = 0; i < k && !found; i++)
            found = v[i] == b;
        if (!found)
            fail_msg("block %p on the remote list was not freed", (void *)b);
        n++;
    }
    return n;
}

static void test_remote_frees_gathered(void **state)
{
    (void)state;
    const size_t size = 48;
    unsigned cls = hak_size_class(size + HAK_PAD);
    void **all = calloc(RG_ALLOC, sizeof *all);
    rg_t *g = calloc(1, sizeof *g);
    g->v = calloc(RG_ALLOC, sizeof *g->v);
    for (size_t i = 0; i < RG_ALLOC; i++) {
        all[i] = hak_malloc(size);
        assert_non_null(all[i]);
    }
    /* the blocks of the slab the last one came from */
    hak_slab_t *s = slab_of_block(all[RG_ALLOC - 1]);
    for (size_t i = 0; i < RG_ALLOC; i++)
        if (slab_of_block(all[i]) == s)
            g->v[g->n++] = all[i];
    const size_t limit = HAK_RF_BYTES / hak_class_size[cls] < HAK_RF_MAX
                             ? HAK_RF_BYTES / hak_class_size[cls]
                             : HAK_RF_MAX;
    assert_true(limit > 1);
    assert_true(g->n >= 2 * limit + 10);
    assert_int_equal(atomic_load(&s->remote) & ~HAK_RT_MASK, 0);
    g->step[0] = limit;     /* a full chain, not pushed yet */
    g->step[1] = limit + 5; /* the next block pushes it */
    g->step[2] = limit + 9; /* the malloc slow path pushes the rest */
    pthread_barrier_init(&g->bar, NULL, 2);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, gather_frees, g), 0);
    size_t want[3] = {0, limit, limit + 9};
    for (int k = 0; k < 3; k++) {
        pthread_barrier_wait(&g->bar);
        size_t got = remote_list_len(s, g->v, g->step[k]);
        if (got != want[k])
            fail_msg("after %zu remote frees: %zu on the slab's remote list, want %zu",
                     g->step[k], got, want[k]);
        pthread_barrier_wait(&g->bar);
    }
    pthread_join(t, NULL);
    /* the thread exited: every block it freed is on the list */
    assert_int_equal(remote_list_len(s, g->v, g->n), g->n);
    pthread_barrier_destroy(&g->bar);
    for (size_t i = 0; i < RG_ALLOC; i++)
        if (slab_of_block(all[i]) != s)
            hak_free(all[i]);
    free(all);
    free(g->v);
    free(g);
}

/* ---- heaps are reused ------------------------------------------------------ */
static void *note_heap(void *arg)
{
    void *p = hak_malloc(100);
    *(hak_heap_t **)arg = hak_tls_heap;
    hak_free(p);
    return NULL;
}

static void test_heap_reused_after_exit(void **state)
{
    (void)state;
    hak_heap_t *first = NULL, *h = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, note_heap, &first), 0);
    pthread_join(t, NULL);
    assert_non_null(first);
    uint64_t mapped0 = os_mapped_bytes();
    for (int i = 0; i < 300; i++) {
        assert_int_equal(pthread_create(&t, NULL, note_heap, &h), 0);
        pthread_join(t, NULL);
        assert_ptr_equal(h, first); /* one at a time: always the same heap */
    }
    assert_true(os_mapped_bytes() <= mapped0);
}

/* ---- allocation in a thread-exit destructor ----------------------------------
 * A TSD destructor of the program running after hakmem retired the thread's
 * heap frees a block of the thread and allocates again: the thread gets a
 * fresh heap, which is retired in turn (no slab stays HOT for nobody). */
static pthread_key_t late_key;
static _Atomic(int) late_heap_was_retired, late_ok;

static void late_destructor(void *arg)
{
    atomic_store(&late_heap_was_retired, hak_tls_heap == &hak_empty_heap);
    bool ok = block_ok(arg, 200);
    hak_free(arg);
    void *v[64];
    for (int i = 0; i < 64; i++) {
        v[i] = hak_malloc(300);
        ok = ok && v[i] != NULL;
        if (v[i])
            tag_block(v[i], 300);
    }
    for (int i = 0; i < 64; i++) {
        ok = ok && block_ok(v[i], 300);
        hak_free(v[i]);
    }
    atomic_store(&late_ok, ok);
}

static void *late_thread(void *arg)
{
    (void)arg;
    void *b = hak_malloc(200);
    tag_block(b, 200);
    pthread_setspecific(late_key, b);
    return NULL;
}

static void test_allocation_in_exit_destructor(void **state)
{
    (void)state;
    void *warm = hak_malloc(8); /* this thread's heap and hakmem's key exist */
    assert_int_equal(pthread_key_create(&late_key, late_destructor), 0);
    hak_malloc_trim(0);
    unit_ss_counts_t c0 = ss_counts();
    for (int round = 0; round < 20; round++) {
        pthread_t t;
        atomic_store(&late_ok, 0);
        assert_int_equal(pthread_create(&t, NULL, late_thread, NULL), 0);
        pthread_join(t, NULL);
        assert_true(atomic_load(&late_ok));
    }
    print_message("    hakmem's heap %s retired before the program's destructor ran\n",
                  atomic_load(&late_heap_was_retired) ? "was" : "was not");
    hak_malloc_trim(0);
    unit_ss_counts_t c1 = ss_counts();
    pthread_key_delete(late_key);
    hak_free(warm);
    /* slabs with live blocks: the same number (while this thread waited, a
     * late heap may have taken its warm slab, `warm`'s: DRAINING, not HOT) */
    if (c1.hot + c1.draining != c0.hot + c0.draining)
        fail_msg("after 20 threads allocating in their exit destructors: %llu HOT and %llu "
                 "DRAINING slabs (%llu and %llu before)",
                 (unsigned long long)c1.hot, (unsigned long long)c1.draining,
                 (unsigned long long)c0.hot, (unsigned long long)c0.draining);
}

/* ---- all-to-all remote frees ------------------------------------------------ */
#define RING 8
#define RING_BLOCKS 30000

static queue_t ring_q[RING];
static _Atomic(long) ring_bad;

static void *ring_worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    queue_t *out = &ring_q[(me + 1) % RING], *in = &ring_q[me];
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(me + 1);
    item_t it;
    for (int i = 0; i < RING_BLOCKS; i++) {
        size_t n = 16 + rng_next(&rng) % 1500;
        void *p = hak_malloc(n);
        if (!p)
            abort();
        tag_block(p, n);
        q_push(out, (item_t){p, n});
        /* free what the neighbour sent meanwhile */
        while (q_try_pop(in, &it)) {
            if (!block_ok(it.p, it.n))
                atomic_fetch_add(&ring_bad, 1);
            hak_free(it.p);
        }
    }
    q_close(out);
    while (q_pop(in, &it)) {
        if (!block_ok(it.p, it.n))
            atomic_fetch_add(&ring_bad, 1);
        hak_free(it.p);
    }
    return NULL;
}

static void test_all_to_all_remote_frees(void **state)
{
    (void)state;
    atomic_store(&ring_bad, 0);
    for (int i = 0; i < RING; i++)
        q_init(&ring_q[i], RING_BLOCKS + 1); /* a push never waits */
    pthread_t t[RING];
    for (int i = 0; i < RING; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ring_worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < RING; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < RING; i++)
        q_destroy(&ring_q[i]);
    assert_int_equal(atomic_load(&ring_bad), 0);
    hak_malloc_trim(0);
    assert_int_equal(ss_counts().draining, 0);
}

/* ---- 200 threads churning ---------------------------------------------------- */
#define CHURN_THREADS 200
#define CHURN_OPS 2500
#define CHURN_SLOTS 48

static queue_t churn_pool; /* blocks handed to whichever thread comes next */
static _Atomic(long) churn_bad, churn_ops;

static void *churn_worker(void *arg)
{
    uint64_t rng = 0xD1B54A32D192ED03ull ^ ((uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull);
    item_t slot[CHURN_SLOTS];
    memset(slot, 0, sizeof slot);
    item_t it;
    for (int op = 0; op < CHURN_OPS; op++) {
        unsigned k = (unsigned)(rng_next(&rng) % CHURN_SLOTS);
        if (slot[k].p) {
            if (!block_ok(slot[k].p, slot[k].n))
                atomic_fetch_add(&churn_bad, 1);
            if (rng_next(&rng) % 8 == 0)
                q_push(&churn_pool, slot[k]); /* someone else frees it */
            else
                hak_free(slot[k].p);
            slot[k].p = NULL;
        } else {
            size_t n = random_size(&rng);
            void *p = rng_next(&rng) % 16 == 0 ? hak_calloc(1, n) : hak_malloc(n);
            if (!p)
                abort();
            tag_block(p, n);
            slot[k] = (item_t){p, n};
        }
        if (op % 16 == 0 && q_try_pop(&churn_pool, &it)) {
            if (!block_ok(it.p, it.n))
                atomic_fetch_add(&churn_bad, 1);
            hak_free(it.p);
        }
    }
    atomic_fetch_add(&churn_ops, CHURN_OPS);
    /* leave some blocks live for the main thread, free the rest */
    for (unsigned k = 0; k < CHURN_SLOTS; k++) {
        if (!slot[k].p)
            continue;
        if (k % 4 == 0)
            q_push(&churn_pool, slot[k]);
        else
            hak_free(slot[k].p);
    }
    return NULL;
}

static void test_churn_200_threads(void **state)
{
    (void)state;
    atomic_store(&churn_bad, 0);
    atomic_store(&churn_ops, 0);
    q_init(&churn_pool, CHURN_THREADS * (CHURN_OPS / 4 + CHURN_SLOTS)); /* never full */
    pthread_t *t = calloc(CHURN_THREADS, sizeof *t);
    /* in two waves: threads of the second reuse the heaps of the first */
    for (int wave = 0; wave < 2; wave++) {
        int lo = wave * CHURN_THREADS / 2, hi = (wave + 1) * CHURN_THREADS / 2;
        for (int i = lo; i < hi; i++)
            assert_int_equal(pthread_create(&t[i], NULL, churn_worker, (void *)(intptr_t)i), 0);
        for (int i = lo; i < hi; i++)
            pthread_join(t[i], NULL);
    }
    item_t it;
    long left = 0;
    while (q_try_pop(&churn_pool, &it)) {
        if (!block_ok(it.p, it.n))
            atomic_fetch_add(&churn_bad, 1);
        hak_free(it.p);
        left++;
    }
    q_destroy(&churn_pool);
    free(t);
    print_message("    %ld operations, %ld blocks freed by the main thread at the end\n",
                  atomic_load(&churn_ops), left);
    assert_int_equal(atomic_load(&churn_bad), 0);
    assert_int_equal(atomic_load(&churn_ops), (long)CHURN_THREADS * CHURN_OPS);
    hak_malloc_trim(0);
    unit_ss_counts_t c = ss_counts();
    assert_int_equal(c.draining, 0);
    /* every block is free: what stays mapped is bounded */
    uint64_t live, lbytes, cached, cbytes;
    _hak_large_counts(&live, &lbytes, &cached, &cbytes);
    assert_int_equal(live, 0);
}

/* ---- idle heaps ----------------------------------------------------------------
 * The main thread allocates, another thread frees everything, and the main
 * thread then stays out of malloc: its slabs must not stay its own. */
#define IH_BLOCKS 600
#define IH_SIZE 512

typedef struct {
    void **v;
    size_t n;
    long bad;
} ih_blocks_t;

static void *free_every_block(void *arg)
{
    ih_blocks_t *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        if (!block_ok(a->v[i], IH_SIZE))
            a->bad++;
        hak_free(a->v[i]);
    }
    return NULL;
}

typedef struct {
    hak_slab_t **slabs;
    size_t nslabs;
    hak_heap_t *idle;
    int looks;     /* reclaim calls until the idle heap owned none of them */
    size_t taken;  /* slabs taken from idle heaps meanwhile */
} ih_reclaim_t;

static size_t still_owned(hak_slab_t **slabs, size_t n, hak_heap_t *h)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += __atomic_load_n(&slabs[i]->owner, __ATOMIC_ACQUIRE) == h;
    return k;
}

static void *reclaim_until_given_up(void *arg)
{
    ih_reclaim_t *r = arg;
    void *p = hak_malloc(16); /* a heap of its own */
    r->looks = 0;
    while (r->looks < 100 && still_owned(r->slabs, r->nslabs, r->idle) > 0) {
        _hak_heap_reclaim_idle(hak_tls_heap, false);
        r->looks++;
        usleep(12000);
    }
    hak_free(p);
    return NULL;
}

/* IH_BLOCKS blocks of the main thread, tagged; the distinct slabs they are
 * in go to slabs (as many as blocks at most). Returns their number. */
static size_t ih_alloc(void **v, hak_slab_t **slabs)
{
    size_t n = 0;
    for (size_t i = 0; i < IH_BLOCKS; i++) {
        v[i] = hak_malloc(IH_SIZE);
        assert_non_null(v[i]);
        tag_block(v[i], IH_SIZE);
        hak_slab_t *s = slab_of_block(v[i]);
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = slabs[j] == s;
        if (!seen)
            slabs[n++] = s;
    }
    return n;
}

typedef struct {
    void **v;
    hak_slab_t **slabs;
    size_t nslabs;
    hak_heap_t *me;
} ih_fill_t;

/* ih_alloc into fresh arrays: at least 4 slabs, all the main thread's */
static ih_fill_t ih_fill(void)
{
    ih_fill_t f;
    f.v = calloc(IH_BLOCKS, sizeof *f.v);
    f.slabs = calloc(IH_BLOCKS, sizeof *f.slabs);
    f.nslabs = ih_alloc(f.v, f.slabs);
    f.me = hak_tls_heap;
    assert_true(f.nslabs >= 4);
    assert_int_equal(still_owned(f.slabs, f.nslabs, f.me), f.nslabs);
    return f;
}

static void ih_free_elsewhere(void **v)
{
    ih_blocks_t a = {v, IH_BLOCKS, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_every_block, &a), 0);
    pthread_join(t, NULL);
    assert_int_equal(a.bad, 0);
}

static void test_idle_heap_gives_up_slabs(void **state)
{
    (void)state;
    ih_fill_t f = ih_fill();
    /* every block is freed by a thread that then exits; from here on the
     * main thread makes no call until the other thread is done */
    ih_free_elsewhere(f.v);
    ih_reclaim_t r = {f.slabs, f.nslabs, f.me, 0, 0};
    uint64_t taken0 = _hak_heap_idle_taken();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reclaim_until_given_up, &r), 0);
    pthread_join(t, NULL);
    r.taken = _hak_heap_idle_taken() - taken0;
    size_t kept = still_owned(f.slabs, f.nslabs, f.me);
    if (kept)
        fail_msg("%zu of %zu slabs still owned by the idle main thread after %d looks 12 ms "
                 "apart",
                 kept, f.nslabs, r.looks);
    print_message("    %zu slabs given up after %d looks\n", f.nslabs, r.looks);
    assert_true(r.taken >= f.nslabs);
    /* the fully freed ones went back; the slab of the blocks left in the
     * main thread's TLS list (if any) was abandoned */
    size_t freed = 0;
    for (size_t i = 0; i < f.nslabs; i++)
        freed += __atomic_load_n(&f.slabs[i]->state, __ATOMIC_RELAXED) == HAK_SLAB_FREE;
    assert_true(freed >= f.nslabs - 1);
    /* the main thread allocates again: blocks of given-up slabs still in its
     * TLS list are handed out, and freed (flushed) as remote frees */
    for (int round = 0; round < 3; round++) {
        ih_alloc(f.v, f.slabs);
        for (size_t i = 0; i < IH_BLOCKS; i++)
            if (!block_ok(f.v[i], IH_SIZE))
                fail_msg("round %d: block %zu (%p) changed", round, i, f.v[i]);
        for (size_t i = 0; i < IH_BLOCKS; i++)
            hak_free(f.v[i]);
    }
    free(f.v);
    free(f.slabs);
}

static void *trim_elsewhere(void *arg)
{
    (void)arg;
    void *p = hak_malloc(16);
    hak_malloc_trim(0);
    hak_free(p);
    return NULL;
}

/* malloc_trim in one thread releases the empty slabs of the others, and
 * takes nothing else from them. */
static void test_trim_releases_other_heaps_empty_slabs(void **state)
{
    (void)state;
    ih_fill_t f = ih_fill();
    /* one block stays live: its slab stays the main thread's */
    void *keep = f.v[IH_BLOCKS - 1];
    hak_slab_t *keep_slab = slab_of_block(keep);
    f.v[IH_BLOCKS - 1] = f.v[0];
    f.v[0] = keep;
    hak_free(f.v[IH_BLOCKS - 1]); /* v[0]'s old block, own free */
    f.v[IH_BLOCKS - 1] = hak_malloc(IH_SIZE);
    tag_block(f.v[IH_BLOCKS - 1], IH_SIZE);
    ih_blocks_t a = {f.v + 1, IH_BLOCKS - 1, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_every_block, &a), 0);
    pthread_join(t, NULL);
    assert_int_equal(a.bad, 0);
    assert_int_equal(pthread_create(&t, NULL, trim_elsewhere, NULL), 0);
    pthread_join(t, NULL);
    size_t released = 0;
    for (size_t i = 0; i < f.nslabs; i++)
        released += __atomic_load_n(&f.slabs[i]->state, __ATOMIC_RELAXED) == HAK_SLAB_FREE;
    if (released + 2 < f.nslabs)
        fail_msg("malloc_trim in another thread released %zu of %zu emptied slabs", released,
                 f.nslabs);
    assert_ptr_equal(__atomic_load_n(&keep_slab->owner, __ATOMIC_RELAXED), f.me);
    assert_true(block_ok(keep, IH_SIZE));
    hak_free(keep);
    free(f.v);
    free(f.slabs);
}

/* An owner that allocates and frees in bursts with pauses, while another
 * thread takes its slabs whenever it looks idle and adopts them: blocks
 * of given-up slabs in the owner's TLS lists are handed out and flushed
 * while another heap owns their slab. Every block keeps its pattern. */
#define IR_ROUNDS 48
#define IR_LIVE 400

static atomic_int ir_done;
static atomic_long ir_bad;

static void *ir_owner(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg | 1;
    void *v[IR_LIVE] = {0};
    size_t n[IR_LIVE] = {0};
    for (int round = 0; round < IR_ROUNDS; round++) {
        for (int i = 0; i < IR_LIVE; i++) {
            if (v[i] && rng_next(&rng) % 2 == 0)
                continue;
            if (v[i]) {
                if (!block_ok(v[i], n[i]))
                    atomic_fetch_add(&ir_bad, 1);
                hak_free(v[i]);
            }
            n[i] = 16 + rng_next(&rng) % 4080;
            v[i] = hak_malloc(n[i]);
            if (!v[i])
                abort();
            tag_block(v[i], n[i]);
        }
        if (round % 3 == 2)
            usleep(25000); /* idle: long enough for two looks */
    }
    for (int i = 0; i < IR_LIVE; i++) {
        if (!block_ok(v[i], n[i]))
            atomic_fetch_add(&ir_bad, 1);
        hak_free(v[i]);
    }
    atomic_store(&ir_done, 1);
    return NULL;
}

static void *ir_reclaimer(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg | 1;
    void *v[64];
    size_t n[64];
    while (!atomic_load(&ir_done)) {
        _hak_heap_reclaim_idle(hak_tls_heap, false);
        /* adopt what was given up */
        for (int i = 0; i < 64; i++) {
            n[i] = 16 + rng_next(&rng) % 4080;
            v[i] = hak_malloc(n[i]);
            if (!v[i])
                abort();
            tag_block(v[i], n[i]);
        }
        for (int i = 0; i < 64; i++) {
            if (!block_ok(v[i], n[i]))
                atomic_fetch_add(&ir_bad, 1);
            hak_free(v[i]);
        }
        usleep(1000);
    }
    return NULL;
}

static void test_idle_give_up_races(void **state)
{
    (void)state;
    atomic_store(&ir_done, 0);
    atomic_store(&ir_bad, 0);
    uint64_t taken0 = _hak_heap_idle_taken();
    pthread_t o, r;
    assert_int_equal(pthread_create(&o, NULL, ir_owner, (void *)(uintptr_t)0x9E3779B97F4A7C15ull), 0);
    assert_int_equal(pthread_create(&r, NULL, ir_reclaimer, (void *)(uintptr_t)0xC0FFEEull), 0);
    pthread_join(o, NULL);
    pthread_join(r, NULL);
    uint64_t taken = _hak_heap_idle_taken() - taken0;
    print_message("    %llu slabs taken from the owner while it paused\n", (unsigned long long)taken);
    assert_int_equal(atomic_load(&ir_bad), 0);
    assert_true(taken > 0);
}

/* A slab the idle main thread gave up while blocks of it sat in its TLS
 * list, adopted by another thread: when the main thread returns those
 * blocks, they go to the new owner as remote frees, and the main thread's
 * slab lists keep only slabs it owns. */
#define GU_SIZE 5000
#define GU_BLOCKS 48

typedef struct {
    hak_slab_t *s;
    hak_heap_t *idle;
    pthread_barrier_t bar;
    int looks;
    bool adopted;
    void *v[2000];
    size_t n;
} gu_t;

static void *gu_take_and_adopt(void *arg)
{
    gu_t *g = arg;
    void *p = hak_malloc(16);
    for (g->looks = 0;
         g->looks < 100 && __atomic_load_n(&g->s->owner, __ATOMIC_ACQUIRE) == g->idle;
         g->looks++) {
        _hak_heap_reclaim_idle(hak_tls_heap, false);
        usleep(12000);
    }
    /* allocate until a block comes from the given-up slab (adopted) */
    for (g->n = 0; g->n < 2000 && !g->adopted; g->n++) {
        g->v[g->n] = hak_malloc(GU_SIZE);
        g->adopted = slab_of_block(g->v[g->n]) == g->s;
    }
    pthread_barrier_wait(&g->bar); /* the main thread returns its blocks */
    pthread_barrier_wait(&g->bar);
    for (size_t i = 0; i < g->n; i++)
        hak_free(g->v[i]);
    hak_free(p);
    return NULL;
}

/* via_flush: the blocks go back through a flush (a free that overflows
 * the list); else through _hak_heap_collect_all. Both return runs of one
 * slab whole. */
static void given_up_slab_blocks_go_remote(bool via_flush)
{
    unsigned cls = hak_size_class(GU_SIZE + HAK_PAD);
    void *v[GU_BLOCKS];
    for (int i = 0; i < GU_BLOCKS; i++) {
        v[i] = hak_malloc(GU_SIZE);
        assert_non_null(v[i]);
    }
    for (int i = GU_BLOCKS; i-- > 0;)
        hak_free(v[i]);
    hak_heap_t *me = hak_tls_heap;
    assert_non_null(me->tl[cls].head);
    gu_t *g = calloc(1, sizeof *g);
    g->s = slab_of_block(me->tl[cls].head);
    g->idle = me;
    assert_ptr_equal(g->s->owner, me);
    pthread_barrier_init(&g->bar, NULL, 2);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, gu_take_and_adopt, g), 0);
    pthread_barrier_wait(&g->bar);
    if (!g->adopted)
        fail_msg("the slab was not given up and adopted (%d looks, %zu blocks)", g->looks, g->n);
    hak_heap_t *other = __atomic_load_n(&g->s->owner, __ATOMIC_ACQUIRE);
    assert_true(other != me && other != NULL);
    /* blocks of s in the main thread's TLS list: live for s */
    uint32_t k = 0;
    for (hak_block_t *b = me->tl[cls].head; b; b = hak_next(b))
        k += slab_of_block(b) == g->s;
    assert_true(k > 0);
    uint32_t used = g->s->used;
    if (via_flush) {
        /* what a free does when the list overflows (with no dry spell
         * since the last flush, so that the bound does not grow). The
         * list is taken for 1000 blocks over its bound: with fewer blocks
         * than a flush would move, all of it goes */
        me->tl_dry[cls] = 0;
        me->tl[cls].room = -1000;
        _hak_heap_flush(me, cls);
        assert_null(me->tl[cls].head);
        assert_int_equal(hak_heap_count(me, cls), 0);
    } else {
        /* every cached block back (malloc_trim's first step) */
        _hak_heap_collect_all(me);
    }
    /* those of s as remote frees, for its owner to collect */
    assert_int_equal(g->s->used, used);
    uint32_t remote = 0;
    for (hak_block_t *b = (hak_block_t *)(atomic_load(&g->s->remote) & ~HAK_RT_MASK); b;
         b = hak_next(b))
        remote++;
    assert_int_equal(remote, k);
    for (hak_slab_t *s = me->owned; s; s = s->onext)
        if (s->owner != me)
            fail_msg("slab %p (owner %p) on the main thread's owned list", (void *)s,
                     (void *)s->owner);
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++)
        for (hak_slab_t *s = me->warm[c]; s; s = s->wnext)
            if (s->owner != me)
                fail_msg("slab %p (owner %p) in the main thread's warm pool", (void *)s,
                         (void *)s->owner);
    pthread_barrier_wait(&g->bar);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&g->bar);
    free(g);
}

static void test_given_up_slab_blocks_go_remote(void **state)
{
    (void)state;
    given_up_slab_blocks_go_remote(false);
}

static void test_given_up_slab_blocks_flushed_remote(void **state)
{
    (void)state;
    given_up_slab_blocks_go_remote(true);
}

/* A warm slab of an idle heap whose remote word a freer has just moved
 * FULL -> NOTIFYING (a flush re-warmed it after that; the freer has not
 * pushed it on the pending stack yet) is left to its owner: once the freer
 * pushes it, it is on the owner's pending stack, and a slab there must
 * not change hands. The freer is played by this test: it sets the tag,
 * lets another thread look at the idle heap, then does the push. A look
 * that waited for the freer instead would never end before the push. */
typedef struct {
    atomic_int done;
} nt_t;

static void *look_at_idle_heaps(void *arg)
{
    nt_t *n = arg;
    void *p = hak_malloc(16);
    for (int looks = 0; looks < 4; looks++) {
        _hak_heap_reclaim_idle(hak_tls_heap, false);
        usleep(12000);
    }
    atomic_store(&n->done, 1);
    hak_free(p);
    return NULL;
}

static bool on_pending(hak_heap_t *h, hak_slab_t *s)
{
    for (hak_slab_t *x = atomic_load(&h->pending); x; x = x->pnext)
        if (x == s)
            return true;
    return false;
}

static void test_idle_leaves_slab_being_notified(void **state)
{
    (void)state;
    const size_t size = 2500;
    void *other = hak_malloc(700); /* a warm slab the looks do take */
    void *b = hak_malloc(size);
    assert_non_null(other);
    assert_non_null(b);
    hak_heap_t *me = hak_tls_heap;
    hak_slab_t *s = slab_of_block(b), *so = slab_of_block(other);
    assert_ptr_equal(s->owner, me);
    assert_true(s->in_warm && so->in_warm);
    /* the freer's FULL -> NOTIFYING (the list stays as it is) */
    uintptr_t w = atomic_load(&s->remote);
    assert_int_equal(w & HAK_RT_MASK, HAK_RT_NORMAL);
    atomic_store(&s->remote, (w & ~HAK_RT_MASK) | HAK_RT_NOTIFYING);
    nt_t n = {0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, look_at_idle_heaps, &n), 0);
    int waited = 0;
    while (!atomic_load(&n.done) && waited++ < 1000)
        usleep(1000);
    /* the freer goes on: s on the owner's pending stack, NOTIFIED */
    s->pnext = atomic_load(&me->pending);
    atomic_store(&me->pending, s);
    w = atomic_load(&s->remote);
    atomic_store(&s->remote, (w & ~HAK_RT_MASK) | HAK_RT_NOTIFIED);
    pthread_join(t, NULL);
    if (!atomic_load(&n.done) || waited > 1000)
        print_message("    the looks did not end before the freer's push\n");
    if (__atomic_load_n(&so->owner, __ATOMIC_ACQUIRE) == me)
        fail_msg("the looks did not take the idle heap's other warm slab");
    if (__atomic_load_n(&s->owner, __ATOMIC_ACQUIRE) != me)
        fail_msg("a slab on its way to the pending stack was taken from the idle heap "
                 "(owner %p, state %u)",
                 (void *)s->owner, (unsigned)s->state);
    assert_int_equal(s->state, HAK_SLAB_HOT);
    assert_true(on_pending(me, s));
    /* the owner's next slow path drains it */
    hak_free(b);
    hak_free(other);
    void *v[64];
    for (int i = 0; i < 64; i++)
        v[i] = hak_malloc(size);
    assert_false(on_pending(me, s));
    for (int i = 0; i < 64; i++)
        hak_free(v[i]);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_producer_consumer),
    cmocka_unit_test(test_thread_exit_with_live_blocks),
    cmocka_unit_test(test_first_call_is_free),
    cmocka_unit_test(test_remote_frees_gathered),
    cmocka_unit_test(test_heap_reused_after_exit),
    cmocka_unit_test(test_allocation_in_exit_destructor),
    cmocka_unit_test(test_all_to_all_remote_frees),
    cmocka_unit_test(test_churn_200_threads),
    cmocka_unit_test(test_idle_heap_gives_up_slabs),
    cmocka_unit_test(test_trim_releases_other_heaps_empty_slabs),
    cmocka_unit_test(test_given_up_slab_blocks_go_remote),
    cmocka_unit_test(test_given_up_slab_blocks_flushed_remote),
    cmocka_unit_test(test_idle_leaves_slab_being_notified),
    cmocka_unit_test(test_idle_give_up_races),
};

UNIT_MAIN("threads", tests, group_setup, NULL)
