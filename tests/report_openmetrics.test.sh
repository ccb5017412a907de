#!/usr/bin/env bash
# `ephport report --openmetrics`: the output is read back by a real parser
# of the Prometheus text format (python3-prometheus-client's
# text_string_to_metric_families), and its numbers are those of a log
# whose answers are known by hand; names follow Prometheus' conventions;
# label values are escaped; filters apply; skipped lines are counted.
# Exit 0 pass, 77 skip (with the reason), anything else fail.
. "$(dirname "$0")/helpers/lib.sh"
eph=$bdir/ephport
[ -x "$eph" ] || { echo "$name: FAIL: $eph not built"; exit 1; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "$name: SKIP: python3 is needed to parse the metrics"; exit 77; }
if ! "$PY" -c 'import prometheus_client.parser' 2>/dev/null; then
	echo "$name: SKIP: python3-prometheus-client is not installed (its parser reads the output)"
	exit 77
fi

tmp=$(mktemp -d /tmp/ephport-om-test.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Seven calls (total_ns 0.5 µs to 9 s), one malformed line, one record of
# another kind, and a result that needs escaping in a label.
log=$tmp/log.jsonl
rec() { # ts pid comm dst dport strategy tries coll sel con tot result extra
	printf '{"v":1,"ts":%s,"pid":%s,"tid":%s,"comm":"%s","fd":5,"proto":"tcp","family":"ipv4","src":"","sport":40000,"dst":"%s","dport":%s,"strategy":"%s",%s"blocking":false,"tries":%s,"collisions":%s,"select_ns":%s,"connect_ns":%s,"total_ns":%s,"result":"%s","errno":0}\n' \
		"$1" "$2" "$2" "$3" "$4" "$5" "$6" "${13}" "$7" "$8" "$9" "${10}" "${11}" "${12}"
}
{
	rec 1700000000.5 100 curl 10.0.0.1 80 kernel 1 0 100 400 500 ok ''
	rec 1700000001.0 100 curl 10.0.0.1 80 kernel 2 1 1000 1000 2000 ok ''
	rec 1700000002.0 100 curl 10.0.0.1 80 kernel 1 0 1500 1000 2500 EINPROGRESS ''
	rec 1700000003.0 200 python3 10.0.0.2 443 kernel 4 3 3000 509000 512000 ECONNREFUSED ''
	rec 1700000004.0 200 python3 10.0.0.2 443 kernel 1 0 1000 8999999000 9000000000 ETIMEDOUT '"fallback":true,'
	rec 1700000005.0 300 nginx 10.0.0.3 80 passthrough 0 0 0 1000001 1000001 ok '"reason":"bound",'
	rec 1700000006.0 300 nginx 10.0.0.3 80 kernel 1 0 1000 1000 2000 'E\"X\\Y' ''
	echo 'this is not a record'
	echo '{"v":1,"ev":"outcome","ts":1700000007.0,"pid":100,"fd":5,"result":"ok"}'
} >"$log"

"$eph" report --openmetrics "$log" >"$tmp/m" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'skipped 1 malformed line' "$tmp/err" &&
	grep -q 'skipped 1 record of kinds this version does not know' "$tmp/err"; then
	case_pass exit-and-warnings
else
	case_failed exit-and-warnings "exit $rc, or the skipped lines not reported"; show "$tmp/err"
fi

# The checks, in Python on the parser's families.  Prints one "case" line
# each; exits 1 if any failed.
cat >"$tmp/check.py" <<'EOF'
import re, sys
from prometheus_client.parser import text_string_to_metric_families

script, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
failed = False
def case(name, ok, why=""):
    global failed
    print("%s: case %s: %s" % (script, name, "ok" if ok else "FAIL: " + why))
    failed |= not ok

try:
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    case("parses" + mode, True)
except Exception as e:
    case("parses" + mode, False, repr(e))
    sys.exit(1)

def samples(name):
    f = fams.get(name)
    return f.samples if f else []

def value(sample_name, **labels):
    for f in fams.values():
        for s in f.samples:
            if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None

if mode == "":
    # Types.  The parser names a counter's family without "_total".
    want = {"ephport_calls": "counter", "ephport_tries": "counter",
            "ephport_collisions": "counter", "ephport_fallbacks": "counter",
            "ephport_select_seconds": "histogram", "ephport_connect_seconds": "histogram",
            "ephport_call_seconds": "histogram", "ephport_log_lines_skipped": "counter",
            "ephport_last_call_timestamp_seconds": "gauge"}
    bad = ["%s: %s" % (n, fams[n].type if n in fams else "missing")
           for n, t in want.items() if n not in fams or fams[n].type != t]
    case("families-and-types", not bad, ", ".join(bad))

    # Calls by strategy and result, escaping included.
    calls = {(s.labels["strategy"], s.labels["result"]): s.value
             for s in samples("ephport_calls") if s.name == "ephport_calls_total"}
    want = {("kernel", "ok"): 2, ("kernel", "EINPROGRESS"): 1, ("kernel", "ECONNREFUSED"): 1,
            ("kernel", "ETIMEDOUT"): 1, ("passthrough", "ok"): 1, ("kernel", 'E"X\\Y'): 1}
    case("calls-by-result", calls == want, "%r" % calls)
    case("label-escaping", ("kernel", 'E"X\\Y') in calls, "the escaped result was not read back")

    case("counters", value("ephport_tries_total") == 10 and value("ephport_collisions_total") == 4
         and value("ephport_fallbacks_total") == 1,
         "tries %r collisions %r fallbacks %r" % (value("ephport_tries_total"),
         value("ephport_collisions_total"), value("ephport_fallbacks_total")))

    # The histogram of total_ns: cumulative buckets (le inclusive), sum, count.
    b = {s.labels["le"]: s.value for s in samples("ephport_call_seconds")
         if s.name == "ephport_call_seconds_bucket"}
    les = sorted((float(k), v) for k, v in b.items())
    cum_ok = all(les[i][1] <= les[i + 1][1] for i in range(len(les) - 1))
    exp = {"1e-06": 1, "2e-06": 3, "4e-06": 4, "0.000512": 5, "0.001024": 6,
           "0.002048": 6, "8.388608": 6, "+Inf": 7}
    got = {k: b.get(v) for k, v in [("1e-06", "0.000001"), ("2e-06", "0.000002"),
           ("4e-06", "0.000004"), ("0.000512", "0.000512"), ("0.001024", "0.001024"),
           ("0.002048", "0.002048"), ("8.388608", "8.388608"), ("+Inf", "+Inf")]}
    case("histogram-buckets", cum_ok and got == exp and len(b) == 25, "%r" % got)
    total = 500 + 2000 + 2500 + 512000 + 9000000000 + 1000001 + 2000
    case("histogram-sum-count", value("ephport_call_seconds_count") == 7 and
         abs(value("ephport_call_seconds_sum") - total / 1e9) < 1e-12,
         "count %r sum %r" % (value("ephport_call_seconds_count"), value("ephport_call_seconds_sum")))
    sel = 100 + 1000 + 1500 + 3000 + 1000 + 0 + 1000
    case("select-and-connect", value("ephport_select_seconds_count") == 7 and
         abs(value("ephport_select_seconds_sum") - sel / 1e9) < 1e-12 and
         value("ephport_connect_seconds_count") == 7, "select sum %r" % value("ephport_select_seconds_sum"))

    case("skipped-lines", value("ephport_log_lines_skipped_total", reason="malformed") == 1 and
         value("ephport_log_lines_skipped_total", reason="other_kind") == 1, "")
    case("last-timestamp", value("ephport_last_call_timestamp_seconds") == 1700000006.0, "")
    # Final outcomes of connections: in a schema 1 log, those of the calls
    # that ended their connection (not EINPROGRESS).
    outs = {s.labels["result"]: s.value for s in samples("ephport_outcomes")
            if s.name == "ephport_outcomes_total"}
    case("outcomes-of-calls", outs == {"ok": 3, "ECONNREFUSED": 1, "ETIMEDOUT": 1, 'E"X\\Y': 1} and
         value("ephport_time_to_outcome_seconds_count") == 6, "%r" % outs)

    # Conventions: prefix, units, _total on counters, HELP and TYPE for each.
    bad = []
    for f in fams.values():
        if not re.fullmatch(r"ephport_[a-z0-9_]+", f.name):
            bad.append(f.name + ": prefix or characters")
        if f.type == "histogram" and not f.name.endswith("_seconds"):
            bad.append(f.name + ": a duration without _seconds")
        if f.type == "counter" and not all(s.name.endswith("_total") for s in f.samples):
            bad.append(f.name + ": a counter without _total")
        if not f.documentation:
            bad.append(f.name + ": no HELP")
    types = re.findall(r"^# TYPE (\S+) ", text, re.M)
    if len(types) != len(set(types)):
        bad.append("a TYPE line repeated")
    if re.search(r"^[^#].* [0-9.e+-]+ [0-9]+$", text, re.M):
        bad.append("a sample with a timestamp (the textfile collector refuses them)")
    case("naming-conventions", not bad, "; ".join(bad))
elif mode == "-outcomes":
    # Schema 2: a refused non-blocking connect counts as ECONNREFUSED, an
    # abandoned one as abandoned; their times to outcome; SYNs sent again;
    # the EALREADY of a second connect() is a call, not an outcome.
    outs = {s.labels["result"]: s.value for s in samples("ephport_outcomes")
            if s.name == "ephport_outcomes_total"}
    case("outcomes-by-result", outs == {"ECONNREFUSED": 2, "abandoned": 1, "ok": 1}, "%r" % outs)
    calls = {(s.labels["strategy"], s.labels["result"]): s.value
             for s in samples("ephport_calls") if s.name == "ephport_calls_total"}
    case("calls-not-outcomes", calls == {("kernel", "EINPROGRESS"): 3, ("kernel", "EALREADY"): 1,
                                        ("kernel", "ECONNREFUSED"): 1}, "%r" % calls)
    b = {s.labels["le"]: s.value for s in samples("ephport_time_to_outcome_seconds")
         if s.name == "ephport_time_to_outcome_seconds_bucket"}
    case("time-to-outcome", value("ephport_time_to_outcome_seconds_count") == 4 and
         b.get("0.000064") == 1 and b.get("0.000256") == 2 and b.get("0.001024") == 3 and
         b.get("8.388608") == 4 and
         abs(value("ephport_time_to_outcome_seconds_sum") - 3.00081) < 1e-9,
         "%r sum %r" % (b, value("ephport_time_to_outcome_seconds_sum")))
    case("syn-retransmissions", value("ephport_syn_retransmissions_total") == 2, "")
else:
    calls = {(s.labels["strategy"], s.labels["result"]): s.value
             for s in samples("ephport_calls") if s.name == "ephport_calls_total"}
    case("filters-apply", calls == {("kernel", "ok"): 2, ("kernel", "EINPROGRESS"): 1} and
         value("ephport_call_seconds_count") == 3, "%r" % calls)
sys.exit(1 if failed else 0)
EOF
# py_cases FILE MODE: the Python cases, counted as the shell's.
py_cases() {
	local out
	out=$("$PY" "$tmp/check.py" "$name" "$1" "$2" 2>&1)
	printf '%s\n' "$out"
	# Its case lines are counted by the runner; the script's status
	# follows them (lib.sh's counters).
	fails=$((fails + $(grep -c ': FAIL' <<<"$out")))
	_ncases=$((_ncases + $(grep -c ': case ' <<<"$out")))
	grep -q ': case ' <<<"$out" || bad "the metrics checker reported no case"
	if grep -q ': FAIL' <<<"$out" || ! grep -q ': case ' <<<"$out"; then
		echo "    | the metrics:"; show "$1" 200
	fi
}
py_cases "$tmp/m" ""
"$eph" report --openmetrics --comm curl "$log" >"$tmp/mf" 2>/dev/null
py_cases "$tmp/mf" "-filtered"

# Schema 2: calls and the outcome records of non-blocking connects.
log2=$tmp/log2.jsonl
call2() { # conn extra total result
	printf '{"v":2,"ev":"connect","ts":1700000100.0,"pid":9,"tid":9,"comm":"node","fd":7,"conn":"%s","proto":"tcp","family":"ipv4","src":"","sport":0,"dst":"127.0.0.1","dport":81,"strategy":"kernel",%s"blocking":false,"tries":1,"collisions":0,"select_ns":1000,"refused_ns":0,"lookup_ns":0,"connect_ns":1000,"total_ns":%s,"result":"%s","errno":0}\n' "$@"
}
out2() { # conn via outcome_ns facts result
	printf '{"v":2,"ev":"outcome","ts":1700000101.0,"pid":9,"tid":9,"comm":"node","fd":7,"conn":"%s","proto":"tcp","family":"ipv4","src":"","sport":0,"dst":"127.0.0.1","dport":81,"via":"%s","outcome_ns":%s,%s"result":"%s","errno":0}\n' "$@"
}
{
	call2 1.1 '' 50000 EINPROGRESS
	out2 1.1 so_error 200000 '"syn_retrans":0,' ECONNREFUSED
	call2 2.1 '' 50000 EINPROGRESS
	out2 2.1 close 3000000000 '"syn_retrans":2,' abandoned
	call2 3.1 '' 50000 EINPROGRESS
	call2 3.1 '"again":true,' 5000 EALREADY
	out2 3.1 connect 550000 '"syn_retrans":0,"rtt_us":30,' ok
	call2 4.1 '' 60000 ECONNREFUSED
} >"$log2"
"$eph" report --openmetrics "$log2" >"$tmp/m2" 2>/dev/null
py_cases "$tmp/m2" "-outcomes"

: >"$tmp/empty"
"$eph" report --openmetrics "$tmp/empty" >"$tmp/me" 2>&1
rc=$?
case_check empty-log "exit $rc or not parseable" eval \
	'[ "$rc" -eq 0 ] && "$PY" -c "import sys; from prometheus_client.parser import text_string_to_metric_families as t; list(t(open(sys.argv[1]).read()))" "$tmp/me" && grep -q "^ephport_call_seconds_count 0$" "$tmp/me"'

"$eph" report --openmetrics --html x "$log" >/dev/null 2>"$tmp/err"
rc=$?
case_check one-output-format "exit $rc, want 2" eval '[ "$rc" -eq 2 ] && grep -q "choose one" "$tmp/err"'
finish
