# Unit tests (cmocka), plain and under sanitizers. Included by the top-level
# Makefile, which provides CC, BUILD, BASEFLAGS, CORE_SRCS, HDRS and the
# `core` target ($(BUILD)/libhakmem_core.a: the core without the malloc
# override, so cmocka keeps glibc's malloc and the tests call hak_*).
#
#   make unit-test   build $(BUILD)/unit/test_* against libhakmem_core.a and
#                    run them all; ends with "N passed, N failed"
#   make asan-test   the core and every test built with
#                    -fsanitize=address,undefined ($(BUILD)/obj-asan), run
#   make tsan-test   the tests that start threads (UNIT_TSAN) with
#                    -fsanitize=thread ($(BUILD)/obj-tsan), run
#
# Under the sanitizers each test runs in its own process (run.sh with
# UNIT_SPLIT=1): a report stops the process (halt_on_error), so it costs that
# one test and the others still run.
#
# UNIT_TESTS=name1,name2 (or space separated) runs a subset, e.g.
#   make unit-test UNIT_TESTS=registry

UNIT_SRCDIR  := tests/unit
UNIT_ALL     := sizeclass freelist registry slab os options stats large errors threads
UNIT_TSAN    := threads registry stats errors
comma        := ,
UNIT_TESTS   ?= $(UNIT_ALL)
UNIT_SEL     := $(filter $(UNIT_ALL),$(subst $(comma), ,$(UNIT_TESTS)))
UNIT_HDR     := $(UNIT_SRCDIR)/unit.h
UNIT_RUN     := $(UNIT_SRCDIR)/run.sh

# The tests use the core's headers and its compile model (gnu11, pthread),
# not -fvisibility=hidden: they are programs, not part of the library.
UNIT_CFLAGS  := -std=gnu11 -g -O1 -Iinclude -Icore -pthread -Wall -Wextra -Wshadow \
                -Wno-unused-parameter -fno-builtin-malloc \
                -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free
UNIT_LDLIBS  := -lcmocka -pthread

UNIT_DIR     := $(BUILD)/unit
UNIT_BINS    := $(patsubst %,$(UNIT_DIR)/test_%,$(UNIT_SEL))

SAN_ASAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_TSAN     := -fsanitize=thread -fno-omit-frame-pointer
ASAN_OBJS    := $(patsubst core/%.c,$(BUILD)/obj-asan/%.o,$(CORE_SRCS))
TSAN_OBJS    := $(patsubst core/%.c,$(BUILD)/obj-tsan/%.o,$(CORE_SRCS))
ASAN_LIB     := $(BUILD)/libhakmem_core_asan.a
TSAN_LIB     := $(BUILD)/libhakmem_core_tsan.a
ASAN_DIR     := $(BUILD)/unit-asan
TSAN_DIR     := $(BUILD)/unit-tsan
ASAN_BINS    := $(patsubst %,$(ASAN_DIR)/test_%,$(UNIT_SEL))
TSAN_SEL     := $(filter $(UNIT_TSAN),$(UNIT_SEL))
TSAN_BINS    := $(patsubst %,$(TSAN_DIR)/test_%,$(TSAN_SEL))

# The allocator's metadata is mmap'ed and never freed: not a leak, and not
# seen by LeakSanitizer anyway; leaks in the tests themselves are reported.
UNIT_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
                 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
UNIT_TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

.PHONY: unit-test unit-build asan-test tsan-test unit-deps unit-clean

unit-deps:
	@scripts/ensure-deps.sh libcmocka-dev

unit-build: $(UNIT_BINS)

unit-test: $(UNIT_BINS)
	@bash $(UNIT_RUN) $(UNIT_DIR) $(UNIT_SEL)

asan-test: $(ASAN_BINS)
	@env $(UNIT_ASAN_ENV) UNIT_SPLIT=1 bash $(UNIT_RUN) $(ASAN_DIR) $(UNIT_SEL)

tsan-test: $(TSAN_BINS)
	@env $(UNIT_TSAN_ENV) UNIT_SPLIT=1 bash $(UNIT_RUN) $(TSAN_DIR) $(TSAN_SEL)

unit-clean:
	rm -rf $(UNIT_DIR) $(ASAN_DIR) $(TSAN_DIR) $(BUILD)/obj-asan $(BUILD)/obj-tsan \
	    $(ASAN_LIB) $(TSAN_LIB)

# ---- plain ------------------------------------------------------------------
$(UNIT_DIR) $(ASAN_DIR) $(TSAN_DIR) $(BUILD)/obj-asan $(BUILD)/obj-tsan:
	@mkdir -p $@

$(UNIT_DIR)/test_%: $(UNIT_SRCDIR)/test_%.c $(UNIT_HDR) $(HDRS) $(BUILD)/libhakmem_core.a \
                    | unit-deps $(UNIT_DIR)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(BUILD)/libhakmem_core.a $(UNIT_LDLIBS)

# ---- AddressSanitizer + UndefinedBehaviorSanitizer --------------------------
$(BUILD)/obj-asan/%.o: core/%.c $(HDRS) | $(BUILD)/obj-asan
	$(CC) $(BASEFLAGS) -O1 $(SAN_ASAN) -c $< -o $@
$(ASAN_LIB): $(ASAN_OBJS)
	rm -f $@ && ar rcs $@ $(ASAN_OBJS)
$(ASAN_DIR)/test_%: $(UNIT_SRCDIR)/test_%.c $(UNIT_HDR) $(HDRS) $(ASAN_LIB) | unit-deps $(ASAN_DIR)
	$(CC) $(UNIT_CFLAGS) $(SAN_ASAN) -o $@ $< $(ASAN_LIB) $(UNIT_LDLIBS)

# ---- ThreadSanitizer ----------------------------------------------------------
$(BUILD)/obj-tsan/%.o: core/%.c $(HDRS) | $(BUILD)/obj-tsan
	$(CC) $(BASEFLAGS) -O1 $(SAN_TSAN) -c $< -o $@
$(TSAN_LIB): $(TSAN_OBJS)
	rm -f $@ && ar rcs $@ $(TSAN_OBJS)
$(TSAN_DIR)/test_%: $(UNIT_SRCDIR)/test_%.c $(UNIT_HDR) $(HDRS) $(TSAN_LIB) | unit-deps $(TSAN_DIR)
	$(CC) $(UNIT_CFLAGS) $(SAN_TSAN) -o $@ $< $(TSAN_LIB) $(UNIT_LDLIBS)
