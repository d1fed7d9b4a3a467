/*
 * purge_race.c — memory returned to the OS must never be a live block's.
 *
 *   purge_race [SECONDS]        default 5
 *
 * Two threads fill and empties SuperSlabs with small blocks (so that slabs
 * are released, purged with madvise and whole SuperSlabs unmapped), while
 * other threads allocate large blocks (each its own mapping, so the address
 * space the small thread just gave back is likely to be reused), fill them
 * with a pattern, yield, and check that the pattern is still there. A
 * purge that lands on memory after it was unmapped and mapped again zeroes
 * pages of a live block, which shows up here as a word read back as 0.
 *
 * Most effective with the allocator told to give memory back at once, as
 * the stress-test target runs it:
 *   HAKMEM_PURGE_DELAY_MS=0 HAKMEM_SS_CACHE=0 HAKMEM_WARM_POOL=0 HAKMEM_LARGE_CACHE=0
 * Exit 0 if no block lost its contents, 1 otherwise (the first damaged
 * block is printed).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Atomic int stop;
static _Atomic long damaged, checked, cycles;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *small_churn(void *arg)
{
    (void)arg;
    enum { N = 6000 };
    void **b = malloc(N * sizeof *b);
    if (!b)
        abort();
    while (!atomic_load(&stop)) {
        /* ~6 MiB of 1 KiB blocks: several SuperSlabs */
        for (int i = 0; i < N; i++) {
            b[i] = malloc(1000);
            if (!b[i])
                abort();
            memset(b[i], 0x5a, 64);
        }
        for (int i = 0; i < N; i++)
            free(b[i]);
        atomic_fetch_add(&cycles, 1);
    }
    free(b);
    return NULL;
}

static void *large_check(void *arg)
{
    uintptr_t seed = (uintptr_t)arg;
    while (!atomic_load(&stop)) {
        size_t n = ((size_t)1 << 20) + 4096 * (seed % 64);
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t *p = malloc(n);
        if (!p)
            abort();
        size_t nw = n / 8;
        for (size_t i = 0; i < nw; i += 512)
            p[i] = (uintptr_t)p ^ i ^ 0x1234567890abcdefull;
        for (int k = 0; k < 3; k++)
            sched_yield();
        for (size_t i = 0; i < nw; i += 512) {
            uint64_t want = (uintptr_t)p ^ i ^ 0x1234567890abcdefull;
            if (p[i] != want) {
                if (atomic_fetch_add(&damaged, 1) == 0)
                    fprintf(stderr,
                            "purge_race: large block %p (%zu bytes): word at offset %zu is %#llx,"
                            " expected %#llx\n",
                            (void *)p, n, i * 8, (unsigned long long)p[i],
                            (unsigned long long)want);
                break;
            }
        }
        atomic_fetch_add(&checked, 1);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 5.0;
    pthread_t s[2], l[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&s[i], NULL, small_churn, NULL) != 0)
            return 2;
    for (int i = 0; i < 2; i++)
        if (pthread_create(&l[i], NULL, large_check, (void *)(uintptr_t)(i + 1)) != 0)
            return 2;
    double end = now_s() + secs;
    while (now_s() < end && atomic_load(&damaged) == 0) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) {
        pthread_join(s[i], NULL);
        pthread_join(l[i], NULL);
    }
    long d = atomic_load(&damaged);
    printf("purge_race: %ld small fill/empty cycles, %ld large blocks checked, %ld damaged: %s\n",
           atomic_load(&cycles), atomic_load(&checked), d, d ? "FAILED" : "OK");
    return d ? 1 : 0;
}
