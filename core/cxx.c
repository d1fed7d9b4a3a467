/*
 * cxx.c — the C++ allocation operators: operator new and delete in all
 * their forms (single and array, nothrow, sized, aligned), under their
 * Itanium C++ ABI names. Only in the shared libraries: a program linked
 * with libhakmem.a keeps its C++ runtime's operators, which call hakmem's
 * malloc and free.
 *
 * The C++ runtime's own operators (libstdc++, libc++) call malloc and free
 * anyway; defining them here takes a function and a PLT jump out of every
 * new and every delete of a C++ program, as mimalloc and tcmalloc do.
 *
 * Every delete is free under another name: the size, alignment and nothrow
 * arguments of some forms are not needed (every pointer is validated
 * through the registry), and a bad or double delete is reported like a bad
 * free, under the name "free".
 *
 * A new returns hakmem's block. When hakmem cannot meet the request, the
 * operator hands it to the next definition of the same operator in the
 * process, the C++ runtime's: that runs the new-handler loop (each retry
 * comes back to hakmem's malloc) and then throws std::bad_alloc, or returns
 * NULL for the nothrow forms. C cannot throw, so hakmem does not try to.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>

#include "internal.h"

#define HAK_EXPORT __attribute__((visibility("default")))

/* hidden aliases of hak_malloc, hak_free, hak_memalign (alloc.c) */
HAK_HIDDEN void *_hak_malloc(size_t n);
HAK_HIDDEN void _hak_free(void *p);
HAK_HIDDEN void *_hak_memalign(size_t align, size_t n);

/* The next definition of operator `name` after hakmem's (dlsym may
 * allocate: fine, this runs only after hakmem refused a request). */
static HAK_SLOW void *next_op(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) /* no C++ runtime after hakmem: nothing to throw with */
        _hak_fatal("operator new: out of memory, and no C++ runtime found to throw "
                   "std::bad_alloc");
    return f;
}

/* malloc, its fast path inlined (the hardened build's adds a canary) */
HAK_FAST void *cxx_malloc(size_t n)
{
#ifndef HAK_HARDENED
    if (HAK_LIKELY(n <= 1024))
        return hak_alloc_upto_1k(n);
#endif
    return _hak_malloc(n);
}

/* operator `name` taking (params), allocating with `alloc` and handing the
 * call (args) to the next definition if that fails */
#define HAK_NEW(name, alloc, params, args)                                                         \
    static HAK_SLOW void *name##_next params                                                       \
    {                                                                                              \
        return ((void *(*)params)next_op(#name))args;                                              \
    }                                                                                              \
    HAK_EXPORT void *name params;                                                                  \
    void *name params                                                                              \
    {                                                                                              \
        void *p = alloc;                                                                           \
        return HAK_LIKELY(p != NULL) ? p : name##_next args;                                       \
    }

HAK_NEW(_Znwm, cxx_malloc(n), (size_t n), (n))                     /* new(size_t)    */
HAK_NEW(_Znam, cxx_malloc(n), (size_t n), (n))                     /* new[](size_t)  */
HAK_NEW(_ZnwmRKSt9nothrow_t, cxx_malloc(n), (size_t n, const void *nt), (n, nt))
HAK_NEW(_ZnamRKSt9nothrow_t, cxx_malloc(n), (size_t n, const void *nt), (n, nt))
HAK_NEW(_ZnwmSt11align_val_t, _hak_memalign(al, n), (size_t n, size_t al), (n, al))
HAK_NEW(_ZnamSt11align_val_t, _hak_memalign(al, n), (size_t n, size_t al), (n, al))
HAK_NEW(_ZnwmSt11align_val_tRKSt9nothrow_t, _hak_memalign(al, n),
        (size_t n, size_t al, const void *nt), (n, al, nt))
HAK_NEW(_ZnamSt11align_val_tRKSt9nothrow_t, _hak_memalign(al, n),
        (size_t n, size_t al, const void *nt), (n, al, nt))

/* operator `name` taking (params): free */
#define HAK_DELETE(name, params)                                                                   \
    HAK_EXPORT void name params;                                                                   \
    void name params { _hak_free(p); }

HAK_DELETE(_ZdlPv, (void *p))                                       /* delete(void *)   */
HAK_DELETE(_ZdaPv, (void *p))                                       /* delete[](void *) */
HAK_DELETE(_ZdlPvm, (void *p, size_t n))                            /* ... size_t       */
HAK_DELETE(_ZdaPvm, (void *p, size_t n))
HAK_DELETE(_ZdlPvRKSt9nothrow_t, (void *p, const void *nt))         /* ... nothrow_t    */
HAK_DELETE(_ZdaPvRKSt9nothrow_t, (void *p, const void *nt))
HAK_DELETE(_ZdlPvSt11align_val_t, (void *p, size_t al))             /* ... align_val_t  */
HAK_DELETE(_ZdaPvSt11align_val_t, (void *p, size_t al))
HAK_DELETE(_ZdlPvmSt11align_val_t, (void *p, size_t n, size_t al))  /* ... size, align  */
HAK_DELETE(_ZdaPvmSt11align_val_t, (void *p, size_t n, size_t al))
HAK_DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t al, const void *nt))
HAK_DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t al, const void *nt))
