#!/usr/bin/env bash
# `ephport top` on a log that a real client loop keeps appending to (under
# `ephport run`): one destination that accepts, one that refuses.  Batch
# mode (-b -n 2 -d 1) and the interactive view, driven in tmux with
# send-keys and read with capture-pane.  The follower's truncation and
# rotation handling is unit-tested in tests/test_top.c.
# Exit 0 pass, 77 skip (with the reason), anything else fail.
. "$(dirname "$0")/helpers/lib.sh"
eph=$bdir/ephport
[ -x "$eph" ] || { echo "$name: FAIL: $eph not built"; exit 1; }
[ -r "$lib" ] || { echo "$name: SKIP: $lib is not built"; exit 77; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "$name: SKIP: python3 is needed for the server and the client"; exit 77; }

# A library built with a sanitizer needs its runtime first in LD_PRELOAD
# ($san, from lib.sh's one rule).
if [ -n "$san" ]; then
	export LD_PRELOAD=$san
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:verify_asan_link_order=0}
fi
cenv=(env -u EPHPORT_RANGE -u EPHPORT_RESERVED -u EPHPORT_STRATEGY -u EPHPORT_SEED
	-u EPHPORT_SOURCE -u EPHPORT_LOG)

tmp=$(mktemp -d /tmp/ephport-top-test.XXXXXX) || exit 1
srv= cli= tsock= holder=
cleanup() {
	[ -n "$tsock" ] && tmux -S "$tsock" kill-server 2>/dev/null
	touch "$tmp/stop"
	[ -n "$cli" ] && kill "$cli" 2>/dev/null && wait "$cli" 2>/dev/null
	[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/server.py" <<'EOF'
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(512)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    c.close()
EOF
# The client: until the stop file exists, one accepted and one refused
# connect() every 20 ms.
cat >"$tmp/client.py" <<'EOF'
import os, socket, sys, time
port, closed, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
while not os.path.exists(stop):
    s = socket.socket(); s.connect(("127.0.0.1", port)); s.close()
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", closed))
    except ConnectionRefusedError:
        pass
    s.close()
    time.sleep(0.02)
EOF
env -u LD_PRELOAD "$PY" "$tmp/server.py" "$tmp/port" &
srv=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "$name: FAIL: the test server did not start"; exit 1; }
port=$(cat "$tmp/port")
# A port nobody listens on: bound by a socket that never listens, so the
# kernel refuses connections to it and nobody else gets it meanwhile.
exec 9< <(env -u LD_PRELOAD "$PY" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1], flush=True)
time.sleep(600)')
holder=$!
read -r closed <&9
log=$tmp/live.jsonl
(cd "$tmp" && exec "${cenv[@]}" "$eph" run -o "$log" -- "$PY" "$tmp/client.py" "$port" "$closed" "$tmp/stop") &
cli=$!
for _ in $(seq 100); do [ -s "$log" ] && break; sleep 0.1; done
[ -s "$log" ] || { echo "$name: FAIL: the client wrote no log"; exit 1; }
live="127.0.0.1:$port" refused="127.0.0.1:$closed"

# Fields of ROW in the last frame of FILE: CALLS/S ERR/S ... (after the name).
row() { awk -v k="$2" '/^ephport top - / {delete r} $1 == k {r[k] = $0} END {print r[k]}' "$1"; }

# ---- batch mode ------------------------------------------------------------------------
"$eph" top -b -n 2 -d 1 "$log" >"$tmp/batch" 2>"$tmp/batch.err"
rc=$?
frames=$(grep -c '^ephport top - ' "$tmp/batch")
lrow=$(row "$tmp/batch" "$live")
rrow=$(row "$tmp/batch" "$refused")
# columns: NAME CALLS/S ERR/S P50 P99 TRIES COLL/S TREND... ERRORS
lcalls=$(awk '{print $2}' <<<"$lrow"); lerr=$(awk '{print $3}' <<<"$lrow")
rcalls=$(awk '{print $2}' <<<"$rrow"); rerr=$(awk '{print $3}' <<<"$rrow")
if [ "$rc" -ne 0 ] || [ "$frames" -ne 2 ]; then
	case_failed batch-two-frames "exit $rc, $frames frames (want 0, 2)"; show "$tmp/batch"; show "$tmp/batch.err"
else
	case_pass batch-two-frames
fi
if [ -n "$lrow" ] && awk -v c="$lcalls" -v e="$lerr" 'BEGIN {exit !(c > 0 && e == 0)}'; then
	case_pass batch-live-destination
else
	case_failed batch-live-destination "no row for $live with calls and no errors"; show "$tmp/batch"
