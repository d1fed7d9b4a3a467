#!/usr/bin/env bash
# Runs the cmocka unit-test programs DIR/test_NAME for each NAME given, shows
# their output, and ends with the line "N passed, N failed" (cmocka tests
# summed over the programs). A program that dies before cmocka reports (a
# crash, a sanitizer report with halt_on_error) counts its unfinished test as
# failed, or one failure if it ran none. Exit status 1 if anything failed.
#
#   tests/unit/run.sh build/unit sizeclass registry ...
#
# UNIT_SPLIT=1 runs every test in a process of its own (test_NAME --list
# gives the names): under a sanitizer that stops at its first report, one
# report then costs one test, not the rest of the program.
# HAKMEM_* variables are removed from the environment: the tests expect the
# defaults and set what they need themselves. UNIT_TIMEOUT (seconds, default
# 900) bounds each process.
set -u
dir=$1
shift
for v in $(compgen -e); do
    case $v in HAKMEM_*) unset "$v" ;; esac
done
timeout_s=${UNIT_TIMEOUT:-900}
split=${UNIT_SPLIT:-0}
total_pass=0
total_fail=0
failed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_one LABEL BIN [ARGS...]: runs, shows the output, adds up the results.
run_one() {
    local label=$1
    shift
    timeout -k 10 "$timeout_s" "$@" >"$log" 2>&1
    local rc=$?
    cat "$log"
    local runs oks skips fails
    runs=$(grep -c '^\[ RUN      \]' "$log")
    oks=$(grep -c '^\[       OK \]' "$log")
    skips=$(grep -c '^\[  SKIPPED \]' "$log")
    fails=$((runs - oks - skips))
    if [ "$rc" -ne 0 ] && [ "$fails" -le 0 ]; then
        fails=1
    fi
    if [ "$rc" -ne 0 ] || [ "$fails" -gt 0 ]; then
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            echo "$label: timed out after ${timeout_s}s"
        elif [ "$rc" -gt 128 ]; then
            echo "$label: killed by signal $((rc - 128))"
        fi
        echo "$label: exit status $rc, $oks passed, $fails failed"
        failed+=("$label")
    fi
    total_pass=$((total_pass + oks))
    total_fail=$((total_fail + fails))
}

for name in "$@"; do
    bin="$dir/test_$name"
    echo "==== test_$name"
    if [ ! -x "$bin" ]; then
        echo "missing: $bin"
        total_fail=$((total_fail + 1))
        failed+=("test_$name(missing)")
        continue
    fi
    if [ "$split" = 1 ]; then
        names=$("$bin" --list) || names=""
        if [ -z "$names" ]; then
            echo "test_$name --list gave no test names"
            total_fail=$((total_fail + 1))
            failed+=("test_$name(--list)")
            continue
        fi
        for t in $names; do
            run_one "test_$name:$t" "$bin" "$t"
        done
    else
        run_one "test_$name" "$bin"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
