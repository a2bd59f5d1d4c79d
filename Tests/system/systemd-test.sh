#!/usr/bin/env bash
# System test of the Debian package against a real systemd.
#
#   Tests/system/systemd-test.sh build/deb/filer_<version>_<arch>.deb
#
# Run as root. Boots systemd in a container (systemd-nspawn, from Debian's
# systemd-container) over a copy-on-write overlay of the host's own root,
# installs the package inside it and checks what an operator would do with it:
# systemctl, journalctl, kill, reload, stop, a broken config, purge, the
# shell completions as bash loads them, and then the package's autopkgtest
# (debian/tests/) with Debian's runner. The
# container shares the host's network, so requests go from the host to
# tcp://127.0.0.1:60401 (python3-zmq as the client).
#
# Prints one "ok - ..." / "not ok - ..." line per check, diagnostics as
# "# ..." lines, and ends with "N passed, M failed"; exits non-zero if any
# check failed. The container, the overlay and the temporary directory are
# always torn down, also on failure or interrupt; only the processes this
# script started are ended, by their process id.
#
# Environment: FILER_TEST_KEEP=1 keeps the temporary directory (console log,
# overlay upper layer) for a look after a failure.

# Functions run from traps and from check(); the single-quoted snippets are
# expanded later on purpose (eval, nsenter, awk):
# shellcheck disable=SC2317,SC2016

set -u -o pipefail

readonly FRONTEND_PORT=60401
readonly ENDPOINT="tcp://127.0.0.1:${FRONTEND_PORT}"
readonly PYTHON=/usr/bin/python3 # Debian's, which has python3-zmq
readonly BOOT_TIMEOUT=120        # seconds for the container to finish booting

passed=0
failed=0
T=""
NSPAWN_PID=""
CT_PID=""
LOAD_PID=""
MACHINE="filer-test-$$-${RANDOM}"

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
diag() { sed 's/^/# /'; }
# check DESCRIPTION COMMAND...: one check, passed when COMMAND succeeds.
check() {
    local description=$1
    shift
    if "$@"; then ok "$description"; else not_ok "$description"; fi
}

finish() {
    echo "${passed} passed, ${failed} failed"
    [ "$failed" -eq 0 ]
}

# Fails the whole run (counted as one failed check) when a step every later
# check depends on did not work.
bail_out() {
    not_ok "$*"
    exit 1 # the EXIT trap tears down and prints the totals
}

# --- the container ---------------------------------------------------------

# in_ct CMD...: runs CMD inside the container (all its namespaces), bounded
# by IN_CT_TIMEOUT seconds (120 unless set).
in_ct() {
    timeout "${IN_CT_TIMEOUT:-120}" nsenter -t "$CT_PID" -a env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 DEBIAN_FRONTEND=noninteractive \
        "$@"
}

container_alive() { [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; }

teardown() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        # A clean poweroff first; then SIGKILL to the container's init, which
        # ends every process in its PID namespace; then to nspawn itself.
        if [ -n "$CT_PID" ] && kill -0 "$CT_PID" 2>/dev/null; then
            timeout 10 nsenter -t "$CT_PID" -a systemctl poweroff --no-block >/dev/null 2>&1 || true
        fi
        local _
        for _ in $(seq 1 20); do
            kill -0 "$NSPAWN_PID" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$NSPAWN_PID" 2>/dev/null; then
            echo "# the container did not power off within 10 s: SIGKILL" >&2
            [ -n "$CT_PID" ] && kill -KILL "$CT_PID" 2>/dev/null
            for _ in $(seq 1 10); do
                kill -0 "$NSPAWN_PID" 2>/dev/null || break
                sleep 0.5
            done
            kill -KILL "$NSPAWN_PID" 2>/dev/null
        fi
    fi
    [ -n "$NSPAWN_PID" ] && wait "$NSPAWN_PID" 2>/dev/null
    if [ -n "$T" ]; then
        if mountpoint -q "$T/root"; then
            umount "$T/root" 2>/dev/null || {
                sleep 1
                umount "$T/root" 2>/dev/null
            } || umount -l "$T/root"
        fi
        if mountpoint -q "$T/root"; then
            echo "# $T/root is still mounted; leaving $T in place" >&2
        elif [ "${FILER_TEST_KEEP:-}" = 1 ]; then
            echo "# kept $T (console log: $T/console.log)" >&2
        else
            rm -rf --one-file-system "$T"
        fi
    fi
    finish
    local result=$?
    [ "$status" -ne 0 ] && [ "$result" -eq 0 ] && result=$status
    exit "$result"
}

# --- the client ------------------------------------------------------------

