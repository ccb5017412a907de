#!/usr/bin/env bash
# Following connects to their end (schema 2's outcome records), against
# three loopback destinations: one that accepts, one that refuses (a bound
# port nobody listens on) and one that never answers (a listener whose
# accept queue is full drops every SYN; see tests/test_conformance.c).
#
#   1. the ways a program learns how its non-blocking connect went, one
#      scenario each of tests/helpers/outcome_client.c: SO_ERROR, connect()
#      again (hiredis), close() before the end (abandoned, with the SYNs
#      sent again), an error taken by a write, AF_UNSPEC, dup()ed and
#      inherited fds, dup2() over it, a signal, SO_SNDTIMEO, a process that
#      exits first;
#   2. real programs: curl, python3 (socket.connect_ex, asyncio), nginx as a
#      reverse proxy (workers that drop root before their first connect),
#      socat: a refused destination shows as ECONNREFUSED outcomes in
#      `ephport report`, a silent one as SYN retransmissions and
#      "abandoned" when the program gives up;
#   3. `ephport report` on all of it.
# Cases are named after the scenarios and programs (tests/run.sh has the
# protocol).
. "$(dirname "$0")/helpers/lib.sh"
[ -n "$PY" ] || skip "python3 is needed for the servers and the log checks"
oc=$hbin/outcome_client
[ -x "$oc" ] || { say "FAIL: $oc is not built (make test-programs)"; exit 1; }
eph=$bdir/ephport
make_tmp

# ---- the three destinations (not under the preload) ---------------------------------
cat >"$tmp/servers.py" <<'EOF'
import os, socket, sys, threading, time
live = socket.socket(); live.bind(("127.0.0.1", 0)); live.listen(128)
refused = socket.socket(); refused.bind(("127.0.0.1", 0))   # bound, never listening
silent = socket.socket(); silent.bind(("127.0.0.1", 0)); silent.listen(0)
filler = socket.create_connection(silent.getsockname())    # its accept queue is full
time.sleep(0.05)
def serve():
    while True:
        c, _ = live.accept()
        try:
            c.settimeout(2)
            c.recv(4096)
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        except OSError:
            pass
        c.close()
for _ in range(4):
    threading.Thread(target=serve, daemon=True).start()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d %d %d\n" % tuple(s.getsockname()[1] for s in (live, refused, silent)))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(3600)
EOF
env -u LD_PRELOAD "$PY" "$tmp/servers.py" "$tmp/ports" & pids+=($!)
read -r LIVE REFUSED SILENT < <(wait_port "$tmp/ports") ||
	{ say "FAIL: the test servers did not start"; exit 1; }
# The silent destination must be silent: a SYN to it gets no answer.
if env -u LD_PRELOAD timeout 3 "$PY" -c "
import socket, sys
s = socket.socket(); s.settimeout(0.3)
try:
    s.connect(('127.0.0.1', $SILENT)); sys.exit(1)
except socket.timeout:
    sys.exit(0)
except OSError:
    sys.exit(1)"; then :; else
	say "FAIL: port $SILENT answers a SYN: its accept queue is not full"; exit 1
fi
say "destinations: live $LIVE, refused $REFUSED, silent $SILENT"

all=$tmp/all.jsonl
: >"$all"
# scenario CASE [ENV...] -- CHECKLOG-ARGS...: run outcome_client CASE under
# the preload with a log of its own, then check that log.
scenario() {
	local sc=${1%@*} log=$tmp/$1.jsonl envs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	case_begin "$(basename "$log" .jsonl)"
	if ! run_preloaded EPHPORT_LOG="$log" "${envs[@]}" -- \
		timeout 20 "$oc" "$sc" "$LIVE" "$REFUSED" "$SILENT" >"$tmp/$sc.out" 2>"$tmp/$sc.err"; then
		bad "outcome_client $sc: $(cat "$tmp/$sc.err")"
		return
	fi
	checklog "$log" "$@" || bad "$sc: the log"
	cat "$log" >>"$all"
}

# ---- 1. how a program learns the outcome -------------------------------------------
scenario so_error_refused -- 1 outcomes=1 0.result=EINPROGRESS 0.blocking=false \
	0.again! o0.via=so_error o0.result=ECONNREFUSED o0.errno=111 o0.syn_retrans=0 o0.rtt_us!
scenario so_error_ok -- 1 outcomes=1 o0.via=so_error o0.result=ok o0.syn_retrans=0 \
	o0.rtt_us@1-10000000
# hiredis: connect() again once writable: 0, then EISCONN; one connection.
scenario connect_again -- 3 outcomes=1 1.again=true 1.result=ok 2.again=true \
	2.result=EISCONN o0.via=connect o0.result=ok
