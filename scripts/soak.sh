#!/usr/bin/env bash
# shellcheck disable=SC2086  # lists of names (ALLOCATORS, ...) are split on purpose
# scripts/soak.sh -- long random_mixed run; RSS and throughput drift.
#
#   scripts/soak.sh [MINUTES]        (default 5)
#
# Runs `random_mixed ITER WS SEED --soak SECONDS --csv FILE` against each
# allocator (default hakmem only), one after the other. The benchmark
# repeats "fill WS slots, ITER random replacements, free everything" and
# writes a CSV row per second:
#   epoch_s,elapsed_s,iter,throughput_ops_s,peak_rss_mb,rss_mb
# (rss_mb is the current RSS from /proc/self/statm). The report compares the
# last minute with the first minute after the warm-up (the first minute,
# or 20% of the run when that is shorter; windows shrink likewise):
#   RSS drift        = mean rss_mb, last window / first window - 1
#   throughput drift = mean ops/s, last window / first window - 1
# and flags RSS growth above 5% or a throughput drop above 5%.
#
# Environment:
#   ALLOCATORS="..."  default: hakmem   (e.g. "hakmem mimalloc glibc")
#   WS=N              default: 400      slots
#   ITER=N            default: 20000000 steps per repetition
#   SEED=N            default: 1
#   OUT_DIR=dir       default: build/bench (soak_<allocator>.csv, soak.md)
set -u -o pipefail
# shellcheck source=bench_lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

MINUTES=${1:-${MINUTES:-5}}
awk -v m="$MINUTES" 'BEGIN { exit !(m + 0 > 0) }' || die "MINUTES must be a positive number"
SECONDS_TOTAL=$(awk -v m="$MINUTES" 'BEGIN { printf "%.0f", m * 60 }')
[ "$SECONDS_TOTAL" -ge 1 ] || SECONDS_TOTAL=1
ALLOCATORS=${ALLOCATORS:-hakmem}
WS=${WS:-400}
ITER=${ITER:-20000000}
SEED=${SEED:-1}
OUT_DIR=${OUT_DIR:-$BENCH_ROOT/build/bench}

need_cmd python3 python3 || die "python3 is required for the report"
ensure_allocators $ALLOCATORS
need_bench_bins
bench_lock "$OUT_DIR"

specs=()
status=0
for a in $ALLOCATORS; do
    if ! so=$(allocator_so "$a"); then
        log "soak: $a missing"
        [ "$a" = hakmem ] && log "  ($HAKMEM_SO not built; run 'make lib')"
        specs+=("$a=/nonexistent")
        status=1
        continue
    fi
    csv=$OUT_DIR/soak_$a.csv
    log "soak: $a for ${SECONDS_TOTAL}s (random_mixed $ITER $WS $SEED) -> $csv"
    set_preload "$so"
    "${PRELOAD[@]}" "$BENCH_BIN/random_mixed" "$ITER" "$WS" "$SEED" \
        --soak "$SECONDS_TOTAL" --csv "$csv" >"$OUT_DIR/soak_$a.out"
    rc=$?
    if [ "$rc" != 0 ]; then
        log "soak: $a FAILED (exit $rc)"
        status=1
    fi
    specs+=("$a=$csv")
done

{
    echo "Soak: random_mixed $ITER $WS $SEED, $MINUTES min per allocator, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    python3 "$BENCH_ROOT/scripts/bench_report.py" soak "${specs[@]}"
} | tee "$OUT_DIR/soak.md"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || status=1
exit "$status"
