/*
 * registry.c — the hashed registry: maps a 2 MiB chunk number to the object
 * that owns the chunk (a SuperSlab, or the record of a large block whose
 * user pointer lies in that chunk). It answers "is this pointer ours?" for
 * free() in one probe in the common case.
 *
 * Structure: open addressing with linear probing, keys chunk+2 (0 = empty,
 * 1 = tombstone), values pointer|kind.
 *
 * Concurrency: readers take no lock. Writers hold reg_lock. The invariants
 * that make lock-free reads safe:
 *   - an entry's key only goes EMPTY -> key -> TOMB -> key' -> TOMB ...;
 *     a slot never becomes EMPTY again, so a probe chain is never cut;
 *   - a value is written before its key is published (release/acquire);
 *   - a chunk is registered before any pointer into it is handed out, and
 *     removed only when no live block remains in it;
 *   - growing builds a new table with every live entry and publishes it;
 *     old tables are never freed, so a reader still probing one finds every
 *     key that was live when it started.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>

#include "internal.h"

#define REG_INITIAL 4096

static struct {
    hak_reg_table_t t;
    hak_reg_entry_t e[REG_INITIAL];
} reg_initial = {{REG_INITIAL - 1, 0}, {{0, 0}}};

_Atomic(hak_reg_table_t *) hak_reg_current = &reg_initial.t;
static size_t reg_used;  /* live keys + tombstones in the current table */
static size_t reg_live;
static hak_lock_t reg_lock = HAK_LOCK_INIT;

static void insert_into(hak_reg_table_t *t, uintptr_t key, uintptr_t value, bool *reused)
{
    uintptr_t i = hak_reg_hash(key - 2) & t->mask;
    for (;;) {
        uintptr_t k = atomic_load_explicit(&t->e[i].key, memory_order_relaxed);
        if (k == HAK_REG_EMPTY || k == HAK_REG_TOMB) {
            *reused = (k == HAK_REG_TOMB);
            atomic_store_explicit(&t->e[i].value, value, memory_order_relaxed);
            atomic_store_explicit(&t->e[i].key, key, memory_order_release);
            return;
        }
        i = (i + 1) & t->mask;
    }
}

static bool grow_locked(void)
{
    hak_reg_table_t *old = atomic_load_explicit(&hak_reg_current, memory_order_relaxed);
    size_t n = (old->mask + 1) * 2;
    if (reg_live * 4 < old->mask + 1)
        n = old->mask + 1; /* mostly tombstones: rebuild at the same size */
    hak_reg_table_t *t = _hak_meta_alloc(sizeof(hak_reg_table_t) + n * sizeof(hak_reg_entry_t));
    if (!t)
        return false;
    t->mask = n - 1;
    size_t used = 0;
    for (size_t i = 0; i <= old->mask; i++) {
        uintptr_t k = atomic_load_explicit(&old->e[i].key, memory_order_relaxed);
        if (k > HAK_REG_TOMB) {
            bool reused;
            insert_into(t, k, atomic_load_explicit(&old->e[i].value, memory_order_relaxed),
                        &reused);
            used++;
        }
    }
    atomic_store_explicit(&hak_reg_current, t, memory_order_release);
    reg_used = used;
    return true;
}

bool _hak_reg_insert(const void *chunk_addr, uintptr_t value)
{
    uintptr_t key = ((uintptr_t)chunk_addr >> HAK_SS_SHIFT) + 2;
    hak_lock(&reg_lock);
    hak_reg_table_t *t = atomic_load_explicit(&hak_reg_current, memory_order_relaxed);
    if ((reg_used + 1) * 2 > t->mask + 1) {
        if (!grow_locked()) {
            hak_unlock(&reg_lock);
            errno = ENOMEM;
            return false;
        }
        t = atomic_load_explicit(&hak_reg_current, memory_order_relaxed);
    }
    bool reused = false;
    insert_into(t, key, value, &reused);
    if (!reused)
        reg_used++;
    reg_live++;
    hak_unlock(&reg_lock);
    return true;
}

void _hak_reg_remove(const void *chunk_addr)
{
    uintptr_t key = ((uintptr_t)chunk_addr >> HAK_SS_SHIFT) + 2;
    hak_lock(&reg_lock);
    hak_reg_table_t *t = atomic_load_explicit(&hak_reg_current, memory_order_relaxed);
    uintptr_t i = hak_reg_hash(key - 2) & t->mask;
    for (;;) {
        uintptr_t k = atomic_load_explicit(&t->e[i].key, memory_order_relaxed);
        if (k == key) {
            atomic_store_explicit(&t->e[i].key, HAK_REG_TOMB, memory_order_release);
            reg_live--;
            break;
        }
        if (k == HAK_REG_EMPTY)
            break;
        i = (i + 1) & t->mask;
    }
    hak_unlock(&reg_lock);
}

void _hak_reg_lock(void) { hak_lock(&reg_lock); }
void _hak_reg_unlock(void) { hak_unlock(&reg_lock); }

size_t _hak_reg_capacity(void)
{
    return atomic_load_explicit(&hak_reg_current, memory_order_relaxed)->mask + 1;
}
