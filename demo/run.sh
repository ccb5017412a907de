#!/usr/bin/env bash
# make demo: show ephport working, in well under a minute, on loopback only.
#
#   demo/run.sh [BUILD_DIR]        (make demo runs it as: demo/run.sh build)
#
# Builds nothing: `make demo` has built the library, the command and the demo
# programs.  Scenes:
#   1. a loopback server (demo/server.c) on 127.0.0.1 and ::1;
#   2. a blocking client (demo/client_blocking.c) under `ephport run`;
#   3. an epoll client (demo/client_epoll.c) under `ephport run`, same log;
#   4. the raw JSON Lines log;
#   5. `ephport report` on it;
#   6. port pressure in a private network namespace (demo/pressure_scene.c),
#      where `unshare -n` is allowed; otherwise it says what it skipped.
# Everything it starts is stopped and its temporary directory removed on
# exit (DEMO_KEEP=1 keeps the directory and prints its path).
# Exit status 0 when everything shown worked, 1 otherwise.
# '$tmp/...' in single quotes is shown to the user literally, on purpose.
# shellcheck disable=SC2016
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
B=${1:-build}
case $B in /*) ;; *) B=$top/$B ;; esac

RANGE=45000-45999
NBLOCK=6     # blocking connections, alternating 127.0.0.1 and ::1
NEPOLL=12    # concurrent epoll connections, alternating too

start_ns=$(date +%s%N)
failures=0
skipped=
fail() { printf '\n!! FAILED: %s\n' "$*"; failures=$((failures + 1)); }

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$(printf '\033[1m'); dim=$(printf '\033[2m'); off=$(printf '\033[0m')
else bold='' dim='' off=''; fi
section() {
	printf '\n%s━━ %s %s%s\n' "$bold" "$1" "$(printf '━%.0s' $(seq 1 $((74 - ${#1}))))" "$off"
	shift
	for line in "$@"; do printf '%s%s%s\n' "$dim" "$line" "$off"; done
}
# Show a command line the way a user would type it (paths relative to the top).
show() { local l; l=$(printf '%s ' "$@"); printf '%s$ %s%s\n' "$bold" "$(printf '%s' "${l% }" | sed "s|$top/||g")" "$off"; }

# ---- prerequisites, temporary directory, cleanup ------------------------------
for prog in server client_blocking client_epoll pressure_scene; do
	if [ ! -x "$B/demo/$prog" ]; then
		echo "demo: $B/demo/$prog is not built; run 'make demo' (or 'make all' first)" >&2
		exit 1
	fi
done
if [ ! -r "$B/libephport.so" ]; then
	echo "demo: $B/libephport.so is not built; run 'make demo'" >&2
	exit 1
fi

# A sanitizer build (make SAN=address ...) links libasan into the programs;
# preloading libephport in front of it is fine once ASan is told so.
if ldd "$B/demo/client_blocking" 2>/dev/null | grep -q libasan; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ephport-demo.XXXXXX") || exit 1
server_pid=
child_pid=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	local rc=$?
	for pid in $child_pid $server_pid; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	if [ -n "${DEMO_KEEP:-}" ]; then
		echo "demo: kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a step in the background and wait for it, so that a signal to this
# script is acted on at once and the step is stopped by cleanup().  Every
# step runs under timeout(1), which passes a signal on to the whole step.
step() {
	"$@" &
	child_pid=$!
	wait "$child_pid"
	local rc=$?
	child_pid=
	return $rc
}

LOG=$tmp/demo.jsonl

# Is the ephport command there and working?  If not, fall back to the
# library alone with the EPHPORT_* variables it reads.
use_cmd=1
if [ ! -x "$B/ephport" ]; then
	why="$B/ephport is missing"
	use_cmd=0
elif ! out=$("$B/ephport" run -o /dev/null -- true 2>&1); then
	why="'ephport run -- true' failed: ${out:-no message}"
	use_cmd=0
fi
under_ephport() {
	if [ $use_cmd = 1 ]; then
		show "$B/ephport" run -r $RANGE -o '$tmp/demo.jsonl' -- "$@"
		step timeout 15 "$B/ephport" run -r $RANGE -o "$LOG" -- "$@"
	else
		show LD_PRELOAD="$B/libephport.so" EPHPORT_RANGE=$RANGE EPHPORT_LOG='$tmp/demo.jsonl' "$@"
		step env LD_PRELOAD="$B/libephport.so${LD_PRELOAD:+:$LD_PRELOAD}" EPHPORT_RANGE=$RANGE \
			EPHPORT_LOG="$LOG" timeout 15 "$@"
	fi
}

echo "${bold}ephport demo${off}: user-space source-port selection for TCP connect(), shown on loopback."
echo "Build directory: ${B#"$top"/}; temporary files in $tmp (removed at exit)."
if [ $use_cmd = 0 ]; then
	echo
	echo "!! NOTE: the ephport command cannot be used ($why)."
	echo "!!       Falling back to LD_PRELOAD=$B/libephport.so with EPHPORT_* variables;"
	echo "!!       'ephport run' is the intended way, and 'ephport report' is skipped."
fi

# ---- 1. the server --------------------------------------------------------------
section "1. A loopback server" \
	"demo/server listens on 127.0.0.1 and ::1 (one free port for both).  For each connection" \
	"it reads a line and answers with the peer address and port it saw, then closes."
show "$B/demo/server" -n $((NBLOCK + NEPOLL)) -p '$tmp/port'
"$B/demo/server" -n $((NBLOCK + NEPOLL)) -p "$tmp/port" >"$tmp/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
	[ -s "$tmp/port" ] && break
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
if [ ! -s "$tmp/port" ]; then
	cat "$tmp/server.out"
	fail "the server did not start"
	exit 1
fi
PORT=$(cat "$tmp/port")
cat "$tmp/server.out"

# ---- 2. blocking client -----------------------------------------------------------
section "2. A blocking client under 'ephport run'" \
	"demo/client_blocking makes $NBLOCK plain blocking connect()s, never binding first, alternating" \
	"IPv4 and IPv6.  ephport chooses each source port in $RANGE, binds it, and then" \
	"connects.  The port the server saw is the one getsockname() gives the client."
under_ephport "$B/demo/client_blocking" 127.0.0.1,::1 "$PORT" $NBLOCK || fail "the blocking client (status $?)"

# ---- 3. epoll client --------------------------------------------------------------
section "3. A nonblocking epoll client under 'ephport run' (same log, appended)" \
	"demo/client_epoll opens $NEPOLL SOCK_NONBLOCK sockets and connects them all at once:" \
	"connect() -> EINPROGRESS -> EPOLLOUT -> SO_ERROR 0 -> write -> read.  The program sees exactly" \
	"what the kernel alone would give it (EINPROGRESS), with ephport's port already in place."
under_ephport "$B/demo/client_epoll" 127.0.0.1,::1 "$PORT" $NEPOLL || fail "the epoll client (status $?)"

# The server exits by itself after NBLOCK+NEPOLL connections.
for _ in $(seq 1 30); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then
	fail "the server did not get all $((NBLOCK + NEPOLL)) connections"
else
	wait "$server_pid" || fail "the server exited with status $?"
	tail -n 1 "$tmp/server.out"
fi
server_pid=

# ---- 4. the log -------------------------------------------------------------------
nrec=$(grep -c '^{"v":2,"ev":"connect",' "$LOG" 2>/dev/null || echo 0)
nout=$(grep -c '^{"v":2,"ev":"outcome",' "$LOG" 2>/dev/null || echo 0)
section "4. The log: one JSON object per connect() call ($nrec call records in demo.jsonl)" \
	"Each record has the chosen port (sport), candidates tried, collisions, time choosing the port" \
	"(select_ns), time in the kernel's connect() (connect_ns), the whole call (total_ns) and the result." \
	"A connect that went on after its call (EINPROGRESS) gets one more record when the program" \
	"learns how it ended, joined to the call by \"conn\" ($nout outcome records: SO_ERROR 0, ok)."
show head -3 '$tmp/demo.jsonl'
head -3 "$LOG"
if command -v python3 >/dev/null; then
	echo
	echo "${dim}One record from the epoll client, pretty-printed:${off}"
	show "grep -m1 '\"EINPROGRESS\"' \$tmp/demo.jsonl | python3 -m json.tool"
	grep -m1 '"EINPROGRESS"' "$LOG" | python3 -m json.tool || fail "a record is not valid JSON"
	echo "${dim}... and its outcome:${off}"
	conn=$(grep -m1 '"EINPROGRESS"' "$LOG" | sed 's/.*"conn":"\([^"]*\)".*/\1/')
	show "grep '\"ev\":\"outcome\".*\"conn\":\"$conn\"' \$tmp/demo.jsonl | python3 -m json.tool"
	grep "\"ev\":\"outcome\".*\"conn\":\"$conn\"" "$LOG" | python3 -m json.tool ||
		fail "no outcome record for connection $conn"
