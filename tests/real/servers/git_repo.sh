#!/usr/bin/env bash
# git on a generated repository, with and without hakmem.
#
#   tests/real/servers/git_repo.sh LIB_SO
#
# In each mode (plain, then LD_PRELOAD=LIB_SO for every git command) builds
# the same repository from scratch: GIT_REPO_COMMITS commits (default 300)
# over about 200 files in nested directories (files added, rewritten,
# renamed, deleted; a few of 2000 lines), with fixed authors, committers
# and dates, so both modes must produce the very same commit hashes. Then runs, and
# compares between the modes:
#   git log --stat / -p (a range), log --graph --all, shortlog, rev-list,
#   diff between distant commits (and --stat, -M), blame of several files,
#   grep, archive (sha256 of the tar), a branch and merge, gc (then
#   count-objects and the sorted object list), repack -adf --depth=50,
#   fsck --full --strict.
# Each command must exit 0 in both modes and print the same output.
# Prints PASS/FAIL lines and "N passed, N failed"; exit non-zero on failure.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
srv_init git_repo "$@"
srv_need git git || { srv_fail "git not available"; srv_summary; exit 1; }
COMMITS=${GIT_REPO_COMMITS:-300}

export GIT_CONFIG_NOSYSTEM=1 HOME=$SRV_TMP/home GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME"
export GIT_AUTHOR_NAME="Ada Author" GIT_AUTHOR_EMAIL="ada@example.org"
export GIT_COMMITTER_NAME="Cy Committer" GIT_COMMITTER_EMAIL="cy@example.org"

# The content generator: deterministic, no randomness from the environment.
gen_commit() { # gen_commit N  (in the work tree): rewrites 6 files
    awk -v n="$1" 'BEGIN {
        srand(n * 7919 + 13);
        split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu", w, " ");
        for (k = 0; k < 6; k++) {
            f = int(rand() * 200);
            d = "src/d" (f % 7) "/sub" (f % 3);
            path = d "/file" f ".txt";
            lines = 20 + int(rand() * 80);
            if (f % 50 == 0) lines = 2000;   # a few large files
            # line i changes every (1 + i % 5) commits: blame has history
            for (i = 0; i < lines; i++)
                printf "%s line %d: %s %s\n", path, i, w[1 + (i + int(n / (1 + i % 5))) % 12],
                    w[1 + (i * 7) % 12] > path;
            close(path);
        }
    }'
}

G() { # G MODE args...: git, preloaded in the hakmem mode
    local mode=$1
    shift
    if [ "$mode" = hakmem ]; then LD_PRELOAD="$LIB_SO" git "$@"; else git "$@"; fi
}

build_repo() { # build_repo MODE DIR
    local mode=$1
    local dir=$2 i t
    G "$mode" init -q -b main "$dir" || return 1
    (
        cd "$dir" || exit 1
        G "$mode" config user.name x && G "$mode" config core.autocrlf false &&
            G "$mode" config gc.auto 0 || exit 1
        for i in 0 1 2 3 4 5 6; do mkdir -p src/d$i/sub0 src/d$i/sub1 src/d$i/sub2; done
        for ((i = 1; i <= COMMITS; i++)); do
            gen_commit "$i"
            if ((i % 25 == 0)); then
                # a rename and a deletion now and then
                t=$(G "$mode" ls-files | sed -n "$((i % 17 + 1))p")
                [ -n "$t" ] && G "$mode" mv -f "$t" "$t.renamed"
                t=$(G "$mode" ls-files | sed -n "$((i % 23 + 2))p")
                [ -n "$t" ] && G "$mode" rm -q -f "$t"
            fi
            G "$mode" add -A || exit 1
            export GIT_AUTHOR_DATE="@$((1700000000 + i * 3600)) +0000"
            export GIT_COMMITTER_DATE="@$((1700000000 + i * 3600 + 60)) +0000"
            G "$mode" commit -q -m "commit $i" -m "Generated commit number $i." || exit 1
        done
        # a side branch and a merge
        G "$mode" checkout -q -b side HEAD~20 &&
            gen_commit 100001 && G "$mode" add -A &&
            GIT_AUTHOR_DATE="@1800000000 +0000" GIT_COMMITTER_DATE="@1800000000 +0000" \
                G "$mode" commit -q -m "side work" &&
            G "$mode" checkout -q main &&
            GIT_AUTHOR_DATE="@1800003600 +0000" GIT_COMMITTER_DATE="@1800003600 +0000" \
                G "$mode" merge -q --no-edit -X theirs side >/dev/null 2>&1 || exit 1
    )
}

