/*
 * cxx_plugin_host: a C program (no C++ runtime of its own) that loads the
 * C++ library libcxx_plugin.so, next to it, with dlopen(RTLD_LOCAL), as an
 * interpreter loads a C++ extension, and runs it: new and delete in the
 * plug-in, and bad_alloc from an impossible operator new (see
 * cxx_plugin.cpp). Exit 0 on success, 1 with a "FAIL" line otherwise.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
    if (n <= 0) {
        printf("FAIL cxx_plugin_host: cannot read /proc/self/exe\n");
        return 1;
    }
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    strcpy(slash + 1, "libcxx_plugin.so");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        printf("FAIL cxx_plugin_host: dlopen: %s\n", dlerror());
        return 1;
    }
    int (*run)(void) = (int (*)(void))dlsym(h, "cxx_plugin_run");
    if (run == NULL) {
        printf("FAIL cxx_plugin_host: no cxx_plugin_run\n");
        return 1;
    }
    int r = run();
    if (r != 0) {
        static const char *const what[] = {
            "", "an impossible operator new did not throw bad_alloc",
            "the new-handler was not called twice", "an impossible nothrow new returned memory",
            "containers went wrong"};
        printf("FAIL cxx_plugin_host: %s\n", r > 0 && r < 5 ? what[r] : "?");
        return 1;
    }
    printf("cxx_plugin_host: the plug-in's new, delete and bad_alloc work\n");
    return 0;
}