fi
[ "$nrec" -eq $((NBLOCK + NEPOLL)) ] || fail "expected $((NBLOCK + NEPOLL)) call records in the log, found $nrec"
[ "$nout" -le "$NEPOLL" ] || fail "$nout outcome records for $NEPOLL non-blocking connects"
nbad=$(grep -c -v -E '"result":"(ok|EINPROGRESS)"' "$LOG")
[ "$nbad" -eq 0 ] || fail "$nbad records have a result other than ok or EINPROGRESS"

# ---- 5. the report ----------------------------------------------------------------
section "5. 'ephport report': the log summarised" \
	"Counts by result, latency percentiles, a log2 histogram of connect() time (funclatency style)," \
	"tries and collisions, port parity, per-destination table and port usage.  Every port is even:" \
	"like the kernel, ephport takes ports of the range's low parity first (scene 6 shows it)."
if [ $use_cmd = 1 ]; then
	show "$B/ephport" report '$tmp/demo.jsonl'
	step timeout 15 "$B/ephport" report "$LOG" || fail "ephport report (status $?)"
else
	echo "skipped: the ephport command is not usable ($why)."
fi

# ---- 6. port pressure ---------------------------------------------------------------
section "6. Port pressure, in a private network namespace" \
	"A tiny net.ipv4.ip_local_port_range (50000-50063) in a namespace of the demo's own.  Two" \
	"worker processes connect one call at a time: one plain (the kernel chooses), one under ephport" \
	"(ephport chooses), each timing its own connect() call.  [1] the order ports are taken in," \
	"[2] connect() with 60 of 64 ports held, [3] a full range."
