#!/usr/bin/env bash
# Runs stress.c built with -DSTRESS_HAK against the hakmem core compiled
# with -fsanitize=thread (see the stress-tsan target in tests/reliability.mk)
# and reports the data races ThreadSanitizer finds in the core.
#
#   tests/stress/tsan.sh STRESS_TSAN_BINARY [LOGDIR]
#
# Configurations (each must exit 0 with no ThreadSanitizer report):
#   default   4 threads, scale 20, 5 rounds, default options
#   eager     memory returned at once (HAKMEM_PURGE_DELAY_MS=0
#             HAKMEM_WARM_POOL=0 HAKMEM_SS_CACHE=0 HAKMEM_LARGE_CACHE=0
#             HAKMEM_TCACHE_BYTES=1024)
#   stats     HAKMEM_STATS=1: counters kept while a monitor thread reads
#             them through hak_stats_get()
# For each report the two racing accesses (top frames) are summarised;
# full logs are kept in LOGDIR (default: next to the binary).
# Final line "N passed, N failed"; exit non-zero on failure.
set -u
BIN=${1:?usage: $0 STRESS_TSAN_BINARY [LOGDIR]}
LOGDIR=${2:-$(dirname "$BIN")}
mkdir -p "$LOGDIR"
for v in $(compgen -e | grep '^HAKMEM_' || true); do unset "$v"; done
unset LD_PRELOAD
export TSAN_OPTIONS="halt_on_error=0 report_signal_unsafe=0 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"

CONFIGS=(
"default||4 20 5"
"eager|HAKMEM_PURGE_DELAY_MS=0 HAKMEM_WARM_POOL=0 HAKMEM_SS_CACHE=0 HAKMEM_LARGE_CACHE=0 HAKMEM_TCACHE_BYTES=1024|4 15 5 3"
"stats|HAKMEM_STATS=1|4 20 4 5"
)
pass=0
fail=0
for c in "${CONFIGS[@]}"; do
    name=${c%%|*}
    rest=${c#*|}
    envs=${rest%%|*}
    args=${rest#*|}
    log=$LOGDIR/tsan-$name.log
    # shellcheck disable=SC2086
    timeout -s KILL 600 env $envs "$BIN" $args >"$log" 2>&1
    rc=$?
    nrep=$(grep -c '^WARNING: ThreadSanitizer' "$log")
    if [ "$rc" -eq 0 ] && [ "$nrep" -eq 0 ]; then
        pass=$((pass + 1))
        echo "PASS tsan $name: $(grep '^stress: ' "$log" | tail -n 1)"
        continue
    fi
    fail=$((fail + 1))
    echo "FAIL tsan $name: exit $rc, $nrep ThreadSanitizer reports (log: $log)"
    # unique pairs of racing accesses: "where <- previous access"
    python3 - "$log" <<'EOF' 2>/dev/null || grep 'SUMMARY: ThreadSanitizer' "$log" | sort | uniq -c | head -20
import re, sys
text = open(sys.argv[1], errors="replace").read()
pairs = {}
for rep in text.split("WARNING: ThreadSanitizer")[1:]:
    kind = rep.split("\n", 1)[0].strip(": ").split(" (")[0]
    accesses = re.findall(r"\n  (?:previous )?(atomic )?(read|write)[^\n]*\n +#0 (\S+) (\S+)", rep,
                          re.I)
    key = (kind,) + tuple(sorted(f"{fn} ({loc.rsplit('/', 1)[-1]}) {(at + rw).lower()}"
                                 for at, rw, fn, loc in accesses[:2]))
    pairs[key] = pairs.get(key, 0) + 1
for key, n in sorted(pairs.items(), key=lambda kv: -kv[1]):
    print(f"    {n:4d}x {key[0]}: " + "  <->  ".join(key[1:]))
EOF
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
