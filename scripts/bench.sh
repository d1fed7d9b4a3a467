#!/usr/bin/env bash
# shellcheck disable=SC2086  # lists of names (ALLOCATORS, ...) are split on purpose
# scripts/bench.sh -- compare hakmem with glibc, mimalloc, jemalloc and
# tcmalloc on every benchmark.
#
#   scripts/bench.sh [--quick] [--runs N] [--extra]
#
# --extra runs the extra set instead of the default one: workloads shaped
# like the established allocator benchmarks (glibc simple/thread, Hoard's
# cache-thrash/cache-scratch, xmalloc-test, mstress, rptest/alloc-test,
# sh6bench/sh8bench, cfrac, espresso); its results go to build/bench/extra.
#
# Environment (all optional):
#   RUNS=N          runs per allocator and benchmark (default 5; quick: 1)
#   QUICK=1         short parameters and one run (same as --quick)
#   EXTRA=1         the extra set (same as --extra)
#   BENCHES="..."   subset of: rm_ws256 rm_ws8192 larson_t2 larson_t4
#                   prodcons realloc_growth large_churn
#                   or (any mix) of the extra set: x_simple_pair
#                   x_simple_batch x_simple_rand x_thread_t2 x_thread_t4
#                   x_cthrash x_cscratch x_xmalloc x_mstress x_rptest_t1
#                   x_rptest_t2 x_sh6 x_sh8 x_cfrac x_espresso
#   ALLOCATORS="..." subset of: hakmem glibc mimalloc jemalloc tcmalloc
#   HAKMEM_SO=path  hakmem library (default build/libhakmem.so)
#   RUN_TIMEOUT=S   seconds before a run counts as TIMEOUT (default 300)
#   PIN_CPU=N       CPU that single-threaded benchmarks are pinned to with
#                   taskset (default: the last one; PIN_CPU=none: no pinning).
#                   Unpinned, a run that the scheduler moves between CPUs on
#                   this VM comes out up to 1.6x slower, for every allocator.
#   OUT_DIR=dir     where results go (default build/bench; extra set:
#                   build/bench/extra)
#
# Runs are interleaved: for each benchmark, run 1 of every allocator, then
# run 2 of every allocator, and so on, so slow drifts of a noisy machine hit
# all allocators alike. Each run's peak RSS comes from /usr/bin/time.
#
# Output:
#   stdout                      the table of medians and ratios (markdown)
#   $OUT_DIR/results.csv        every run
#   $OUT_DIR/summary.md         the table again, with the run's metadata
#   $OUT_DIR/bench.png          throughput and peak-RSS chart (gnuplot)
#
# Missing allocators and failed runs are kept in the table ("missing",
# "CRASH", "WRONG", "FAIL", "TIMEOUT").
set -u -o pipefail
# shellcheck source=bench_lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

QUICK=${QUICK:-0}
RUNS=${RUNS:-}
EXTRA=${EXTRA:-0}
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --extra) EXTRA=1 ;;
    --runs) RUNS=$2; shift ;;
    --runs=*) RUNS=${1#--runs=} ;;
    -h | --help) awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done
[ "$QUICK" = 0 ] || [ "$QUICK" = 1 ] || QUICK=1
if [ -z "$RUNS" ]; then
    if [ "$QUICK" = 1 ]; then RUNS=1; else RUNS=5; fi
fi
case $RUNS in '' | *[!0-9]* | 0) die "RUNS must be a positive integer" ;; esac

[ "$EXTRA" = 0 ] || EXTRA=1
RUN_TIMEOUT=${RUN_TIMEOUT:-300}

# Single-threaded benchmarks run pinned to one CPU (see PIN_CPU above).
PIN_CPU=${PIN_CPU:-$(($(nproc) - 1))}
if [ "$PIN_CPU" != none ] && ! command -v taskset >/dev/null 2>&1; then
    log "taskset not found: single-threaded benchmarks run unpinned"
    PIN_CPU=none
fi
pin_prefix() {
    [ "$PIN_CPU" = none ] && return 0
    case $1 in
    rm_ws256 | rm_ws8192 | realloc_growth | large_churn | x_simple_pair | x_simple_batch | \
        x_simple_rand | x_cfrac | x_espresso) echo "taskset -c $PIN_CPU" ;;
    esac
}
ALLOCATORS=${ALLOCATORS:-$ALL_ALLOCATORS}
DEFAULT_BENCHES="rm_ws256 rm_ws8192 larson_t2 larson_t4 prodcons realloc_growth large_churn"
EXTRA_BENCHES="x_simple_pair x_simple_batch x_simple_rand x_thread_t2 x_thread_t4 x_cthrash
    x_cscratch x_xmalloc x_mstress x_rptest_t1 x_rptest_t2 x_sh6 x_sh8 x_cfrac x_espresso"
EXTRA_BENCHES=$(echo $EXTRA_BENCHES)
if [ "$EXTRA" = 1 ]; then
    ALL_BENCHES=$EXTRA_BENCHES
    OUT_DIR=${OUT_DIR:-$BENCH_ROOT/build/bench/extra}