scenario connect_again_refused -- 2 outcomes=1 1.again=true 1.result=ECONNREFUSED \
	o0.via=connect o0.result=ECONNREFUSED
# Asked while under way (EALREADY, and SO_ERROR 0 in SYN-SENT: no outcome
# yet), then closed: abandoned.
scenario ealready_then_close -- 2 outcomes=1 1.again=true 1.result=EALREADY \
	o0.via=close o0.result=abandoned
# Silent for 1.5 s: the kernel sent the SYN again (after 1 s) before the
# program gave up.
scenario blackhole -- 1 outcomes=1 o0.via=close o0.result=abandoned o0.syn_retrans@1-10 \
	o0.outcome_ns@1500000000-60000000000 o0.rtt_us!
scenario write_takes_error -- 1 outcomes=1 o0.via=close o0.result=failed o0.errno=0
scenario close_unread -- 1 outcomes=1 o0.via=close o0.result=ECONNREFUSED o0.errno=111
scenario disconnect -- 2 outcomes=1 1.again=true 1.strategy=passthrough \
	o0.via=connect o0.result=abandoned
# Closing one of two fds of the socket ends nothing.
scenario dup_close -- 1 outcomes=1 o0.via=so_error o0.result=ECONNREFUSED
scenario dup_silent -- 1 outcomes=1 o0.via=close o0.result=abandoned
scenario fork_child_closes -- 1 outcomes=1 o0.via=close o0.result=abandoned
scenario dup2_over -- 1 outcomes=1 o0.via=close o0.result=abandoned
# A blocking connect a signal cut short goes on; so does one SO_SNDTIMEO
# bounded.
scenario eintr -- 1 outcomes=1 0.result=EINTR 0.blocking=true o0.result=abandoned
scenario sndtimeo -- 1 outcomes=1 0.result=EINPROGRESS 0.blocking=true o0.result=abandoned
# Blocking connects end in the call: their record has the handshake facts.
scenario blocking_refused -- 1 outcomes=0 0.result=ECONNREFUSED 0.syn_retrans=0 0.rtt_us!
scenario blocking_ok -- 1 outcomes=0 0.result=ok 0.syn_retrans=0 0.rtt_us@1-10000000
scenario reconnect -- 2 outcomes=1 o0.result=ECONNREFUSED
if [ -s "$tmp/reconnect.jsonl" ]; then
	"$PY" - "$tmp/reconnect.jsonl" <<'EOF' || bad "reconnect: not two connections of one socket"
import json, sys
c = [json.loads(l)["conn"] for l in open(sys.argv[1]) if '"ev":"connect"' in l]
ok = len(c) == 2 and c[0].split(".")[0] == c[1].split(".")[0] and \
     [x.split(".")[1] for x in c] == ["1", "2"]
print("reconnect: conns %s" % c)
sys.exit(0 if ok else 1)
EOF
fi
scenario shutdown -- 1 outcomes=1 o0.via=shutdown o0.result=abandoned
# The process exits with its connect under way: exit() gives it up;
# _exit() leaves no outcome (the report counts it as unknown).
scenario exit_flying -- 1 outcomes=1 o0.via=exit o0.result=abandoned
scenario exit_unlearned -- 1 outcomes=0 0.result=EINPROGRESS
# Bind mode (bind-before-connect): the same outcome.
scenario so_error_refused@bind EPHPORT_COMMIT=bind -- 1 outcomes=1 0.commit=bind \
	o0.via=so_error o0.result=ECONNREFUSED

# ---- 2. real programs -------------------------------------------------------------
# san_blocks CMD...: with a sanitizer build, CMD must run with the sanitizer
# runtime alone preloaded, or its case is skipped (the reason in $san_why).
san_blocks() {
	[ -n "$san" ] || return 1
	LD_PRELOAD=$san timeout 5 "$@" >/dev/null 2>&1 </dev/null && return 1
	san_why="$1 fails with only the sanitizer runtime ($san) preloaded, without ephport"
	return 0
}

case_begin curl
if ! command -v curl >/dev/null; then
	case_skip "curl is not installed"
elif san_blocks curl -s -o /dev/null "http://127.0.0.1:$LIVE/"; then
	case_skip "$san_why"
