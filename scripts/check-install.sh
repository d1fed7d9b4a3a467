#!/bin/sh
# check-install.sh — end-to-end test of `make install` and `make uninstall`.
#
# Installs into a temporary prefix, builds a program with
# `pkg-config --cflags --libs hakmem` (and one with libhakmem.a), runs it,
# runs the installed launcher on ls and python3 with --stats and
# --stats=json, checks the man pages, a DESTDIR install with a multiarch
# LIBDIR, the generated documentation, then uninstalls and checks that
# nothing of ours is left. Prints PASS/FAIL lines and "N passed, N failed";
# exits non-zero if anything failed.
#
#   sh scripts/check-install.sh        (or: make install-check)
#   KEEP=1 sh scripts/check-install.sh keeps the temporary directory
#
# SPDX-License-Identifier: MIT

set -u

cd "$(dirname "$0")/.." || exit 2
top=$(pwd -P)

# A clean environment for the allocator: none of the caller's settings.
for v in $(env | sed -n 's/^\(HAKMEM_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done
unset LD_PRELOAD LD_LIBRARY_PATH PKG_CONFIG_PATH PKG_CONFIG_LIBDIR

MAKE=${MAKE:-make}
CC=${CC:-cc}
if grep -q '^-\{0,1\}include scripts/install.mk' Makefile 2>/dev/null; then
    mk() { $MAKE --no-print-directory "$@"; }
else
    mk() { $MAKE --no-print-directory -f Makefile -f scripts/install.mk "$@"; }
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-install.XXXXXX") || exit 2
tmp=$(cd -P "$tmp" && pwd -P)
cleanup() {
    if [ -n "${KEEP:-}" ]; then
        echo "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

prefix=$tmp/prefix
work=$tmp/work
mkdir -p "$work/bin"

passed=0
failed=0
skipped=0

pass() {
    echo "PASS: $1"
    passed=$((passed + 1))
}
# fail NAME [FILE]: FILE's first lines are shown as the reason.
fail() {
    echo "FAIL: $1"
    if [ $# -ge 2 ] && [ -s "$2" ]; then
        sed -n '1,25s/^/    | /p' "$2"
    fi
    failed=$((failed + 1))
}
skip() {
    echo "SKIP: $1"
    skipped=$((skipped + 1))
}
# check NAME COMMAND...: passes when COMMAND succeeds; its output is shown if not.
check() {
    name=$1
    shift
    if "$@" >"$work/check.out" 2>&1; then
        pass "$name"
    else
        fail "$name" "$work/check.out"
    fi
}
# expect FILE TEXT: FILE contains TEXT (a fixed string).
has() {
    grep -F -q -- "$2" "$1"
}

# ---- versions --------------------------------------------------------------
hmaj=$(sed -n 's/^#define HAKMEM_VERSION_MAJOR \([0-9]*\).*/\1/p' include/hakmem.h)
hmin=$(sed -n 's/^#define HAKMEM_VERSION_MINOR \([0-9]*\).*/\1/p' include/hakmem.h)
hpat=$(sed -n 's/^#define HAKMEM_VERSION_PATCH \([0-9]*\).*/\1/p' include/hakmem.h)
version=$hmaj.$hmin.$hpat
soname=libhakmem.so.$hmaj
echo "hakmem $version (from include/hakmem.h), prefix $prefix"

# ---- pkg-config --------------------------------------------------------------
if ! command -v pkg-config >/dev/null 2>&1; then
    echo "pkg-config is missing; installing it"
    if [ "$(id -u)" = 0 ]; then
        sudo=
    elif command -v sudo >/dev/null 2>&1; then
        sudo=sudo
    else
        sudo=false
    fi
    {
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pkg-config
    } >"$work/apt.log" 2>&1
fi
if command -v pkg-config >/dev/null 2>&1; then
    pass "pkg-config available ($(pkg-config --version))"
    have_pc=1
else
    fail "pkg-config available (apt-get install pkg-config failed)" "$work/apt.log"
    have_pc=
fi

# ---- install -----------------------------------------------------------------
dirs="PREFIX=$prefix LIBDIR=$prefix/lib INCDIR=$prefix/include BINDIR=$prefix/bin \
MANDIR=$prefix/share/man PKGCONFIGDIR=$prefix/lib/pkgconfig DESTDIR="
# shellcheck disable=SC2086
check "make install PREFIX=$prefix" mk install $dirs
# shellcheck disable=SC2086
check "make install again over an existing installation" mk install $dirs

lib=$prefix/lib
files_ok=1
: >"$work/files.out"
for f in "lib/libhakmem.so.$version" lib/libhakmem.a include/hakmem.h lib/pkgconfig/hakmem.pc \
    share/man/man1/hakmem.1 share/man/man3/hakmem.3; do
    if [ ! -f "$prefix/$f" ] || [ -L "$prefix/$f" ]; then
        echo "missing or not a regular file: $f" >>"$work/files.out"
        files_ok=
    fi
done
[ -x "$prefix/bin/hakmem" ] || { echo "bin/hakmem missing or not executable" >>"$work/files.out"; files_ok=; }
[ -x "$lib/libhakmem.so.$version" ] || { echo "libhakmem.so.$version not executable" >>"$work/files.out"; files_ok=; }
[ "$(readlink "$lib/$soname" 2>/dev/null)" = "libhakmem.so.$version" ] ||
    { echo "$soname is not a link to libhakmem.so.$version" >>"$work/files.out"; files_ok=; }
[ "$(readlink "$lib/libhakmem.so" 2>/dev/null)" = "$soname" ] ||
    { echo "libhakmem.so is not a link to $soname" >>"$work/files.out"; files_ok=; }
for f in lib/libhakmem.a include/hakmem.h lib/pkgconfig/hakmem.pc share/man/man1/hakmem.1; do
    [ -f "$prefix/$f" ] && [ -x "$prefix/$f" ] && { echo "$f should not be executable" >>"$work/files.out"; files_ok=; }
done
if [ -n "$files_ok" ]; then
    pass "installed files, modes and symbolic links"
else
    fail "installed files, modes and symbolic links" "$work/files.out"
fi
ls -lR "$prefix" >"$work/tree.txt" 2>&1

if command -v readelf >/dev/null 2>&1; then
    if readelf -d "$lib/libhakmem.so.$version" 2>&1 | grep -q "Library soname: \[$soname\]"; then
        pass "shared library's SONAME is $soname"
    else
        readelf -d "$lib/libhakmem.so.$version" >"$work/readelf.out" 2>&1
        fail "shared library's SONAME is $soname" "$work/readelf.out"
    fi
else
    skip "SONAME check (no readelf)"
fi

# ---- pkg-config metadata -------------------------------------------------------
cat >"$work/prog.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hakmem.h>

static const char *object_of(const char *sym)
{
#ifdef STATIC
    (void)sym;
    return "static";
#else
    Dl_info info;
    void *p = dlsym(RTLD_DEFAULT, sym);
    if (p && dladdr(p, &info) && info.dli_fname)
        return info.dli_fname;
    return "?";
#endif
}

int main(void)
{
    char *p = malloc(100);
    if (p == NULL)
        return 1;
    memset(p, 0x5a, 100);
    /* Reports the pointer and aborts unless malloc is hakmem's. */
    size_t usable = hak_malloc_usable_size(p);
    char *q = realloc(p, 5000);
    if (q == NULL)
        return 1;
    hak_stats_t st;
    if (hak_stats_get(&st) != 0)
        return 1;
    printf("version %s\n", hak_version());
    printf("usable %zu\n", usable);
    printf("mapped %llu\n", (unsigned long long)st.os_mapped_bytes);
    printf("hak_version from %s\n", object_of("hak_version"));
    printf("malloc from %s\n", object_of("malloc"));
    free(q);
    return usable >= 100 && st.os_mapped_bytes > 0 ? 0 : 1;
}
EOF

if [ -n "$have_pc" ]; then
    PKG_CONFIG_PATH=$lib/pkgconfig
    export PKG_CONFIG_PATH
    v=$(pkg-config --modversion hakmem 2>"$work/pc.err")
    if [ "$v" = "$version" ]; then
        pass "pkg-config --modversion hakmem = $version"
    else
        echo "got '$v'" >>"$work/pc.err"
        fail "pkg-config --modversion hakmem = $version" "$work/pc.err"
    fi
    cflags=$(pkg-config --cflags hakmem)
    libs=$(pkg-config --libs hakmem)
    slibs=$(pkg-config --static --libs hakmem)
    {
        echo "cflags: $cflags"
        echo "libs: $libs"
        echo "static libs: $slibs"
        cat "$lib/pkgconfig/hakmem.pc"
    } >"$work/pc.out"
    case " $cflags " in
    *" -I$prefix/include "*) cf_ok=1 ;;
    *) cf_ok= ;;
    esac
    case " $libs " in
    *" -L$lib -lhakmem "*) l_ok=1 ;;
    *) l_ok= ;;
    esac
    case " $slibs " in
    *" -pthread "*) s_ok=1 ;;
    *) s_ok= ;;
    esac
    if [ -n "$cf_ok" ] && [ -n "$l_ok" ] && [ -n "$s_ok" ] && has "$lib/pkgconfig/hakmem.pc" "prefix=$prefix"; then
        pass "hakmem.pc: prefix, -I, -L -lhakmem, Libs.private -pthread"
    else
        fail "hakmem.pc: prefix, -I, -L -lhakmem, Libs.private -pthread" "$work/pc.out"
    fi

    # Linked with the shared library, found through the rpath.
    # shellcheck disable=SC2086
    if $CC -o "$work/prog" "$work/prog.c" $cflags $libs -Wl,-rpath,"$lib" -ldl >"$work/cc.out" 2>&1; then
        pass "cc prog.c \$(pkg-config --cflags --libs hakmem)"
        if "$work/prog" >"$work/prog.out" 2>&1 && has "$work/prog.out" "version $version" &&
            has "$work/prog.out" "hak_version from $lib/" && has "$work/prog.out" "malloc from $lib/"; then
            pass "program linked with -lhakmem runs: hak_version() = $version, malloc is hakmem's"
        else
            fail "program linked with -lhakmem runs: hak_version() = $version, malloc is hakmem's" "$work/prog.out"
        fi
    else
        fail "cc prog.c \$(pkg-config --cflags --libs hakmem)" "$work/cc.out"
    fi

    # Without an rpath, through LD_LIBRARY_PATH.
    # shellcheck disable=SC2086
    if $CC -o "$work/prog-nopath" "$work/prog.c" $cflags $libs -ldl >"$work/cc2.out" 2>&1 &&
        LD_LIBRARY_PATH=$lib "$work/prog-nopath" >"$work/prog2.out" 2>&1 &&
        has "$work/prog2.out" "malloc from $lib/"; then
        pass "program linked with -lhakmem runs with LD_LIBRARY_PATH"
    else
        cat "$work/cc2.out" "$work/prog2.out" >"$work/prog2.all" 2>/dev/null
        fail "program linked with -lhakmem runs with LD_LIBRARY_PATH" "$work/prog2.all"
    fi

    # Linked with libhakmem.a: no libhakmem.so needed at run time.
    # shellcheck disable=SC2046,SC2086
    if $CC -DSTATIC -o "$work/prog-static" "$work/prog.c" $cflags "$lib/libhakmem.a" \
        $(pkg-config --static --libs-only-other hakmem) -ldl >"$work/cc3.out" 2>&1 &&
        "$work/prog-static" >"$work/prog3.out" 2>&1 && has "$work/prog3.out" "version $version"; then
        if command -v ldd >/dev/null 2>&1 && ldd "$work/prog-static" 2>&1 | grep -q libhakmem; then
            ldd "$work/prog-static" >"$work/ldd.out" 2>&1
            fail "program linked with libhakmem.a runs without libhakmem.so" "$work/ldd.out"
        else
            pass "program linked with libhakmem.a runs without libhakmem.so"
        fi
    else
        cat "$work/cc3.out" "$work/prog3.out" >"$work/prog3.all" 2>/dev/null
        fail "program linked with libhakmem.a runs without libhakmem.so" "$work/prog3.all"
    fi
    unset PKG_CONFIG_PATH