else
    ALL_BENCHES=$DEFAULT_BENCHES
    OUT_DIR=${OUT_DIR:-$BENCH_ROOT/build/bench}
fi
BENCHES=${BENCHES:-$ALL_BENCHES}

# Benchmark command lines (binary and arguments), full and quick.
bench_cmd() {
    if [ "$QUICK" = 1 ]; then
        case $1 in
        rm_ws256) echo "random_mixed 2000000 256 1" ;;
        rm_ws8192) echo "random_mixed 2000000 8192 1" ;;
        larson_t2) echo "larson 0.3 16 1024 1000 20 1 2" ;;
        larson_t4) echo "larson 0.3 16 1024 1000 20 1 4" ;;
        prodcons) echo "prodcons 600000 1 1 1" ;;
        realloc_growth) echo "realloc_growth 500000 128 1" ;;
        large_churn) echo "large_churn 200 32 1" ;;
        x_simple_pair) echo "tight_loop pair 10000000 1 64 64 1 1" ;;
        x_simple_batch) echo "tight_loop batch 6000000 1 16 128 100 1" ;;
        x_simple_rand) echo "tight_loop random 2000000 1 16 512 8 1" ;;
        x_thread_t2) echo "tight_loop random 1000000 2 16 4096 64 1" ;;
        x_thread_t4) echo "tight_loop random 500000 4 16 4096 64 1" ;;
        x_cthrash) echo "false_sharing active 40000 2 8 500 1" ;;
        x_cscratch) echo "false_sharing passive 40000 2 8 500 1" ;;
        x_xmalloc) echo "xmalloc_test 0.3 4 16 128 256 1" ;;
        x_mstress) echo "mstress 8 10 20000 1" ;;
        x_rptest_t1) echo "rptest 0.3 1 4096 16 65536 16 1" ;;
        x_rptest_t2) echo "rptest 0.3 2 4096 16 65536 16 1" ;;
        x_sh6) echo "sh_bench 200 2 1 1000 4000 0 1" ;;
        x_sh8) echo "sh_bench 20 2 1 1000 4000 1 1" ;;
        x_cfrac) echo "small_churn cfrac 1000000 1" ;;
        x_espresso) echo "small_churn espresso 1000000 1" ;;
        esac
    else
        case $1 in
        rm_ws256) echo "random_mixed 40000000 256 1" ;;
        rm_ws8192) echo "random_mixed 30000000 8192 1" ;;
        larson_t2) echo "larson 1.5 16 1024 1000 20 1 2" ;;
        larson_t4) echo "larson 1.5 16 1024 1000 20 1 4" ;;
        prodcons) echo "prodcons 6000000 1 1 1" ;;
        realloc_growth) echo "realloc_growth 5000000 128 1" ;;
        large_churn) echo "large_churn 2000 32 1" ;;
        # the extra set: about 0.5-2 s each on a 2-core machine
        x_simple_pair) echo "tight_loop pair 100000000 1 64 64 1 1" ;;
        x_simple_batch) echo "tight_loop batch 60000000 1 16 128 100 1" ;;
        x_simple_rand) echo "tight_loop random 20000000 1 16 512 8 1" ;;
        x_thread_t2) echo "tight_loop random 10000000 2 16 4096 64 1" ;;
        x_thread_t4) echo "tight_loop random 5000000 4 16 4096 64 1" ;;
        x_cthrash) echo "false_sharing active 400000 2 8 500 1" ;;
        x_cscratch) echo "false_sharing passive 400000 2 8 500 1" ;;
        x_xmalloc) echo "xmalloc_test 2 4 16 128 256 1" ;;
        x_mstress) echo "mstress 8 100 20000 1" ;;
        x_rptest_t1) echo "rptest 2 1 4096 16 65536 16 1" ;;
        x_rptest_t2) echo "rptest 2 2 4096 16 65536 16 1" ;;
        x_sh6) echo "sh_bench 2000 2 1 1000 4000 0 1" ;;
        x_sh8) echo "sh_bench 200 2 1 1000 4000 1 1" ;;
        x_cfrac) echo "small_churn cfrac 10000000 1" ;;
        x_espresso) echo "small_churn espresso 10000000 1" ;;
        esac
    fi
}
for b in $BENCHES; do
    [ -n "$(bench_cmd "$b")" ] || die "unknown benchmark '$b' (known: $DEFAULT_BENCHES $EXTRA_BENCHES)"
done
for a in $ALLOCATORS; do
    case " $ALL_ALLOCATORS " in *" $a "*) ;; *) die "unknown allocator '$a' (known: $ALL_ALLOCATORS)" ;; esac
done

# ---- tools, peers, binaries ------------------------------------------------
need_time || die "/usr/bin/time is required (Debian package 'time')"
need_cmd timeout coreutils || die "timeout (coreutils) is required"
need_cmd python3 python3 || die "python3 is required for the report"
need_cmd gnuplot gnuplot-nox || log "warning: gnuplot unavailable, no chart"
prepare_runs "$OUT_DIR" $ALLOCATORS

