#!/usr/bin/env bash
# Logs lose nothing (tests/helpers/logload.c, tests/helpers/closeall.c):
#  1. 4 processes x 4 threads write one log file at once, through a file
#     name whose comm has a quote, a backslash, a control byte and UTF-8:
#     every line is valid JSON (python3 json.loads), a flat object with the
#     keys of the contract and the right types, and the number of records
#     is exact, per process and per thread;
#  2. a program that closes every fd (glibc close_range, a close() loop to
#     the limit, the raw close_range system call, closefrom, dup2 onto the
#     log's number) and opens files of its own: none of its files ever holds
#     a log record, and the log still has one record per connect().  Run
#     with the default fd limit and with `ulimit -n 64`.
#  3. the log stays out of the way: a process that never connects opens no
#     log (no file, no fd: /proc/self/fd as without ephport); one that
#     does opens it at its first record; the slots fcntl(F_GETFD) calls free
#     are the slots dup() gets (LTP dup06's check), the log taking its slot
#     back afterwards; a relative EPHPORT_LOG names the file of the start-up
#     directory after chdir(); a process that drops root (setgid, setuid)
#     before its first connect still logs into a directory only root may
#     write.
# Cases: many-writers, closeall-default, closeall-low, lazy-open, fd-slots,
# relative-path, privilege-drop (tests/run.sh has the protocol).
. "$(dirname "$0")/helpers/lib.sh"
[ -n "$PY" ] || skip "python3 is needed to check the log"
[ -x "$hbin/logload" ] && [ -x "$hbin/closeall" ] ||
	{ say "FAIL: $hbin/logload or closeall is not built (make test-programs)"; exit 1; }
make_tmp

# ---- 1. many writers ----------------------------------------------------
procs=4 threads=4 per=${EPHPORT_LOGS_N:-1500}
log=$tmp/many.jsonl
# comm is the first 15 bytes of the executable's name.
odd=$tmp/$'l"o\\g\001\xc3\xa9'
ln -s "$hbin/logload" "$odd"
case_begin many-writers
wpids=()
for i in $(seq $procs); do
	run_preloaded EPHPORT_LOG="$log" EPHPORT_RANGE=20000-29999 -- \
		"$odd" $threads $per >"$tmp/out.$i" 2>"$tmp/err.$i" &
	wpids+=($!)
done
for i in $(seq $procs); do
	wait "${wpids[$((i - 1))]}" || bad "writer $i failed: $(cat "$tmp/err.$i")"
done
cat "$tmp"/out.* >"$tmp/calls"
"$PY" - "$log" "$tmp/calls" $threads <<'PYEOF' || bad "the shared log is not what the writers wrote"
import json, sys, collections
log, callsf, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
want = {}
for line in open(callsf):
    tag, pid, n = line.split()
    want[int(pid)] = int(n)
schema = {"v": int, "ev": str, "ts": float, "pid": int, "tid": int, "comm": str,
          "fd": int, "proto": str, "family": str, "src": str, "sport": int,
          "dst": str, "dport": int, "strategy": str, "blocking": bool,
          "tries": int, "collisions": int, "select_ns": int, "refused_ns": int,
          "lookup_ns": int, "connect_ns": int, "total_ns": int, "result": str,
          "errno": int}
bad = 0
def problem(msg):
    global bad
    bad += 1
    if bad <= 10:
        print(msg)
per_pid = collections.Counter()
comm_bad = collections.Counter()
per_tid = collections.defaultdict(collections.Counter)
data = open(log, "rb").read()
if data and not data.endswith(b"\n"):
    problem("the log does not end with a newline")
