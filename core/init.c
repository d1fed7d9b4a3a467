/*
 * init.c — start-up, fork and exit.
 *
 * Initialisation runs on the first call that needs it (possibly before the
 * library's constructor, from another library's constructor or from inside
 * the dynamic loader), races safely between threads (one wins, the others
 * wait), and never allocates: it reads the environment by scanning environ,
 * and takes its secret from the auxiliary vector. The constructor then reads
 * the options again if environ was not set up yet, and registers the fork
 * handlers (which may allocate; that is fine once initialised).
 *
 * fork: the prepare handler takes every lock (in the documented order), so
 * the child starts with consistent structures; both sides release them.
 * Heaps of threads that do not exist in the child are left as they are:
 * their cached blocks stay unused there (as glibc's arenas do). A remote
 * free cut short by the fork is completed in the child (heap.c).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

_Atomic(int) hak_init_state;
uintptr_t hak_secret;
#ifdef HAK_HARDENED
uintptr_t hak_link_secret;

void _hak_corrupt_list(const void *where)
{
    char buf[160];
    hak_buf_t b = {buf, 0, sizeof buf};
    _hak_buf_str(&b, "free list corrupted at ");
    _hak_buf_ptr(&b, where);
    _hak_buf_str(&b, " (a freed block was written to)");
    _hak_fatal(b.p);
}
#endif
static bool env_was_missing;

static uintptr_t make_secret(void)
{
    uintptr_t s = 0;
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    if (r) {
        for (int i = 0; i < 8; i++)
            s = (s << 8) | r[i + 8];
    }
    s ^= (uintptr_t)&s * 0x9E3779B97F4A7C15ull;
    s ^= (uintptr_t)getpid() << 17;
    /* low bits set so a zeroed word or a plain pointer never matches */
    return s | 0xF;
}

static void apply_options(void)
{
    hak_stats_enabled = hak_opt(HAK_OPT_STATS) != 0 || hak_opt(HAK_OPT_WARM_POOL_STATS) != 0 ||
                        hak_opt(HAK_OPT_SS_OS_STATS) != 0 ||
                        hak_opt(HAK_OPT_STATS_INTERVAL_MS) != 0;
    /* (the calling thread's view; a heap made later sets its own) */
    _hak_heap_set_fast();
}

void _hak_init_slow(void)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&hak_init_state, &expect, 1)) {
        hak_secret = make_secret();
#ifdef HAK_HARDENED
        hak_link_secret = (hak_secret * 0x9E3779B97F4A7C15ull) & ~(uintptr_t)0xF;
#endif
        env_was_missing = environ == NULL;
        _hak_options_init(environ);
        apply_options();
        _hak_fr_setup();
        _hak_heap_setup();
        atomic_store_explicit(&hak_init_state, 2, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2)
        sched_yield();
}

/* Every lock of the library, in the order they nest: a child must not
 * inherit one held by a thread that does not exist in it. */
static void fork_prepare(void)
{
    _hak_stats_report_lock();
    _hak_heap_lock();
    _hak_ss_lock();
    _hak_large_lock();
    _hak_reg_lock();
    _hak_os_lock();
    _hak_stats_lock();
}

static void fork_parent(void)
{
    _hak_stats_unlock();
    _hak_os_unlock();
    _hak_reg_unlock();
    _hak_large_unlock();
    _hak_ss_unlock();
    _hak_heap_unlock();
    _hak_stats_report_unlock();
}

static void fork_child(void)
{
    /* this thread is alone now and still holds every lock */
    _hak_heap_after_fork_child();
    /* the locks were held by this thread at fork: release them the same way */
    fork_parent();
}

static void print_options(void)
{
    char buf[2048];
    hak_buf_t b = {buf, 0, sizeof buf};
    _hak_buf_str(&b, "hakmem: ");
    _hak_buf_str(&b, hak_version());
    _hak_buf_str(&b, " options:");
    for (unsigned i = 0; i < HAK_OPT_COUNT; i++) {
        _hak_buf_str(&b, " HAKMEM_");
        _hak_buf_str(&b, hak_options[i].name);
        _hak_buf_char(&b, '=');
        if (hak_options[i].type == HAK_OT_STRING)
            _hak_buf_str(&b, hak_opt_strings[i] ? hak_opt_strings[i] : "");
        else
            _hak_buf_i64(&b, hak_opt_values[i]);
    }
    _hak_buf_char(&b, '\n');
    _hak_os_write_fd(2, b.p, b.len);
}

__attribute__((constructor(101))) static void hak_constructor(void)
{
    hak_ensure_init();
    if (env_was_missing && environ) {
        _hak_options_init(environ);
        apply_options();
        _hak_heap_setup(); /* bounds depend on the options */
        _hak_heap_reset_bounds(hak_tls_heap); /* this thread may have a heap already */
    }
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    if (hak_stats_enabled && !hak_opt_strings[HAK_OPT_STATS_FILE])
        _hak_stats_keep_stderr();
    if (hak_opt(HAK_OPT_VERBOSE))
        print_options();
}

__attribute__((destructor(101))) static void hak_destructor(void)
{
    if (atomic_load(&hak_init_state) == 2)
        _hak_stats_report();
}
