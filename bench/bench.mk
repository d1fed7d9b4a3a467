# bench/bench.mk -- benchmark programs and the comparison harness.
#
# Included by the top-level Makefile, which defines the `lib` target and
# HAKMEM_SO (build/libhakmem.so). The benchmarks themselves do not link
# hakmem: they call the standard malloc/free and the harness picks the
# allocator with LD_PRELOAD.
#
#   make bench-build            build build/bench/* (no library needed)
#   make bench                  full comparison (RUNS=5 by default)
#   make bench RUNS=3           fewer runs per allocator
#   make bench QUICK=1          one short run of each (10-30 s)
#   make bench BENCHES="rm_ws256 larson_t2" ALLOCATORS="hakmem mimalloc"
#   make bench-smoke            every benchmark briefly on hakmem and glibc
#   make bench-extra            the extra set (patterns of the established
#                               allocator benchmarks; see scripts/bench.sh --extra)
#   make bench-extra RUNS=3 BENCHES="x_mstress x_cfrac"
#   make bench-extra-smoke      every extra benchmark briefly on hakmem and glibc
#   make bench-latency          p50..p99.9 of malloc and free, all five allocators
#                               in interleaved rounds (ROUNDS=5; scripts/latency.sh)
#
# Building without the top-level Makefile also works:
#   make -f bench/bench.mk bench-build

# Restore the includer's default goal at the end of this file.
_bench_saved_default_goal := $(.DEFAULT_GOAL)

BENCH_MK_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
BENCH_TOP := $(abspath $(BENCH_MK_DIR)/..)
BENCH_SRC := $(BENCH_TOP)/bench
BENCH_OUT := $(BENCH_TOP)/build/bench

CC ?= cc
BENCH_CFLAGS ?= -std=c11 -O2 -g -pthread -Wall -Wextra
BENCH_LDLIBS ?= -pthread -lm
HAKMEM_SO ?= build/libhakmem.so

BENCH_PROGS := random_mixed larson prodcons realloc_growth large_churn
BENCH_BINS := $(addprefix $(BENCH_OUT)/,$(BENCH_PROGS))
# The extra set: run only by bench-extra / bench-extra-smoke, built with the rest.
BENCH_EXTRA_PROGS := tight_loop false_sharing xmalloc_test mstress rptest sh_bench small_churn
BENCH_EXTRA_BINS := $(addprefix $(BENCH_OUT)/,$(BENCH_EXTRA_PROGS))
BENCH_FAULTY := $(BENCH_OUT)/libfaulty_malloc.so

# Settings handed to the scripts when given on the make command line.
BENCH_ENV = HAKMEM_SO="$(abspath $(HAKMEM_SO))" \
	$(if $(RUNS),RUNS="$(RUNS)") $(if $(QUICK),QUICK="$(QUICK)") \
	$(if $(BENCHES),BENCHES="$(BENCHES)") $(if $(ALLOCATORS),ALLOCATORS="$(ALLOCATORS)")

.PHONY: bench-build bench bench-smoke bench-extra bench-extra-smoke bench-latency bench-clean

bench-build: $(BENCH_BINS) $(BENCH_EXTRA_BINS) $(BENCH_FAULTY)

$(BENCH_BINS): $(BENCH_OUT)/%: $(BENCH_SRC)/%.c $(BENCH_SRC)/bench_common.h | $(BENCH_OUT)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_LDLIBS)

$(BENCH_EXTRA_BINS): $(BENCH_OUT)/%: $(BENCH_SRC)/%.c $(BENCH_SRC)/bench_common.h \
		$(BENCH_SRC)/bench_threads.h | $(BENCH_OUT)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_LDLIBS)

# Test-only allocator that hands out overlapping blocks (see faulty_malloc.c).
$(BENCH_FAULTY): $(BENCH_SRC)/faulty_malloc.c | $(BENCH_OUT)
	$(CC) -std=c11 -O2 -g -fPIC -shared -Wall -Wextra -o $@ $<

$(BENCH_OUT):
	mkdir -p $@

bench: bench-build lib
	$(BENCH_ENV) "$(BENCH_TOP)/scripts/bench.sh"

bench-smoke: bench-build lib
	$(BENCH_ENV) "$(BENCH_TOP)/scripts/bench_smoke.sh"

bench-extra: bench-build lib
	$(BENCH_ENV) "$(BENCH_TOP)/scripts/bench.sh" --extra

bench-extra-smoke: bench-build lib
	$(BENCH_ENV) "$(BENCH_TOP)/scripts/bench_smoke.sh" --extra

bench-latency: bench-build lib
	$(BENCH_ENV) $(if $(ROUNDS),ROUNDS="$(ROUNDS)") $(if $(LAT_ARGS),LAT_ARGS="$(LAT_ARGS)") \
		"$(BENCH_TOP)/scripts/latency.sh"

bench-clean:
	rm -rf "$(BENCH_OUT)"

.DEFAULT_GOAL := $(_bench_saved_default_goal)