for no, raw in enumerate(data.split(b"\n")[:-1], 1):
    try:
        rec = json.loads(raw.decode("utf-8"))
    except Exception as e:
        problem(f"line {no}: not JSON ({e}): {raw[:200]!r}"); continue
    if not isinstance(rec, dict):
        problem(f"line {no}: not an object"); continue
    for k, t in schema.items():
        v = rec.get(k)
        ok = isinstance(v, t) and not (t is int and isinstance(v, bool))
        if t is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            problem(f"line {no}: {k} is {v!r}"); break
    else:
        if rec["v"] != 2 or rec["ev"] != "connect":
            problem(f"line {no}: v {rec['v']!r}, ev {rec['ev']!r}: not a call record of schema 2")
        if rec["comm"] != 'l"o\\g\x01\u00e9':
            comm_bad[rec["comm"]] += 1
        if rec["proto"] == "udp" and (rec["strategy"], rec.get("reason")) != ("passthrough", "udp"):
            problem(f"line {no}: a UDP record says {rec['strategy']}/{rec.get('reason')}")
        if rec["proto"] == "tcp" and rec["result"] != "ok":
            problem(f"line {no}: result {rec['result']}")
        per_pid[rec["pid"]] += 1
        per_tid[rec["pid"]][rec["tid"]] += 1
for pid, n in want.items():
    if per_pid[pid] != n:
        problem(f"pid {pid}: {per_pid[pid]} records for {n} connect() calls")
    counts = sorted(per_tid[pid].values())
    if len(counts) != threads or len(set(counts)) != 1:
        problem(f"pid {pid}: records per thread {counts}")
extra = set(per_pid) - set(want)
if extra:
    problem(f"records from unknown pids {sorted(extra)}")
for c, n in comm_bad.items():
    problem(f"{n} records give the program name (bytes 6c 22 6f 5c 67 01 c3 a9, valid UTF-8) as {c!r}")
if bad > 10:
    print(f"... {bad} problems in all")
total = sum(per_pid.values())
print(f"logs.test: {total} records from {len(want)} processes checked")
sys.exit(1 if bad else 0)
PYEOF

