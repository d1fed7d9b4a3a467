# Reliability and security tests. Included by the top-level Makefile, which
# provides CC, BUILD, HAKMEM_SO, HAKMEM_A and the targets lib, hardened and
# core. (Also usable on its own: make -f Makefile -f tests/reliability.mk ...)
#
#   make badfree-test   bad inputs (invalid/double frees, overflows, use after
#                       free, guard pages, HAKMEM_ON_ERROR=warn) under hakmem,
#                       hardened hakmem and glibc; table in build/badfree-table.md
#   make stress-test    stress, purge_race, fork_storm, thread_churn,
#                       dlopen_churn, oom under libhakmem.so and
#                       libhakmem_hardened.so (STRESS_LIBS to change; "glibc"
#                       runs without a preload)
#   make stress-tsan    stress.c against the core built with -fsanitize=thread
#   make fuzz           libFuzzer on the hak_* API (plain and hardened core,
#                       ASan + UBSan), FUZZ_SECONDS each (default 60)
#   make fuzz-smoke     the same, 10 s each (20 s in all), for CI
#   make servers-test   redis-server, CPython's stdlib tests and git on a
#                       generated repository, with and without hakmem
#                       (SERVERS_LIBS, default libhakmem.so)
#   make soak           scripts/soak.sh for SOAK_MINUTES (default 10), if present
# Each prints a final "N passed, N failed" line and fails on any failure.

REL_DIR            := $(BUILD)/rel
HAKMEM_HARDENED_SO ?= $(BUILD)/libhakmem_hardened.so
REL_CFLAGS         := -std=gnu11 -O2 -g -Wall -Wextra -pthread
REL_STRESS_PROGS   := stress purge_race fork_storm thread_churn dlopen_churn oom
REL_STRESS_BINS    := $(addprefix $(REL_DIR)/,$(REL_STRESS_PROGS))
STRESS_LIBS        ?= $(HAKMEM_SO) $(HAKMEM_HARDENED_SO)
SERVERS_LIBS       ?= $(HAKMEM_SO)
SOAK_MINUTES       ?= 10

# Core sources for the sanitizer builds: every core/ file but override.c
# and cxx.c (the standard names and the C++ operators stay the sanitizer
# runtime's; HAK_OVERRIDE undefined).
REL_CORE_SRCS  := $(filter-out core/override.c core/cxx.c,$(wildcard core/*.c))
REL_CORE_HDRS  := include/hakmem.h core/internal.h
REL_CORE_FLAGS := -std=gnu11 -g -O1 -Iinclude -Icore -pthread -fvisibility=hidden \
                  -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free

# ThreadSanitizer build (the compiler in CC).
REL_TSAN_DIR  := $(REL_DIR)/tsan
REL_TSAN_OBJS := $(patsubst core/%.c,$(REL_TSAN_DIR)/%.o,$(REL_CORE_SRCS))

# libFuzzer builds: clang (FUZZ_CC), the core instrumented for coverage too.
FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 60
FUZZ_DIR      := $(BUILD)/fuzz
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJS     := $(patsubst core/%.c,$(FUZZ_DIR)/obj/%.o,$(REL_CORE_SRCS))
FUZZ_OBJS_H   := $(patsubst core/%.c,$(FUZZ_DIR)/obj-hardened/%.o,$(REL_CORE_SRCS))

.PHONY: badfree-test stress-test stress-build stress-tsan fuzz fuzz-smoke fuzz-build \
        fuzz-check-cc servers-test soak reliability-clean

# ---- bad inputs --------------------------------------------------------------
badfree-test: lib hardened
	@CC="$(CC)" bash tests/badfree/run.sh $(BUILD)/badfree $(HAKMEM_SO) $(HAKMEM_HARDENED_SO) \
	    $(BUILD)/badfree-table.md

# ---- stress ---------------------------------------------------------------------
stress-build: $(REL_STRESS_BINS)

$(REL_DIR):
	@mkdir -p $@

$(REL_DIR)/%: tests/stress/%.c | $(REL_DIR)
	$(CC) $(REL_CFLAGS) -o $@ $< -ldl

stress-test: lib hardened $(REL_STRESS_BINS)
	@bash tests/stress/run.sh $(REL_DIR) $(STRESS_LIBS)

$(REL_TSAN_DIR)/%.o: core/%.c $(REL_CORE_HDRS)
	@mkdir -p $(REL_TSAN_DIR)
	$(CC) $(REL_CORE_FLAGS) -fsanitize=thread -c $< -o $@

$(REL_DIR)/stress_tsan: tests/stress/stress.c $(REL_TSAN_OBJS) | $(REL_DIR)
	$(CC) -std=gnu11 -g -O1 -Iinclude -pthread -fsanitize=thread -DSTRESS_HAK -o $@ $< $(REL_TSAN_OBJS)

stress-tsan: $(REL_DIR)/stress_tsan
	@bash tests/stress/tsan.sh $(REL_DIR)/stress_tsan $(REL_DIR)

# ---- fuzzing ------------------------------------------------------------------
$(FUZZ_DIR)/obj/%.o: core/%.c $(REL_CORE_HDRS) | fuzz-check-cc
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(REL_CORE_FLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FUZZ_DIR)/obj-hardened/%.o: core/%.c $(REL_CORE_HDRS) | fuzz-check-cc
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(REL_CORE_FLAGS) -DHAK_HARDENED -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FUZZ_DIR)/fuzz_api: tests/fuzz/fuzz_api.c $(FUZZ_OBJS)
	$(FUZZ_CC) -std=gnu11 -g -O1 -Iinclude -pthread -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_OBJS)

$(FUZZ_DIR)/fuzz_api_hardened: tests/fuzz/fuzz_api.c $(FUZZ_OBJS_H)
	$(FUZZ_CC) -std=gnu11 -g -O1 -Iinclude -pthread -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_OBJS_H)

fuzz-check-cc:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { \
	    echo "fuzz: $(FUZZ_CC) not found (apt-get install clang)"; echo "0 passed, 1 failed"; exit 1; }

fuzz-build: $(FUZZ_DIR)/fuzz_api $(FUZZ_DIR)/fuzz_api_hardened

fuzz: fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_DIR)

fuzz-smoke: fuzz-build
	@bash tests/fuzz/run.sh 10 $(FUZZ_DIR)

# ---- real servers and programs ------------------------------------------------
servers-test: lib hardened
	@bash tests/real/servers/run.sh $(SERVERS_LIBS)

# ---- soak ---------------------------------------------------------------------------
soak: lib
	@if [ -f scripts/soak.sh ]; then \
	    if bash scripts/soak.sh $(SOAK_MINUTES); then echo "1 passed, 0 failed"; \
	    else echo "soak: scripts/soak.sh failed"; echo "0 passed, 1 failed"; exit 1; fi; \
	else \
	    echo "soak: scripts/soak.sh not present; nothing to run"; echo "0 passed, 0 failed"; \
	fi

reliability-clean:
	rm -rf $(REL_DIR) $(FUZZ_DIR) $(BUILD)/badfree $(BUILD)/badfree-table.md
