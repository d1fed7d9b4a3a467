#!/usr/bin/env bash
# shellcheck disable=SC2086  # lists of names (ALLOCATORS, ...) are split on purpose
# scripts/syscalls.sh -- memory-management syscall budget per allocator.
#
#   scripts/syscalls.sh [ITER]
#
# Counts mmap, munmap, madvise, brk (and mremap) with `strace -f -c` while
# random_mixed runs ITER steps (default 5000000; a step is a free plus a
# malloc, 2 ops) at each working set of WS_LIST, once per allocator. Each
# case also runs with ITER=0 (start-up, fill, release only); the difference
# divided by the ops gives the steady-state calls per million ops.
# A second table does the same for large_churn (LARGE_ITER steps of
# 64 KiB..8 MiB blocks, working set 32), per thousand ops.
#
# Environment:
#   ALLOCATORS="..."  default: hakmem glibc mimalloc jemalloc tcmalloc
#   WS_LIST="..."     default: 256 8192
#   LARGE_ITER=N      default: 1000 (0 skips the large_churn table)
#   SEED=N            default: 1
#   OUT_DIR=dir       default: build/bench (writes syscalls.csv)
#
# Output: a markdown table on stdout; raw counts in $OUT_DIR/syscalls.csv.
set -u -o pipefail
# shellcheck source=bench_lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

ITER=${1:-${ITER:-5000000}}
case $ITER in '' | *[!0-9]* | 0) die "ITER must be a positive integer" ;; esac
ALLOCATORS=${ALLOCATORS:-$ALL_ALLOCATORS}
WS_LIST=${WS_LIST:-256 8192}
SEED=${SEED:-1}
LARGE_ITER=${LARGE_ITER:-1000}
OUT_DIR=${OUT_DIR:-$BENCH_ROOT/build/bench}
CALLS="mmap munmap madvise brk mremap"

need_cmd strace strace || die "strace is required (Debian package 'strace')"
ensure_allocators $ALLOCATORS
need_bench_bins
bench_lock "$OUT_DIR"

STRACE_OPTS=(-f -c -e "trace=$(echo $CALLS | tr ' ' ',')")
# Stop only on the traced calls when strace can (much less overhead).
if strace --seccomp-bpf -f -c -o /dev/null -e trace=brk true >/dev/null 2>&1; then
    STRACE_OPTS+=(--seccomp-bpf)
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# count SO BENCH ITER WS: prints "mmap munmap madvise brk mremap" call counts.
count() {
    set_preload "$1"
    if ! strace "${STRACE_OPTS[@]}" -o "$TMP/strace" \
        "${PRELOAD[@]}" "$BENCH_BIN/$2" "$3" "$4" "$SEED" >"$TMP/out" 2>"$TMP/err"; then
        return 1
    fi
    grep -q '^Throughput = ' "$TMP/out" || return 1
    # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall
    awk -v want="$CALLS" '
        BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) c[w[i]] = 0 }
        $4 ~ /^[0-9]+$/ && ($NF in c) { c[$NF] = $4 }
        END { for (i = 1; i <= n; i++) printf "%s%s", c[w[i]], (i < n ? " " : "\n") }
    ' "$TMP/strace"
}

CSV=$OUT_DIR/syscalls.csv
echo "benchmark,allocator,ws,iter,phase,$(echo $CALLS | tr ' ' ',')" >"$CSV"

# table BENCH ITER UNIT WS...: one markdown table, calls per UNIT ops.
table() {
    local bench=$1 iter=$2 unit=$3 ws a so base full per
    shift 3
    per=$(awk -v i="$iter" -v u="$unit" 'BEGIN { printf "%.6f", 2 * i / u }')
    local uname=1M
    [ "$unit" = 1000 ] && uname=1k
    echo "$bench, $iter steps ($((2 * iter)) ops) per run, seed $SEED"
    echo
    echo "| allocator | WS | mmap /$uname ops | munmap /$uname ops | madvise /$uname ops | brk /$uname ops | mremap /$uname ops | total /$uname ops | calls outside the loop |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for ws in "$@"; do
        for a in $ALLOCATORS; do
            if ! so=$(allocator_so "$a"); then
                echo "| $a | $ws | missing | | | | | | |"
                continue
            fi
            log "syscalls: $bench $a ws=$ws"
            if ! base=$(count "$so" "$bench" 0 "$ws") || ! full=$(count "$so" "$bench" "$iter" "$ws"); then
                echo "| $a | $ws | FAIL | | | | | | |"
                log "  failed: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
                continue
            fi
            echo "$bench,$a,$ws,0,baseline,${base// /,}" >>"$CSV"
            echo "$bench,$a,$ws,$iter,full,${full// /,}" >>"$CSV"
            awk -v a="$a" -v ws="$ws" -v m="$per" -v b="$base" -v f="$full" 'BEGIN {
                n = split(b, B, " "); split(f, F, " "); row = "| " a " | " ws; tot = 0; btot = 0
                for (i = 1; i <= n; i++) {
                    d = F[i] - B[i]; if (d < 0) d = 0
                    row = row sprintf(" | %.3g", d / m); tot += d; btot += B[i]
                }
                printf "%s | %.3g | %d |\n", row, tot / m, btot
            }'
        done
    done
    echo
}

echo "Memory syscalls (steady state: full run minus a run with no steps), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
table random_mixed "$ITER" 1000000 $WS_LIST
if [ "$LARGE_ITER" -gt 0 ]; then
    table large_churn "$LARGE_ITER" 1000 32
fi
log "raw counts: $CSV"
