#!/usr/bin/env bash
# What hakmem's safety costs, measured in one interleaved run:
#   default    checks on (block start, double free), as shipped
#   unchecked  the same library without the double-free check (measurement
#              build; the block-start check stays: it is also what tells
#              free() that the pointer lies in the slab of its record)
#   hardened   libhakmem_hardened.so (encoded links, canaries, guard pages)
# on random_mixed (WS=256 and WS=8192) and larson (2 threads), RUNS times
# each (default 5), printing medians and ratios to the unchecked build, and
# the instructions per iteration under callgrind (exact, noise-free).
#   scripts/checks-cost.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-${RUNS:-5}}
make -s lib hardened unchecked bench-build >/dev/null
B=build/bench
declare -A LIBS=([default]=$PWD/build/libhakmem.so [unchecked]=$PWD/build/libhakmem_unchecked.so
                 [hardened]=$PWD/build/libhakmem_hardened.so)
ORDER=(unchecked default hardened)
WORKLOADS=("random_mixed 4000000 256 1" "random_mixed 4000000 8192 1" "larson 1 16 1024 1000 20 1 2")
declare -A RES
for w in "${WORKLOADS[@]}"; do
    for r in $(seq 1 "$RUNS"); do
        for v in "${ORDER[@]}"; do
            echo "  $w: $v run $r/$RUNS" >&2
            tp=$(LD_PRELOAD=${LIBS[$v]} $B/$w | sed -n 's/^Throughput = \([0-9]*\).*/\1/p')
            RES["$w|$v"]+="$tp "
        done
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '\n| workload | unchecked ops/s | default ops/s | default/unchecked | hardened ops/s | hardened/unchecked |\n|---|---:|---:|---:|---:|---:|\n'
for w in "${WORKLOADS[@]}"; do
    u=$(echo "${RES["$w|unchecked"]}" | median); d=$(echo "${RES["$w|default"]}" | median)
    h=$(echo "${RES["$w|hardened"]}" | median)
    printf '| %s | %s | %s | %.3fx | %s | %.3fx |\n' "$w" "$u" "$d" "$(echo "$d/$u" | bc -l)" "$h" "$(echo "$h/$u" | bc -l)"
done
if command -v valgrind >/dev/null; then
    printf '\nInstructions per random_mixed iteration (WS=256; callgrind, 1.2M - 0.2M iterations):\n'
    for v in "${ORDER[@]}"; do
        c() { LD_PRELOAD=${LIBS[$v]} valgrind --tool=callgrind --callgrind-out-file=/dev/null \
                $B/random_mixed "$1" 256 42 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
        a=$(c 200000); b=$(c 1200000)
        echo "  $v: $(( (b - a) / 1000000 ))"
    done
fi
