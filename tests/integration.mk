# Integration tests: programs run under LD_PRELOAD, linked against hakmem,
# and real programs.  Included by the top-level Makefile, which provides
# CC, CXX, HAKMEM_SO (build/libhakmem.so), HAKMEM_A (build/libhakmem.a),
# BUILD (build) and the `lib` target.
#
#   make integration-test   build $(BUILD)/itest/* and run every program
#                           plainly and with LD_PRELOAD=$(HAKMEM_SO)
#   make real-test          python3, git, gcc, perl, sort, sqlite3, ... with
#                           and without LD_PRELOAD, outputs compared
#
# Programs use only the standard malloc API and their own flags (not the
# library's CFLAGS) so they build and run against any allocator.

ITEST_DIR      := $(BUILD)/itest
ITEST_SRCDIR   := tests/integration
ITEST_CFLAGS   := -std=c11 -O2 -g -Wall -Wextra -Wno-use-after-free -pthread -fno-builtin
ITEST_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -pthread
ITEST_HDR      := $(ITEST_SRCDIR)/itest.h
ITEST_C_TESTS  := prodcons thread_churn fork_mt calloc_zero realloc_bounds align \
                  enomem errno_free dlopen_test trim_rss cxx_plugin_host
ITEST_C_BINS   := $(addprefix $(ITEST_DIR)/,$(ITEST_C_TESTS))
ITEST_LINK_BINS := $(ITEST_DIR)/linked $(ITEST_DIR)/static
ITEST_BINS     := $(ITEST_C_BINS) $(ITEST_DIR)/cxx_prog $(ITEST_DIR)/cxx_replace $(ITEST_LINK_BINS)
ITEST_LIBDIR   := $(abspath $(dir $(HAKMEM_SO)))

.PHONY: integration-test integration-build integration-clean real-test

integration-test: lib $(ITEST_BINS)
	@bash $(ITEST_SRCDIR)/run.sh $(abspath $(ITEST_DIR)) $(abspath $(HAKMEM_SO))

integration-build: $(ITEST_BINS)

integration-clean:
	rm -rf $(ITEST_DIR)

real-test: lib
	@bash tests/real/run_real.sh $(abspath $(HAKMEM_SO))

$(ITEST_DIR):
	@mkdir -p $@

$(ITEST_C_BINS): $(ITEST_DIR)/%: $(ITEST_SRCDIR)/%.c $(ITEST_HDR) | $(ITEST_DIR)
	$(CC) $(ITEST_CFLAGS) -o $@ $< -ldl

$(ITEST_DIR)/cxx_prog: $(ITEST_SRCDIR)/cxx_prog.cpp | $(ITEST_DIR)
	$(CXX) $(ITEST_CXXFLAGS) -o $@ $< -ldl
$(ITEST_DIR)/cxx_replace: $(ITEST_SRCDIR)/cxx_replace.cpp | $(ITEST_DIR)
	$(CXX) $(ITEST_CXXFLAGS) -o $@ $<
# the C host loads this C++ library next to it with dlopen(RTLD_LOCAL)
$(ITEST_DIR)/cxx_plugin_host: $(ITEST_DIR)/libcxx_plugin.so
$(ITEST_DIR)/libcxx_plugin.so: $(ITEST_SRCDIR)/cxx_plugin.cpp | $(ITEST_DIR)
	$(CXX) $(ITEST_CXXFLAGS) -shared -fPIC -o $@ $<

# Dynamically linked against build/libhakmem.so, found through the rpath.
$(ITEST_DIR)/linked: $(ITEST_SRCDIR)/linked.c $(ITEST_HDR) $(wildcard $(HAKMEM_SO)) | $(ITEST_DIR) lib
	$(CC) $(ITEST_CFLAGS) -Iinclude -o $@ $< -L$(ITEST_LIBDIR) -lhakmem \
	    -Wl,-rpath,$(ITEST_LIBDIR) -ldl

# libhakmem.a linked in: fully static if the C library allows it, otherwise
# the archive linked statically into a dynamic executable (PIE, then no-PIE).
$(ITEST_DIR)/static: $(ITEST_SRCDIR)/linked.c $(ITEST_HDR) $(wildcard $(HAKMEM_A)) | $(ITEST_DIR) lib
	@rm -f $@.link.log
	@if $(CC) $(ITEST_CFLAGS) -DITEST_STATIC -Iinclude -static -o $@ $< $(HAKMEM_A) \
	        >$@.link.log 2>&1; then \
	    echo "$(ITEST_DIR)/static: linked fully static with $(HAKMEM_A)"; \
	elif $(CC) $(ITEST_CFLAGS) -DITEST_STATIC -Iinclude -o $@ $< $(HAKMEM_A) -ldl \
	        >>$@.link.log 2>&1; then \
	    echo "$(ITEST_DIR)/static: -static link failed (see $@.link.log);" \
	         "linked $(HAKMEM_A) into a dynamic executable"; \
	elif $(CC) $(ITEST_CFLAGS) -DITEST_STATIC -Iinclude -no-pie -o $@ $< $(HAKMEM_A) -ldl \
	        >>$@.link.log 2>&1; then \
	    echo "$(ITEST_DIR)/static: -static and PIE links failed (see $@.link.log);" \
	         "linked $(HAKMEM_A) into a non-PIE executable"; \
	else \
	    cat $@.link.log; echo "$(ITEST_DIR)/static: cannot link against $(HAKMEM_A)"; exit 1; \
	fi
