#!/usr/bin/env bash
# Runs the stress programs under each library.
#
#   tests/stress/run.sh BINDIR LIB_SO...
#
# BINDIR holds the built programs (stress, purge_race, fork_storm,
# thread_churn, dlopen_churn, oom; see tests/reliability.mk). Each LIB_SO
# is preloaded in turn; the word "glibc" instead of a path runs without a
# preload (a baseline for the programs themselves).
#
# Cases (a few seconds each; every run is bounded by STRESS_TIMEOUT, default
# 300 s):
#   stress        4 threads, scale 50, 10 rounds (threads replaced each round)
#   stress-eager  the same with memory returned at once (HAKMEM_PURGE_DELAY_MS=0
#                 HAKMEM_WARM_POOL=0 HAKMEM_SS_CACHE=0 HAKMEM_LARGE_CACHE=0
#                 HAKMEM_TCACHE_BYTES=1024), 4 threads, scale 20, 6 rounds
#   purge_race    5 s, same eager settings
#   fork_storm    60 forks while 2 threads allocate
#   thread_churn  10000 threads in batches of 4, peak RSS < 100 MiB
#   dlopen_churn  100 rounds of dlopen/use/dlclose of 6 libraries, 2 threads
#   oom           RLIMIT_AS exhaustion and absurd requests
# Prints one PASS/FAIL line per case and library (with the program's own
# summary line) and "N passed, N failed"; exit non-zero on failure.
# Environment: STRESS_ONLY="case ..." runs only those cases.
set -u
if [ $# -lt 2 ]; then
    echo "usage: $0 BINDIR LIB_SO|glibc..." >&2
    exit 2
fi
BINDIR=$1
shift
TIMEOUT=${STRESS_TIMEOUT:-300}
for v in $(compgen -e | grep '^HAKMEM_' || true); do unset "$v"; done
unset LD_PRELOAD

EAGER="HAKMEM_PURGE_DELAY_MS=0 HAKMEM_WARM_POOL=0 HAKMEM_SS_CACHE=0 HAKMEM_LARGE_CACHE=0 HAKMEM_TCACHE_BYTES=1024"
# name | environment | program and arguments
CASES=(
"stress||stress 4 50 10"
"stress-eager|$EAGER|stress 4 20 6 7"
"purge_race|$EAGER|purge_race 5"
"fork_storm||fork_storm 60 2"
"thread_churn||thread_churn 10000 4 100"
"dlopen_churn||dlopen_churn 100 2"
"oom||oom 256"
)

pass=0
fail=0
failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for lib in "$@"; do
    if [ "$lib" = glibc ]; then
        libname=glibc
        pre=()
    else
        if [ ! -f "$lib" ]; then
            echo "FAIL $lib: not found"
            fail=$((fail + 1))
            continue
        fi
        lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
        libname=$(basename "$lib" .so)
        pre=("LD_PRELOAD=$lib")
    fi
    for c in "${CASES[@]}"; do
        name=${c%%|*}
        rest=${c#*|}
        envs=${rest%%|*}
        cmd=${rest#*|}
        if [ -n "${STRESS_ONLY:-}" ] && ! grep -qw -- "$name" <<<"$STRESS_ONLY"; then
            continue
        fi
        prog=${cmd%% *}
        if [ ! -x "$BINDIR/$prog" ]; then
            echo "FAIL $name [$libname]: $BINDIR/$prog not built"
            fail=$((fail + 1))
            failures+=("$name [$libname]")
            continue
        fi
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        {
            (ulimit -c 0; exec timeout -s KILL "$TIMEOUT" env "${pre[@]}" $envs \
                "$BINDIR/$prog" ${cmd#"$prog"} </dev/null >"$log" 2>&1)
            rc=$?
        } 2>/dev/null
        secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        summary=$(grep -E "^$prog: " "$log" | tail -n 1)
        [ -n "$summary" ] || summary=$(tail -n 1 "$log")
        if [ "$rc" -eq 0 ]; then
            pass=$((pass + 1))
            echo "PASS $name [$libname] (${secs}s): $summary"
        else
            fail=$((fail + 1))
            failures+=("$name [$libname]")
            case $rc in
                137) why="killed after ${TIMEOUT}s (hang?)" ;;
                134) why="SIGABRT" ;;
                139) why="SIGSEGV" ;;
                *) why="exit $rc" ;;
            esac
            echo "FAIL $name [$libname] (${secs}s, $why): $summary"
            grep -v "^$prog: .*OK$" "$log" | tail -n 15 | sed 's/^/    /'
        fi
    done
done
if [ ${#failures[@]} -gt 0 ]; then
    echo "failed: ${failures[*]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
