# Helpers shared by tests/real/servers/*.sh (sourced, not run).
#
#   srv_init NAME LIB       checks LIB, sets LIB_SO (absolute), SRV_TMP (a
#                           temporary directory removed at exit), SRV_NAME
#   srv_apt PACKAGE..       installs Debian packages (root or sudo -n)
#   srv_need CMD PACKAGE..  installs the Debian packages if CMD is missing
#   srv_pass MSG / srv_fail MSG   count and print a check's result
#   srv_free_port           prints a free TCP port on 127.0.0.1
#   srv_summary             prints "N passed, N failed", returns non-zero on failure
#
# Every process a script starts is stopped by its PID; srv_track PID adds a
# PID to the list that the exit trap kills (TERM, then KILL) if still alive.

srv_init() {
    SRV_NAME=$1
    if [ $# -ne 2 ] || [ ! -f "$2" ]; then
        echo "usage: $0 LIB_SO   (path to libhakmem.so or libhakmem_hardened.so)" >&2
        exit 2
    fi
    LIB_SO=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
    SRV_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-$SRV_NAME.XXXXXX")
    SRV_PIDS=()
    SRV_PASS=0
    SRV_FAIL=0
    trap srv_cleanup EXIT
    trap 'exit 130' INT TERM
    unset LD_PRELOAD
    for v in $(compgen -e | grep '^HAKMEM_' || true); do unset "$v"; done
    export LC_ALL=C TZ=UTC
}

srv_track() { SRV_PIDS+=("$1"); }

srv_cleanup() {
    local pid
    for pid in "${SRV_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    if [ -n "${SRV_KEEP:-}" ]; then
        echo "$SRV_NAME: outputs kept in $SRV_TMP"
    else
        rm -rf "$SRV_TMP"
    fi
}

# srv_apt PACKAGE...: installs Debian packages (as root, or with sudo -n)
srv_apt() {
    local sudo=
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
            echo "$SRV_NAME: cannot install $* (not root, no sudo)" >&2
            return 1
        fi
    fi
    echo "$SRV_NAME: installing $*"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >"$SRV_TMP/apt.log" 2>&1 ||
        { $sudo apt-get update -q >>"$SRV_TMP/apt.log" 2>&1 &&
          $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$SRV_TMP/apt.log" 2>&1; } ||
        { tail -5 "$SRV_TMP/apt.log" >&2; return 1; }
}

# srv_need CMD PACKAGE...: installs the packages if CMD is missing
srv_need() {
    local cmd=$1
    shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    srv_apt "$@" || return 1
    command -v "$cmd" >/dev/null 2>&1
}

srv_pass() { SRV_PASS=$((SRV_PASS + 1)); echo "PASS $SRV_NAME: $*"; }
srv_fail() { SRV_FAIL=$((SRV_FAIL + 1)); echo "FAIL $SRV_NAME: $*"; }
srv_check() { # srv_check MSG COMMAND...
    local msg=$1
    shift
    if "$@"; then srv_pass "$msg"; else srv_fail "$msg"; fi
}

srv_free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

srv_summary() {
    echo "$SRV_PASS passed, $SRV_FAIL failed"
    [ "$SRV_FAIL" -eq 0 ]
}