else
	log=$tmp/curl.jsonl
	run_preloaded EPHPORT_LOG="$log" -- curl -s -o /dev/null "http://127.0.0.1:$REFUSED/"
	rc=$?; [ $rc -eq 7 ] || bad "curl to the refused port exited $rc, not 7"
	run_preloaded EPHPORT_LOG="$log" -- curl -s -o /dev/null "http://127.0.0.1:$LIVE/" ||
		bad "curl to the live port failed"
	run_preloaded EPHPORT_LOG="$log" -- curl -s -o /dev/null --connect-timeout 2 \
		"http://127.0.0.1:$SILENT/"
	rc=$?; [ $rc -eq 28 ] || bad "curl to the silent port exited $rc, not 28 (timeout)"
	checklog "$log" 3 outcomes=3 0.result=EINPROGRESS o0.via=so_error o0.result=ECONNREFUSED \
		o1.result=ok o2.via=close o2.result=abandoned o2.syn_retrans@1-10 || bad "curl: the log"
	out=$("$eph" report "$log")
	grep -q "^  ECONNREFUSED  *1 .*refused by the destination" <<<"$out" ||
		bad "ephport report does not count curl's refused connect as ECONNREFUSED"
	grep -q "^  abandoned  *1 " <<<"$out" || bad "ephport report: no abandoned connect"
	grep -q "^SYN retransmissions.*: 1 of 3 connections with any" <<<"$out" ||
		bad "ephport report: no SYN retransmission"
	cat "$log" >>"$all"
fi

case_begin python3
if san_blocks "$PY" -c 'import socket'; then
	case_skip "$san_why"
else
	log=$tmp/python3.jsonl
	run_preloaded EPHPORT_LOG="$log" -- timeout 20 "$PY" - "$LIVE" "$REFUSED" "$SILENT" <<'EOF' ||
import asyncio, errno, select, socket, sys
live, refused, silent = map(int, sys.argv[1:])
# socket.connect_ex, non-blocking, then select() and SO_ERROR
s = socket.socket(); s.setblocking(False)
assert s.connect_ex(("127.0.0.1", refused)) == errno.EINPROGRESS
select.select([], [s], [], 5)
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
s.close()
async def main():
    try:
        await asyncio.open_connection("127.0.0.1", refused)
        raise SystemExit("asyncio: the refused port connected")
    except ConnectionRefusedError:
        pass
    r, w = await asyncio.open_connection("127.0.0.1", live)
    w.close(); await w.wait_closed()
    try:
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", silent), 1.5)
        raise SystemExit("asyncio: the silent port connected")
    except asyncio.TimeoutError:
        pass
asyncio.run(main())
EOF
		bad "the python3 client failed"
	checklog "$log" 4 outcomes=4 o0.result=ECONNREFUSED o0.via=so_error \
		o1.result=ECONNREFUSED o1.via=so_error o2.result=ok o3.result=abandoned \
		o3.via=close o3.syn_retrans@1-10 || bad "python3: the log"
	cat "$log" >>"$all"
fi

case_begin nginx
ngx=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$ngx" ]; then
	case_skip "nginx is not installed (Debian: nginx-light)"
elif [ "$(id -u)" != 0 ]; then
	case_skip "nginx's workers give up root only when it runs as root"
elif san_blocks "$ngx" -v; then
	case_skip "$san_why"
else
	nd=$tmp/nginx
	mkdir -p "$nd"
	chmod 700 "$tmp" "$nd" # the workers (nobody) could not open the log here
	np=$(free_range 1) || { bad "no free port for nginx"; np=; }
	cat >"$nd/nginx.conf" <<EOF
