#!/usr/bin/env bash
# shellcheck disable=SC2086  # lists of names (ALLOCATORS, ...) are split on purpose
# scripts/latency.sh -- tail latency of malloc and free: hakmem against
# glibc, mimalloc, jemalloc and tcmalloc, in interleaved rounds.
#
#   scripts/latency.sh [--rounds N]
#
# A round runs `random_mixed ITER WS SEED --latency` once per allocator,
# pinned to one CPU. The order of the allocators moves by one place each
# round, so that none always runs first or right after the same one.
# The report gives, per allocator, the median over the rounds of each
# percentile (p50, p90, p99, p99.9) of malloc and of free, then every
# round's p99 and p99.9, then hakmem against the best peer for each p99 and
# p99.9: the peers' lowest median, and in how many rounds hakmem was at or
# below the best peer of that round.
#
# The figures are the benchmark's: TSC ticks around each call, timer
# overhead (about 10 ns here) included, in a histogram of about 3 %
# resolution, so two figures one bucket apart are not a difference.
#
# Environment (all optional):
#   ROUNDS=N          rounds (default 5)
#   LAT_ARGS="..."    random_mixed's ITER WS SEED (default "2000000 8192 1")
#   ALLOCATORS="..."  subset of: hakmem glibc mimalloc jemalloc tcmalloc
#   HAKMEM_SO=path    hakmem library (default build/libhakmem.so)
#   PIN_CPU=N         CPU the runs are pinned to (default: the last one;
#                     none: unpinned)
#   RUN_TIMEOUT=S     seconds before a run counts as TIMEOUT (default 120)
#   OUT_DIR=dir       where results go (default build/bench)
#
# Output:
#   stdout                   the tables (markdown)
#   $OUT_DIR/latency.csv     every run: round, allocator, status, operation,
#                            p50, p90, p99, p99.9, max (ns)
#   $OUT_DIR/latency.md      the tables again, with the run's metadata
set -u -o pipefail
# shellcheck source=bench_lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

ROUNDS=${ROUNDS:-5}
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=${2:-}; shift ;;
    --rounds=*) ROUNDS=${1#--rounds=} ;;
    -h | --help) awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done
case $ROUNDS in '' | *[!0-9]* | 0) die "ROUNDS must be a positive integer" ;; esac
LAT_ARGS=${LAT_ARGS:-2000000 8192 1}
case $LAT_ARGS in *[!0-9\ ]* | '') die "LAT_ARGS must be random_mixed's numbers ITER WS SEED" ;; esac
ALLOCATORS=${ALLOCATORS:-$ALL_ALLOCATORS}
for a in $ALLOCATORS; do
    case " $ALL_ALLOCATORS " in *" $a "*) ;; *) die "unknown allocator '$a' (known: $ALL_ALLOCATORS)" ;; esac
done
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
OUT_DIR=${OUT_DIR:-$BENCH_ROOT/build/bench}
PIN_CPU=${PIN_CPU:-$(($(nproc) - 1))}
if [ "$PIN_CPU" != none ] && ! command -v taskset >/dev/null 2>&1; then
    log "taskset not found: runs are unpinned"
    PIN_CPU=none
fi
PIN=()
[ "$PIN_CPU" = none ] || PIN=(taskset -c "$PIN_CPU")

need_cmd timeout coreutils || die "timeout (coreutils) is required"
need_cmd python3 python3 || die "python3 is required for the report"
prepare_runs "$OUT_DIR" $ALLOCATORS

META=$TMP/meta.txt
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "command: ROUNDS=$ROUNDS LAT_ARGS=\"$LAT_ARGS\" scripts/latency.sh"
    machine_meta
    echo "workload: random_mixed $LAT_ARGS --latency, pinned to CPU $PIN_CPU"
    echo "rounds: $ROUNDS, the allocators' order moving by one place each round"
} >"$META"

CSV=$TMP/latency.csv
echo "round,allocator,status,op,p50,p90,p99,p999,max" >"$CSV"
read -r -a ORDER <<<"$ALLOCATORS"
na=${#ORDER[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < na; i++)); do
        a=${ORDER[$(((i + r - 1) % na))]}
        if [ "${AVAILABLE[$a]}" != 1 ]; then
            echo "$r,$a,missing,,,,,," >>"$CSV"
            continue
        fi
        set_preload "${SO[$a]}"
        {
            timeout -k 10 "$RUN_TIMEOUT" "${PIN[@]}" "${PRELOAD[@]}" \
                "$BENCH_BIN/random_mixed" $LAT_ARGS --latency >"$TMP/out" 2>"$TMP/err"
            rc=$?
        } 2>/dev/null
        status=ok
        if grep -q 'VERIFY FAILED' "$TMP/err"; then
            status=WRONG
        elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            status=TIMEOUT
        elif [ "$rc" -gt 128 ]; then
            status=CRASH
        elif [ "$rc" != 0 ]; then
            status=FAIL
        fi
        rows=$(sed -n 's/^Latency \(malloc\|free\) *ns: p50=\([0-9]*\) p90=\([0-9]*\) p99=\([0-9]*\) p99\.9=\([0-9]*\) max=\([0-9]*\) .*/\1,\2,\3,\4,\5,\6/p' "$TMP/out")
        if [ "$status" = ok ] && [ "$(printf '%s\n' "$rows" | grep -c .)" != 2 ]; then
            status=FAIL
        fi
        if [ "$status" = ok ]; then
            printf '%s\n' "$rows" | sed "s/^/$r,$a,ok,/" >>"$CSV"
            log "round $r/$ROUNDS $a: $(printf '%s' "$rows" | tr '\n' ' ')"
        else
            echo "$r,$a,$status,,,,,," >>"$CSV"
            log "round $r/$ROUNDS $a: $status (exit $rc)"
            head -n 3 "$TMP/err" | sed 's/^/    /' >&2
        fi
    done
done

python3 "$BENCH_ROOT/scripts/bench_report.py" latency "$CSV" --allocators "$ALLOCATORS" >"$TMP/table.md" ||
    die "report failed"
mkdir -p "$OUT_DIR"
cp "$CSV" "$OUT_DIR/latency.csv"
{
    echo "# Latency: random_mixed $LAT_ARGS --latency"
    echo
    sed 's/^/    /' "$META"
    echo
    cat "$TMP/table.md"
} >"$OUT_DIR/latency.md"
cat "$TMP/table.md"
log "results: $OUT_DIR/latency.csv, $OUT_DIR/latency.md"
