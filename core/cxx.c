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
 * operator hands it to the C++ runtime's definition of the same operator
 * (the next one after hakmem's, or that of a libstdc++ or libc++ loaded
 * with RTLD_LOCAL, as a C program's C++ plug-in brings it): that runs the
 * new-handler loop (each retry comes back to hakmem's malloc) and then
 * throws std::bad_alloc, or returns NULL for the nothrow forms. C cannot
 * throw, so hakmem does not try to; with no C++ runtime to be found, it
 * reports the failure and aborts, as an uncaught bad_alloc would.
 *
 * A program may replace some of the operators itself (a pool, a leak
 * tracker). The standard then wants the forms it left alone to call its
 * replacements (new[] calls operator new, a sized delete operator delete),
 * which the C++ runtime's forms do and hakmem's would not: a program's
 * `delete p` compiles to the sized form, which would hand hakmem a pointer
 * from the program's pool. So at its first call an operator looks up all
 * twenty names; if any resolves outside hakmem, every hakmem operator
 * passes its calls on to the C++ runtime's, as if hakmem had none.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE /* RTLD_NEXT, RTLD_DEFAULT, RTLD_NOLOAD, dladdr */
#include <dlfcn.h>
#include <stdbool.h>

#include "internal.h"

#define HAK_EXPORT __attribute__((visibility("default")))
/* gcc leaves a function that follows cold ones in .text.unlikely, among the
 * slow paths: keep the operators with the other entry points */
#define HAK_CXX_HOT __attribute__((section(".text"), aligned(16)))

/* hidden aliases of hak_malloc, hak_free, hak_memalign (alloc.c) */
HAK_HIDDEN void *_hak_malloc(size_t n);
HAK_HIDDEN void _hak_free(void *p);
HAK_HIDDEN void *_hak_memalign(size_t align, size_t n);

/* Every operator, once: X(name, allocation (new only), params, args) */
#define HAK_CXX_NEWS(X)                                                                            \
    X(_Znwm, cxx_malloc(n), (size_t n), (n))                     /* new(size_t)   */               \
    X(_Znam, cxx_malloc(n), (size_t n), (n))                     /* new[](size_t) */               \
    X(_ZnwmRKSt9nothrow_t, cxx_malloc(n), (size_t n, const void *nt), (n, nt))                     \
    X(_ZnamRKSt9nothrow_t, cxx_malloc(n), (size_t n, const void *nt), (n, nt))                     \
    X(_ZnwmSt11align_val_t, _hak_memalign(al, n), (size_t n, size_t al), (n, al))                  \
    X(_ZnamSt11align_val_t, _hak_memalign(al, n), (size_t n, size_t al), (n, al))                  \
    X(_ZnwmSt11align_val_tRKSt9nothrow_t, _hak_memalign(al, n),                                    \
      (size_t n, size_t al, const void *nt), (n, al, nt))                                          \
    X(_ZnamSt11align_val_tRKSt9nothrow_t, _hak_memalign(al, n),                                    \
      (size_t n, size_t al, const void *nt), (n, al, nt))
#define HAK_CXX_DELETES(X)                                                                         \
    X(_ZdlPv, (void *p), (p))                                    /* delete(void *)   */            \
    X(_ZdaPv, (void *p), (p))                                    /* delete[](void *) */            \
    X(_ZdlPvm, (void *p, size_t n), (p, n))                      /* ... size_t       */            \
    X(_ZdaPvm, (void *p, size_t n), (p, n))                                                        \
    X(_ZdlPvRKSt9nothrow_t, (void *p, const void *nt), (p, nt))  /* ... nothrow_t    */            \
    X(_ZdaPvRKSt9nothrow_t, (void *p, const void *nt), (p, nt))                                    \
    X(_ZdlPvSt11align_val_t, (void *p, size_t al), (p, al))      /* ... align_val_t  */            \
    X(_ZdaPvSt11align_val_t, (void *p, size_t al), (p, al))                                        \
    X(_ZdlPvmSt11align_val_t, (void *p, size_t n, size_t al), (p, n, al))                          \
    X(_ZdaPvmSt11align_val_t, (void *p, size_t n, size_t al), (p, n, al))                          \
    X(_ZdlPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t al, const void *nt), (p, al, nt))      \
    X(_ZdaPvSt11align_val_tRKSt9nothrow_t, (void *p, size_t al, const void *nt), (p, al, nt))

#define HAK_NEW_NAME(name, alloc, params, args) #name,
#define HAK_DELETE_NAME(name, params, args) #name,
static const char *const op_names[] = {HAK_CXX_NEWS(HAK_NEW_NAME) HAK_CXX_DELETES(HAK_DELETE_NAME)};

/* 0: not looked up yet; 1: every operator the program calls is hakmem's;
 * 2: the program replaced some: pass every call on */
enum { OPS_UNKNOWN, OPS_OWN, OPS_PASS_ON };
static int ops_mode;

static HAK_SLOW bool ops_resolve(void)
{
    Dl_info me, it;
    int mode = OPS_OWN;
    if (dladdr((void *)ops_resolve, &me) == 0)
        mode = OPS_PASS_ON;
    for (size_t i = 0; i < sizeof op_names / sizeof op_names[0] && mode == OPS_OWN; i++) {
        void *f = dlsym(RTLD_DEFAULT, op_names[i]);
        if (f != NULL && (dladdr(f, &it) == 0 || it.dli_fbase != me.dli_fbase))
            mode = OPS_PASS_ON;
    }
    __atomic_store_n(&ops_mode, mode, __ATOMIC_RELAXED);
    return mode == OPS_OWN;
}

/* Whether hakmem's operators serve the program's calls themselves (looked
 * up at the first call). */
static HAK_SLOW bool ops_own(void)
{
    int m = __atomic_load_n(&ops_mode, __ATOMIC_RELAXED);
    return m == OPS_OWN || (m == OPS_UNKNOWN && ops_resolve());
}
/* For new's slow path: whether this is the first call and hakmem serves it
 * (after a failed allocation, or once the program's operators are known to
 * be replaced, the call goes to the C++ runtime without a second try). */
static HAK_SLOW bool ops_first_call_own(void)
{
    return __atomic_load_n(&ops_mode, __ATOMIC_RELAXED) == OPS_UNKNOWN && ops_resolve();
}
#define OPS_OWN_KNOWN() HAK_LIKELY(__atomic_load_n(&ops_mode, __ATOMIC_RELAXED) == OPS_OWN)

/* The C++ runtime's definition of operator `name`: the next one after
 * hakmem's, else that of a C++ runtime loaded with RTLD_LOCAL (dlsym may
 * allocate: fine, this runs only after hakmem refused a request or when the
 * program replaced operators). */
static HAK_SLOW void *runtime_op(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    static const char *const runtimes[] = {"libstdc++.so.6", "libc++.so.1"};
    for (size_t i = 0; f == NULL && i < sizeof runtimes / sizeof runtimes[0]; i++) {
        void *h = dlopen(runtimes[i], RTLD_LAZY | RTLD_NOLOAD);
        if (h != NULL) {
            f = dlsym(h, name); /* stays loaded: its loader still holds it */
            dlclose(h);
        }
    }
    if (f == NULL) /* e.g. a failed new with nobody to throw bad_alloc */
        _hak_fatal("C++ operator: no C++ runtime found to hand the call to (operator new "
                   "out of memory, or operators replaced by the program)");
    return f;
}

/* The C++ runtime's operator `name` (returning ret, taking params), looked
 * up once. */
#define RUNTIME_OP(name, ret, params)                                                              \
    typedef ret(*name##_t) params;                                                                 \
    static HAK_SLOW name##_t name##_runtime(void)                                                  \
    {                                                                                              \
        static name##_t fn;                                                                        \
        name##_t f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);                                       \
        if (f == NULL) {                                                                           \
            f = (name##_t)runtime_op(#name);                                                       \
            __atomic_store_n(&fn, f, __ATOMIC_RELEASE);                                            \
        }                                                                                          \
        return f;                                                                                  \
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

/* operator `name` taking (params): allocates with `alloc`; the rest (the
 * first call, a failure, a program that replaced operators) in name_other,
 * which hands the call (args) to the C++ runtime's operator; its new-handler
 * loop retries hakmem's malloc */
#define HAK_NEW(name, alloc, params, args)                                                         \
    RUNTIME_OP(name, void *, params)                                                               \
    static HAK_SLOW void *name##_other params                                                      \
    {                                                                                              \
        void *p = ops_first_call_own() ? alloc : NULL;                                             \
        return p != NULL ? p : name##_runtime() args;                                              \
    }                                                                                              \
    HAK_EXPORT HAK_CXX_HOT void *name params;                                                      \
    void *name params                                                                              \
    {                                                                                              \
        if (OPS_OWN_KNOWN()) {                                                                     \
            void *p = alloc;                                                                       \
            if (HAK_LIKELY(p != NULL))                                                             \
                return p;                                                                          \
        }                                                                                          \
        return name##_other args;                                                                  \
    }

HAK_CXX_NEWS(HAK_NEW)

/* operator `name` taking (params): free, or the C++ runtime's operator if
 * the program replaced operators */
#define HAK_DELETE(name, params, args)                                                             \
    RUNTIME_OP(name, void, params)                                                                 \
    static HAK_SLOW void name##_other params                                                       \
    {                                                                                              \
        if (ops_own())                                                                             \
            _hak_free(p);                                                                          \
        else                                                                                       \
            name##_runtime() args;                                                                 \
    }                                                                                              \
    HAK_EXPORT HAK_CXX_HOT void name params;                                                       \
    void name params                                                                               \
    {                                                                                              \
        if (OPS_OWN_KNOWN())                                                                       \
            _hak_free(p);                                                                          \
        else                                                                                       \
            name##_other args;                                                                     \
    }

HAK_CXX_DELETES(HAK_DELETE)
