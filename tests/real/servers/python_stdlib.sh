#!/usr/bin/env bash
# CPython's own regression tests for a handful of stdlib modules, with and
# without hakmem.
#
#   tests/real/servers/python_stdlib.sh LIB_SO
#
# Picks a python3 whose `test` package is installed (the one on PATH, else
# /usr/bin/python3, installing Debian's libpythonX.Y-testsuite if needed)
# and runs `python3 -m test` on those of these modules that exist:
#   test_json test_re test_collections test_heapq test_struct test_array
#   test_bisect test_dict test_list test_set test_sort test_deque
#   test_itertools test_functools test_pickle test_bytes test_string
#   test_tuple test_zlib
# four times: plain, LD_PRELOAD=LIB_SO, and both again with
# PYTHONMALLOC=malloc (every object allocation then goes to malloc, not to
# pymalloc's arenas). Each run must succeed, and the runs must agree: same
# result, same number of tests run and skipped, same failed/skipped modules.
# Prints PASS/FAIL lines and "N passed, N failed"; exit non-zero on failure.
# Environment: PY_TESTS="test_x test_y" overrides the module list,
# PY_TIMEOUT (seconds per run, default 600).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
srv_init python_stdlib "$@"
TIMEOUT=${PY_TIMEOUT:-600}

has_tests() { "$1" -c 'import test.support, test.libregrtest' >/dev/null 2>&1; }
PY=""
for cand in "$(command -v python3 2>/dev/null)" /usr/bin/python3; do
    [ -n "$cand" ] && [ -x "$cand" ] && has_tests "$cand" && { PY=$cand; break; }
done
if [ -z "$PY" ] && [ -x /usr/bin/python3 ]; then
    ver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    srv_apt "libpython$ver-testsuite"
    has_tests /usr/bin/python3 && PY=/usr/bin/python3
fi
if [ -z "$PY" ]; then
    srv_fail "no python3 with its test package (tried PATH and /usr/bin/python3)"
    srv_summary
    exit 1
fi
# pyenv shims are scripts that exec the real interpreter: resolve it so the
# preload applies to python, not only to the shim's shell
REAL_PY=$("$PY" -c 'import sys; print(sys.executable)')
echo "python_stdlib: $REAL_PY ($("$REAL_PY" -c 'import sys; print(sys.version.split()[0])'))"

WANT=${PY_TESTS:-"test_json test_re test_collections test_heapq test_struct test_array test_bisect
test_dict test_list test_set test_sort test_deque test_itertools test_functools test_pickle
test_bytes test_string test_tuple test_zlib"}
TESTS=()
for t in $WANT; do
    "$REAL_PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('test.$t') is None)" \
        2>/dev/null && TESTS+=("$t")
done
echo "python_stdlib: ${#TESTS[@]} test modules: ${TESTS[*]}"
[ ${#TESTS[@]} -gt 0 ] || { srv_fail "none of the test modules exists"; srv_summary; exit 1; }

# run NAME [ENV...]: runs the tests, extracts a comparable summary
declare -A SUMMARY
run() {
    local name=$1
    shift
    local out=$SRV_TMP/$name.txt rc
    (cd "$SRV_TMP" && timeout "$TIMEOUT" env "$@" PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
        "$REAL_PY" -m test --timeout 300 "${TESTS[@]}" </dev/null >"$out" 2>&1)
    rc=$?
    local result totals files failed
    result=$(grep -E '^Result: |^== Tests result: ' "$out" | tail -n 1 | sed 's/^== Tests result: /Result: /; s/ ==$//')
    totals=$(grep -E '^Total tests: ' "$out" | tail -n 1)
    files=$(grep -E '^Total test files: ' "$out" | tail -n 1)
    # names of failed / skipped modules, if any
    failed=$(grep -E '^[0-9]+ tests? (failed|skipped|altered|omitted)|^ +test_' "$out" | tr -s ' ' | tr '\n' ' ')
    SUMMARY[$name]="$result | $totals | $files | $failed"
    echo "    $name: rc=$rc $result; $totals; $files (${SECONDS}s)"
    if [ "$rc" -ne 0 ] || ! grep -qE 'Result: SUCCESS|Tests result: SUCCESS' "$out"; then
        srv_fail "$name: python3 -m test did not succeed (rc=$rc)"
        grep -E 'FAIL|ERROR|Error|hakmem' "$out" | head -20 | sed 's/^/      /'
        return 1
    fi
    srv_pass "$name: all ${#TESTS[@]} modules"
}

libname=$(basename "$(readlink -f "$LIB_SO")")
srv_check "$libname is loaded into $REAL_PY under LD_PRELOAD" \
    env LD_PRELOAD="$LIB_SO" "$REAL_PY" -c "import sys; sys.exit('$libname' not in open('/proc/self/maps').read())"
run plain
run hakmem LD_PRELOAD="$LIB_SO"
run plain-pymalloc-off PYTHONMALLOC=malloc
run hakmem-pymalloc-off LD_PRELOAD="$LIB_SO" PYTHONMALLOC=malloc
srv_check "same results with and without hakmem (pymalloc on)" \
    test "${SUMMARY[plain]}" = "${SUMMARY[hakmem]}"
srv_check "same results with and without hakmem (PYTHONMALLOC=malloc)" \
    test "${SUMMARY[plain-pymalloc-off]}" = "${SUMMARY[hakmem-pymalloc-off]}"
srv_summary