if ! command -v unshare >/dev/null; then
	echo "skipped: unshare (util-linux) is not installed, so no private network namespace can be made."
elif ! err=$(unshare -n true 2>&1) && ! err2=$(unshare -r -n true 2>&1); then
	echo "skipped: a private network namespace is not allowed here"
	echo "         ('unshare -n true': ${err:-failed}; 'unshare -r -n true': ${err2:-failed})."
	echo "         It needs root, or unprivileged user namespaces (kernel.unprivileged_userns_clone=1)."
	skipped=" (scene 6 skipped: no private network namespace)"
else
	if [ $use_cmd = 1 ]; then via=(-e "$B/ephport"); else via=(-l "$B/libephport.so"); fi
	show "$B/demo/pressure_scene" -r 50000-50063 -H 60 -n 200 -o '$tmp/pressure.jsonl' "${via[@]}"
	step timeout 30 "$B/demo/pressure_scene" -r 50000-50063 -H 60 -n 200 -o "$tmp/pressure.jsonl" "${via[@]}"
	rc=$?
	case $rc in
	0) ;;
	77) echo "(the pressure scene was skipped; the reason is above)"
	    skipped=" (scene 6 skipped: see above)" ;;
	124) fail "the pressure scene timed out" ;;
	*) fail "the pressure scene (status $rc)" ;;
	esac
fi

# ---- summary ------------------------------------------------------------------------
elapsed=$(( ($(date +%s%N) - start_ns) / 1000000 ))
echo
if [ $failures -eq 0 ]; then
	printf '%sdemo finished in %d.%03d s: everything shown worked%s.%s\n' "$bold" $((elapsed / 1000)) \
		$((elapsed % 1000)) "$skipped" "$off"
	exit 0
fi
printf '%sdemo finished in %d.%03d s with %d failure(s); see "!! FAILED" above.%s\n' "$bold" \
	$((elapsed / 1000)) $((elapsed % 1000)) $failures "$off"
exit 1