fi
if [ -n "$rrow" ] && awk -v c="$rcalls" -v e="$rerr" 'BEGIN {exit !(c > 0 && e == c)}' &&
	grep -q 'ECONNREFUSED [0-9]' <<<"$rrow"; then
	case_pass batch-refused-destination
else
	case_failed batch-refused-destination "no row for $refused whose calls all failed with ECONNREFUSED"
	show "$tmp/batch"
fi

"$eph" top -b -n 1 -d 0.5 -P "$log" >"$tmp/proc" 2>&1
if grep -q '^PID COMM' "$tmp/proc" && grep -qE '^[0-9]+ python3 ' "$tmp/proc"; then
	case_pass batch-by-process
else
	case_failed batch-by-process "no python3 row in the view by process"; show "$tmp/proc"
fi

"$eph" top -b -n 1 -d 0.5 --dst "$refused" "$log" >"$tmp/filt" 2>&1
if [ -n "$(row "$tmp/filt" "$refused")" ] && [ -z "$(row "$tmp/filt" "$live")" ] &&
	grep -q 'filtered out' "$tmp/filt"; then
	case_pass batch-filter
else
	case_failed batch-filter "--dst $refused should leave only that row"; show "$tmp/filt"
fi

"$eph" top -b -n 1 -d 0.2 "$tmp/not-yet.jsonl" >"$tmp/wait" 2>&1
if grep -q "waiting for $tmp/not-yet.jsonl to exist" "$tmp/wait"; then
	case_pass batch-file-not-there-yet
else
	case_failed batch-file-not-there-yet "no waiting message"; show "$tmp/wait"
fi

# ---- refusals ----------------------------------------------------------------------------
"$eph" top "$log" </dev/null >"$tmp/notty" 2>&1
rc=$?
if [ "$rc" -eq 2 ] && grep -q -- '-b' "$tmp/notty"; then
	case_pass not-a-terminal
else
	case_failed not-a-terminal "exit $rc (want 2 and a hint at -b)"; show "$tmp/notty"
fi
bad_ok=1
for args in "-d 0" "-d x" "-n 0" "--sort size" "a b" "-"; do
	# shellcheck disable=SC2086
	"$eph" top -b $args >"$tmp/bad" 2>&1
	rc=$?
	if [ "$rc" -ne 2 ] || ! grep -q '^ephport top: ' "$tmp/bad"; then
		bad_ok=0
		echo "    | top -b $args: exit $rc"; show "$tmp/bad" 5
	fi
done
case_check bad-options "a bad option must exit 2 with a message" [ "$bad_ok" = 1 ]

# ---- the interactive view in tmux ----------------------------------------------------------
if ! command -v tmux >/dev/null; then
	case_skipped tmux-shows-destinations "tmux is not installed (Debian: tmux)"
	case_skipped tmux-keys-and-quit "tmux is not installed (Debian: tmux)"
	finish
fi
tsock=$tmp/tmux.sock
pane() { tmux -S "$tsock" capture-pane -p -t top 2>/dev/null; }
# wait_pane PATTERN: until the pane shows PATTERN (10 s at most).
wait_pane() {
	for _ in $(seq 100); do
		pane | grep -qE "$1" && return 0
		sleep 0.1
	done
	return 1
}
TERM=xterm tmux -S "$tsock" new-session -d -s top -x 160 -y 40 \
	"TERM=xterm-256color $eph top -d 0.5 '$log'; echo TOP-EXIT=\$?; sleep 60"
if wait_pane "^$live " && wait_pane "^$refused .*ECONNREFUSED"; then
	case_pass tmux-shows-destinations
else
	case_failed tmux-shows-destinations "the pane never showed both destinations"
	pane | sed 's/^/    | /'
fi
tmux -S "$tsock" send-keys -t top p
ok=1
wait_pane '^PID COMM' || { ok=0; echo "    | p did not switch to processes"; }
tmux -S "$tsock" send-keys -t top 9
wait_pane 'by process, sorted by p99' || { ok=0; echo "    | 9 did not sort by p99"; }
tmux -S "$tsock" send-keys -t top q
# After q: top has exited with 0 and the terminal is back to the shell's
# screen (the frame is gone with ncurses' alternate screen).
wait_pane 'TOP-EXIT=0' || { ok=0; echo "    | q did not end top with status 0"; }
pane | grep -q '^PID COMM' && { ok=0; echo "    | the frame is still on the screen after q"; }
if [ "$ok" = 1 ]; then
	case_pass tmux-keys-and-quit
else
	case_failed tmux-keys-and-quit "keys or quitting did not work"
	pane | sed 's/^/    | /'
fi
finish
