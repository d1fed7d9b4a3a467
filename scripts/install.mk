# scripts/install.mk — installation, generated documentation and the
# end-to-end installation test. Included by the top-level Makefile, which
# defines CC, BUILD, VERSION, SOMAJOR, SONAME, PREFIX, LIBDIR, INCDIR,
# HAKMEM_SO, HAKMEM_A, BASEFLAGS and the `lib` and `core` targets.
#
#   make install [PREFIX=/usr/local] [DESTDIR=...] [LIBDIR=...] [INCDIR=...]
#                [BINDIR=...] [MANDIR=...] [PKGCONFIGDIR=...]
#                          the libraries, hakmem.h, hakmem.pc, the hakmem
#                          launcher and the hakmem(1), hakmem(3) man pages
#   make uninstall         removes exactly what `install` put there
#   make install-check     installs into a temporary prefix and tests the result
#                          (scripts/check-install.sh)
#   make env-doc           regenerates docs/ENV.md and the ENVIRONMENT section
#                          of docs/hakmem.3 from the option table (core/options.c)
#   make env-doc-check     fails if either is out of date
#
# Without the top-level Makefile including it:
#   make -f Makefile -f scripts/install.mk install PREFIX=/tmp/x

_install_saved_default_goal := $(.DEFAULT_GOAL)

BUILD   ?= build
VERSION ?= 0.1.0
SOMAJOR ?= 0
SONAME  ?= libhakmem.so.$(SOMAJOR)
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
HAKMEM_A ?= $(BUILD)/libhakmem.a
INSTALL ?= install

# In hakmem.pc, directories under the prefix are written relative to it.
PC_LIBDIR := $(patsubst $(PREFIX)/%,$${exec_prefix}/%,$(LIBDIR))
PC_INCDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCDIR))

INSTALL_STAGE := $(BUILD)/install
GEN_ENV_DOC   := $(BUILD)/gen-env-doc

# The man page section between these two lines is generated.
MAN_ENV_BEGIN := .\\" BEGIN GENERATED ENVIRONMENT
MAN_ENV_END   := .\\" END GENERATED ENVIRONMENT

.PHONY: install uninstall install-check env-doc env-doc-check

# ---- install / uninstall ----------------------------------------------------

