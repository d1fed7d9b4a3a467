#!/usr/bin/env bash
# The main job, for a newcomer: build hakmem, run a real program under it
# with its statistics shown, then compare it with glibc, mimalloc, jemalloc
# and tcmalloc on the benchmark suite (medians of RUNS interleaved runs)
# and on the tail latency of malloc and free (ROUNDS interleaved rounds).
#   scripts/demo.sh            (make demo)     RUNS=3 and ROUNDS=5 by default here
# (the latency verdicts need five rounds on a noisy machine: with three, one
# slow spell can decide them)
set -euo pipefail
cd "$(dirname "$0")/.."
LIB="$PWD/build/libhakmem.so"
[ -e "$LIB" ] || make lib

echo "== 1. A real program under hakmem: python3 building and sorting a large dict, with HAKMEM_STATS=1"
PY=$(python3 -c "import sys; print(sys.executable)")  # the real binary, not a wrapper script
prog='import json, collections
d = {str(i): [i] * (i % 17) for i in range(200000)}
c = collections.Counter(len(v) for v in d.values())
s = json.dumps(sorted(c.items()))
print("python3 result:", len(d), s[:60])'
echo "-- without hakmem:"
"$PY" -c "$prog"
echo "-- with LD_PRELOAD=$LIB (statistics on stderr):"
HAKMEM_STATS=1 LD_PRELOAD="$LIB" "$PY" -c "$prog"

echo
echo "== 2. The benchmark comparison (make bench RUNS=${RUNS:-3})"
make --no-print-directory bench RUNS="${RUNS:-3}"

echo
echo "== 3. Tail latency of malloc and free (make bench-latency ROUNDS=${ROUNDS:-5})"
make --no-print-directory bench-latency ROUNDS="${ROUNDS:-5}"
