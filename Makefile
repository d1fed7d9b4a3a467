# hakmem — build, test, benchmark, install.
#   make            libhakmem.so (+ soname links) and libhakmem.a in build/
#   make test       unit tests (cmocka) + LD_PRELOAD integration tests + real programs
#   make asan-test  unit tests under AddressSanitizer + UBSan
#   make tsan-test  threaded unit tests under ThreadSanitizer
#   make bench      benchmark comparison with glibc, mimalloc, jemalloc, tcmalloc
#   make demo       the main job: build, run a real program under hakmem with stats, compare
#   make install PREFIX=/usr/local [DESTDIR=...]

CC      ?= cc
CXX     ?= c++
BUILD   ?= build
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include

VERSION := 0.1.0
SOMAJOR := 0
SONAME  := libhakmem.so.$(SOMAJOR)

HAKMEM_SO := $(BUILD)/libhakmem.so
HAKMEM_A  := $(BUILD)/libhakmem.a

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Wno-missing-attributes
BASEFLAGS := -std=gnu11 -g -Iinclude -Icore -pthread $(WARN) \
            -fvisibility=hidden -ftls-model=initial-exec -fno-semantic-interposition \
            -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free
OPT      ?= -O2
CFLAGS_LIB := $(BASEFLAGS) $(OPT) -fPIC -DHAK_OVERRIDE
CFLAGS_CORE := $(BASEFLAGS) $(OPT) -fPIC

CORE_SRCS := core/util.c core/options.c core/stats.c core/os.c core/registry.c \
             core/superslab.c core/large.c core/heap.c core/alloc.c core/init.c
LIB_SRCS  := $(CORE_SRCS) core/override.c
# the C++ operators: in the shared libraries only (see core/cxx.c)
SO_SRCS   := $(LIB_SRCS) core/cxx.c
HDRS      := include/hakmem.h core/internal.h

LIB_OBJS  := $(patsubst core/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
SO_OBJS   := $(patsubst core/%.c,$(BUILD)/obj/%.o,$(SO_SRCS))
HARD_OBJS := $(patsubst core/%.c,$(BUILD)/obj-hardened/%.o,$(SO_SRCS))
HAKMEM_HARDENED_SO := $(BUILD)/libhakmem_hardened.so
CORE_OBJS := $(patsubst core/%.c,$(BUILD)/obj-core/%.o,$(CORE_SRCS))

.PHONY: all lib core hardened unchecked test unit-test asan-test tsan-test clean install uninstall demo deps

all: lib hardened
lib: $(HAKMEM_SO) $(HAKMEM_A)
# The hardened library: encoded free lists, random carve order, canaries,
# guard pages (see docs/HARDENING.md).
hardened: $(HAKMEM_HARDENED_SO)
core: $(BUILD)/libhakmem_core.a

$(BUILD)/obj/%.o: core/%.c $(HDRS) | $(BUILD)/obj
	$(CC) $(CFLAGS_LIB) -c $< -o $@
$(BUILD)/obj-core/%.o: core/%.c $(HDRS) | $(BUILD)/obj-core
	$(CC) $(CFLAGS_CORE) -c $< -o $@
$(BUILD)/obj-hardened/%.o: core/%.c $(HDRS) | $(BUILD)/obj-hardened
	$(CC) $(CFLAGS_LIB) -DHAK_HARDENED -c $< -o $@
# For measuring what the default checks cost only (scripts/checks-cost.sh):
# the free fast path without the block-start and double-free tests.
UNCHECKED_OBJS := $(patsubst core/%.c,$(BUILD)/obj-unchecked/%.o,$(SO_SRCS))
$(BUILD)/obj-unchecked/%.o: core/%.c $(HDRS) | $(BUILD)/obj-unchecked
	$(CC) $(CFLAGS_LIB) -DHAK_UNCHECKED -c $< -o $@
$(BUILD)/libhakmem_unchecked.so: $(UNCHECKED_OBJS)
	$(CC) -shared -pthread -o $@ $(UNCHECKED_OBJS)
unchecked: $(BUILD)/libhakmem_unchecked.so
$(BUILD)/obj $(BUILD)/obj-core $(BUILD)/obj-hardened $(BUILD)/obj-unchecked:
	mkdir -p $@

$(BUILD)/libhakmem.so.$(VERSION): $(SO_OBJS)
	$(CC) -shared -pthread -Wl,-soname,$(SONAME) -Wl,-z,now -Wl,-z,relro -o $@ $(SO_OBJS)
$(HAKMEM_SO): $(BUILD)/libhakmem.so.$(VERSION)
	ln -sf libhakmem.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@
$(BUILD)/libhakmem_hardened.so.$(VERSION): $(HARD_OBJS)
	$(CC) -shared -pthread -Wl,-soname,libhakmem_hardened.so.$(SOMAJOR) -Wl,-z,now -Wl,-z,relro -o $@ $(HARD_OBJS)
$(HAKMEM_HARDENED_SO): $(BUILD)/libhakmem_hardened.so.$(VERSION)
	ln -sf libhakmem_hardened.so.$(VERSION) $(BUILD)/libhakmem_hardened.so.$(SOMAJOR)
	ln -sf libhakmem_hardened.so.$(SOMAJOR) $@
$(HAKMEM_A): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $(LIB_OBJS)
$(BUILD)/libhakmem_core.a: $(CORE_OBJS)
	rm -f $@ && ar rcs $@ $(CORE_OBJS)

# Everything `make test` needs on a fresh Debian machine.
TEST_DEPS := libcmocka-dev pkg-config g++ clang libclang-rt-14-dev python3 perl git sqlite3 \
             time strace bc zlib1g redis-server redis-tools
deps:
	@scripts/ensure-deps.sh $(TEST_DEPS)

# Every suite, about 8 minutes on 2 cores. Each ends with "N passed, N failed".
TEST_SUITES ?= unit-test asan-test tsan-test integration-test real-test badfree-test \
               stress-test stress-tsan fuzz-smoke servers-test bench-smoke install-check \
               env-doc-check
test: deps
	@$(MAKE) --no-print-directory lib core
	@scripts/run-tests.sh $(TEST_SUITES)

# The main job: build, run a real program under hakmem with its statistics,
# then compare hakmem with glibc, mimalloc, jemalloc and tcmalloc.
demo: lib
	@scripts/demo.sh

clean:
	rm -rf $(BUILD)

-include tests/tests.mk
-include tests/integration.mk
-include tests/reliability.mk
-include bench/bench.mk
-include scripts/install.mk
