#!/usr/bin/env bash
# shellcheck disable=SC2086  # lists of names (ALLOCATORS, ...) are split on purpose
# scripts/bench_smoke.sh -- every benchmark briefly, on hakmem and glibc.
#
#   scripts/bench_smoke.sh [--extra]
#
# --extra: the extra set (tight_loop, false_sharing, xmalloc_test, mstress,
# rptest, sh_bench, small_churn) instead of the default benchmarks.
#
# Fails when a run crashes, exits non-zero, or does not print a proper
# result (a "Throughput = N ops/s" line with N > 0, the latency lines in
# latency mode, CSV rows in soak mode). No timing is asserted.
# Then checks that the benchmarks' own verification works: each one run on
# build/bench/libfaulty_malloc.so (which hands out overlapping blocks) must
# stop with "VERIFY FAILED".
#
# Environment:
#   SMOKE_ALLOCATORS  allocators to run (default "hakmem glibc"); hakmem
#                     must be built (HAKMEM_SO, default build/libhakmem.so)
#   SMOKE_TIMEOUT     seconds per run before it counts as hung (default 60)
set -u -o pipefail
# shellcheck source=bench_lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

EXTRA=0
case ${1:-} in
--extra) EXTRA=1 ;;
'') ;;
*) die "unknown argument: $1 (usage: bench_smoke.sh [--extra])" ;;
esac
ALLOCS=${SMOKE_ALLOCATORS:-hakmem glibc}
TIMEOUT_S=${SMOKE_TIMEOUT:-60}
need_cmd timeout coreutils || die "timeout (coreutils) is required"
ensure_allocators $ALLOCS
need_bench_bins
[ -f "$BENCH_BIN/libfaulty_malloc.so" ] ||
    make -s -C "$BENCH_ROOT" -f bench/bench.mk bench-build >&2 || die "benchmark build failed"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
failures=()

# Brief runs: name|command (binary and arguments)|extra check
CASES=(
    "random_mixed ws256|random_mixed 300000 256 1|"
    "random_mixed ws8192|random_mixed 300000 8192 2|"
    "random_mixed tiny sizes|random_mixed 200000 1000 3 --min 1 --max 64|"
    "random_mixed 1-32KiB|random_mixed 50000 512 4 --min 1 --max 32768|"
    "random_mixed latency|random_mixed 200000 1024 5 --latency|latency"
    "random_mixed soak|random_mixed 100000 400 6 --soak 1 --csv @CSV@|soak"
    "larson 2 threads|larson 0.2 16 1024 500 5 1 2|"
    "larson 4 threads|larson 0.2 8 4096 300 3 2 4|"
    "prodcons 1x1|prodcons 300000 1 1 1|"
    "prodcons 2x2|prodcons 200000 2 2 2|"
    "realloc_growth|realloc_growth 200000 64 1|"
    "large_churn|large_churn 40 8 1 --max 2097152|"
)
# The programs the faulty allocator must be caught by.
FAULTY_CMDS=("random_mixed 200000 256 1" "random_mixed 200000 8192 1"
    "larson 0.3 16 1024 500 5 1 2" "prodcons 200000 1 1 1"
    "realloc_growth 200000 64 1" "large_churn 40 8 1 --max 2097152")
if [ "$EXTRA" = 1 ]; then
    CASES=(
        "tight_loop pair|tight_loop pair 300000 1 64 64|"
        "tight_loop batch|tight_loop batch 300000 1 16 128 100|"
        "tight_loop random 1 thread|tight_loop random 300000 1 16 512 8|"
        "tight_loop random 3 threads|tight_loop random 100000 3 1 4096 64 2|"
        "false_sharing active|false_sharing active 2000 2 8 50|"
        "false_sharing passive|false_sharing passive 2000 3 8 50|"
        "xmalloc_test 4 threads|xmalloc_test 0.2 4 16 128 256|"
        "xmalloc_test 1 thread|xmalloc_test 0.1 1 1 4096 64|"
        "mstress|mstress 4 3 5000|"
        "rptest 1 thread|rptest 0.2 1 1024|"
        "rptest 2 threads|rptest 0.2 2 1024 16 65536 4|"
        "sh_bench sh6|sh_bench 3 2 1 1000 2000 0|"
        "sh_bench sh8|sh_bench 3 3 1 1000 2000 1|"
        "small_churn cfrac|small_churn cfrac 200000|"
        "small_churn espresso|small_churn espresso 200000|"
    )
    # (false_sharing keeps a single block per thread: nothing to overlap)
    FAULTY_CMDS=("tight_loop batch 300000 1 16 128 100" "tight_loop random 300000 1 16 512 8"
        "xmalloc_test 0.2 2 16 128 64" "mstress 2 2 5000" "rptest 0.2 2 1024"
        "sh_bench 3 2 1 1000 2000 1" "small_churn cfrac 200000" "small_churn espresso 200000")
fi

pass() {
    passed=$((passed + 1))
    log "  ok    $1"
}
fail() {
    failed=$((failed + 1))
    failures+=("$1: $2")
    log "  FAIL  $1: $2"
    [ -s "$TMP/err" ] && head -n 5 "$TMP/err" | sed 's/^/        /' >&2
    return 0
}

