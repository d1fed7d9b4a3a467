#!/usr/bin/env bash
# redis-server under hakmem, compared with the same run without it.
#
#   tests/real/servers/redis.sh LIB_SO
#
# For each mode (LD_PRELOAD=LIB_SO, then no preload): starts redis-server on
# 127.0.0.1 and a free port (--save "" --appendonly no, in a temporary
# directory), checks that the library is mapped in the server, then
#   - redis-benchmark -q -P 16 -n 200000 over several commands, then
#     -n 50000 without pipelining (20 clients), then 2000 requests of
#     100 KB values: every test must report its requests per second;
#   - redis-cli: loads 3000 generated keys of 1 byte to 200 KB through
#     --pipe (no errors), reads them all back with MGET and compares them
#     byte for byte, APPENDs to some, deletes half, checks DBSIZE;
#   - INFO memory: mem_allocator and used_memory present and sane;
#   - redis-cli shutdown nosave: the server must exit by itself with
#     status 0 within 10 s (it is killed by its PID only if it does not) and
#     log its normal exit;
#   - with the preload, HAKMEM_STATS=1 must print, at exit, statistics that
#     show the server's allocations went through hakmem (and no invalid
#     free).
# Both modes must pass the same checks. Bounded: every client command runs
# under timeout; the whole script takes well under a minute.
# Prints PASS/FAIL lines and "N passed, N failed"; exit non-zero on failure.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
srv_init redis "$@"

srv_need redis-server redis-server redis-tools || { srv_fail "redis-server not available"; srv_summary; exit 1; }
srv_need redis-cli redis-tools || { srv_fail "redis-cli not available"; srv_summary; exit 1; }
srv_need redis-benchmark redis-tools || { srv_fail "redis-benchmark not available"; srv_summary; exit 1; }
srv_need python3 python3 || { srv_fail "python3 not available"; srv_summary; exit 1; }

# ---- generated data: RESP commands for --pipe, and the expected MGET output
NKEYS=3000
python3 - "$SRV_TMP" "$NKEYS" <<'EOF'
import random, sys
out, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(12345)
alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
def resp(*args):
    parts = [f"*{len(args)}\r\n"]
    for a in args:
        parts.append(f"${len(a.encode())}\r\n{a}\r\n")
    return "".join(parts)
