#!/usr/bin/env bash
# Real programs with and without hakmem.
#
#   tests/real/run_real.sh LIB_SO
#
# Runs each program once plainly and once with LD_PRELOAD=LIB_SO (in fresh
# temporary directories) and requires identical stdout and exit status
# (and a clean plain run).  Programs: python3 (a workload script, and
# sqlite3 from python), git, gcc (compile + run), perl, sort on a ~50 MB
# file, the sqlite3 shell, the C++ test program, and HAKMEM_STATS=1 (stats
# on stderr must not change stdout).
#
# Prints PASS/FAIL per program and a final line "N passed, N failed";
# exits non-zero on failure.  Missing tools are installed with apt-get.
# Environment: REAL_TIMEOUT (seconds per run, default 300), REAL_ONLY="name ...",
# REAL_KEEP=1 keeps the outputs (*.out, *.err) in the temporary directory.
set -u

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "usage: $0 LIB_SO   (LIB_SO = path to libhakmem.so, must exist)" >&2
    exit 2
fi
LIB_SO=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TIMEOUT=${REAL_TIMEOUT:-300}

unset LD_PRELOAD HAKMEM_STATS
export LC_ALL=C TZ=UTC PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1

# ---- tools ----
need_install=()
for pair in python3:python3 git:git gcc:gcc g++:g++ perl:perl sqlite3:sqlite3 sort:coreutils \
    sha256sum:coreutils awk:gawk timeout:coreutils; do
    cmd=${pair%%:*}
    command -v "$cmd" >/dev/null 2>&1 || need_install+=("${pair#*:}")
done
if [ ${#need_install[@]} -gt 0 ]; then
    echo "installing: ${need_install[*]}"
    SUDO=
    [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
    { $SUDO apt-get install -y "${need_install[@]}" || { $SUDO apt-get update && $SUDO apt-get install -y "${need_install[@]}"; }; } \
        >/dev/null 2>&1 || echo "warning: could not install ${need_install[*]}" >&2
fi
# The distribution's interpreter, not a version-manager shim script.
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
export PYTHON

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-real.XXXXXX")
if [ -n "${REAL_KEEP:-}" ]; then
    trap 'echo "outputs kept in $TMP"' EXIT
else
    trap 'rm -rf "$TMP"' EXIT
fi
SHARED=$TMP/shared
mkdir -p "$SHARED"
export SHARED HERE ROOT

# ---- shared inputs, made once without the preload ----
# ~50 MB for sort: "<number>\t<word> <word>" lines.
awk 'BEGIN {
    srand(4242);
    for (i = 0; i < 1700000; i++) {
        w1 = ""; w2 = "";
        n1 = 3 + int(rand() * 8); n2 = 2 + int(rand() * 6);
        for (j = 0; j < n1; j++) w1 = w1 sprintf("%c", 97 + int(rand() * 26));
        for (j = 0; j < n2; j++) w2 = w2 sprintf("%c", 65 + int(rand() * 26));
        printf "%d\t%s %s\n", int(rand() * 1000000000) - 300000000, w1, w2;
    }
}' >"$SHARED/sort_input.txt"

if ! g++ -std=c++17 -O2 -pthread -o "$SHARED/cxx_prog" "$ROOT/tests/integration/cxx_prog.cpp" 2>"$SHARED/cxx_build.log"; then
    echo "warning: cannot build cxx_prog:" >&2
    cat "$SHARED/cxx_build.log" >&2
fi

# ---- cases: each runs in its own empty directory, output to stdout ----

case_python3() {
    "$PYTHON" "$HERE/workload.py"
}

case_python3_sqlite3() {
    "$PYTHON" -c '
import sqlite3, hashlib
con = sqlite3.connect(":memory:")
cur = con.cursor()
cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL, blob BLOB)")
rows = [(i, "name%d" % (i * 7919 % 100003), i % 97, (i * 31 % 1000) / 3.0, bytes([i % 256]) * (i % 300))
        for i in range(150000)]
cur.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
cur.execute("CREATE INDEX t_name ON t(name)")
con.commit()
print(cur.execute("SELECT count(*), sum(grp), round(sum(val), 3), sum(length(blob)) FROM t").fetchone())
print(cur.execute("SELECT grp, count(*), round(avg(val), 4) FROM t GROUP BY grp ORDER BY 3 DESC LIMIT 5").fetchall())
print(cur.execute("SELECT name FROM t WHERE name LIKE ? ORDER BY name LIMIT 5", ("name99%",)).fetchall())
cur.execute("DELETE FROM t WHERE id % 3 = 0")
cur.execute("UPDATE t SET name = upper(name) || :s WHERE grp < 10", {"s": "-x" * 20})
h = hashlib.sha256()
for r in cur.execute("SELECT id, name, val FROM t ORDER BY id"):
    h.update(repr(r).encode())
print(h.hexdigest())
con.commit()
con.execute("VACUUM")
print(con.execute("PRAGMA integrity_check").fetchone())
con.close()
'
}

case_git() {
    export HOME=$PWD GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
    export GIT_AUTHOR_NAME="Test Author" GIT_AUTHOR_EMAIL=author@example.com
    export GIT_COMMITTER_NAME="Test Committer" GIT_COMMITTER_EMAIL=committer@example.com
    export GIT_AUTHOR_DATE="2021-03-04T05:06:07 +0000" GIT_COMMITTER_DATE="2021-03-04T05:06:07 +0000"
    set -e
    git init -q -b main repo
    cd repo
    git config gc.auto 0
    git config core.autocrlf false
    mkdir -p src
    for c in 1 2 3 4 5 6; do
        # commit 1 writes every file, later commits rewrite a third of them
        awk -v c="$c" 'BEGIN {
            for (f = 0; f < 40; f++) {
                if ((f + c) % 3 != 0 && c != 1)
                    continue;
                file = sprintf("src/file%02d.txt", f);
                for (l = 0; l < 300; l++)
                    printf "line %d of file %d, commit %d, value %d\n", l, f, (l % 17 == 0) ? c : 1,
                        (l * 7919 + f * c) % 1000 > file;
                close(file);
            }
        }'
        [ "$c" = 4 ] && git rm -q -f src/file05.txt && printf 'new file\n' >src/new.txt
        git add -A
        export GIT_AUTHOR_DATE="2021-03-0${c}T05:06:07 +0000" GIT_COMMITTER_DATE="2021-03-0${c}T06:07:08 +0000"
        git commit -q -m "commit $c" -m "body of commit $c"
        [ "$c" = 3 ] && git branch side
    done
    git log --stat --format='%H %an <%ae> %ad %cd %s' --date=iso
    git diff HEAD~4 HEAD | sha256sum
    git diff --stat side main
    git gc -q
    git fsck --full --no-progress
    git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
    git log --format=%H --all | sort
    git blame -s src/file00.txt | sha256sum
    git grep -c 'commit 5' | head -5
    git rev-parse HEAD^{tree}
}

