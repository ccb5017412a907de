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
# Cases: many-writers, closeall-default, closeall-low (tests/run.sh has the
# protocol).
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

finish
