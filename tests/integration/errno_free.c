/*
 * errno_free: free() must not change errno (POSIX.1-2024; glibc >= 2.33).
 *
 * errno is set to an unusual value before every free of small, medium,
 * large (mmap-backed), aligned, calloc'd and realloc'd blocks, of blocks
 * owned by another thread, of batches big enough to make the allocator
 * return memory to the OS (munmap/madvise/trim), and of NULL.
 */
#include "itest.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>

#define MAGIC 1234

static void free_check(void *p, const char *what, size_t n)
{
    errno = MAGIC;
    free(p);
    if (errno != MAGIC)
        FAIL("free(%s, %zu B) changed errno from %d to %d (%s)", what, n, MAGIC, errno, strerror(errno));
}

static void *remote_freer(void *arg)
{
    void **blocks = arg;
    for (int i = 0; blocks[i]; i++)
        free_check(blocks[i], "block of another thread", 0);
    return NULL;
}

int main(void)
{
    itest_init("errno_free", 60);

    free_check(NULL, "NULL", 0);

    static const size_t sizes[] = {1, 8, 16, 100, 1000, 4096, 32768, 65536, 131072, 500000,
                                   1u << 20, 4u << 20, 32u << 20, 100u << 20};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            void *p = malloc(n);
            CHECK(p != NULL, "malloc(%zu)", n);
            memset(p, 0xEE, n < 65536 ? n : 65536);
            free_check(p, "malloc", n);

            p = calloc(1, n);
            CHECK(p != NULL, "calloc(%zu)", n);
            free_check(p, "calloc", n);

            void *a = NULL;
            CHECK(posix_memalign(&a, 4096, n) == 0, "posix_memalign(4096, %zu)", n);
            free_check(a, "posix_memalign(4096)", n);

            a = aligned_alloc((size_t)2 << 20, n);
            CHECK(a != NULL, "aligned_alloc(2 MiB, %zu)", n);
            free_check(a, "aligned_alloc(2 MiB)", n);

            p = malloc(n);
            CHECK(p != NULL);
            p = realloc(p, n * 2 + 1);
            CHECK(p != NULL);
            free_check(p, "realloc'd", n * 2 + 1);
        }
    }

    /* Big batches: freeing them lets the allocator give memory back. */
    enum { BATCH = 4000 };
    static void *batch[BATCH];
    for (int round = 0; round < 2; round++) {
        size_t n = round == 0 ? 64 * 1024 : 200;
        for (int i = 0; i < BATCH; i++) {
            batch[i] = malloc(n);
            CHECK(batch[i] != NULL);
            memset(batch[i], 1, n);
        }
        for (int i = 0; i < BATCH; i++)
            free_check(batch[i], "batch", n);
        errno = MAGIC;
        malloc_trim(0);
        void *p = malloc(10);
        free_check(p, "after malloc_trim", 10);
    }

    /* Frees from a thread that does not own the blocks. */
    void *blocks[65];
    for (int i = 0; i < 64; i++) {
        size_t n = i % 16 == 15 ? (2u << 20) : 24 + (size_t)i * 100;
        blocks[i] = malloc(n);
        CHECK(blocks[i] != NULL);
    }
    blocks[64] = NULL;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, remote_freer, blocks) == 0);
    pthread_join(t, NULL);

    /* C23 sized frees, when the allocator provides them. */
    void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*fas)(void *, size_t, size_t) = (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (fs) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = malloc(sizes[i]);
            CHECK(p != NULL);
            errno = MAGIC;
            fs(p, sizes[i]);
            if (errno != MAGIC)
                FAIL("free_sized(%zu) changed errno to %d", sizes[i], errno);
        }
    }
    if (fas) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = (sizes[i] + 63) & ~(size_t)63;
            void *p = aligned_alloc(64, n);
            CHECK(p != NULL);
            errno = MAGIC;
            fas(p, 64, n);
            if (errno != MAGIC)
                FAIL("free_aligned_sized(64, %zu) changed errno to %d", n, errno);
        }
    }

    printf("errno_free: OK\n");
    return 0;
}