# request PATH: one request from the host; prints the reply (JSON) or fails.
request() {
    "$PYTHON" - "$ENDPOINT" "$1" <<'EOF'
import json, sys, zmq
endpoint, path = sys.argv[1], sys.argv[2]
context = zmq.Context()
sock = context.socket(zmq.REQ)
sock.setsockopt(zmq.LINGER, 0)
sock.connect(endpoint)
sock.send_json({"path": path})
if not sock.poll(5000):
    sys.exit("no reply within 5 s from " + endpoint)
print(json.dumps(sock.recv_json()))
sock.close()
context.term()
EOF
}

# request_ok PATH EXPECTED_FILE: the reply's content is that file's.
request_ok() {
    local reply
    reply=$(request "$1") || return 1
    "$PYTHON" - "$reply" "$2" <<'EOF' 2>&1 | diag
import json, sys
reply = json.loads(sys.argv[1])
expected = open(sys.argv[2], encoding="utf-8").read()
if reply.get("content") != expected or not isinstance(reply.get("pid"), int) \
        or not isinstance(reply.get("timestamp"), int):
    sys.exit("unexpected reply: " + sys.argv[1])
EOF
}

# load_start SECONDS OUT: plain REQ clients with no retries send requests from the
# host for SECONDS (bounded), in the background; OUT gets a JSON summary:
# sent, received, lost (no reply within 5 s), errors (a reply that is not the file).
load_start() {
    "$PYTHON" - "$ENDPOINT" "$1" "$2" "$T/hello.txt" <<'EOF' &
import json, sys, threading, time, zmq
endpoint, seconds, out, expected = sys.argv[1], float(sys.argv[2]), sys.argv[3], open(sys.argv[4]).read()
counts = {"sent": 0, "received": 0, "lost": 0, "errors": 0}
lock = threading.Lock()
def client():
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.send_json({"path": "hello.txt"})
        with lock:
            counts["sent"] += 1
        if not sock.poll(5000):
            with lock:
                counts["lost"] += 1
            return
        reply = sock.recv_json()
        with lock:
            counts["received"] += 1
            if reply.get("content") != expected:
                counts["errors"] += 1
    sock.close()
threads = [threading.Thread(target=client) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
json.dump(counts, open(out, "w"))
EOF
    LOAD_PID=$!
}

# load_result OUT FIELD: one number of the summary.
load_result() { "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# --- the journal -----------------------------------------------------------

# journal_json: the unit's journal entries as JSON lines.
journal_json() { in_ct journalctl -u filer.service -o json --no-pager 2>/dev/null; }

# journal_query SCRIPT [ARGS]: runs a python snippet over the entries
# (`entries`, a list of dicts); its exit status is the result.
journal_query() {
    local script=$1
    shift
    journal_json | "$PYTHON" -c '
import json, sys
entries = []
for line in sys.stdin:
    try:
        entries.append(json.loads(line))
    except ValueError:
        pass
def text(entry):
    message = entry.get("MESSAGE", "")
    return bytes(message).decode("utf-8", "replace") if isinstance(message, list) else message
'"$script" "$@"
}

# online_pids: the WORKER_PID of each "Worker PID is online." entry, one a line.
online_pids() {
    journal_query '
import re
for entry in entries:
    match = re.fullmatch(r"Worker (\d+) is online\.", text(entry))
    if match:
        print(entry.get("WORKER_PID", "missing"))
'
}

# online_entries_native: every "Worker PID is online." line is a native entry
# (_TRANSPORT=journal) with WORKER_PID equal to the PID in the message,
# SYSLOG_IDENTIFIER=filer and a PRIORITY; prints how many there are.
online_entries_native() {
    journal_query '
import re
count, bad = 0, []
for entry in entries:
    match = re.fullmatch(r"Worker (\d+) is online\.", text(entry))
    if not match:
        continue
    count += 1
    if (entry.get("_TRANSPORT") != "journal" or entry.get("WORKER_PID") != match.group(1)
            or entry.get("SYSLOG_IDENTIFIER") != "filer" or "PRIORITY" not in entry):
        bad.append({k: entry.get(k) for k in ("MESSAGE", "_TRANSPORT", "WORKER_PID", "SYSLOG_IDENTIFIER", "PRIORITY")})
for entry in bad:
    print("# not native: " + json.dumps(entry), file=sys.stderr)
print(count)
sys.exit(1 if bad or count == 0 else 0)
'
}

# journal_mentions WORD...: some entry's MESSAGE contains every WORD.
journal_mentions() {
    journal_query '
sys.exit(0 if any(all(w in text(e) for w in sys.argv[1:]) for e in entries) else 1)
' "$@"
}

# journal_has_message REGEX: some entry's MESSAGE matches it (whole message).
journal_has_message() {
    journal_query '
import re
sys.exit(0 if any(re.fullmatch(sys.argv[1], text(e)) for e in entries) else 1)
' "$1"
}

# wait_for SECONDS COMMAND...: retries COMMAND every half second.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.5
    done
}

show() { in_ct systemctl show -p "$1" --value filer.service; }
is_active() { [ "$(in_ct systemctl is-active filer.service)" = "$1" ]; }

filer_pids_in_container() {
    in_ct sh -c 'for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/bin/filer ] && echo "${p#/proc/}"
    done; true'
}

dump_unit_state() {
    {
        in_ct systemctl status filer.service --no-pager -l -n 30
        in_ct journalctl -u filer.service --no-pager -n 40 -o short-monotonic
    } 2>&1 | diag
}

# --- preflight -------------------------------------------------------------

DEB=${1:-}
if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then
    echo "usage: $0 path/to/filer_<version>_<arch>.deb" >&2
    exit 64
fi
DEB=$(realpath "$DEB")
# The source tree this script is in: the autopkgtest runner reads its debian/.
SOURCE_DIR=$(realpath "$(dirname "$0")/../..")

trap teardown EXIT
trap 'not_ok "interrupted (SIGINT)"; exit 130' INT
trap 'not_ok "interrupted (SIGTERM)"; exit 143' TERM

[ "$(id -u)" -eq 0 ] || bail_out "preflight: must run as root"
for tool in systemd-nspawn nsenter mountpoint timeout "$PYTHON"; do
    command -v "$tool" >/dev/null || bail_out "preflight: $tool is missing (apt-get install systemd-container util-linux python3-zmq)"
done
# The completion checks load the package's script as an interactive bash would.
[ -f /usr/share/bash-completion/bash_completion ] || bail_out "preflight: bash-completion is missing (apt-get install bash-completion)"
command -v autopkgtest >/dev/null || bail_out "preflight: autopkgtest is missing (apt-get install autopkgtest)"
"$PYTHON" -c 'import zmq' 2>/dev/null || bail_out "preflight: python3-zmq is missing (apt-get install python3-zmq)"
if "$PYTHON" - "$FRONTEND_PORT" <<'EOF'; then :; else bail_out "preflight: TCP port ${FRONTEND_PORT} on 127.0.0.1 is in use on the host; stop whatever listens there"; fi
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen(1)
except OSError as error:
    sys.exit(str(error))
EOF
if dpkg-query -W -f='${Status}' filer 2>/dev/null | grep -q ' installed$'; then
    bail_out "preflight: filer is installed on the host; the container (an overlay of the host) would inherit it"
fi

# --- boot --------------------------------------------------------------------

T=$(mktemp -d /var/tmp/filer-systemd-test.XXXXXX)
mkdir -p "$T/upper" "$T/work" "$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root" ||
    bail_out "boot: mount the overlay of / at $T/root"

# The package goes into the overlay's upper layer, so any host path works
# (nspawn mounts a fresh /tmp in the container).
mkdir -p "$T/root/var/lib/filer-system-test"
cp "$DEB" "$T/root/var/lib/filer-system-test/" || bail_out "boot: copy $DEB into the container"
CT_DEB=/var/lib/filer-system-test/$(basename "$DEB")

# Images made for Docker carry a policy-rc.d that forbids maintainer scripts
# to start services (exit 101); a Debian server has none, and the package must
# start filer by itself. Removed in the container's layer only.
if [ -e "$T/root/usr/sbin/policy-rc.d" ]; then
    echo "# removing /usr/sbin/policy-rc.d in the container (the host's forbids starting services)"
    rm -f "$T/root/usr/sbin/policy-rc.d"
fi

systemd-nspawn -D "$T/root" -M "$MACHINE" --register=no --keep-unit --boot \
    --console=read-only --link-journal=no >"$T/console.log" 2>&1 </dev/null &
NSPAWN_PID=$!

# The container's init is nspawn's child.
wait_for 30 eval '[ -n "$(cat /proc/$NSPAWN_PID/task/*/children 2>/dev/null)" ]' ||
    bail_out "boot: systemd-nspawn started the container's init"
CT_PID=$(cat /proc/"$NSPAWN_PID"/task/*/children | tr ' ' '\n' | grep -m1 .)
[ "$(readlink /proc/"$CT_PID"/ns/pid)" != "$(readlink /proc/self/ns/pid)" ] ||
    bail_out "boot: the container's init ($CT_PID) is in a PID namespace of its own"

state=""
deadline=$((SECONDS + BOOT_TIMEOUT))
while [ "$SECONDS" -lt "$deadline" ] && container_alive; do
    state=$(in_ct systemctl is-system-running 2>/dev/null)
    case "$state" in running | degraded) break ;; esac
    sleep 1
done
case "$state" in
running | degraded)
    ok "boot: systemd in container $MACHINE is up (is-system-running: $state)"
    [ "$state" = degraded ] && in_ct systemctl --failed --no-pager --plain 2>&1 | diag
    ;;
*)
    tail -n 30 "$T/console.log" | diag
    bail_out "boot: systemd in container $MACHINE is up within ${BOOT_TIMEOUT}s (is-system-running: ${state:-no answer})"
    ;;
esac

# --- install -----------------------------------------------------------------

if in_ct dpkg -i "$CT_DEB" >"$T/dpkg-install.log" 2>&1; then
    ok "install: dpkg -i $(basename "$DEB")"
else
    diag <"$T/dpkg-install.log"
    bail_out "install: dpkg -i $(basename "$DEB")"
fi

if wait_for 10 is_active active; then
    ok "install: the package started filer.service (is-active: active)"
else
    not_ok "install: the package started filer.service (is-active: $(in_ct systemctl is-active filer.service))"
    dump_unit_state
fi
check "install: filer.service is enabled" test "$(in_ct systemctl is-enabled filer.service)" = enabled
check "install: /etc/filer/filer.yaml is a conffile" \
    eval 'in_ct dpkg-query -W -f="\${Conffiles}" filer | grep -q "^ /etc/filer/filer.yaml "'
if in_ct test -f /srv/filer/hello.txt; then
    ok "install: /srv/filer/hello.txt exists"
    in_ct cat /srv/filer/hello.txt >"$T/hello.txt"
else
    not_ok "install: /srv/filer/hello.txt exists"
    echo "(no /srv/filer/hello.txt)" >"$T/hello.txt"
fi

# --- the keypair the package made ---------------------------------------------

# stat_of PATH: "owner:group mode" of PATH in the container.
stat_of() { in_ct stat -c '%U:%G %a' "$1" 2>/dev/null; }
check "keys: /etc/filer/keys is filer:filer 700 ($(stat_of /etc/filer/keys))" test "$(stat_of /etc/filer/keys)" = "filer:filer 700"
check "keys: filer.key_secret is filer:filer 600 ($(stat_of /etc/filer/keys/filer.key_secret))" \
    test "$(stat_of /etc/filer/keys/filer.key_secret)" = "filer:filer 600"
check "keys: filer.key is a public certificate" eval 'in_ct grep -q "^ *public-key = " /etc/filer/keys/filer.key && ! in_ct grep -q secret-key /etc/filer/keys/filer.key'
key_before=$(in_ct sha256sum /etc/filer/keys/filer.key_secret)
in_ct dpkg-reconfigure filer >/dev/null 2>&1 || true
check "keys: a second configure leaves the keypair as it was" test "$(in_ct sha256sum /etc/filer/keys/filer.key_secret)" = "$key_before"

# --- shell completions ---------------------------------------------------------

readonly BASH_COMPLETION=/usr/share/bash-completion/completions/filer
readonly ZSH_COMPLETION=/usr/share/zsh/vendor-completions/_filer
readonly FISH_COMPLETION=/usr/share/fish/vendor_completions.d/filer.fish

# completion WORD...: what bash offers for the last WORD of "filer WORD...", one
# a line, as an interactive shell gets it: bash-completion's loader finds the
# package's script by the command's name, and the function that script
# registers is called as bash calls it (command, current word, previous word).
completion() {
    in_ct bash -c '
source /usr/share/bash-completion/bash_completion || exit 1
_completion_loader filer
spec=$(complete -p filer)
[[ "$spec" == *" -F _filer "* ]] || { echo "# bash-completion did not load the package script: $spec" >&2; exit 1; }
COMP_WORDS=(filer "$@") COMP_CWORD=$# COMP_LINE="filer $*" COMPREPLY=()
COMP_POINT=${#COMP_LINE}
_filer filer "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf "%s\n" "${COMPREPLY[@]}"' completion "$@"
}

check "completions: bash, zsh and fish scripts are installed" \
    in_ct test -s "$BASH_COMPLETION" -a -s "$ZSH_COMPLETION" -a -s "$FISH_COMPLETION"
# zsh's compinit autoloads a file from its fpath only if it starts so.
check "completions: the zsh script starts with #compdef filer" \
    test "$(in_ct head -n 1 "$ZSH_COMPLETION")" = "#compdef filer"
offered=$(completion st | tr '\n' ' ')
check "completions: bash completes 'filer st' to 'status' (offered: ${offered:-nothing})" test "$offered" = "status "
offered=$(completion get --enc | tr '\n' ' ')
check "completions: bash completes 'filer get --enc' to '--encoding' (offered: ${offered:-nothing})" \
    test "$offered" = "--encoding "

security=$(in_ct systemd-analyze security --no-pager filer.service 2>/dev/null |
    sed -n 's/.*Overall exposure level for filer.service: \([0-9.]*\).*/\1/p')
check "install: systemd-analyze security filer.service scores 2.0 or lower (${security:-no score})" \
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.argv[1] and float(sys.argv[1]) <= 2.0 else 1)' "${security:-}"
watchdog_first=$(show WatchdogTimestampMonotonic)

# --- serve -------------------------------------------------------------------

check "serve: a request from the host over $ENDPOINT gets /srv/filer/hello.txt" \
    request_ok hello.txt "$T/hello.txt"

workers_expected=$(show StatusText | sed -n 's|^[0-9]*/\([0-9]*\) workers online.*|\1|p')
if count=$(online_entries_native); then
    if [ -n "$workers_expected" ] && [ "$count" -ge "$workers_expected" ]; then
        ok "journal: each 'Worker PID is online.' line is a native entry with WORKER_PID ($count lines, $workers_expected workers)"
    else
        not_ok "journal: each 'Worker PID is online.' line is a native entry with WORKER_PID ($count lines, ${workers_expected:-?} workers expected)"
    fi
else
    not_ok "journal: each 'Worker PID is online.' line is a native entry with WORKER_PID"
    journal_json | tail -n 20 | cut -c 1-400 | diag
fi

status_text=$(show StatusText)
if in_ct systemctl status filer.service --no-pager 2>/dev/null |
    grep -qE "Status: \"[0-9]+/[0-9]+ workers online"; then
    ok "status: systemctl status shows the STATUS= line ($status_text)"
else
    not_ok "status: systemctl status shows the STATUS= line"
    dump_unit_state
fi
if [[ "$status_text" =~ ^([0-9]+)/([0-9]+)\ workers\ online ]] &&
    [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[2]}" -gt 0 ]; then
    ok "status: every worker is online ($status_text)"
else
    not_ok "status: every worker is online (${status_text:-no STATUS=})"
fi

not_root=$(in_ct ps -o user= --ppid "$(show MainPID)" -p "$(show MainPID)" | sort -u | tr '\n' ' ')
check "identity: the master and its workers run as user filer (${not_root})" test "$not_root" = "filer "

# --- watchdog ----------------------------------------------------------------

# WatchdogSec=30s: a healthy daemon sends WATCHDOG=1 every 15 s, which moves
# the unit's WatchdogTimestamp on from the moment it became ready.
watchdog_pinged() { [ "$(show WatchdogTimestampMonotonic)" != "$watchdog_first" ]; }
check "watchdog: the daemon pings the watchdog (WatchdogUSec=$(show WatchdogUSec))" wait_for 20 watchdog_pinged

# --- a worker killed ---------------------------------------------------------

main_pid=$(show MainPID)
victim=""
for pid in $(online_pids | tac); do
    # A worker still running and a child of the master (container PIDs).
    if [ "$(in_ct awk '/^PPid:/ {print $2}' /proc/"$pid"/status 2>/dev/null)" = "$main_pid" ]; then
        victim=$pid
        break
    fi
done
if [ -n "$victim" ]; then
    before=$(online_pids | sort -u)
    if in_ct kill -KILL "$victim"; then
        ok "worker: kill -9 worker $victim (a WORKER_PID from the journal, child of MainPID $main_pid)"
    else
        not_ok "worker: kill -9 worker $victim"
    fi
    check "worker: the journal shows 'Worker $victim killed by signal SIGKILL'" \
        wait_for 15 journal_has_message "Worker $victim killed by signal SIGKILL"
    new_online() { [ -n "$(comm -13 <(echo "$before") <(online_pids | sort -u))" ]; }
    check "worker: a new worker comes online after the kill" wait_for 15 new_online
    check "worker: every worker is online again" \
        wait_for 15 eval '[[ "$(show StatusText)" =~ ^([0-9]+)/([0-9]+)\ workers ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]'
    check "worker: filer.service stays active" is_active active
    check "worker: requests still succeed" request_ok hello.txt "$T/hello.txt"
else
    not_ok "worker: found a running worker's WORKER_PID in the journal"
    dump_unit_state
fi

# --- reload ------------------------------------------------------------------

if in_ct systemctl reload filer.service 2>&1 | diag; then
    ok "reload: systemctl reload filer succeeds"
else
    not_ok "reload: systemctl reload filer succeeds"
    dump_unit_state
fi
# systemd 252 does not wait for a Type=notify service's RELOADING=1 ... READY=1:
# the unit is "reloading" for a moment after systemctl returns. It must come
# back to active and stay there.
stays_active() {
    local _ state
    wait_for 15 is_active active || return 1
    for _ in 1 2 3 4; do
        state=$(in_ct systemctl is-active filer.service)
        [ "$state" = active ] || {
            echo "# is-active: $state"
            return 1
        }
        sleep 0.5
    done
}
check "reload: filer.service is active again and stays active" stays_active
check "reload: requests still succeed" request_ok hello.txt "$T/hello.txt"

# --- operations: status, reload under load, the watchdog -------------------

# As an operator would: root in a login session, where XDG_RUNTIME_DIR is set.
status_out=$(in_ct env XDG_RUNTIME_DIR=/run/user/0 filer status 2>&1)
if [[ "$status_out" =~ workers\ +([0-9]+)/([0-9]+)\ online ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] &&
    grep -q "config     /etc/filer/filer.yaml" <<<"$status_out"; then
    ok "status: filer status inside the container shows every worker online"
else
    not_ok "status: filer status inside the container shows every worker online"
    diag <<<"$status_out"
fi
status_state() { in_ct filer status --json | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["state"])'; }
check "status: filer status --json says ready" test "$(status_state)" = ready

load_start 6 "$T/load-reload.json"
sleep 1.5
check "reload under load: systemctl reload filer succeeds" in_ct systemctl reload filer.service
wait "$LOAD_PID"
sent=$(load_result "$T/load-reload.json" sent) lost=$(load_result "$T/load-reload.json" lost)
errors=$(load_result "$T/load-reload.json" errors)
check "reload under load: every request got its reply (sent $sent, lost $lost, wrong $errors)" \
    test "$lost" = 0 -a "$errors" = 0 -a "$sent" -gt 100
check "reload under load: the journal says the workers were replaced (Reloaded)" \
    wait_for 10 journal_mentions "Reloaded:"
check "reload under load: filer.service is active" stays_active

# The watchdog, for real: a drop-in shortens WatchdogSec and turns on the test-only
# fault switch, which ends the proxy thread behind the supervisor's back. The pings
# must stop, and systemd must kill and restart the service.
in_ct mkdir -p /etc/systemd/system/filer.service.d
in_ct sh -c 'printf "[Service]\nWatchdogSec=3s\nEnvironment=FILER_TEST_FAULTS=1\n" > /etc/systemd/system/filer.service.d/watchdog-test.conf'
in_ct systemctl daemon-reload
in_ct systemctl restart filer.service
check "watchdog: filer restarted with WatchdogSec=3s" wait_for 15 is_active active
pid_before=$(show MainPID) restarts_before=$(show NRestarts)
fault_reply=$(in_ct "$PYTHON" -c '
import zmq
sock = zmq.Context().socket(zmq.REQ)
sock.setsockopt(zmq.LINGER, 0)
sock.connect("ipc:///run/filer/control.ipc")
sock.send(b"fault silence-proxy")
print(sock.recv().decode() if sock.poll(3000) else "no reply")
' 2>&1)
check "watchdog: the fault switch silenced the proxy ($fault_reply)" test "$fault_reply" = '{"fault":"silence-proxy"}'
restarted_by_watchdog() {
    [ "$(show NRestarts)" -gt "$restarts_before" ] && [ "$(show MainPID)" != "$pid_before" ] && is_active active
}
if wait_for 30 restarted_by_watchdog; then
    ok "watchdog: systemd killed and restarted the service (NRestarts $restarts_before -> $(show NRestarts), MainPID $pid_before -> $(show MainPID))"
else
    not_ok "watchdog: systemd killed and restarted the service (NRestarts $restarts_before -> $(show NRestarts))"
    dump_unit_state
fi
# grep reads all of it: with pipefail, a grep -q that stops at the match would
# fail the check whenever journalctl was still writing (SIGPIPE).
check "watchdog: the journal shows the watchdog timeout" \
    eval 'in_ct journalctl -u filer.service --no-pager | grep "Watchdog timeout" >/dev/null'
check "watchdog: requests succeed again" wait_for 10 request_ok hello.txt "$T/hello.txt"
in_ct rm -rf /etc/systemd/system/filer.service.d
in_ct systemctl daemon-reload
in_ct systemctl restart filer.service
check "watchdog: back to the shipped unit, active" wait_for 15 is_active active

# --- upgrade -----------------------------------------------------------------

# Installing the package again is an upgrade as far as the maintainer scripts
# go (configure with the old version): the service is restarted.
pid_before=$(show MainPID)
if in_ct dpkg -i "$CT_DEB" >"$T/dpkg-upgrade.log" 2>&1; then
    ok "upgrade: dpkg -i the package again"
else
    diag <"$T/dpkg-upgrade.log"
    not_ok "upgrade: dpkg -i the package again"
fi
pid_after=$(show MainPID)
check "upgrade: filer.service was restarted (MainPID $pid_before -> $pid_after) and is active" \
    eval '[ "$pid_after" != "$pid_before" ] && [ "$pid_after" != 0 ] && is_active active'
check "upgrade: requests still succeed" request_ok hello.txt "$T/hello.txt"

# --- stop --------------------------------------------------------------------

load_start 4 "$T/load-stop.json"
sleep 1.5
check "stop: systemctl stop filer under load succeeds" in_ct systemctl stop filer.service
wait "$LOAD_PID"
received=$(load_result "$T/load-stop.json" received) errors=$(load_result "$T/load-stop.json" errors)
# Requests still waiting in the frontend when it closed go unanswered (clients
# retry); every reply that came was the file.
check "stop: under load, every reply was right (received $received, wrong $errors)" \
    test "$errors" = 0 -a "$received" -gt 100
check "stop: filer.service is inactive" is_active inactive
result=$(show Result) exec_status=$(show ExecMainStatus)
check "stop: the daemon exited cleanly (Result=$result, ExecMainStatus=$exec_status)" \
    test "$result" = success -a "$exec_status" = 0
left=$(filer_pids_in_container | tr '\n' ' ')
check "stop: no filer process is left in the container${left:+ (left: $left)}" test -z "$left"
check "stop: the runtime directory /run/filer is gone" in_ct test ! -e /run/filer

# --- a broken configuration --------------------------------------------------

in_ct cp /etc/filer/filer.yaml /etc/filer/filer.yaml.good
in_ct sh -c 'echo "no_such_key: 1" >> /etc/filer/filer.yaml'
restarts_before=$(show NRestarts)
if in_ct systemctl restart filer.service >/dev/null 2>&1; then
    not_ok "broken config: systemctl restart filer fails"
else
    ok "broken config: systemctl restart filer fails"
fi
check "broken config: the unit fails (ActiveState=failed)" wait_for 10 is_active failed
exec_status=$(show ExecMainStatus)
check "broken config: the daemon exited with status 78 (ExecMainStatus=$exec_status)" test "$exec_status" = 78
check "broken config: the journal names the key and the file" \
    journal_mentions no_such_key /etc/filer/filer.yaml
# RestartPreventExitStatus=78: not one automatic restart, then or later.
restarts_failed=$(show NRestarts)
sleep 5
restarts_after=$(show NRestarts)
state_after=$(show ActiveState)
check "broken config: no restart loop (NRestarts $restarts_before -> $restarts_failed -> $restarts_after over 5 s, ActiveState=$state_after)" \
    test "$restarts_before" = "$restarts_failed" -a "$restarts_failed" = "$restarts_after" -a "$state_after" = failed
[ "$failed" -eq 0 ] || dump_unit_state
in_ct mv /etc/filer/filer.yaml.good /etc/filer/filer.yaml
check "broken config: once fixed, systemctl start filer brings it back" \
    eval 'in_ct systemctl start filer.service && is_active active && request_ok hello.txt "$T/hello.txt"'

# --- CURVE under systemd ------------------------------------------------------

# The package's keypair switched on, one client let in: it is served, a stranger
# is refused and the journal says so; then the plain configuration comes back.
in_ct cp /etc/filer/filer.yaml /etc/filer/filer.yaml.plain
in_ct mkdir -p -m 0700 /root/curve
in_ct filer keygen client --directory /root/curve >/dev/null
in_ct filer keygen stranger --directory /root/curve >/dev/null
in_ct mkdir -p /etc/filer/authorized_keys.d
in_ct cp /root/curve/client.key /etc/filer/authorized_keys.d/
in_ct sh -c 'printf "curve:\n  certificate: /etc/filer/keys/filer.key_secret\n  authorized_keys: /etc/filer/authorized_keys.d\n" >> /etc/filer/filer.yaml'
check "curve: filer restarts with the package's keypair" eval 'in_ct systemctl restart filer.service && wait_for 10 is_active active'
curve_get() {
    in_ct filer get hello.txt --timeout 2 --retries 0 --certificate "/root/curve/$1.key_secret" --server-key /etc/filer/keys/filer.key
}
served=$(curve_get client 2>&1)
if [ "$served" = "$(cat "$T/hello.txt")" ]; then
    ok "curve: an authorized CURVE client is served"
else
    not_ok "curve: an authorized CURVE client is served"
    echo "filer get said: $served" | diag
    in_ct journalctl -u filer.service -n 20 --no-pager | diag
fi
check "curve: a stranger's key gets no reply" eval '! curve_get stranger >/dev/null 2>&1'
check "curve: a plaintext client gets no reply" eval '! request hello.txt >/dev/null 2>&1'
check "curve: journalctl -u filer shows the refusal" wait_for 5 journal_mentions "Refused a CURVE client from 127.0.0.1"
in_ct mv /etc/filer/filer.yaml.plain /etc/filer/filer.yaml
in_ct rm -rf /etc/filer/authorized_keys.d /root/curve
check "curve: back to plain, filer serves the seed's clients again" \
    eval 'in_ct systemctl restart filer.service && wait_for 10 is_active active && request_ok hello.txt "$T/hello.txt"'

# --- metrics under systemd -----------------------------------------------------

# scrape NAME LABELS: one sample's value from the host, 0 when absent.
scrape() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
name, labels = sys.argv[1], dict(p.split("=", 1) for p in sys.argv[2].split(",") if p)
text = urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=5).read().decode()
print(int(sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == name and s.labels == labels)))
EOF
}
in_ct sh -c 'echo "metrics: http://127.0.0.1:9464/metrics" >> /etc/filer/filer.yaml'
in_ct systemctl reload filer.service
if wait_for 10 eval 'scrape filer_workers_online "" >/dev/null 2>&1'; then
    ok "metrics: a reload switched /metrics on"
    served_before=$(scrape filer_requests_total result=served)
    in_before=$(scrape filer_proxy_messages_total side=frontend,direction=in)
    for _ in 1 2 3 4 5; do request hello.txt >/dev/null; done
    # Workers report their counts once a second.
    check "metrics: 5 requests sent, 5 more served (from $served_before)" \
        wait_for 5 eval 'test "$(scrape filer_requests_total result=served)" = $((served_before + 5))'
    check "metrics: 5 more requests in at the frontend (from $in_before)" \
        wait_for 5 eval 'test "$(scrape filer_proxy_messages_total side=frontend,direction=in)" = $((in_before + 5))'