# ---- 2. a program that closes everything ----------------------------------
check_closeall() { # LABEL ULIMIT
	local label=$1 lim=$2 d=$tmp/files-$1 log=$tmp/close-$1.jsonl
	case_begin "closeall-$label"
	mkdir -p "$d"
	if ! (ulimit -n "$lim" && run_preloaded EPHPORT_LOG="$log" EPHPORT_RANGE=20000-29999 -- \
		"$hbin/closeall" "$d") >"$tmp/close.out" 2>"$tmp/close.err"; then
		bad "closeall ($label) failed: $(cat "$tmp/close.err")"
		return
	fi
	local calls records intruded other mine
	calls=$(sed -n 's/^CALLS //p' "$tmp/close.out")
	records=$(grep -c '^{"v":2,"ev":"connect",' "$log" 2>/dev/null || echo 0)
	intruded=$(grep -l '"v":2' "$d"/* 2>/dev/null | tr '\n' ' ')
	other=$(cat "$d"/* | grep -cv '^mine ' || true)
	[ -n "$intruded" ] && bad "($label) log records written into the program's files: $intruded"
	[ "$other" -eq 0 ] || bad "($label) $other foreign lines in the program's files"
	mine=$(cat "$d"/* 2>/dev/null | grep -c '^mine ' || true)
	[ "$mine" -gt 0 ] || bad "($label) the program wrote nothing into files of its own: nothing was checked"
	[ "${calls:-0}" -gt 0 ] || bad "($label) the program reports no connect() calls: $(head -c 300 "$tmp/close.out")"
	[ "$records" = "$calls" ] || bad "($label) the log has $records records for $calls connect() calls"
	say "closeall ($label, ulimit -n $lim): $calls connects, $records records, files clean: $([ -z "$intruded" ] && echo yes || echo no)"
}
check_closeall default "$(ulimit -n)"
check_closeall low 64

# ---- 3. a log that stays out of the way ---------------------------------------
"$PY" "$helpers/loopback.py" echo 127.0.0.1 "$tmp/echo.port" 120 & pids+=($!)
port=$(wait_port "$tmp/echo.port") || { say "FAIL: the echo server did not start"; exit 1; }

case_begin lazy-open
# What a process's fds name, before and after a connect.
cat >"$tmp/fds.py" <<'EOF'
import os, socket, sys
def fds():
    out = []
    for f in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            out.append(os.readlink("/proc/self/fd/" + f))
        except OSError:
            pass
    return out
log = os.environ["EPHPORT_LOG"]
before = fds()
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)   # a TCP socket, no connect
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.close()
l.close()
print("fds", len(before), "log", log in fds())
if sys.argv[1] == "connect":
    socket.create_connection(("127.0.0.1", int(sys.argv[2]))).close()
    print("after-connect log", log in fds())
EOF
nolog=$tmp/never.jsonl
without=$(EPHPORT_LOG=$nolog "$PY" "$tmp/fds.py" none)
with=$(run_preloaded EPHPORT_LOG="$nolog" -- "$PY" "$tmp/fds.py" none)
[ "$with" = "$without" ] ||
	bad "a process that never connects: [$with] under ephport, [$without] without"
[ -e "$nolog" ] && bad "a process that never connects created the log file"
log=$tmp/lazy.jsonl
out=$(run_preloaded EPHPORT_LOG="$log" -- "$PY" "$tmp/fds.py" connect "$port")
[ "$out" = "$(printf '%s\nafter-connect log True' "$without")" ] ||
	bad "the log is to be opened by the first record, not before: [$out]"
checklog "$log" 1 0.result=ok || bad "lazy-open: the log"
say "a process that never connects opens no log ($without); the first record opens it"

case_begin fd-slots
log=$tmp/slots.jsonl
out=$(run_preloaded EPHPORT_LOG="$log" -- "$hbin/fdslots" "$port") ||
	bad "fdslots failed: $out"
read -r _ nfree _ ndups <<<"$(head -n1 <<<"$out")"
[ -n "$nfree" ] && [ "$nfree" = "$ndups" ] ||
	bad "fcntl(F_GETFD) calls $nfree slots free, dup() got $ndups (LTP dup06)"
grep -qx "again OK" <<<"$out" || bad "the connect after the dups: $out"
checklog "$log" 2 || bad "fd-slots: the log lacks the record written after the dups"
say "with the log open within a limit of 64: $nfree slots free, $ndups dups"

case_begin relative-path
mkdir -p "$tmp/start" "$tmp/elsewhere"
(cd "$tmp/start" && run_preloaded EPHPORT_LOG=rel.jsonl -- "$PY" -c "
import os, socket
os.chdir('$tmp/elsewhere')
socket.create_connection(('127.0.0.1', $port)).close()") || bad "the relative-path client failed"
[ -e "$tmp/elsewhere/rel.jsonl" ] && bad "the log was created in the directory of the first record"
checklog "$tmp/start/rel.jsonl" 1 || bad "relative-path: no record in the start-up directory's file"

case_begin privilege-drop
if [ "$(id -u)" != 0 ]; then
	case_skip "dropping root needs root"
else
	d=$tmp/rootonly
	mkdir -p "$d" && chmod 700 "$d" "$tmp"
	run_preloaded EPHPORT_LOG="$d/drop.jsonl" -- "$PY" -c "
import os, socket
os.setgroups([]); os.setgid(65534); os.setuid(65534)
try:
    open('$d/probe', 'w')
    raise SystemExit('nobody can write in $d: nothing is tested')
except PermissionError:
    pass
socket.create_connection(('127.0.0.1', $port)).close()" || bad "the client that drops root failed"
	checklog "$d/drop.jsonl" 1 0.result=ok || bad "privilege-drop: no record after setuid()"
	[ "$(stat -c %U "$d/drop.jsonl" 2>/dev/null)" = root ] ||
		bad "privilege-drop: the log was not opened before setuid()"
fi

finish