install: lib hardened
	@mkdir -p $(INSTALL_STAGE)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(PC_LIBDIR)|g' \
	    -e 's|@INCDIR@|$(PC_INCDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    scripts/hakmem.pc.in > $(INSTALL_STAGE)/hakmem.pc
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@SONAME@|$(SONAME)|g' \
	    -e 's|@LIBDIR@|$(LIBDIR)|g' scripts/hakmem > $(INSTALL_STAGE)/hakmem
	for page in hakmem.1 hakmem.3; do \
	    sed -e '/^\.TH /s|"hakmem [^"]*"|"hakmem $(VERSION)"|' docs/$$page > $(INSTALL_STAGE)/$$page || exit 1; \
	done
	$(INSTALL) -d -m 755 "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCDIR)" "$(DESTDIR)$(BINDIR)" \
	    "$(DESTDIR)$(PKGCONFIGDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man3"
	$(INSTALL) -m 755 $(BUILD)/libhakmem.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/libhakmem.so.$(VERSION)"
	ln -sf libhakmem.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/$(SONAME)"
	ln -sf $(SONAME) "$(DESTDIR)$(LIBDIR)/libhakmem.so"
	$(INSTALL) -m 644 $(HAKMEM_A) "$(DESTDIR)$(LIBDIR)/libhakmem.a"
	$(INSTALL) -m 755 $(BUILD)/libhakmem_hardened.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/libhakmem_hardened.so.$(VERSION)"
	ln -sf libhakmem_hardened.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/libhakmem_hardened.so.$(SOMAJOR)"
	$(INSTALL) -m 644 include/hakmem.h "$(DESTDIR)$(INCDIR)/hakmem.h"
	$(INSTALL) -m 644 $(INSTALL_STAGE)/hakmem.pc "$(DESTDIR)$(PKGCONFIGDIR)/hakmem.pc"
	$(INSTALL) -m 755 $(INSTALL_STAGE)/hakmem "$(DESTDIR)$(BINDIR)/hakmem"
	$(INSTALL) -m 644 $(INSTALL_STAGE)/hakmem.1 "$(DESTDIR)$(MANDIR)/man1/hakmem.1"
	$(INSTALL) -m 644 $(INSTALL_STAGE)/hakmem.3 "$(DESTDIR)$(MANDIR)/man3/hakmem.3"

uninstall:
	rm -f "$(DESTDIR)$(LIBDIR)/libhakmem.so.$(VERSION)" "$(DESTDIR)$(LIBDIR)/$(SONAME)" \
	    "$(DESTDIR)$(LIBDIR)/libhakmem.so" "$(DESTDIR)$(LIBDIR)/libhakmem.a" \
	    "$(DESTDIR)$(LIBDIR)/libhakmem_hardened.so.$(VERSION)" \
	    "$(DESTDIR)$(LIBDIR)/libhakmem_hardened.so.$(SOMAJOR)" \
	    "$(DESTDIR)$(INCDIR)/hakmem.h" "$(DESTDIR)$(PKGCONFIGDIR)/hakmem.pc" \
	    "$(DESTDIR)$(BINDIR)/hakmem" "$(DESTDIR)$(MANDIR)/man1/hakmem.1" \
	    "$(DESTDIR)$(MANDIR)/man3/hakmem.3"

install-check: lib
	@MAKE="$(MAKE)" sh scripts/check-install.sh

# ---- generated documentation ------------------------------------------------

$(GEN_ENV_DOC): scripts/gen-env-doc.c $(BUILD)/libhakmem_core.a core/internal.h include/hakmem.h
	$(CC) $(BASEFLAGS) -O1 -o $@ scripts/gen-env-doc.c $(BUILD)/libhakmem_core.a

# $(call splice_man,GENERATED-SECTION,MAN-PAGE): the page with the lines
# between the markers replaced by the generated section.
splice_man = awk -v gen='$(1)' -v begin='$(MAN_ENV_BEGIN)' -v end='$(MAN_ENV_END)' \
	'$$0 == begin { print; while ((getline l < gen) > 0) print l; skip = 1; next } \
	 $$0 == end { skip = 0; found = 1 } !skip { print } \
	 END { if (!found) { print "missing generated-section markers" > "/dev/stderr"; exit 1 } }' '$(2)'

env-doc: $(GEN_ENV_DOC)
	$(GEN_ENV_DOC) > docs/ENV.md.tmp && mv docs/ENV.md.tmp docs/ENV.md
	$(GEN_ENV_DOC) --man > $(BUILD)/hakmem.3.env
	$(call splice_man,$(BUILD)/hakmem.3.env,docs/hakmem.3) > docs/hakmem.3.tmp
	mv docs/hakmem.3.tmp docs/hakmem.3

env-doc-check: $(GEN_ENV_DOC)
	@$(GEN_ENV_DOC) > $(BUILD)/ENV.md.new
	@$(GEN_ENV_DOC) --man > $(BUILD)/hakmem.3.env
	@$(call splice_man,$(BUILD)/hakmem.3.env,docs/hakmem.3) > $(BUILD)/hakmem.3.new
	@ok=1; \
	if ! diff -u docs/ENV.md $(BUILD)/ENV.md.new; then \
	    echo "docs/ENV.md is out of date with core/options.c: run 'make env-doc'" >&2; ok=0; fi; \
	if ! diff -u docs/hakmem.3 $(BUILD)/hakmem.3.new; then \
	    echo "docs/hakmem.3 (ENVIRONMENT) is out of date with core/options.c: run 'make env-doc'" >&2; ok=0; fi; \
	test $$ok = 1 && echo "env-doc-check: docs/ENV.md and docs/hakmem.3 are up to date"

.DEFAULT_GOAL := $(_install_saved_default_goal)