# ---- metadata --------------------------------------------------------------
CMDLINE="RUNS=$RUNS QUICK=$QUICK"
[ "$EXTRA" = 0 ] || CMDLINE+=" EXTRA=1"
[ "$ALLOCATORS" = "$ALL_ALLOCATORS" ] || CMDLINE+=" ALLOCATORS=\"$ALLOCATORS\""
[ "$BENCHES" = "$ALL_BENCHES" ] || CMDLINE+=" BENCHES=\"$BENCHES\""
CMDLINE+=" scripts/bench.sh"
META=$TMP/meta.txt
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "command: $CMDLINE"
    machine_meta
    echo "runs: $RUNS per allocator and benchmark, interleaved"
    echo "pinning: single-threaded benchmarks on CPU $PIN_CPU (taskset)"
    for b in $BENCHES; do echo "bench $b: $(bench_cmd "$b")"; done
} >"$META"

# ---- runs ------------------------------------------------------------------
# Results are written to $TMP and published when all runs are done, so an
# interrupted run leaves the previous results in place.

CSV=$TMP/results.csv
echo "benchmark,allocator,run,status,throughput_ops_s,peak_rss_kb,wall_s,exit_code,command" >"$CSV"

nb=$(echo $BENCHES | wc -w)
na=$(echo $ALLOCATORS | wc -w)
total=$((nb * na * RUNS))
done_runs=0
start_s=$(date +%s)

for b in $BENCHES; do
    cmd=$(bench_cmd "$b")
    for ((k = 1; k <= RUNS; k++)); do
        for a in $ALLOCATORS; do
            done_runs=$((done_runs + 1))
            prefix="[$done_runs/$total] $b  $a  run $k/$RUNS"
            if [ "${AVAILABLE[$a]}" != 1 ]; then
                echo "$b,$a,$k,missing,,,,,\"$cmd\"" >>"$CSV"
                log "$prefix: missing"
                continue
            fi
            set_preload "${SO[$a]}"
            {
                # shellcheck disable=SC2046  # pin_prefix: zero or three words
                /usr/bin/time -o "$TMP/time" -f '%M %e' \
                    timeout -k 10 "$RUN_TIMEOUT" $(pin_prefix "$b") "${PRELOAD[@]}" \
                    "$BENCH_BIN/"$cmd >"$TMP/out" 2>"$TMP/err"
                rc=$?
            } 2>/dev/null
            read -r rss wall < <(tail -n1 "$TMP/time" 2>/dev/null) || true
            tp=$(sed -n 's/^Throughput = \([0-9][0-9]*\) ops\/s.*/\1/p' "$TMP/out" | head -n1)
            if grep -q 'VERIFY FAILED' "$TMP/err"; then
                status=WRONG
            elif [ "$rc" = 124 ] || { [ "$rc" = 137 ] &&
                awk -v w="${wall:-0}" -v t="$RUN_TIMEOUT" 'BEGIN{exit !(w >= t)}'; }; then
                status=TIMEOUT
            elif [ "$rc" -gt 128 ]; then
                status=CRASH
            elif [ "$rc" != 0 ] || grep -q 'cannot be preloaded' "$TMP/err"; then
                status=FAIL
            elif [ -z "$tp" ] || [ "$tp" = 0 ]; then
                status=FAIL
            else
                status=ok
            fi
            [ "$status" = ok ] || tp=""
            echo "$b,$a,$k,$status,$tp,${rss:-},${wall:-},$rc,\"$cmd\"" >>"$CSV"
            if [ "$status" = ok ]; then
                log "$prefix: $(awk -v t="$tp" -v r="${rss:-0}" 'BEGIN {
                    if (t >= 1e6) s = sprintf("%.2fM", t / 1e6); else if (t >= 1e3) s = sprintf("%.1fk", t / 1e3); else s = t
                    printf "%s ops/s, peak RSS %.1f MB", s, r / 1024 }')"
            else
                log "$prefix: $status (exit $rc): $(head -c 300 "$TMP/err" | tr '\n' ' ')"
            fi
        done
    done
done
cp "$CSV" "$META" "$OUT_DIR/" || die "cannot write $OUT_DIR"
CSV=$OUT_DIR/results.csv
META=$OUT_DIR/meta.txt
log "runs finished in $(($(date +%s) - start_s)) s; raw results: $CSV"

# ---- report ----------------------------------------------------------------
rm -f "$OUT_DIR/bench.gp" "$OUT_DIR/bench.png"
python3 "$BENCH_ROOT/scripts/bench_report.py" table "$CSV" \
    --allocators "$ALLOCATORS" --benches "$BENCHES" --meta "$META" \
    --md "$OUT_DIR/summary.md" --gnuplot "$OUT_DIR/bench.gp" --png "$OUT_DIR/bench.png" ||
    die "report failed"
if [ -f "$OUT_DIR/bench.gp" ] && command -v gnuplot >/dev/null 2>&1; then
    if (cd "$OUT_DIR" && gnuplot bench.gp); then
        log "chart: $OUT_DIR/bench.png"
    else
        log "warning: gnuplot failed; no chart"
    fi
fi
log "summary: $OUT_DIR/summary.md"