case_gcc() {
    set -e
    # a generated C program: many functions, a switch table, string tables
    awk 'BEGIN {
        print "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>";
        for (i = 0; i < 600; i++) {
            printf "static unsigned long f%d(unsigned long x) {\n", i;
            printf "    unsigned long a[%d];\n    for (int k = 0; k < %d; k++) a[k] = x * %d + k;\n", 8 + i % 24, 8 + i % 24, i + 3;
            printf "    unsigned long s = 0;\n    for (int k = 0; k < %d; k++) s = s * 31 + (a[k] ^ (a[k] >> %d));\n", 8 + i % 24, 1 + i % 13;
            printf "    return s + %s;\n}\n", (i > 0 ? sprintf("f%d(x >> 1) %% 7919", i - 1) : "1");
        }
        print "static const char *names[] = {";
        for (i = 0; i < 600; i++) printf "    \"name_%d_%s\",\n", i, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26);
        print "};";
        print "int main(void) {\n    unsigned long t = 0;\n    char *buf = malloc(1 << 20);\n    size_t len = 0;";
        print "    for (unsigned long x = 1; x < 40; x++) {\n        switch (x % 600) {";
        for (i = 0; i < 600; i += 7) printf "        case %d: t += f%d(x); break;\n", i, i;
        print "        default: t += f599(x);\n        }\n    }";
        print "    for (int i = 0; i < 600; i++) { size_t n = strlen(names[i]); memcpy(buf + len, names[i], n); len += n; }";
        print "    printf(\"%lu %zu %.20s\\n\", t, len, buf + 1000);\n    free(buf);\n    return 0;\n}";
    }' >prog.c
    gcc -O2 -Wall -o prog prog.c
    ./prog
    sha256sum <prog
    gcc -O0 -g -c prog.c -o prog_g.o
    gcc -O2 -S -o - prog.c | grep -c 'call' || true
    g++ -std=c++17 -O1 -fsyntax-only -x c++ - <<'CPP'
#include <map>
#include <string>
#include <vector>
#include <regex>
#include <iostream>
int main() { std::map<std::string, std::vector<std::regex>> m; std::cout << m.size(); }
CPP
    echo "c++ syntax check ok"
}

case_perl() {
    perl "$HERE/workload.pl"
}

case_sort() {
    set -e
    sort -n -k1,1 "$SHARED/sort_input.txt" | sha256sum
    sort -t "$(printf '\t')" -k2 -S 16M --parallel=2 -T . "$SHARED/sort_input.txt" | sha256sum
    sort -u -k2,2 "$SHARED/sort_input.txt" | wc -l
}

case_sqlite3() {
    set -e
    sqlite3 test.db <<'SQL'
PRAGMA journal_mode = WAL;
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city INTEGER, score REAL);
CREATE TABLE cities (id INTEGER PRIMARY KEY, cname TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO people SELECT x, 'person_' || (x * 7919 % 1000003), x % 500, (x * 31 % 997) / 7.0 FROM c;
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 499)
INSERT INTO cities SELECT x, 'city_' || hex(x * 2654435761 % 4294967296) FROM c;
CREATE INDEX people_city ON people(city);
CREATE INDEX people_name ON people(name);
SQL
    sqlite3 test.db <<'SQL'
