#!/usr/bin/env bash
# `ephport run` and `ephport report` on records written by the real library:
# a Python client (blocking, nonblocking, refused, UDP and pre-bound
# sockets) and curl, run under `ephport run` against a loopback server.
# The report's numbers are checked against the raw log, counted separately.
# Cases: run-report, strategies, filters, curl, disabled (tests/run.sh has
# the protocol).
. "$(dirname "$0")/helpers/lib.sh"
eph=$bdir/ephport
checks=0
eq() {
	checks=$((checks + 1))
	[ "$2" = "$3" ] || bad "$1: got [$2], want [$3]"
}

[ -x "$eph" ] || { say "FAIL: $eph not built"; exit 1; }
[ -n "$PY" ] || skip "python3 is needed for the server and the client"

# A library built with a sanitizer (make SAN=...) needs its runtime loaded
# first in every program it is preloaded into (ephport run prepends the
# library to LD_PRELOAD).
if [ -n "$san" ]; then
	export LD_PRELOAD=$san
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:verify_asan_link_order=0}
fi
cenv=("${noeph[@]}")

make_tmp

# ---- a loopback server: accepts, answers an HTTP-ish line, closes -------------------
cat >"$tmp/server.py" <<'EOF'
import socket, sys, threading
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(512)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
def serve(c):
    try:
        c.settimeout(2)
        try:
            c.recv(4096)
        except OSError:
            pass
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
env -u LD_PRELOAD "$PY" "$tmp/server.py" "$tmp/port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { say "FAIL: the test server did not start"; exit 1; }
port=$(cat "$tmp/port")
# A port with no listener: bound, never listening.
closed=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# ---- the client ---------------------------------------------------------------------
cat >"$tmp/client.py" <<'EOF'
import errno, socket, sys
port, closed = int(sys.argv[1]), int(sys.argv[2])
for _ in range(20):                      # blocking: ok
    s = socket.create_connection(("127.0.0.1", port)); s.close()
for _ in range(5):                       # nonblocking: EINPROGRESS
    s = socket.socket(); s.setblocking(False)
    assert s.connect_ex(("127.0.0.1", port)) == errno.EINPROGRESS
    s.close()
for _ in range(2):                       # refused
    s = socket.socket()
    assert s.connect_ex(("127.0.0.1", closed)) == errno.ECONNREFUSED
    s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # passthrough, udp
u.connect(("127.0.0.1", 9)); u.close()
b = socket.socket(); b.bind(("127.0.0.1", 0))          # passthrough, bound
b.connect(("127.0.0.1", port)); b.close()
EOF
log=$tmp/log.jsonl
case_begin run-report
"${cenv[@]}" "$eph" run -r 50000-50999 -o "$log" -- "$PY" "$tmp/client.py" "$port" "$closed"
eq "client exit status" "$?" 0

# The log counted independently of ephport report.
cat >"$tmp/count.py" <<'EOF'
import collections, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
recs = [r for r in recs if r["ev"] == "connect"]
res = collections.Counter(r["result"] for r in recs)
strat = collections.Counter(r["strategy"] for r in recs)
why = collections.Counter(r["reason"] for r in recs if "reason" in r)
dest = collections.Counter((r["dst"], r["dport"]) for r in recs)
lo, hi = int(sys.argv[2]), int(sys.argv[3])
chosen = [r["sport"] for r in recs if r["strategy"] != "passthrough" and r["sport"]]
print(len(recs), dict(sorted(res.items())), dict(sorted(strat.items())),
      dict(sorted(why.items())), sorted(dest.items()),
      all(lo <= p <= hi for p in chosen), len(chosen))
EOF
cat >"$tmp/fromreport.py" <<'EOF'
import json, sys
d = json.load(sys.stdin)
print(d["records"], dict(sorted(d["results"].items())), dict(sorted(d["strategies"].items())),
      dict(sorted(d["passthrough_reasons"].items())),
      sorted(((x["dst"], x["dport"]), x["calls"]) for x in d["destinations"]),
      50000 <= min(p["port"] for p in d["ports"]["most_reused"] or [{"port": 50000}]),
      d["parity"]["even"] + d["parity"]["odd"])