fi

# ---- the launcher --------------------------------------------------------------
hk=$prefix/bin/hakmem
cp "$hk" "$work/hakmem-copy"

if "$hk" --version >"$work/v.out" 2>&1 && has "$work/v.out" "hakmem $version" &&
    has "$work/v.out" "library: $lib/$soname"; then
    pass "hakmem --version reports the library's version ($version)"
else
    fail "hakmem --version reports the library's version ($version)" "$work/v.out"
fi

if "$hk" --help >"$work/h.out" 2>&1 && has "$work/h.out" "Usage: hakmem"; then
    pass "hakmem --help"
else
    fail "hakmem --help" "$work/h.out"
fi

ln -s "$hk" "$work/bin/hakmem-link"
if [ "$("$work/bin/hakmem-link" --print-library 2>&1)" = "$lib/$soname" ]; then
    pass "launcher run through a symbolic link finds $lib/$soname"
else
    "$work/bin/hakmem-link" --print-library >"$work/link.out" 2>&1
    fail "launcher run through a symbolic link finds $lib/$soname" "$work/link.out"
fi

# ls: output unchanged; its statistics (to a file: ls closes stderr itself
# before the library's exit report runs).
lsdir=/usr/include
[ -d "$lsdir" ] || lsdir=$top
ls -laR "$lsdir" >"$work/ls.plain" 2>&1
if "$hk" ls -laR "$lsdir" >"$work/ls.hk" 2>&1 && cmp -s "$work/ls.plain" "$work/ls.hk"; then
    pass "hakmem ls -laR $lsdir: same output as without hakmem"
