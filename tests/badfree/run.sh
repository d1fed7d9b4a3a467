#!/usr/bin/env bash
# Bad-input cases: invalid and double frees, heap overflows, use after free,
# guard pages, HAKMEM_ON_ERROR=warn.
#
#   tests/badfree/run.sh [BINDIR] [HAKMEM_SO] [HARDENED_SO] [TABLE_MD]
#
# Builds every tests/badfree/*.c into BINDIR (default build/badfree) when
# it is missing or older than its source, runs each case under
# LD_PRELOAD=HAKMEM_SO (default build/libhakmem.so), under
# LD_PRELOAD=HARDENED_SO (default build/libhakmem_hardened.so) and under
# glibc, and prints a table "case | hakmem | hardened | glibc | check"
# (also written to TABLE_MD, default build/badfree-table.md).
#
# Expectations (glibc's results are recorded, never checked):
#   - every invalid or double free/realloc/malloc_usable_size ends in
#     SIGABRT with a message naming the function ("free()", "realloc()"),
#     the address passed (in hex) and the kind ("double free", "invalid
#     pointer"), in both libraries;
#   - with HAKMEM_ON_ERROR=warn the same message is printed and the program
#     goes on (exit 0), and the allocator still hands out distinct blocks;
#   - hardened: a one-byte overflow is caught at free(), a poisoned free
#     list is caught (or at least no wild pointer is handed out), writing
#     past or before a large block hits a guard page (SIGSEGV), and
#     HAKMEM_ZERO_ON_FREE=1 clears freed blocks.
# Final line: "N passed, N failed"; exit status non-zero on any failure.
# Environment: CC (default cc), BADFREE_TIMEOUT (seconds per run, 20),
# BADFREE_ONLY="case ..." runs only those cases.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BINDIR=${1:-$ROOT/build/badfree}
LIB=${2:-$ROOT/build/libhakmem.so}
HLIB=${3:-$ROOT/build/libhakmem_hardened.so}
TABLE=${4:-$ROOT/build/badfree-table.md}
CC=${CC:-cc}
TIMEOUT=${BADFREE_TIMEOUT:-20}
# -w: the cases are deliberately wrong code; -fno-builtin and -O0 keep the
# compiler from folding or diagnosing the bad calls away.
BF_CFLAGS="-std=gnu11 -O0 -g -pthread -fno-builtin -w"

for f in "$LIB" "$HLIB"; do
    if [ ! -f "$f" ]; then
        echo "badfree: $f not found (run 'make lib hardened')" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")
HLIB=$(cd "$(dirname "$HLIB")" && pwd)/$(basename "$HLIB")
mkdir -p "$BINDIR" "$(dirname "$TABLE")"

# The cases must see no HAKMEM_* setting but their own.
for v in $(compgen -e | grep '^HAKMEM_' || true); do unset "$v"; done
unset LD_PRELOAD MALLOC_CHECK_ MALLOC_PERTURB_ GLIBC_TUNABLES
export LC_ALL=C

