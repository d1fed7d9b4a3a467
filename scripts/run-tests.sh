#!/usr/bin/env bash
# Runs every test suite of `make test` in turn, shows each one's output, and
# ends with one summary line "N passed, N failed" (the sums of the suites'
# own summary lines; a suite that fails without one counts as one failure).
# Usage: scripts/run-tests.sh TARGET...   (make targets, each printing a
# final "N passed, N failed" line)
set -u
cd "$(dirname "$0")/.."
total_pass=0
total_fail=0
failed_suites=()
for target in "$@"; do
    echo "=== make $target"
    log=$(mktemp)
    make --no-print-directory "$target" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^([A-Za-z0-9_-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    rm -f "$log"
    if [ -n "$line" ]; then
        p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
        f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
    else
        p=0; f=0
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    [ "$rc" -ne 0 ] && failed_suites+=("$target")
    echo "=== make $target: $p passed, $f failed (exit $rc)"
done
if [ ${#failed_suites[@]} -gt 0 ]; then
    echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ ${#failed_suites[@]} -eq 0 ]