else
    not_ok "metrics: a reload switched /metrics on"
    in_ct journalctl -u filer.service -n 20 --no-pager | diag
fi

# --- purge -------------------------------------------------------------------

if in_ct dpkg --purge filer >"$T/dpkg-purge.log" 2>&1; then
    ok "purge: dpkg --purge filer"
else
    diag <"$T/dpkg-purge.log"
    not_ok "purge: dpkg --purge filer"
fi
check "purge: the package is gone" eval '! in_ct dpkg-query -W -f="\${Status}" filer 2>/dev/null | grep -qx "install ok installed"'
check "purge: /etc/filer is gone" in_ct test ! -e /etc/filer
check "purge: /usr/bin/filer is gone" in_ct test ! -e /usr/bin/filer
check "purge: the unit is gone (LoadState=$(show LoadState))" \
    eval 'in_ct test ! -e /lib/systemd/system/filer.service && [ "$(show LoadState)" = not-found ]'
check "purge: /srv/filer (the shipped welcome file only) is gone" in_ct test ! -e /srv/filer
left=$(filer_pids_in_container | tr '\n' ' ')
check "purge: the running service was stopped, no filer process is left${left:+ (left: $left)}" test -z "$left"

# --- autopkgtest ----------------------------------------------------------------

# Debian's own test of the installed package (debian/tests/), run by Debian's
# runner inside the booted container with its null virtualisation server: the
# container is the testbed. It installs the package from the .deb again, now
# after the purge above, and runs debian/tests/serve-hello as root. The runner
# reads only the source's debian/control, changelog, source/format and tests/
# (-B: it builds nothing), so only they are copied, not a build's leftovers.
# The summary says PASS, FAIL or SKIP per test; a skip (a Restrictions: the
# null server cannot meet) fails here, as it would prove nothing.
mkdir -p "$T/root/var/lib/filer-system-test/source/debian"
cp -r "$SOURCE_DIR"/debian/{control,changelog,source,tests} "$T/root/var/lib/filer-system-test/source/debian/"
if IN_CT_TIMEOUT=300 in_ct autopkgtest --no-built-binaries \
    --summary-file /var/lib/filer-system-test/autopkgtest-summary \
    "$CT_DEB" /var/lib/filer-system-test/source/ -- null >"$T/autopkgtest.log" 2>&1; then
    ok "autopkgtest: the runner (null server, in the container) exits 0"
else
    not_ok "autopkgtest: the runner (null server, in the container) exits 0 (exit $?)"
    diag <"$T/autopkgtest.log"
fi
summary=$(tr -s ' \n' ' ' 2>/dev/null <"$T/root/var/lib/filer-system-test/autopkgtest-summary")
check "autopkgtest: debian/tests/serve-hello passes (summary: ${summary:-none})" \
    grep -Eq '^serve-hello +PASS' "$T/root/var/lib/filer-system-test/autopkgtest-summary"

exit 0 # the EXIT trap tears down and prints the totals