user nobody nogroup;
worker_processes 1;
pid $nd/nginx.pid;
error_log $nd/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $nd/body; proxy_temp_path $nd/proxy; fastcgi_temp_path $nd/fcgi;
	uwsgi_temp_path $nd/uwsgi; scgi_temp_path $nd/scgi;
	server {
		listen 127.0.0.1:$np;
		location /refused { proxy_pass http://127.0.0.1:$REFUSED; }
		location /silent { proxy_pass http://127.0.0.1:$SILENT; proxy_connect_timeout 1500ms; }
		location /live { proxy_pass http://127.0.0.1:$LIVE; }
	}
}
EOF
	log=$nd/log.jsonl
	run_preloaded EPHPORT_LOG="$log" -- "$ngx" -c "$nd/nginx.conf" -g 'daemon off;' \
		>"$nd/out" 2>&1 & ngx_pid=$!
	pids+=($ngx_pid)
	up=
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$np") 2>/dev/null && { up=1; break; }
		sleep 0.05
	done
	if [ -z "$up" ]; then
		bad "nginx did not start: $(cat "$nd/out" "$nd/error.log" 2>/dev/null | tail -n 3)"
	else
		codes=
		for p in refused silent live; do
			codes="$codes $(env -u LD_PRELOAD curl -s -o /dev/null -w '%{http_code}' \
				"http://127.0.0.1:$np/$p")"
		done
		[ "$codes" = " 502 504 200" ] || bad "nginx answered$codes, not 502 504 200"
		kill "$ngx_pid"; wait "$ngx_pid" 2>/dev/null
		# Only the workers connect; they run as nobody, the log's
		# directory is root's alone: the log was opened before setuid().
		checklog "$log" 3 outcomes=3 0.comm=nginx o0.via=so_error o0.result=ECONNREFUSED \
			o1.result=abandoned o1.syn_retrans@1-10 o2.result=ok || bad "nginx: the log"
		[ "$(stat -c %U "$log" 2>/dev/null)" = root ] || bad "nginx: the log is not root's"
		cat "$log" >>"$all"
	fi
fi

case_begin socat
if ! command -v socat >/dev/null; then
	case_skip "socat is not installed"
elif san_blocks socat -h; then
	case_skip "$san_why"
else
	log=$tmp/socat.jsonl
	# Blocking: the refusal is the call's own result.
	run_preloaded EPHPORT_LOG="$log" -- timeout 10 socat -u /dev/null \
		"TCP:127.0.0.1:$REFUSED" 2>/dev/null && bad "socat to the refused port succeeded"
	# connect-timeout: a non-blocking connect, given up after 1.5 s (socat
	# shuts the socket down, which disconnects it).
	run_preloaded EPHPORT_LOG="$log" -- timeout 10 socat -u /dev/null \
		"TCP:127.0.0.1:$SILENT,connect-timeout=1.5" 2>/dev/null &&
		bad "socat to the silent port succeeded"
	checklog "$log" 2 outcomes=1 0.result=ECONNREFUSED 0.syn_retrans=0 1.result=EINPROGRESS \
		o0.via=shutdown o0.result=abandoned o0.syn_retrans@1-10 || bad "socat: the log"
	cat "$log" >>"$all"
fi

# ---- 3. the report on all of it -----------------------------------------------------
case_begin report
"$eph" report --json "$all" >"$tmp/report.json" 2>"$tmp/report.err"
[ -s "$tmp/report.err" ] && bad "ephport report: $(cat "$tmp/report.err")"
"$PY" - "$all" "$tmp/report.json" <<'EOF' || bad "ephport report disagrees with the logs"
import json, sys
d = json.load(open(sys.argv[2]))
recs = [json.loads(l) for l in open(sys.argv[1])]
calls = [r for r in recs if r["ev"] == "connect"]
outs = [r for r in recs if r["ev"] == "outcome"]
conns = [r for r in calls if not r.get("again") and r["proto"] == "tcp"]
went_on = [r for r in conns if r["result"] in ("EINPROGRESS", "EINTR")]
final = {}
for r in conns:
    if r not in went_on:
        final[r["result"]] = final.get(r["result"], 0) + 1
for r in outs:
    final[r["result"]] = final.get(r["result"], 0) + 1
c = d["connections"]
want = (len(conns), len(went_on), len(outs), len(went_on) - len(outs), final,
        sum(1 for r in outs if r.get("syn_retrans", 0) > 0) +
        sum(1 for r in conns if r not in went_on and r.get("syn_retrans", 0) > 0))
got = (c["total"], c["went_on"], c["outcome_records"], c["unknown"], c["results"],
       c["syn_retrans"]["with_any"])
print("report: connections %d, went on %d, outcomes %d, unknown %d, %s, with SYNs sent again %d" % got)
if got != want:
    print("want:  connections %d, went on %d, outcomes %d, unknown %d, %s, with SYNs sent again %d" % want)
    sys.exit(1)
if not (c["results"].get("ECONNREFUSED", 0) >= 3 and c["results"].get("abandoned", 0) >= 5 and
        c["unknown"] >= 1 and c["syn_retrans"]["with_any"] >= 1):
    sys.exit(1)
EOF
# The README's jq join of calls and outcomes, run as printed there.
case_begin jq-join
if ! command -v jq >/dev/null; then
	case_skip "jq is not installed (the README's example needs it)"
else
	prog=$(sed -n '/^    # each connection, its call joined/,/ephport.jsonl$/p' README.md |
		sed -n '/^    jq -sc/,$p' | sed 's/^    //')
	[ -n "$prog" ] || bad "the README has no jq join example"
	joined=$(cd "$tmp" && cp "$all" ephport.jsonl && eval "$prog")
	want=$("$PY" -c '
import json, sys
print(len(set(json.loads(l).get("conn") for l in open(sys.argv[1])) - {None}))' "$all")
	got=$(grep -c '"conn"' <<<"$joined")
	[ "$got" = "$want" ] || bad "the README's jq join gives $got connections, the log has $want"
	grep -q '"call":"EINPROGRESS","outcome":"ECONNREFUSED"' <<<"$joined" ||
		bad "the README's jq join does not pair a call with its refusal"
fi
finish