EOF
raw=$("$PY" "$tmp/count.py" "$log" 50000 50999)
rep=$("$eph" report --json -n 0 "$log" | "$PY" "$tmp/fromreport.py")
eq "report agrees with the raw log" "$rep" "$raw"
# What the client did, as the raw log tells it: 20 + 5 + 2 chosen (a refused
# connect keeps its port, as the kernel's own socket shows it after the RST);
# one UDP and one pre-bound passthrough.
eq "raw log as expected" "$("$PY" - "$log" "$port" "$closed" <<'EOF2'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
outs = [r for r in recs if r["ev"] == "outcome"]
recs = [r for r in recs if r["ev"] == "connect"]
port, closed = int(sys.argv[2]), int(sys.argv[3])
n = lambda f: sum(1 for r in recs if f(r))
inprog = set(r["conn"] for r in recs if r["result"] == "EINPROGRESS")
print(len(recs), n(lambda r: r["result"] == "ok"), n(lambda r: r["result"] == "EINPROGRESS"),
      n(lambda r: r["result"] == "ECONNREFUSED" and r["dport"] == closed),
      n(lambda r: r.get("reason") == "udp"), n(lambda r: r.get("reason") == "bound"),
      n(lambda r: r["dport"] == port),
      n(lambda r: r["strategy"] == "kernel" and 50000 <= r["sport"] <= 50999),
      # the five non-blocking connects, closed at once: one outcome each,
      # learned by close(), connected or abandoned as the race went
      len(outs), set(r["conn"] for r in outs) == inprog,
      all(r["via"] == "close" and r["result"] in ("ok", "abandoned") for r in outs))
EOF2
)" "29 22 5 2 1 1 26 27 5 True True"
# Connections: the 28 TCP calls (the UDP connect names a peer, nothing
# more); all with an outcome, the two refused among them.
eq "report counts connections" "$("$eph" report --json "$log" | "$PY" -c '
import json, sys
c = json.load(sys.stdin)["connections"]
print(c["total"], c["unknown"], c["results"].get("ECONNREFUSED"), c["outcome_records"])')" "28 0 2 5"
"$eph" report "$log" >"$tmp/out" 2>"$tmp/err"
eq "text report rc" "$?" 0
eq "text report: nothing skipped" "$(cat "$tmp/err")" ""
grep -q "^  127.0.0.1:$port  *26 " "$tmp/out" || bad "text report lacks the server's row"
checks=$((checks + 1))
# Every line the library wrote takes the fast path: same result with jansson.
"$eph" report --no-fast-path "$log" >"$tmp/slow"
cmp -s "$tmp/out" "$tmp/slow" || bad "fast and slow paths differ on the library's log"
checks=$((checks + 1))

# ---- -o -, other strategies, filters on real records --------------------------------------
case_begin strategies
out=$("${cenv[@]}" "$eph" run -o - -s sequential -r 51000-51009 -- "$PY" -c "
import socket
for _ in range(3):
    socket.create_connection(('127.0.0.1', $port)).close()" 2>&1 >/dev/null | "$eph" report --json - |
	"$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["records"], d["strategies"], d["ports"]["lowest"] >= 51000, d["ports"]["highest"] <= 51009)')
eq "-o - records on stderr, sequential" "$out" "3 {'sequential': 3} True True"

case_begin filters
eq "--comm on real records" "$("$eph" report --json --comm python3 --errors "$log" |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["records"])')" 2

case_begin curl
if [ -n "$san" ]; then
	case_skip "curl hangs with the sanitizer runtime ($san) preloaded, ephport or not"
elif ! command -v curl >/dev/null; then
	case_skip "curl is not installed"
else
	"${cenv[@]}" "$eph" run -o "$tmp/curl.jsonl" -- timeout 60 curl -s -o /dev/null "http://127.0.0.1:$port/"
	eq "curl exit status" "$?" 0
	out=$("$eph" report --json --comm curl --dport "$port" "$tmp/curl.jsonl" |
		"$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["records"] >= 1, d["skipped_malformed"], sorted(d["strategies"]))')
	eq "curl's connect logged" "$out" "True 0 ['kernel']"
fi

# ---- a bad variable under the library itself: calls pass through, logged ------------------
case_begin disabled
out=$(env EPHPORT_RANGE=9-3 EPHPORT_LOG="$tmp/dis.jsonl" LD_PRELOAD="$preload" \
	"$PY" -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>&1)
case $out in *'ephport: EPHPORT_RANGE="9-3": '*) ;; *) bad "library message for a bad range: [$out]" ;; esac
checks=$((checks + 1))
eq "disabled: passthrough reason" "$("$eph" report --json "$tmp/dis.jsonl" |
	"$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["records"], d["passthrough_reasons"])')" \
	"1 {'disabled': 1}"

case_end
say "$checks checks, $fails failed"
finish