# check_output NAME EXTRA CSVFILE: validates $TMP/out for a finished run.
check_output() {
    local name=$1 extra=$2 csvf=$3
    local tp
    tp=$(sed -n 's/^Throughput = \([0-9][0-9]*\) ops\/s .*time=[0-9.]*s$/\1/p' "$TMP/out" | head -n1)
    if [ -z "$tp" ] || [ "$tp" = 0 ]; then
        fail "$name" "no valid 'Throughput = N ops/s ... time=Ts' line"
        return
    fi
    case $extra in
    latency)
        if ! grep -Eq '^Latency malloc +ns: p50=[0-9]+ p90=[0-9]+ p99=[0-9]+ p99\.9=[0-9]+ max=[0-9]+ n=[1-9]' "$TMP/out" ||
            ! grep -Eq '^Latency free +ns: p50=[0-9]+ .* n=[1-9]' "$TMP/out"; then
            fail "$name" "latency lines missing or malformed"
            return
        fi
        ;;
    soak)
        if [ "$(head -n1 "$csvf")" != "epoch_s,elapsed_s,iter,throughput_ops_s,peak_rss_mb,rss_mb" ] ||
            [ "$(wc -l <"$csvf")" -lt 2 ] ||
            ! tail -n1 "$csvf" | grep -Eq '^[0-9.]+,[0-9.]+,[0-9]+,[0-9]+,[0-9.]+,[0-9.]+$'; then
            fail "$name" "soak CSV missing or malformed"
            return
        fi
        ;;
    esac
    if [ "$(wc -l <"$TMP/out")" -gt 1 ] && [ -z "$extra" ]; then
        fail "$name" "more than one line on stdout"
        return
    fi
    pass "$name"
}

for a in $ALLOCS; do
    if ! so=$(allocator_so "$a"); then
        if [ "$a" = hakmem ]; then
            fail "$a" "$HAKMEM_SO not found (run 'make lib')"
        else
            fail "$a" "allocator not available"
        fi
        continue
    fi
    log "== $a ${so:+($so)}"
    for c in "${CASES[@]}"; do
        IFS='|' read -r name cmd extra <<<"$c"
        csvf=$TMP/soak.csv
        rm -f "$csvf"
        cmd=${cmd//@CSV@/$csvf}
        set_preload "$so"
        # (the braces keep the shell's own "Aborted" notice off the terminal)
        {
            timeout -k 5 "$TIMEOUT_S" "${PRELOAD[@]}" "$BENCH_BIN/"$cmd >"$TMP/out" 2>"$TMP/err"
            rc=$?
        } 2>/dev/null
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            fail "$a $name" "timed out after ${TIMEOUT_S}s"
        elif grep -q 'VERIFY FAILED' "$TMP/err"; then
            fail "$a $name" "verification failed (allocator returned bad memory)"
        elif [ "$rc" -gt 128 ]; then
            fail "$a $name" "killed by signal $((rc - 128))"
        elif [ "$rc" != 0 ]; then
            fail "$a $name" "exit status $rc"
        else
            check_output "$a $name" "$extra" "$csvf"
        fi
    done
done

# The checks must catch an allocator that hands out overlapping blocks.
log "== faulty allocator (every benchmark must detect it)"
FAULTY=$BENCH_BIN/libfaulty_malloc.so
for cmd in "${FAULTY_CMDS[@]}"; do
    set_preload "$FAULTY"
    {
        FAULTY_EVERY=20 timeout -k 5 "$TIMEOUT_S" "${PRELOAD[@]}" "$BENCH_BIN/"$cmd \
            >"$TMP/out" 2>"$TMP/err"
        rc=$?
    } 2>/dev/null
    if [ "$rc" != 0 ] && grep -q 'VERIFY FAILED' "$TMP/err"; then
        pass "faulty: ${cmd%% *} detects overlap"
    else
        fail "faulty: $cmd" "overlapping blocks not detected (exit $rc)"
    fi
done

# The latency comparison script: one short round, its report complete.
if [ "$EXTRA" = 0 ]; then
    log "== scripts/latency.sh (one short round)"
    lat_allocs=$(for a in $ALLOCS; do allocator_so "$a" >/dev/null && printf '%s ' "$a"; done)
    # hakmem against a peer: a verdict row for malloc and free, p99 and p99.9
    verdicts=0
    case " $lat_allocs" in *" hakmem "*) [ "$(echo $lat_allocs | wc -w)" -gt 1 ] && verdicts=4 ;; esac
    if {
        ROUNDS=1 LAT_ARGS="100000 1024 7" ALLOCATORS="$lat_allocs" OUT_DIR=$TMP/lat \
            RUN_TIMEOUT=$TIMEOUT_S "$BENCH_ROOT/scripts/latency.sh" >"$TMP/out" 2>"$TMP/err"
    } && [ "$(grep -c '^| \(malloc\|free\) p99' "$TMP/out")" = "$verdicts" ] &&
        [ "$(grep -c ',ok,' "$TMP/lat/latency.csv")" = $((2 * $(echo $lat_allocs | wc -w))) ]; then
        pass "latency.sh: a row per allocator and operation, $verdicts verdict rows"
    else
        fail "latency.sh" "no complete report (see its output)"
        head -n 20 "$TMP/out" | sed 's/^/        /' >&2
    fi
fi

if [ "$failed" -gt 0 ]; then
    log ""
    log "failures:"
    for f in "${failures[@]}"; do log "  $f"; done
fi
echo "bench-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
