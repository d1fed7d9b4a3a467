#!/usr/bin/env bash
# Runs the integration test programs built into ITEST_DIR.
#
#   tests/integration/run.sh ITEST_DIR HAKMEM_SO
#
# Each program in TESTS runs twice: plainly (the system allocator) and with
# LD_PRELOAD=HAKMEM_SO; a few run under hakmem a third or fourth time with
# statistics on ([preload+stats]) or with all caches off ([preload+tight]).
# `linked` (dynamically linked with -lhakmem) and
# `static` (libhakmem.a linked in) run only as they are, with statistics off
# and with HAKMEM_STATS=1.  Pass HAKMEM_SO=none to run only the plain runs.
#
# Prints "PASS name [mode]" / "FAIL name [mode]" per run (with the program's
# output and, for a crash, a gdb backtrace after a FAIL), then a final line
# "N passed, N failed".  Exits 1 if anything failed.
#
# Environment: ITEST_TIMEOUT (seconds per run, default 120),
#              ITEST_GDB=0 to skip the backtrace on crashes,
#              ITEST_ONLY="name ..." to run a subset,
#              ITEST_EXTRA=0 to skip the [preload+stats]/[preload+tight] runs.
set -u

ITEST_DIR=${1:?usage: run.sh ITEST_DIR HAKMEM_SO|none}
HAKMEM_SO=${2:?usage: run.sh ITEST_DIR HAKMEM_SO|none}
TIMEOUT=${ITEST_TIMEOUT:-120}
LOG_DIR="$ITEST_DIR/logs"
mkdir -p "$LOG_DIR"

TESTS="prodcons thread_churn fork_mt calloc_zero realloc_bounds align enomem errno_free cxx_prog cxx_replace cxx_plugin_host dlopen_test trim_rss"
LINKED_TESTS="linked static"
# Run a third time with statistics on (per-thread counters merged at exit).
STATS_TESTS="prodcons thread_churn fork_mt"
# ... or with every cache off and memory returned to the OS at once.
TIGHT_TESTS="prodcons thread_churn calloc_zero realloc_bounds enomem errno_free"
TIGHT_ENV=(HAKMEM_TCACHE_BYTES=1K HAKMEM_WARM_POOL=0 HAKMEM_SS_CACHE=0 HAKMEM_LARGE_CACHE=0 HAKMEM_LARGE_CACHE_LIVE=0
           HAKMEM_PURGE_DELAY_MS=0)

passed=0
failed=0
failed_names=()

# Never let the caller's environment leak into the runs.
unset LD_PRELOAD HAKMEM_STATS

want() { # want NAME: honour ITEST_ONLY
    [ -z "${ITEST_ONLY:-}" ] && return 0
    case " $ITEST_ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}

backtrace() { # backtrace LOG PRELOAD-OR-EMPTY ENV... -- PROGRAM
    local log=$1 preload=$2
    shift 2
    [ "${ITEST_GDB:-1}" = 0 ] && return
    command -v gdb >/dev/null 2>&1 || return
    local gdbargs=(-q -batch -nx -ex "set pagination off" -ex "set confirm off")
    [ -n "$preload" ] && gdbargs+=(-ex "set environment LD_PRELOAD=$preload")
    while [ "$1" != -- ]; do
        gdbargs+=(-ex "set environment $1")
        shift
    done
    shift
    gdbargs+=(-ex "set follow-fork-mode parent" -ex run -ex "info registers rip" -ex bt
              -ex "thread apply all bt 30")
    {
        echo "---- gdb backtrace (re-run under gdb; a crash may not reproduce) ----"
        timeout -k 5 120 gdb "${gdbargs[@]}" --args "$@" 2>&1 | grep -v '^\[New Thread\|^\[Thread .* exited\]\|^\[Inferior\|^\[Detaching\|^Using host libthread_db\|^\[Switching' | tail -n 120
    } >>"$log"
}

# run_one NAME MODE-LABEL PRELOAD-OR-EMPTY ENV... -- PROGRAM ARGS...
run_one() {
    local name=$1 label=$2 preload=$3
    shift 3
    local envs=()
    while [ "$1" != -- ]; do
        envs+=("$1")
        shift
    done
    shift
    local prog=$1
    local tag=$name${label:+ [$label]}
    local log="$LOG_DIR/$name${label:+.$label}.log"
    log=${log//=/_}

    if [ ! -x "$prog" ]; then
        echo "FAIL $tag"
        echo "    program $prog was not built"
        failed=$((failed + 1))
        failed_names+=("$tag")
        return
    fi
    local start=$SECONDS rc
    # The braces catch the shell's own "Segmentation fault" notice in the log.
    {
        if [ -n "$preload" ]; then
            env "${envs[@]}" LD_PRELOAD="$preload" timeout -k 5 "$TIMEOUT" "$@"
        else
            env "${envs[@]}" timeout -k 5 "$TIMEOUT" "$@"
        fi
    } >"$log" 2>&1
    rc=$?
    local secs=$((SECONDS - start))
    if [ $rc -eq 0 ]; then
        echo "PASS $tag"
        passed=$((passed + 1))
        return
    fi
    echo "FAIL $tag"
    echo "    after ${secs}s"
    failed=$((failed + 1))
    failed_names+=("$tag")
    if [ $rc -eq 124 ]; then
        echo "    timed out after ${TIMEOUT}s" >>"$log"
    elif [ $rc -gt 128 ]; then
        local sig=$((rc - 128))
        echo "    killed by signal $sig ($(kill -l $sig 2>/dev/null || echo '?'))" >>"$log"
        case $sig in 4 | 6 | 7 | 8 | 11) backtrace "$log" "$preload" "${envs[@]}" -- "$@" ;; esac
    else
        echo "    exit status $rc" >>"$log"
    fi
    sed -e 's/^/    | /' "$log" | tail -n 150
}

for t in $TESTS; do
    want "$t" || continue
    run_one "$t" "" "" -- "$ITEST_DIR/$t"
    if [ "$HAKMEM_SO" != none ]; then
        if [ ! -f "$HAKMEM_SO" ]; then
            echo "FAIL $t [preload]"
            echo "    $HAKMEM_SO does not exist"
            failed=$((failed + 1))
            failed_names+=("$t [preload]")
            continue
        fi
        run_one "$t" preload "$HAKMEM_SO" -- "$ITEST_DIR/$t"
        [ "${ITEST_EXTRA:-1}" = 0 ] && continue
        # Extra hakmem configurations for the tests they stress most
        # (variables from docs/ENV.md; an unknown one is only warned about).
        case " $STATS_TESTS " in *" $t "*)
            run_one "$t" preload+stats "$HAKMEM_SO" HAKMEM_STATS=1 -- "$ITEST_DIR/$t" ;;
        esac
        case " $TIGHT_TESTS " in *" $t "*)
            run_one "$t" preload+tight "$HAKMEM_SO" "${TIGHT_ENV[@]}" -- "$ITEST_DIR/$t" ;;
        esac
    fi
done

if [ "$HAKMEM_SO" != none ]; then
    for t in $LINKED_TESTS; do
        want "$t" || continue
        run_one "$t" "" "" -- "$ITEST_DIR/$t"
        run_one "$t" stats "" HAKMEM_STATS=1 -- "$ITEST_DIR/$t"
    done
fi

if [ $failed -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
    echo "logs: $LOG_DIR"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
