/*
 * trim_rss: malloc_trim(0) gives freed memory back to the OS.
 *
 * Allocates about 96 MiB in small (200 B), medium (24 KiB) and large
 * (1 MiB) blocks, writes to all of it, frees it all, then calls
 * malloc_trim(0): the resident set must drop by at least half of what was
 * allocated (an allocator keeps some of it cached until then; the trim must
 * return it). Also checks mallinfo2() sees memory in use while the blocks
 * are live, and that allocation works after the trim.
 */
#include "itest.h"

#include <malloc.h>

enum { NSMALL = 200000, NMED = 1500, NLARGE = 24 };

int main(void)
{
    itest_init("trim_rss", 60);
    static void *small[NSMALL], *med[NMED], *large[NLARGE];
    size_t total = 0;
    size_t rss0 = itest_rss();
    for (int i = 0; i < NSMALL; i++) {
        small[i] = malloc(200);
        CHECK(small[i] != NULL, "malloc(200)");
        memset(small[i], 0x11, 200);
        total += 200;
    }
    for (int i = 0; i < NMED; i++) {
        med[i] = malloc(24 * 1024);
        CHECK(med[i] != NULL, "malloc(24 KiB)");
        memset(med[i], 0x22, 24 * 1024);
        total += 24 * 1024;
    }
    for (int i = 0; i < NLARGE; i++) {
        large[i] = malloc(1 << 20);
        CHECK(large[i] != NULL, "malloc(1 MiB)");
        memset(large[i], 0x33, 1 << 20);
        total += 1 << 20;
    }
    struct mallinfo2 mi = mallinfo2();
    CHECK(mi.uordblks + mi.hblkhd >= total / 2,
          "mallinfo2 reports %zu + %zu bytes in use with %zu allocated", mi.uordblks, mi.hblkhd,
          total);
    size_t rss_full = itest_rss();
    for (int i = 0; i < NSMALL; i++)
        free(small[i]);
    for (int i = 0; i < NMED; i++)
        free(med[i]);
    for (int i = 0; i < NLARGE; i++)
        free(large[i]);
    size_t rss_freed = itest_rss();
    malloc_trim(0);
    size_t rss_trim = itest_rss();
    printf("trim_rss: allocated %zu KiB; RSS start %zu KiB, full %zu KiB, freed %zu KiB, "
           "after malloc_trim %zu KiB\n",
           total >> 10, rss0 >> 10, rss_full >> 10, rss_freed >> 10, rss_trim >> 10);
    CHECK(rss_full >= rss0 + total / 2, "RSS did not grow with the allocations");
    CHECK(rss_trim + total / 2 <= rss_full,
          "malloc_trim(0) left RSS at %zu KiB (full: %zu KiB, allocated %zu KiB)", rss_trim >> 10,
          rss_full >> 10, total >> 10);
    void *p = malloc(1000);
    CHECK(p != NULL, "malloc after trim");
    memset(p, 0, 1000);
    free(p);
    printf("trim_rss: OK\n");
    return 0;
}