else
    diff "$work/ls.plain" "$work/ls.hk" >"$work/ls.diff" 2>&1
    fail "hakmem ls -laR $lsdir: same output as without hakmem" "$work/ls.diff"
fi
mkdir -p "$work/stats"
if "$hk" --stats --stats-file "$work/stats/ls.%p" ls / >/dev/null 2>"$work/ls.err"; then
    set -- "$work"/stats/ls.*
    if [ $# -eq 1 ] && [ -f "$1" ] && has "$1" "hakmem statistics" &&
        grep -Eq '^  malloc +[1-9]' "$1"; then
        pass "hakmem --stats --stats-file DIR/ls.%p ls: one report, with malloc calls counted"
    else
        { ls -l "$work/stats"; cat "$work"/stats/ls.* "$work/ls.err"; } >"$work/ls.stats" 2>&1
        fail "hakmem --stats --stats-file DIR/ls.%p ls: one report, with malloc calls counted" "$work/ls.stats"
    fi
else
    fail "hakmem --stats --stats-file DIR/ls.%p ls" "$work/ls.err"
fi

# python3: the interpreter itself, not a wrapper script that would run
# (and report) several processes.
py=
if command -v python3 >/dev/null 2>&1; then
    py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
fi
if [ -n "$py" ] && [ -x "$py" ]; then
    pyprog='d = {i: str(i) * 3 for i in range(20000)}; print(sum(len(v) for v in d.values()))'
    want=$("$py" -c "$pyprog")
    if "$hk" --stats "$py" -c "$pyprog" >"$work/py.out" 2>"$work/py.err" &&
        [ "$(cat "$work/py.out")" = "$want" ] && has "$work/py.err" "hakmem statistics" &&
        grep -Eq '^  malloc +[1-9]' "$work/py.err"; then
        pass "hakmem --stats python3 -c ...: right output, text statistics on stderr"
    else
        cat "$work/py.out" "$work/py.err" >"$work/py.all"
        fail "hakmem --stats python3 -c ...: right output, text statistics on stderr" "$work/py.all"
    fi

    if "$hk" --stats=json -- "$py" -c "$pyprog" >"$work/pyj.out" 2>"$work/pyj.err" &&
        [ "$(cat "$work/pyj.out")" = "$want" ] &&
        "$py" -m json.tool <"$work/pyj.err" >"$work/pyj.pretty" 2>&1 &&
        "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["hakmem"]["calls"]["malloc"] > 0' \
            "$work/pyj.err" >>"$work/pyj.pretty" 2>&1; then
        pass "hakmem --stats=json -- python3 -c ...: stderr is JSON (python3 -m json.tool), malloc > 0"
    else
        cat "$work/pyj.out" "$work/pyj.err" "$work/pyj.pretty" >"$work/pyj.all" 2>/dev/null
        fail "hakmem --stats=json -- python3 -c ...: stderr is JSON (python3 -m json.tool), malloc > 0" "$work/pyj.all"
    fi

    rm -f "$work/stats"/*
    if "$hk" --stats=json --stats-file="$work/stats/py.%p.json" "$py" -c 'pass' >"$work/pyf.out" 2>&1 &&
        [ ! -s "$work/pyf.out" ] && set -- "$work"/stats/py.*.json && [ -f "$1" ] &&
        "$py" -m json.tool "$1" >/dev/null 2>>"$work/pyf.out"; then
        pass "hakmem --stats=json --stats-file=PATH python3: JSON in the file, nothing on stderr"
    else
        { ls -l "$work/stats"; cat "$work/pyf.out"; } >"$work/pyf.all" 2>&1
        fail "hakmem --stats=json --stats-file=PATH python3: JSON in the file, nothing on stderr" "$work/pyf.all"
    fi
else
    skip "launcher with python3 (no python3)"
fi

# An existing LD_PRELOAD is kept, after libhakmem.
printf 'int hakmem_check_empty;\n' >"$work/empty.c"
if $CC -shared -fPIC -o "$work/empty.so" "$work/empty.c" >"$work/empty.out" 2>&1; then
    # shellcheck disable=SC2016
    got=$(LD_PRELOAD=$work/empty.so "$hk" sh -c 'printf "%s" "$LD_PRELOAD"' 2>"$work/empty.out")
    if [ "$got" = "$lib/$soname:$work/empty.so" ]; then
        pass "existing LD_PRELOAD kept after libhakmem"
    else
        echo "LD_PRELOAD in the command: '$got'" >>"$work/empty.out"
        fail "existing LD_PRELOAD kept after libhakmem" "$work/empty.out"
    fi
else
    fail "existing LD_PRELOAD kept after libhakmem (cannot build a test library)" "$work/empty.out"
fi

# Usage errors: exit 2 with a message.
"$hk" >"$work/nocmd.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && has "$work/nocmd.out" "no command given"; then
    pass "hakmem with no command: exit 2, 'no command given'"
else
    echo "exit status $rc" >>"$work/nocmd.out"
    fail "hakmem with no command: exit 2, 'no command given'" "$work/nocmd.out"
fi
"$hk" --stats=xml ls >"$work/badopt.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && has "$work/badopt.out" "invalid value for --stats"; then
    pass "hakmem --stats=xml: exit 2 with a message"
else
    echo "exit status $rc" >>"$work/badopt.out"
    fail "hakmem --stats=xml: exit 2 with a message" "$work/badopt.out"
fi
"$hk" hakmem-no-such-command >"$work/nf.out" 2>&1
rc=$?
if [ $rc -eq 127 ] && has "$work/nf.out" "command not found"; then
    pass "hakmem on a missing command: exit 127, 'command not found'"
else
    echo "exit status $rc" >>"$work/nf.out"
    fail "hakmem on a missing command: exit 127, 'command not found'" "$work/nf.out"
fi

# The launcher in the source tree uses build/libhakmem.so.
if [ "$(sh scripts/hakmem --print-library 2>&1)" = "$top/build/libhakmem.so" ]; then
    pass "scripts/hakmem in the source tree uses build/libhakmem.so"
else
    sh scripts/hakmem --print-library >"$work/src.out" 2>&1
    fail "scripts/hakmem in the source tree uses build/libhakmem.so" "$work/src.out"
fi

# ---- man pages -------------------------------------------------------------------
if command -v man >/dev/null 2>&1; then
    for page in 1 3; do
        f=$prefix/share/man/man$page/hakmem.$page
        if MANWIDTH=80 man -l "$f" >"$work/man$page.out" 2>"$work/man$page.err" &&
            [ ! -s "$work/man$page.err" ] && grep -q "^HAKMEM($page)" "$work/man$page.out"; then
            pass "man -l hakmem.$page renders without warnings"
        else
            cat "$work/man$page.err" >>"$work/man$page.out"
            fail "man -l hakmem.$page renders without warnings" "$work/man$page.out"
        fi
    done
    if MANWIDTH=80 man -M "$prefix/share/man" 3 hakmem 2>/dev/null | grep -q "HAKMEM_STATS_FILE" &&
        MANWIDTH=80 man -M "$prefix/share/man" 1 hakmem 2>/dev/null | grep -q -- "--stats-file"; then
        pass "man -M PREFIX/share/man finds hakmem(1) and hakmem(3)"
    else
        fail "man -M PREFIX/share/man finds hakmem(1) and hakmem(3)"
    fi
else
    skip "man pages (no man)"
fi
missing_vars=
# shellcheck disable=SC2016
env_vars=$(sed -n 's/^| `\(HAKMEM_[A-Z0-9_]*\)`.*/\1/p' docs/ENV.md)
for v in $env_vars; do
    grep -q "^\.B $v\$" "$prefix/share/man/man3/hakmem.3" || missing_vars="$missing_vars $v"
done
if [ -z "$missing_vars" ] && [ -n "$env_vars" ]; then
    pass "hakmem(3) documents every variable of docs/ENV.md"
else
    echo "missing:$missing_vars" >"$work/vars.out"
    fail "hakmem(3) documents every variable of docs/ENV.md" "$work/vars.out"
fi

# ---- generated documentation is current ------------------------------------------
check "make env-doc-check (docs/ENV.md, docs/hakmem.3 match core/options.c)" mk env-doc-check

# ---- DESTDIR staging with a multiarch LIBDIR -------------------------------------
stage=$tmp/stage
ma=$($CC -print-multiarch 2>/dev/null)
[ -n "$ma" ] || ma=$(uname -m)-linux-gnu
sp=/opt/hakmem-test
sdirs="DESTDIR=$stage PREFIX=$sp LIBDIR=$sp/lib/$ma INCDIR=$sp/include BINDIR=$sp/bin \
MANDIR=$sp/share/man PKGCONFIGDIR=$sp/lib/$ma/pkgconfig"
# shellcheck disable=SC2086
if mk install $sdirs >"$work/stage.out" 2>&1 && [ -f "$stage$sp/lib/$ma/libhakmem.so.$version" ] &&
    has "$stage$sp/lib/$ma/pkgconfig/hakmem.pc" "prefix=$sp" &&
    has "$stage$sp/lib/$ma/pkgconfig/hakmem.pc" "libdir=\${exec_prefix}/lib/$ma" &&
    [ ! -e "$sp" ]; then
    pass "make install DESTDIR=... LIBDIR=\$(PREFIX)/lib/$ma: staged, .pc names the real prefix"
else
    ls -lR "$stage" >>"$work/stage.out" 2>&1
    fail "make install DESTDIR=... LIBDIR=\$(PREFIX)/lib/$ma: staged, .pc names the real prefix" "$work/stage.out"
fi
if [ "$("$stage$sp/bin/hakmem" --print-library 2>&1)" = "$stage$sp/lib/$ma/$soname" ]; then
    pass "staged launcher finds the library in ../lib/$ma"
else
    "$stage$sp/bin/hakmem" --print-library >"$work/stage2.out" 2>&1
    fail "staged launcher finds the library in ../lib/$ma" "$work/stage2.out"
fi
# shellcheck disable=SC2086
mk uninstall $sdirs >"$work/stage3.out" 2>&1
if [ -z "$(find "$stage" ! -type d 2>/dev/null)" ]; then
    pass "make uninstall DESTDIR=... removes every staged file"
else
    find "$stage" ! -type d >>"$work/stage3.out" 2>&1
    fail "make uninstall DESTDIR=... removes every staged file" "$work/stage3.out"
fi

# ---- uninstall ---------------------------------------------------------------------
# shellcheck disable=SC2086
check "make uninstall PREFIX=$prefix" mk uninstall $dirs
left=$(find "$prefix" ! -type d 2>/dev/null)
if [ -z "$left" ]; then
    pass "nothing of hakmem's left in the prefix after uninstall"
else
    echo "$left" >"$work/left.out"
    fail "nothing of hakmem's left in the prefix after uninstall" "$work/left.out"
fi

# A launcher whose library is gone says so and exits 2.
"$work/hakmem-copy" true >"$work/nolib.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && has "$work/nolib.out" "cannot find the hakmem library"; then
    pass "launcher without its library: exit 2, 'cannot find the hakmem library'"
else
    echo "exit status $rc" >>"$work/nolib.out"
    fail "launcher without its library: exit 2, 'cannot find the hakmem library'" "$work/nolib.out"
fi

# ---- summary -----------------------------------------------------------------------
if [ $skipped -gt 0 ]; then
    echo "install-check: $passed passed, $failed failed, $skipped skipped"
else
    echo "install-check: $passed passed, $failed failed"
fi
[ $failed -eq 0 ]
