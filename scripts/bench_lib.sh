# shellcheck shell=bash
# scripts/bench_lib.sh -- helpers shared by the benchmark scripts.
# Sourced (not run) by bench.sh, bench_smoke.sh, latency.sh, syscalls.sh and
# soak.sh.
#
# Environment:
#   HAKMEM_SO   hakmem shared library (default build/libhakmem.so)
#   BENCH_BIN   directory of the benchmark binaries (default build/bench)
#   NO_INSTALL  set to 1 to never call apt-get (missing tools stay missing)

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_BIN=${BENCH_BIN:-$BENCH_ROOT/build/bench}
HAKMEM_SO=${HAKMEM_SO:-$BENCH_ROOT/build/libhakmem.so}
case $HAKMEM_SO in /*) ;; *) HAKMEM_SO=$BENCH_ROOT/$HAKMEM_SO ;; esac

# Every allocator the harness knows, in table order.
# shellcheck disable=SC2034  # used by the scripts that source this file
ALL_ALLOCATORS="hakmem glibc mimalloc jemalloc tcmalloc"

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs a command as root: directly when root, else through sudo.
as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
    else
        log "need root (or sudo) to run: $*"
        return 1
    fi
}

_apt_updated=0
# apt_install PKG...: installs Debian packages; refreshes the package lists
# once if the first attempt fails (a fresh machine may have none).
apt_install() {
    if [ "${NO_INSTALL:-0}" = 1 ]; then
        log "NO_INSTALL=1: not installing $*"
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found: cannot install $*"
        return 1
    fi
    log "installing: $*"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q)
    if as_root "${apt[@]}" install --no-install-recommends "$@" >&2; then
        return 0
    fi
    if [ "$_apt_updated" = 0 ]; then
        _apt_updated=1
        as_root "${apt[@]}" update >&2 || true
        as_root "${apt[@]}" install --no-install-recommends "$@" >&2 && return 0
    fi
    log "could not install: $*"
    return 1
}

# need_cmd CMD PKG: makes sure CMD exists, installing PKG if it does not.
need_cmd() {
    command -v "$1" >/dev/null 2>&1 && return 0
    apt_install "$2" && command -v "$1" >/dev/null 2>&1
}

# need_time: GNU time at /usr/bin/time (the shell keyword is not enough).
need_time() {
    [ -x /usr/bin/time ] && return 0
    apt_install time && [ -x /usr/bin/time ]
}

# Debian package names that may carry each peer (older and newer releases),
# and the file name of the library to preload.
peer_packages() {
    case $1 in
    mimalloc) echo "libmimalloc2.0 libmimalloc3 libmimalloc2" ;;
    jemalloc) echo "libjemalloc2" ;;
    tcmalloc) echo "libtcmalloc-minimal4 libtcmalloc-minimal4t64" ;;
    esac
}
peer_soname_re() {
    case $1 in
    mimalloc) echo 'libmimalloc\.so\.[0-9]+$' ;;
    jemalloc) echo 'libjemalloc\.so\.[0-9]+$' ;;
    tcmalloc) echo 'libtcmalloc_minimal\.so\.[0-9]+$' ;;
    esac
}

# find_peer NAME: prints the installed library path of a peer, or fails.
find_peer() {
    local re pkg f
    re=$(peer_soname_re "$1")
    [ -n "$re" ] || return 1
    for pkg in $(peer_packages "$1"); do
        if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
            f=$(dpkg -L "$pkg" 2>/dev/null | grep -E "/$re" | head -n1)
            if [ -n "$f" ] && [ -e "$f" ]; then
                echo "$f"
                return 0
            fi
        fi
    done
    f=$(ldconfig -p 2>/dev/null | awk '{print $NF}' | grep -E "/$re" | head -n1)
    if [ -n "$f" ] && [ -e "$f" ]; then
        echo "$f"
        return 0
    fi
    return 1
}

# install_peer NAME: installs the first package that provides the peer.
install_peer() {
    local pkg
    find_peer "$1" >/dev/null && return 0
    for pkg in $(peer_packages "$1"); do
        apt_install "$pkg" && find_peer "$1" >/dev/null && return 0
    done
    return 1
}

# peer_version NAME: the Debian package version of a peer (or "-").
peer_version() {
    local pkg v
    for pkg in $(peer_packages "$1"); do
        v=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) && [ -n "$v" ] && {
            echo "$v"
            return 0
        }
    done
    echo "-"
}

# allocator_so NAME: prints what to put in LD_PRELOAD ("" for glibc);
# fails when the allocator is not available.
allocator_so() {
    case $1 in
    glibc) echo "" ;;
    hakmem) [ -f "$HAKMEM_SO" ] && echo "$HAKMEM_SO" ;;
    mimalloc | jemalloc | tcmalloc) find_peer "$1" ;;
    *) return 1 ;;
    esac
}

# ensure_allocators NAME...: installs the missing peers among NAMEs.
ensure_allocators() {
    local a
    for a in "$@"; do
        case $a in
        mimalloc | jemalloc | tcmalloc)
            find_peer "$a" >/dev/null || install_peer "$a" || log "warning: $a unavailable"
            ;;
        esac
    done
}

# need_bench_bins: builds the benchmark binaries if any is missing.
need_bench_bins() {
    local b missing=0
    for b in random_mixed larson prodcons realloc_growth large_churn \
        tight_loop false_sharing xmalloc_test mstress rptest sh_bench small_churn; do
        [ -x "$BENCH_BIN/$b" ] || missing=1
    done
    [ "$missing" = 0 ] && return 0
    log "building benchmarks (make -f bench/bench.mk bench-build)"
    make -s -C "$BENCH_ROOT" -f bench/bench.mk bench-build >&2 || die "benchmark build failed"
}

# bench_lock DIR: serializes timing runs (bench.sh, syscalls.sh, soak.sh)
# that share DIR: concurrent runs would overwrite each other's files and
# disturb each other's timings. Waits for a run already in progress.
bench_lock() {
    mkdir -p "$1"
    need_cmd flock util-linux || {
        log "warning: flock unavailable; not guarding against concurrent runs"
        return 0
    }
    exec 9>"$1/.bench.lock"
    if ! flock -n 9; then
        log "another benchmark run is using $1; waiting for it to finish..."
        flock 9
    fi
}

# resolve_allocators TMPDIR NAME...: fills the associative arrays SO (what
# to put in LD_PRELOAD) and AVAILABLE (1 or 0) for each NAME and logs each.
# hakmem runs from a private copy in TMPDIR, so that a rebuild during the
# run changes nothing; HAKMEM_SHA is set to the copy's checksum.
resolve_allocators() {
    local tmp=$1 a so
    shift
    declare -gA SO AVAILABLE
    for a in "$@"; do
        if so=$(allocator_so "$a"); then
            if [ "$a" = hakmem ]; then
                cp -L "$so" "$tmp/libhakmem.so" || die "cannot copy $so"
                HAKMEM_SHA=$(sha256sum "$tmp/libhakmem.so" | cut -c1-12)
                so=$tmp/libhakmem.so
                log "allocator hakmem: $HAKMEM_SO (run from a private copy, sha256 $HAKMEM_SHA)"
            else
                log "allocator $a: ${so:-(none, system malloc)}"
            fi
            # shellcheck disable=SC2034  # read by the scripts that source this file
            SO[$a]=$so
            AVAILABLE[$a]=1
        else
            AVAILABLE[$a]=0
            if [ "$a" = hakmem ]; then
                log "allocator hakmem: missing ($HAKMEM_SO not built; run 'make lib')"
            else
                log "allocator $a: missing"
            fi
        fi
    done
}

# prepare_runs OUT_DIR NAME...: what a timing script does before its runs:
# installs missing peers among NAMEs, builds the benchmarks, takes OUT_DIR's
# lock, makes the scratch directory TMP (removed at exit) and resolves the
# allocators (resolve_allocators).
prepare_runs() {
    local out=$1
    shift
    ensure_allocators "$@"
    need_bench_bins
    bench_lock "$out"
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    resolve_allocators "$TMP" "$@"
}

# machine_meta: the lines of a results header that name the machine and
# the allocators' versions (after resolve_allocators).
machine_meta() {
    local a
    echo "host: $(uname -srm), $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null)"
    echo "glibc: $(ldd --version 2>/dev/null | head -n1 | awk '{print $NF}')"
    for a in mimalloc jemalloc tcmalloc; do echo "$a: $(peer_version $a)"; done
    if [ "${AVAILABLE[hakmem]:-0}" = 1 ]; then
        echo "hakmem: $HAKMEM_SO (tree $(git -C "$BENCH_ROOT" describe --always --dirty 2>/dev/null || echo '?'), sha256 $HAKMEM_SHA)"
    else
        echo "hakmem: missing"
    fi
}

# set_preload SO: sets the array PRELOAD to the command prefix that runs a
# program with LD_PRELOAD=SO (or with no preload at all when SO is empty).
# Put it right before the benchmark, after wrappers such as timeout, so
# the wrappers themselves keep the system allocator.
set_preload() {
    PRELOAD=(env -u LD_PRELOAD)
    if [ -n "$1" ]; then PRELOAD+=("LD_PRELOAD=$1"); fi
}