.mode list
SELECT count(*), sum(city), round(sum(score), 2) FROM people;
SELECT c.cname, count(*), round(avg(p.score), 3) FROM people p JOIN cities c ON c.id = p.city
 GROUP BY c.id ORDER BY 3 DESC, 1 LIMIT 5;
SELECT name FROM people WHERE name > 'person_99' ORDER BY name LIMIT 3;
SELECT city, score, rank() OVER (PARTITION BY city ORDER BY score DESC, id) FROM people
 WHERE city < 3 ORDER BY city, 3 LIMIT 6;
SELECT group_concat(name, ',') IS NOT NULL, length(group_concat(name, ',')) FROM people WHERE id % 100 = 0;
DELETE FROM people WHERE id % 5 = 0;
UPDATE people SET name = name || '_' || printf('%08d', id * 3) WHERE city = 7;
SELECT count(*) FROM people;
PRAGMA integrity_check;
VACUUM;
SELECT count(*), max(length(name)) FROM people;
SQL
}

case_cxx_prog() {
    "$SHARED/cxx_prog"
}

# HAKMEM_STATS=1: statistics go to stderr, stdout must be unchanged.
case_stats() {
    set -e
    export HAKMEM_STATS=1
    "$SHARED/cxx_prog"
    "$PYTHON" -c 'import json; print(json.dumps({str(i): list(range(i % 20)) for i in range(20000)}, sort_keys=True)[:2000])'
    head -c 2000000 "$SHARED/sort_input.txt" | sort | sha256sum
    perl -e 'my %h; $h{$_ % 1000} .= $_ for 1..100000; print scalar(keys %h), "\n"'
}

export -f case_python3 case_python3_sqlite3 case_git case_gcc case_perl case_sort case_sqlite3 \
    case_cxx_prog case_stats

CASES="python3 python3_sqlite3 git gcc perl sort sqlite3 cxx_prog stats"
passed=0
failed=0
failed_names=()

# run_mode NAME MODE: runs case_NAME in $TMP/NAME.MODE; sets out/err/rc vars.
run_mode() {
    local name=$1 mode=$2 dir="$TMP/$1.$2"
    mkdir -p "$dir"
    (
        cd "$dir" || exit 99
        if [ "$mode" = preload ]; then
            export LD_PRELOAD="$LIB_SO"
        fi
        exec timeout -k 5 "$TIMEOUT" bash -c "case_$name" </dev/null
    ) >"$TMP/$name.$mode.out" 2>"$TMP/$name.$mode.err"
    echo $?
}

for name in $CASES; do
    if [ -n "${REAL_ONLY:-}" ]; then
        case " $REAL_ONLY " in *" $name "*) ;; *) continue ;; esac
    fi
    t0=$SECONDS
    rc_plain=$(run_mode "$name" plain)
    rc_pre=$(run_mode "$name" preload)
    out_plain="$TMP/$name.plain.out" out_pre="$TMP/$name.preload.out"
    problems=()
    [ "$rc_plain" -eq 0 ] || problems+=("reference run (no preload) exited with $rc_plain")
    [ "$rc_plain" -eq "$rc_pre" ] || problems+=("exit status differs: plain $rc_plain, preload $rc_pre")
    [ -s "$out_plain" ] || problems+=("reference run printed nothing")
    cmp -s "$out_plain" "$out_pre" || problems+=("stdout differs")
    if [ "$name" = stats ] && [ ! -s "$TMP/$name.preload.err" ]; then
        problems+=("HAKMEM_STATS=1 printed no statistics on stderr")
    fi
    if [ ${#problems[@]} -eq 0 ]; then
        echo "PASS $name"
        passed=$((passed + 1))
        rm -rf "$TMP/$name.plain" "$TMP/$name.preload"
        continue
    fi
    echo "FAIL $name"
    echo "    after $((SECONDS - t0))s"
    failed=$((failed + 1))
    failed_names+=("$name")
    for p in "${problems[@]}"; do echo "    $p"; done
    [ "$rc_pre" -gt 128 ] && echo "    preload run killed by signal $((rc_pre - 128)) ($(kill -l $((rc_pre - 128)) 2>/dev/null))"
    [ "$rc_pre" -eq 124 ] && echo "    preload run timed out after ${TIMEOUT}s"
    if ! cmp -s "$out_plain" "$out_pre"; then
        echo "    --- stdout diff (plain vs preload) ---"
        diff "$out_plain" "$out_pre" | head -n 30 | cut -c1-300 | sed "s/^/    /"
    fi
    echo "    --- stderr, plain run (tail) ---"
    tail -n 15 "$TMP/$name.plain.err" | sed 's/^/    | /'
    echo "    --- stderr, preload run (tail) ---"
    tail -n 25 "$TMP/$name.preload.err" | sed 's/^/    | /'
    rm -rf "$TMP/$name.plain" "$TMP/$name.preload"
done

[ $failed -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
