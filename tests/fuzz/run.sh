#!/usr/bin/env bash
# Runs the libFuzzer targets built by tests/reliability.mk.
#
#   tests/fuzz/run.sh SECONDS FUZZDIR
#
# For each of FUZZDIR/fuzz_api (plain core) and FUZZDIR/fuzz_api_hardened
# (core built with -DHAK_HARDENED), two checks:
#   replay  every input in tests/fuzz/regress (inputs that once exposed a
#           bug) and the seed corpus tests/fuzz/corpus, run once;
#   fuzz    SECONDS of fuzzing (-max_total_time) from the seeds, growing the
#           working corpus FUZZDIR/corpus-<name> (kept between runs).
# A crash, leak, timeout or oracle failure leaves its input in
# FUZZDIR/artifacts/ and fails the check; reproduce with
#   FUZZDIR/fuzz_api FUZZDIR/artifacts/<name>-crash-...
# Final line "N passed, N failed"; exit non-zero on failure.
set -u
SECS=${1:?usage: $0 SECONDS FUZZDIR}
DIR=${2:?usage: $0 SECONDS FUZZDIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
SEEDS=$HERE/corpus
for v in $(compgen -e | grep '^HAKMEM_' || true); do unset "$v"; done
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1 ${UBSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1 ${ASAN_OPTIONS:-}"

pass=0
fail=0
mkdir -p "$DIR/artifacts"
for name in fuzz_api fuzz_api_hardened; do
    bin=$DIR/$name
    if [ ! -x "$bin" ]; then
        echo "FAIL $name: $bin not built"
        fail=$((fail + 1))
        continue
    fi
    corpus=$DIR/corpus-$name
    mkdir -p "$corpus"
    log=$DIR/$name.log
    (cd "$DIR" && "$bin" -runs=0 "$HERE/regress" "$SEEDS" -artifact_prefix="artifacts/$name-" \
        >"$log.replay" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        echo "PASS $name replay: $(ls "$HERE/regress" "$SEEDS" | grep -vc ':$\|^$') regression and seed inputs"
    else
        fail=$((fail + 1))
        echo "FAIL $name replay: exit $rc (log: $log.replay)"
        grep -E 'ORACLE|runtime error|ERROR|hakmem:|SUMMARY|Running: |^ +#[0-9]+ .* in ' "$log.replay" |
            grep -v 'in fuzzer::' | head -14 | sed 's/^/    /'
    fi
    (cd "$DIR" && "$bin" "$corpus" "$SEEDS" -max_total_time="$SECS" -timeout=30 \
        -rss_limit_mb=3072 -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="artifacts/$name-" >"$log" 2>&1)
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        echo "PASS $name fuzz: ${SECS}s, ${execs:-?} inputs, ${cov:-cov ?}, corpus $(ls "$corpus" | wc -l) files"
    else
        fail=$((fail + 1))
        echo "FAIL $name fuzz: exit $rc after ${execs:-?} inputs (log: $log)"
        grep -E 'ORACLE|runtime error|ERROR|hakmem:|SUMMARY|Test unit written|^ +#[0-9]+ .* in ' "$log" |
            grep -v 'in fuzzer::' | head -20 | sed 's/^/    /'
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