# ---- build ----------------------------------------------------------------
build_fail=0
for src in "$HERE"/*.c; do
    name=$(basename "$src" .c)
    bin=$BINDIR/$name
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$HERE/bf.h" -nt "$bin" ]; then
        # shellcheck disable=SC2086
        if ! $CC $BF_CFLAGS -o "$bin" "$src"; then
            echo "badfree: cannot build $name" >&2
            build_fail=$((build_fail + 1))
        fi
    fi
done

# ---- cases ------------------------------------------------------------------
# name | program | environment | hakmem expectation | hardened expectation | what
# Expectations:
#   abort:FN:KIND  SIGABRT; stderr names FN(), matches the regex KIND, and
#                  holds the address printed by the program ("PTR 0x...")
#   warn:FN:KIND   the same message (with "ignored"), then exit 0 with
#                  "CONTINUED" (the allocator is still consistent)
#   catch:REGEX    SIGABRT with REGEX in stderr, or SIGSEGV; never "WILD"
#   segv           killed by SIGSEGV (or SIGBUS)
#   out:TOKEN      exit 0 with TOKEN in stdout
#   any            recorded only
BAD='invalid pointer'
DBL='double free'
CASES=(
"free_never_allocated|free_never_allocated||abort:free:$BAD|abort:free:$BAD|free() of memory from mmap"
"free_stack|free_stack||abort:free:$BAD|abort:free:$BAD|free() of a stack address"
"free_global|free_global||abort:free:$BAD|abort:free:$BAD|free() of a global's address"
"free_mid_small|free_mid_small||abort:free:$BAD|abort:free:$BAD|free(p+16), p a 64-byte block"
"free_mid_large|free_mid_large||abort:free:$BAD|abort:free:$BAD|free(p+8192), p a 4 MiB block"
"free_misaligned|free_misaligned||abort:free:$BAD|abort:free:$BAD|free(p+1), p a 40-byte block"
"free_never_carved|free_never_carved||abort:free:$BAD|abort:free:$BAD|free() of a 2 KiB slot never handed out"
"double_free_small|double_free_small||abort:free:$DBL|abort:free:$DBL|double free, 32 bytes"
"double_free_medium|double_free_medium||abort:free:$DBL|abort:free:$DBL|double free, 100 KiB"
"double_free_large|double_free_large||abort:free:$DBL|abort:free:$DBL|double free, 4 MiB"
"double_free_huge|double_free_huge||abort:free:$DBL|$BAD|abort:free:$DBL|$BAD|double free, 40 MiB (not cached)"
"double_free_interleaved|double_free_interleaved||abort:free:$DBL|abort:free:$DBL|double free, 4000 frees in between"
"double_free_remote|double_free_remote||abort:free:$DBL|abort:free:$DBL|double free of another thread's block"
"realloc_after_free|realloc_after_free||abort:realloc:$DBL|$BAD|freed|abort:realloc:$DBL|$BAD|freed|realloc() of a freed block"
"realloc_stack|realloc_stack||abort:realloc:$BAD|abort:realloc:$BAD|realloc() of a stack address"
"realloc_mid_block|realloc_mid_block||abort:realloc:$BAD|abort:realloc:$BAD|realloc(p+32), p a 128-byte block"
"usable_size_after_free|usable_size_after_free||abort:malloc_usable_size:$DBL|$BAD|freed|abort:malloc_usable_size:$DBL|$BAD|freed|malloc_usable_size() of a freed block"
"overflow_1byte|overflow_1byte||any|abort:free:overflow|1-byte overflow of a 24-byte block, then free()"
"uaf_write_then_malloc|uaf_write_then_malloc||any|catch:corrupt|use after free: link overwritten, then malloc() x3"
"large_guard_overflow|large_guard_overflow||any|segv|write 1 byte past a 4 MiB block"
"large_guard_underflow|large_guard_underflow||any|segv|write 1 byte before a 4 MiB block"
"zero_on_free|zero_on_free|HAKMEM_ZERO_ON_FREE=1|any|out:ZEROED|freed block cleared"
"warn_double_free_small|double_free_small|HAKMEM_ON_ERROR=warn|warn:free:$DBL|warn:free:$DBL|warn: double free, 32 bytes"
"warn_double_free_large|double_free_large|HAKMEM_ON_ERROR=warn|warn:free:$DBL|warn:free:$DBL|warn: double free, 4 MiB"
"warn_double_free_remote|double_free_remote|HAKMEM_ON_ERROR=warn|warn:free:$DBL|warn:free:$DBL|warn: double free, other thread's block"
"warn_free_stack|free_stack|HAKMEM_ON_ERROR=warn|warn:free:$BAD|warn:free:$BAD|warn: free() of a stack address"
"warn_free_mid_small|free_mid_small|HAKMEM_ON_ERROR=warn|warn:free:$BAD|warn:free:$BAD|warn: free(p+16)"
"warn_free_mid_large|free_mid_large|HAKMEM_ON_ERROR=warn|warn:free:$BAD|warn:free:$BAD|warn: free(p+8192), 4 MiB block"
"warn_free_never_allocated|free_never_allocated|HAKMEM_ON_ERROR=warn|warn:free:$BAD|warn:free:$BAD|warn: free() of memory from mmap"
"warn_realloc_after_free|realloc_after_free|HAKMEM_ON_ERROR=warn|warn:realloc:$DBL|$BAD|freed|warn:realloc:$DBL|$BAD|freed|warn: realloc() of a freed block"
"warn_usable_size_after_free|usable_size_after_free|HAKMEM_ON_ERROR=warn|warn:malloc_usable_size:$DBL|$BAD|freed|warn:malloc_usable_size:$DBL|$BAD|freed|warn: malloc_usable_size() of a freed block"
)

# Splits a case line. The KIND regexes contain '|', so fields are taken from
# both ends: name, program, environment first, the description last, and the
# two expectations split where the second one starts (abort:/warn:/...).
parse_case() {
    local line=$1 rest
    C_NAME=${line%%|*}; rest=${line#*|}
    C_BIN=${rest%%|*}; rest=${rest#*|}
    C_ENV=${rest%%|*}; rest=${rest#*|}
    C_WHAT=${rest##*|}; rest=${rest%|*}
    # rest = "EXP1|EXP2"; EXP2 starts at the last '|' followed by a keyword
    if [[ $rest =~ ^(.*)\|((abort|warn|catch|segv|out|any)(:.*)?)$ ]]; then
        C_EXP1=${BASH_REMATCH[1]}
        C_EXP2=${BASH_REMATCH[2]}
    else
        C_EXP1=$rest; C_EXP2=any
    fi
}

# run LIB ENV BIN -> R_RC, R_OUT, R_ERR (files)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
run_case() {
    local lib=$1 envs=$2 bin=$3 tag=$4
    R_OUT=$TMP/$tag.out
    R_ERR=$TMP/$tag.err
    local pre=()
    [ -n "$lib" ] && pre=("LD_PRELOAD=$lib")
    # shellcheck disable=SC2086
    {
        (ulimit -c 0; exec timeout -s KILL "$TIMEOUT" env "${pre[@]}" $envs "$BINDIR/$bin" \
            >"$R_OUT" 2>"$R_ERR" </dev/null)
        R_RC=$?
    } 2>/dev/null
}

short_addr() { sed -E 's/0x[0-9a-f]{5,}/0x.../g'; }

# One table cell describing the outcome.
describe() {
    local rc=$1 out=$2 err=$3 msg sig=""
    msg=$(grep -m1 '^hakmem: ' "$err" | sed -E 's/^hakmem: //; s/; aborting$//; s/; ignored \(HAKMEM_ON_ERROR=warn\)$//')
    if [ -z "$msg" ]; then
        msg=$(grep -v '^[[:space:]]*$' "$err" | tail -n 1)
    fi
    msg=$(printf '%s' "$msg" | short_addr | cut -c1-110 | tr -d '|')
    case $rc in
        0) sig="exit 0" ;;
        124|137) sig="TIMEOUT" ;;
        134) sig="SIGABRT" ;;
        135) sig="SIGBUS" ;;
        139) sig="SIGSEGV" ;;
        *) if [ "$rc" -gt 128 ]; then sig="signal $((rc - 128))"; else sig="exit $rc"; fi ;;
    esac
    local note=""
    if grep -q '^WILD' "$out"; then note="WILD pointer handed out"
    elif grep -q '^SAME BLOCK' "$out"; then note="same block handed out twice"
    elif grep -q '^OVERLAPPING' "$out"; then note="overlapping blocks"
    elif grep -q '^NOT ZEROED' "$out"; then note="not zeroed"
    elif grep -q '^ZEROED' "$out"; then note="zeroed"
    fi
    local cell=$sig
    if [ -n "$msg" ]; then
        if [ "$rc" = 0 ]; then cell="$cell, warned '$msg'"; else cell="$cell + '$msg'"; fi
    elif [ "$rc" = 0 ] && [ -z "$note" ]; then
        cell="$cell (not detected)"
    fi
    [ -n "$note" ] && cell="$cell ($note)"
    printf '%s' "$cell"
}

# check EXP RC OUT ERR -> 0 if the outcome meets the expectation; reason in CHK_WHY
check() {
    local exp=$1 rc=$2 out=$3 err=$4 kind fn addr
    CHK_WHY=""
    addr=$(sed -n 's/^PTR //p' "$out" | head -n 1)
    case $exp in
        any) return 0 ;;
        abort:*|warn:*)
            fn=${exp#*:}; fn=${fn%%:*}
            kind=${exp#*:*:}
            if [[ $exp == abort:* ]]; then
                [ "$rc" = 134 ] || { CHK_WHY="expected SIGABRT, got rc=$rc"; return 1; }
            else
                [ "$rc" = 0 ] || { CHK_WHY="expected exit 0, got rc=$rc"; return 1; }
                grep -q '^CONTINUED' "$out" || { CHK_WHY="no CONTINUED"; return 1; }
                grep -q 'ignored' "$err" || { CHK_WHY="message does not say ignored"; return 1; }
            fi
            local line
            line=$(grep -m1 "^hakmem: $fn(): " "$err")
            [ -n "$line" ] || { CHK_WHY="no 'hakmem: $fn(): ' message"; return 1; }
            grep -qE "$kind" <<<"$line" || { CHK_WHY="message lacks /$kind/"; return 1; }
            [ -n "$addr" ] || { CHK_WHY="program printed no PTR"; return 1; }
            grep -qF " $addr" <<<"$line" || { CHK_WHY="message lacks address $addr"; return 1; }
            return 0 ;;
        catch:*)
            grep -q '^WILD' "$out" && { CHK_WHY="wild pointer handed out"; return 1; }
            if [ "$rc" = 134 ]; then
                grep -qiE "${exp#catch:}" "$err" || { CHK_WHY="abort without /${exp#catch:}/"; return 1; }
                return 0
            fi
            [ "$rc" = 139 ] && return 0
            CHK_WHY="not caught (rc=$rc)"; return 1 ;;
        segv)
            [ "$rc" = 139 ] || [ "$rc" = 135 ] || { CHK_WHY="expected SIGSEGV, got rc=$rc"; return 1; }
            return 0 ;;
        out:*)
            [ "$rc" = 0 ] || { CHK_WHY="expected exit 0, got rc=$rc"; return 1; }
            grep -q "^${exp#out:}" "$out" || { CHK_WHY="no ${exp#out:} in output"; return 1; }
            return 0 ;;
        *) CHK_WHY="unknown expectation $exp"; return 1 ;;
    esac
}

pass=0
fail=$build_fail
failures=()
{
    echo "# Bad-input cases: hakmem vs hardened vs glibc"
    echo
    echo "Generated by tests/badfree/run.sh on $(date -u '+%Y-%m-%d %H:%M UTC') ($(uname -m), $(ldd --version 2>&1 | head -n 1 | sed 's/^ldd //'))."
    echo "Addresses are shortened to 0x...; 'check' applies to the two hakmem libraries (glibc is for comparison)."
    echo
    echo "| case | what | hakmem | hardened | glibc | check |"
    echo "| --- | --- | --- | --- | --- | --- |"
} >"$TABLE"

printf '%-28s | %-62s | %-62s | %-50s | %s\n' case hakmem hardened glibc check
for line in "${CASES[@]}"; do
    parse_case "$line"
    if [ -n "${BADFREE_ONLY:-}" ] && ! grep -qw -- "$C_NAME" <<<"$BADFREE_ONLY"; then
        continue
    fi
    if [ ! -x "$BINDIR/$C_BIN" ]; then
        fail=$((fail + 1)); failures+=("$C_NAME: not built")
        continue
    fi
    cells=()
    verdict=ok
    i=0
    for lib in "$LIB" "$HLIB" ""; do
        tag=${C_NAME}_$i
        run_case "$lib" "$C_ENV" "$C_BIN" "$tag"
        cells+=("$(describe "$R_RC" "$R_OUT" "$R_ERR")")
        if [ $i -lt 2 ]; then
            exp=$C_EXP1; [ $i = 1 ] && exp=$C_EXP2
            libname=hakmem; [ $i = 1 ] && libname=hardened
            if [ "$exp" != any ]; then
                if check "$exp" "$R_RC" "$R_OUT" "$R_ERR"; then
                    pass=$((pass + 1))
                else
                    fail=$((fail + 1))
                    verdict="FAIL"
                    failures+=("$C_NAME [$libname]: $CHK_WHY")
                    {
                        echo "--- $C_NAME [$libname] rc=$R_RC: $CHK_WHY"
                        sed 's/^/    stdout: /' "$R_OUT"
                        sed 's/^/    stderr: /' "$R_ERR"
                    } >&2
                fi
            fi
        fi
        i=$((i + 1))
    done
    [ "$C_EXP1" = any ] && [ "$C_EXP2" = any ] && verdict="-"
    printf '%-28s | %-62s | %-62s | %-50s | %s\n' "$C_NAME" "${cells[0]}" "${cells[1]}" "${cells[2]}" "$verdict"
    [ -n "$C_ENV" ] && what="$C_WHAT ($C_ENV)" || what=$C_WHAT
    echo "| $C_NAME | $what | ${cells[0]} | ${cells[1]} | ${cells[2]} | $verdict |" >>"$TABLE"
done

{
    echo
    echo "$pass passed, $fail failed"
} >>"$TABLE"
echo
echo "table written to $TABLE"
if [ ${#failures[@]} -gt 0 ]; then
    echo "failures:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