vals = []
with open(f"{out}/load.resp", "w", newline="") as f:
    for i in range(n):
        r = rng.random()
        size = rng.randint(1, 64) if r < 0.6 else rng.randint(65, 4096) if r < 0.9 else \
            rng.randint(4097, 200000)
        v = "".join(rng.choice(alphabet) for _ in range(min(size, 64)))
        v = (v * (size // len(v) + 1))[:size]
        vals.append(v)
        f.write(resp("SET", f"key:{i}", v))
    # APPEND to every 7th key, then delete the odd keys
    for i in range(0, n, 7):
        f.write(resp("APPEND", f"key:{i}", f"-tail{i}"))
        vals[i] += f"-tail{i}"
with open(f"{out}/expected.txt", "w") as f:
    for v in vals:
        f.write(v + "\n")
with open(f"{out}/del.resp", "w", newline="") as f:
    for i in range(1, n, 2):
        f.write(resp("DEL", f"key:{i}"))
EOF

# run_mode MODE PRELOAD  (PRELOAD empty for the plain run)
declare -A RESULT BENCH
run_mode() {
    local mode=$1 preload=$2
    local dir=$SRV_TMP/$mode port pid rc
    mkdir -p "$dir"
    port=$(srv_free_port)
    local envs=()
    if [ -n "$preload" ]; then
        # statistics to stderr (stdout.txt): not HAKMEM_STATS_FILE, whose
        # value lives in the environment strings that redis overwrites with
        # its process title
        envs=(LD_PRELOAD="$preload" HAKMEM_STATS=1)
    fi
    env "${envs[@]}" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" --daemonize no --protected-mode yes \
        </dev/null >"$dir/stdout.txt" 2>&1 &
    pid=$!
    srv_track "$pid"
    local cli=(timeout 30 redis-cli -h 127.0.0.1 -p "$port")
    local up=0
    for _ in $(seq 100); do
        if [ "$("${cli[@]}" ping 2>/dev/null)" = PONG ]; then up=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ $up = 0 ]; then
        srv_fail "[$mode] server did not start (see log below)"
        tail -20 "$dir/redis.log" "$dir/stdout.txt" 2>/dev/null
        RESULT[$mode]=nostart
        return
    fi
    srv_pass "[$mode] server up on 127.0.0.1:$port (pid $pid)"
    if [ -n "$preload" ]; then
        srv_check "[$mode] $(basename "$preload") mapped in redis-server" \
            grep -q "$(basename "$(readlink -f "$preload")")" "/proc/$pid/maps"
    fi

    # -- benchmarks
    local b=(timeout 40 redis-benchmark -h 127.0.0.1 -p "$port" -q)
    local tests=set,get,incr,lpush,rpop,sadd,hset,zadd,lrange_100
    "${b[@]}" -n 200000 -P 16 -r 100000 -d 64 -t "$tests" >"$dir/bench1.txt" 2>&1
    rc=$?
    local n1
    n1=$(grep -c 'requests per second' "$dir/bench1.txt")
    srv_check "[$mode] redis-benchmark -P 16 -n 200000 ($n1 tests)" \
        test "$rc" = 0 -a "$n1" -ge 9
    "${b[@]}" -n 50000 -c 20 -r 10000 -d 512 -t set,get,incr,mset >"$dir/bench2.txt" 2>&1
    rc=$?
    local n2
    n2=$(grep -c 'requests per second' "$dir/bench2.txt")
    srv_check "[$mode] redis-benchmark -n 50000 without pipelining ($n2 tests)" \
        test "$rc" = 0 -a "$n2" -ge 4
    "${b[@]}" -n 2000 -c 4 -r 1000 -d 100000 -t set,get >"$dir/bench3.txt" 2>&1
    rc=$?
    local n3
    n3=$(grep -c 'requests per second' "$dir/bench3.txt")
    srv_check "[$mode] redis-benchmark 100 KB values ($n3 tests)" test "$rc" = 0 -a "$n3" -ge 2
    BENCH[$mode]=$(cat "$dir/bench1.txt" "$dir/bench2.txt" "$dir/bench3.txt" | tr '\r' '\n' |
        grep 'requests per second' | sed -E 's/^ +//')
    "${cli[@]}" flushall >/dev/null

    # -- generated data
    "${cli[@]}" --pipe <"$SRV_TMP/load.resp" >"$dir/pipe.txt" 2>&1
    srv_check "[$mode] redis-cli --pipe: $NKEYS SETs and APPENDs, no errors" \
        grep -q 'errors: 0' "$dir/pipe.txt"
    : >"$dir/got.txt"
    local i j keys
    for ((i = 0; i < NKEYS; i += 100)); do
        keys=()
        for ((j = i; j < i + 100 && j < NKEYS; j++)); do keys+=("key:$j"); done
        "${cli[@]}" --raw mget "${keys[@]}" >>"$dir/got.txt"
    done
    srv_check "[$mode] MGET of all $NKEYS keys returns the generated values" \
        cmp -s "$dir/got.txt" "$SRV_TMP/expected.txt"
    "${cli[@]}" --pipe <"$SRV_TMP/del.resp" >"$dir/pipe2.txt" 2>&1
    local dbsize
    dbsize=$("${cli[@]}" dbsize)
    srv_check "[$mode] DEL of half the keys: DBSIZE $dbsize" test "$dbsize" = $((NKEYS / 2))
    local k0 want0
    k0=$("${cli[@]}" --raw get key:0)
    want0=$(head -n 1 "$SRV_TMP/expected.txt")
    srv_check "[$mode] GET key:0 after the deletions" test "$k0" = "$want0"

    # -- INFO memory
    "${cli[@]}" info memory | tr -d '\r' >"$dir/info.txt"
    local alloc used
    alloc=$(sed -n 's/^mem_allocator://p' "$dir/info.txt")
    used=$(sed -n 's/^used_memory://p' "$dir/info.txt")
    srv_check "[$mode] INFO memory: mem_allocator=$alloc used_memory=$used" \
        test -n "$alloc" -a "${used:-0}" -gt 100000
    echo "    [$mode] INFO memory: $(grep -E '^(used_memory_human|used_memory_rss_human|allocator_allocated|allocator_resident|mem_fragmentation_ratio):' "$dir/info.txt" | tr '\n' ' ')"

    # -- shutdown
    "${cli[@]}" shutdown nosave >/dev/null 2>&1
    local stopped=0
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then stopped=1; break; fi
        sleep 0.1
    done
    if [ $stopped = 0 ]; then
        srv_fail "[$mode] server still running 10 s after shutdown: killing pid $pid"
        kill -TERM "$pid" 2>/dev/null
        sleep 1
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid"
    rc=$?
    srv_check "[$mode] shutdown nosave: exit status $rc" test "$rc" = 0
    srv_check "[$mode] log shows a clean exit, no crash report" \
        bash -c "grep -q 'ready to exit' '$dir/redis.log' && ! grep -qiE 'crashed|assertion|bug report|hakmem:' '$dir/redis.log' '$dir/stdout.txt'"
    if [ -n "$preload" ]; then
        local calls
        calls=$(grep -m1 -E '^ *malloc +[0-9]+$' "$dir/stdout.txt" | grep -oE '[0-9]+$')
        srv_check "[$mode] hakmem statistics printed at exit (malloc calls: ${calls:-none})" \
            test "${calls:-0}" -gt 1000
        srv_check "[$mode] hakmem reported no invalid free" \
            grep -qE '^ *invalid_frees +0$' "$dir/stdout.txt"
    fi
    RESULT[$mode]=$(cat "$dir/got.txt" | sha256sum | cut -c1-16)/$dbsize/$k0
}

t0=$SECONDS
run_mode hakmem "$LIB_SO"
run_mode plain ""
srv_check "same data read back with and without hakmem" \
    test "${RESULT[hakmem]:-x}" = "${RESULT[plain]:-y}"
echo "    requests per second (hakmem | plain):"
paste -d'|' <(printf '%s\n' "${BENCH[hakmem]:-}") <(printf '%s\n' "${BENCH[plain]:-}") |
    sed 's/^/      /'
srv_check "finished in $((SECONDS - t0)) s (bound: 60 s)" test $((SECONDS - t0)) -lt 60
srv_summary