# The commands compared between the modes: "name|git arguments"
CMDS=(
"head|rev-parse HEAD"
"rev-list|rev-list --all --count"
"log-stat|log --stat --format=%H%n%an%n%ad%n%s%n%b"
"log-patch|log -p -50 --format=%H:%s"
"log-graph|log --graph --oneline --all"
"log-follow|log --format=%H --follow -- src/d0/sub0/file0.txt"
"shortlog|shortlog -sne HEAD"
"diff|diff HEAD~250 HEAD"
"diff-stat|diff --stat -M HEAD~150 HEAD~10"
"diff-words|diff --word-diff HEAD~3 HEAD"
"blame-1|blame -s src/d0/sub0/file0.txt"
"blame-2|blame -w -M -C src/d1/sub2/file50.txt"
"blame-3|blame --line-porcelain src/d3/sub0/file150.txt"
"grep|grep -n -e dolor -e file17 HEAD"
"ls-tree|ls-tree -r -l HEAD"
"cat-file|cat-file -p HEAD~7"
)

run_mode() {
    local mode=$1
    local dir=$SRV_TMP/repo-$mode t0=$SECONDS
    if build_repo "$mode" "$dir" >"$SRV_TMP/build-$mode.log" 2>&1; then
        srv_pass "[$mode] built $COMMITS commits + merge in $((SECONDS - t0)) s"
    else
        srv_fail "[$mode] building the repository failed"
        tail -5 "$SRV_TMP/build-$mode.log"
        return
    fi
    local entry name args rc
    for entry in "${CMDS[@]}"; do
        name=${entry%%|*}
        args=${entry#*|}
        # shellcheck disable=SC2086
        (cd "$dir" && G "$mode" $args) >"$SRV_TMP/$mode.$name" 2>"$SRV_TMP/$mode.$name.err"
        rc=$?
        [ $rc -eq 0 ] || srv_fail "[$mode] git $args: exit $rc"
    done
    (cd "$dir" && G "$mode" archive --format=tar HEAD | sha256sum) >"$SRV_TMP/$mode.archive"
    # gc, repack and fsck: outputs that do not depend on threading
    (cd "$dir" && G "$mode" gc -q --prune=now) >"$SRV_TMP/$mode.gc.err" 2>&1 ||
        srv_fail "[$mode] git gc failed"
    (cd "$dir" && G "$mode" count-objects -v | grep -E '^(count|in-pack|garbage):') \
        >"$SRV_TMP/$mode.count-objects"
    (cd "$dir" && G "$mode" cat-file --batch-all-objects --batch-check | sort) >"$SRV_TMP/$mode.objects"
    (cd "$dir" && G "$mode" repack -q -a -d -f --depth=50 --window=50) >"$SRV_TMP/$mode.repack.err" 2>&1 ||
        srv_fail "[$mode] git repack -adf failed"
    (cd "$dir" && G "$mode" fsck --full --strict --no-dangling) >"$SRV_TMP/$mode.fsck" 2>&1
    rc=$?
    srv_check "[$mode] git fsck --full --strict after gc and repack" test $rc = 0
    grep -q 'hakmem' "$SRV_TMP"/$mode.*.err "$SRV_TMP/$mode.fsck" 2>/dev/null &&
        srv_fail "[$mode] hakmem reported an error (see $mode.*.err)"
    srv_pass "[$mode] ${#CMDS[@]} commands, archive, gc, repack, fsck ran ($((SECONDS - t0)) s in all)"
}

run_mode plain
run_mode hakmem
for entry in "${CMDS[@]}" "archive|" "count-objects|" "objects|" "fsck|"; do
    name=${entry%%|*}
    if [ -f "$SRV_TMP/plain.$name" ] && cmp -s "$SRV_TMP/plain.$name" "$SRV_TMP/hakmem.$name"; then
        srv_pass "same output: git ${entry#*|} ($name, $(wc -l <"$SRV_TMP/plain.$name") lines)"
    else
        srv_fail "different output: $name"
        diff "$SRV_TMP/plain.$name" "$SRV_TMP/hakmem.$name" 2>&1 | head -5 | sed 's/^/      /'
    fi
done
echo "    HEAD: $(cat "$SRV_TMP/plain.head" 2>/dev/null) (plain), $(cat "$SRV_TMP/hakmem.head" 2>/dev/null) (hakmem)"
srv_summary
