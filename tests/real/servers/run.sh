#!/usr/bin/env bash
# Runs every server/real-program check in this directory for each library.
#
#   tests/real/servers/run.sh LIB_SO...
#
# redis.sh, python_stdlib.sh and git_repo.sh, each with each LIB_SO; shows
# their output and ends with the sum of their "N passed, N failed" lines
# (a script that fails without such a line counts as one failure).
# Environment: SERVERS_ONLY="redis git_repo" runs only those scripts.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 LIB_SO..." >&2; exit 2; }
pass=0
fail=0
failed=()
for lib in "$@"; do
    for s in redis python_stdlib git_repo; do
        if [ -n "${SERVERS_ONLY:-}" ] && ! grep -qw -- "$s" <<<"$SERVERS_ONLY"; then
            continue
        fi
        echo "=== $s.sh $(basename "$lib")"
        out=$(mktemp)
        bash "$HERE/$s.sh" "$lib" 2>&1 | tee "$out"
        rc=${PIPESTATUS[0]}
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
        rm -f "$out"
        p=$(grep -oE '^[0-9]+' <<<"$line")
        f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
        p=${p:-0}
        f=${f:-0}
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
        pass=$((pass + p))
        fail=$((fail + f))
        [ "$rc" -ne 0 ] && failed+=("$s($(basename "$lib"))")
    done
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
