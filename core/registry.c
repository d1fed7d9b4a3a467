/*
 * registry.c — the hashed registry: maps a 2 MiB chunk number to the object
 * that owns the chunk (a SuperSlab, a large-block arena, or the record of a
 * large block of its own mapping whose user pointer lies in that chunk). It answers "is this pointer ours?" for
 * free() with one load and one compare in the common case.
 *
 * Structure: a fixed table of HAK_REG_SIZE slots, keys and values in two
 * arrays (2 MiB of address space each in .bss; only the pages holding used
 * slots become resident), open addressing with linear probing from the home
 * slot hak_reg_home(chunk), which keeps neighbouring chunks in neighbouring
 * slots. A key is the chunk's address with its kind in the low bits
 * (hak_reg_key), so the free fast path checks "registered SuperSlab at its
 * home slot" without reading the value. Empty is 0, a tombstone 1.
 * hak_reg_max_probe is the largest distance from home at which a key was
 * ever placed; lookups stop there, so a missing key costs a bounded probe
 * however many tombstones accumulate. Capacity: inserts fail (ENOMEM) when
 * the table is 7/8 full, i.e. beyond ~229,000 live chunks.
 *
 * Concurrency: readers take no lock; writers hold reg_lock. Invariants:
 *   - a value is written before its key is published (release/acquire);
 *   - a chunk is registered before any pointer into it is handed out, and
 *     removed only when no live block remains in it;
 *   - a slot is never made EMPTY again and max_probe never decreases, so the
 *     probe chain of a live key is never cut.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>

#include "internal.h"

_Atomic(uintptr_t) hak_reg_keys[HAK_REG_SIZE];
_Atomic(uintptr_t) hak_reg_vals[HAK_REG_SIZE];
_Atomic(uintptr_t) hak_reg_max_probe;
static size_t reg_live;
static hak_lock_t reg_lock = HAK_LOCK_INIT;

uintptr_t _hak_reg_lookup_slow(const void *p)
{
    uintptr_t chunk = (uintptr_t)p >> HAK_SS_SHIFT;
    uintptr_t i = hak_reg_home(chunk);
    uintptr_t max = atomic_load_explicit(&hak_reg_max_probe, memory_order_acquire);
    for (uintptr_t d = 0; d <= max; d++) {
        uintptr_t j = (i + d) & (HAK_REG_SIZE - 1);
        uintptr_t k = atomic_load_explicit(&hak_reg_keys[j], memory_order_acquire);
        if (k == HAK_REG_EMPTY)
            return 0;
        if (k != HAK_REG_TOMB && (k >> HAK_SS_SHIFT) == chunk)
            return atomic_load_explicit(&hak_reg_vals[j], memory_order_relaxed);
    }
    return 0;
}

bool _hak_reg_insert(const void *chunk_addr, uintptr_t value)
{
    uintptr_t chunk = (uintptr_t)chunk_addr >> HAK_SS_SHIFT;
    uintptr_t key = hak_reg_key(chunk, value & 3u);
    uintptr_t home = hak_reg_home(chunk);
    hak_lock(&reg_lock);
    if ((reg_live + 1) * 8 > HAK_REG_SIZE * 7) {
        hak_unlock(&reg_lock);
        errno = ENOMEM;
        return false;
    }
    for (uintptr_t d = 0;; d++) {
        uintptr_t j = (home + d) & (HAK_REG_SIZE - 1);
        uintptr_t k = atomic_load_explicit(&hak_reg_keys[j], memory_order_relaxed);
        if (k == HAK_REG_EMPTY || k == HAK_REG_TOMB) {
            if (d > atomic_load_explicit(&hak_reg_max_probe, memory_order_relaxed))
                atomic_store_explicit(&hak_reg_max_probe, d, memory_order_release);
            atomic_store_explicit(&hak_reg_vals[j], value, memory_order_relaxed);
            atomic_store_explicit(&hak_reg_keys[j], key, memory_order_release);
            break;
        }
    }
    reg_live++;
    hak_unlock(&reg_lock);
    return true;
}

void _hak_reg_remove(const void *chunk_addr)
{
    uintptr_t chunk = (uintptr_t)chunk_addr >> HAK_SS_SHIFT;
    uintptr_t home = hak_reg_home(chunk);
    hak_lock(&reg_lock);
    uintptr_t max = atomic_load_explicit(&hak_reg_max_probe, memory_order_relaxed);
    for (uintptr_t d = 0; d <= max; d++) {
        uintptr_t j = (home + d) & (HAK_REG_SIZE - 1);
        uintptr_t k = atomic_load_explicit(&hak_reg_keys[j], memory_order_relaxed);
        if (k == HAK_REG_EMPTY)
            break;
        if (k != HAK_REG_TOMB && (k >> HAK_SS_SHIFT) == chunk) {
            atomic_store_explicit(&hak_reg_keys[j], HAK_REG_TOMB, memory_order_release);
            reg_live--;
            break;
        }
    }
    hak_unlock(&reg_lock);
}

void _hak_reg_lock(void) { hak_lock(&reg_lock); }
void _hak_reg_unlock(void) { hak_unlock(&reg_lock); }

size_t _hak_reg_capacity(void) { return HAK_REG_SIZE; }
