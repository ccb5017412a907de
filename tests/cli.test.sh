#!/usr/bin/env bash
# End-to-end tests of the `ephport` command on hand-written logs: report
# (normal records, malformed lines, empty files, stdin, filters, --json),
# check (good and bad environments), run (refused options, exit status,
# signals, LD_PRELOAD, warnings) and make install / uninstall.
# Records written by the real library are tested in cli_preload.test.sh.
# One case per part (tests/run.sh has the protocol).
. "$(dirname "$0")/helpers/lib.sh"
eph=$bdir/ephport
checks=0

# ok NAME COMMAND...: the command must succeed.
ok() { local n=$1; shift; checks=$((checks + 1)); "$@" || bad "$n"; }
# eq NAME GOT WANT
eq() {
	checks=$((checks + 1))
	[ "$2" = "$3" ] || bad "$1: got [$2], want [$3]"
}
has() { # has NAME HAYSTACK NEEDLE
	checks=$((checks + 1))
	case $2 in *"$3"*) ;; *) bad "$1: [$3] not in output:"; printf '%s\n' "$2" | sed 's/^/    | /' ;; esac
}

[ -x "$eph" ] || { say "FAIL: $eph not built"; exit 1; }

make_tmp
bg=
# shellcheck disable=SC2016 # expanded on exit
cleanup_first='[ -n "$bg" ] && kill "$bg" 2>/dev/null'

# ---- fixtures ----------------------------------------------------------------
# Six records whose summary is known by hand: total_ns 10..60 µs, select_ns
# 0..6 µs, three destinations (one IPv6), source port 40004 used twice.
good=$tmp/good.jsonl
rec() { # ts pid comm family dst dport sport strategy extra tries coll sel con tot result errno
	printf '{"v":1,"ts":%s,"pid":%s,"tid":%s,"comm":"%s","fd":5,"proto":"tcp","family":"%s","src":"","sport":%s,"dst":"%s","dport":%s,"strategy":"%s",%s"blocking":false,"tries":%s,"collisions":%s,"select_ns":%s,"connect_ns":%s,"total_ns":%s,"result":"%s","errno":%s}\n' \
		"$1" "$2" "$2" "$3" "$4" "$7" "$5" "$6" "$8" "$9" "${10}" "${11}" "${12}" "${13}" "${14}" "${15}" "${16}"
}
{
	rec 1700000000.000000 100 curl ipv4 10.0.0.1 80 40000 kernel '' 1 0 1000 9000 10000 ok 0
	rec 1700000001.000000 100 curl ipv4 10.0.0.1 80 40002 kernel '' 2 1 2000 18000 20000 EINPROGRESS 115
	rec 1700000002.000000 200 python3 ipv6 2001:db8::1 443 40004 kernel '' 1 0 3000 27000 30000 ECONNREFUSED 111
	rec 1700000003.000000 200 python3 ipv6 2001:db8::1 443 40004 kernel '' 3 2 4000 36000 40000 ok 0
	rec 1700000004.000000 300 nginx ipv4 10.0.0.2 8080 5001 passthrough '"reason":"bound",' 0 0 0 50000 50000 ETIMEDOUT 110
	rec 1700000005.000000 300 nginx ipv4 10.0.0.1 80 40006 kernel '"fallback":true,' 8 8 6000 54000 60000 EADDRNOTAVAIL 99
} >"$good"

# The same records among lines that must be skipped, ending with a line cut
# short as by a crash.
messy=$tmp/messy.jsonl
{
	echo 'ephport: some foreign text that is not JSON'
	head -n 3 "$good"
	echo '{"v":1,"ts":"yesterday","pid":1,"comm":"x"}'
	echo '[1,2,3]'
	echo
	tail -n 3 "$good"
	sed -n 1p "$good" | sed 's/"total_ns":10000,//'
	sed -n 2p "$good" | sed 's/"tries":2/"tries":"2"/'
	printf '%s' "$(sed -n 3p "$good" | cut -c1-120)"
} >"$messy"
: >"$tmp/empty.jsonl"

json_get() { # json_get FILE EXPR: print EXPR evaluated on the parsed JSON as d
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- basics -----------------------------------------------------------------------
case_begin basics
out=$("$eph" --version); eq "--version" "$?" 0
eq "--version is the Makefile's VERSION" "$out" "ephport $(sed -n 's/^VERSION *:= *//p' Makefile)"
ok "--help" "$eph" --help >/dev/null
ok "run --help" "$eph" run --help >/dev/null
ok "report --help" "$eph" report --help >/dev/null
ok "check --help" "$eph" check --help >/dev/null
"$eph" >/dev/null 2>&1; eq "no command" "$?" 2
"$eph" frobnicate >/dev/null 2>&1; eq "unknown command" "$?" 2

# ---- report: normal records ----------------------------------------------------------
case_begin report
out=$("$eph" report "$good" 2>"$tmp/err"); rc=$?
eq "report rc" "$rc" 0
eq "report: clean input, quiet stderr" "$(cat "$tmp/err")" ""
has "report records" "$out" "records:    6 connect() calls, 0 outcomes (6 lines read, 0 malformed, 0 filtered out)"
has "report span" "$out" "time span:  5.000000 s"
has "report calls/s" "$out" "calls/s:    1.2"
has "report ok" "$out" "  ok                        2   33.33%"
has "report EINPROGRESS" "$out" "  EINPROGRESS               1   16.67%"
has "report errno names" "$out" "  EADDRNOTAVAIL             1   16.67%"
has "report errors" "$out" "  errors                    3   50.00%"
has "report reason" "$out" "    bound                   1   16.67%  (passthrough reason)"
has "report fallback" "$out" "  fallback                  1   16.67%"
has "report pct header" "$out" "latency         p50       p90       p99     p99.9       max"
has "report total row" "$out" "  total      30.0µs    60.0µs    60.0µs    60.0µs    60.0µs"
has "report select row" "$out" "  select     2.00µs    6.00µs    6.00µs    6.00µs    6.00µs"
has "report hist header" "$out" "     usecs               : count     distribution"
has "report hist 8-15" "$out" "         8 -> 15         : 1        |**************                          |"
has "report hist 16-31" "$out" "        16 -> 31         : 2        |***************************             |"
has "report hist 32-63" "$out" "        32 -> 63         : 3        |****************************************|"
has "report hist footer" "$out" "avg = 35 usecs, total: 210 usecs, count: 6"
has "report tries" "$out" "avg 2.50, max 8"
has "report tries 8-15" "$out" "         8 -> 15         : 1 "
has "report parity" "$out" "even 5 (100.00%), odd 0 (0.00%)"
has "report dest v4" "$out" "  10.0.0.1:80                3          3        1     20.0µs     60.0µs         8"
has "report dest v6" "$out" "  [2001:db8::1]:443          2          2        1     30.0µs     40.0µs         3"
has "report ports" "$out" "source ports: 5 distinct, lowest 5001, highest 40006"
has "report most reused" "$out" "most reused:  40004 (2 calls)"

out=$("$eph" report -p 50,95,99.99 "$good")
has "report -p header" "$out" "p50       p95    p99.99       max"
"$eph" report -p 50,abc "$good" >/dev/null 2>"$tmp/err"; eq "report bad -p rc" "$?" 2
has "report bad -p message" "$(cat "$tmp/err")" '"50,abc"'
"$eph" report --bogus "$good" >/dev/null 2>&1; eq "report unknown option" "$?" 2

out=$("$eph" report -n 1 "$good")
has "report -n 1" "$out" "destinations: 3, top 1 by calls"

# ---- report: malformed lines, empty input, stdin, missing files -----------------------
case_begin report-input
out=$("$eph" report "$messy" 2>"$tmp/err"); rc=$?
eq "messy rc" "$rc" 0
has "messy records" "$out" "records:    6 connect() calls, 0 outcomes (12 lines read, 6 malformed, 0 filtered out)"
has "messy stderr" "$(cat "$tmp/err")" "skipped 6 malformed lines (first: $messy:1)"
has "messy same summary" "$out" "  total      30.0µs    60.0µs    60.0µs    60.0µs    60.0µs"

out=$("$eph" report "$tmp/empty.jsonl" 2>&1); rc=$?
eq "empty rc" "$rc" 0
has "empty message" "$out" "no records"

out=$("$eph" report - <"$good"); eq "stdin rc" "$?" 0
has "stdin records" "$out" "records:    6 connect() calls, 0 outcomes (6 lines read"
out=$(cat "$good" "$messy" | "$eph" report - 2>"$tmp/err")
has "stdin pipe records" "$out" "records:    12 connect() calls, 0 outcomes (18 lines read, 6 malformed"
has "stdin name" "$(cat "$tmp/err")" "(first: (stdin):"
out=$("$eph" report "$good" "$good")
has "two files" "$out" "records:    12"
# A record of a kind this version does not know (a later version's, or an
# outcome claiming schema 1, which had none): counted apart from malformed
# lines, never in the summary.
out=$( { cat "$good"; echo '{"v":1,"ev":"outcome","ts":1700000009.0,"pid":100,"fd":5,"sock":7,"result":"ok"}'
	echo '{"v":2,"ev":"accept","ts":1700000009.0,"pid":100}'; } |
	"$eph" report - 2>"$tmp/err")
has "other kinds counted" "$out" "records:    6 connect() calls, 0 outcomes (8 lines read, 0 malformed, 0 filtered out, 2 of kinds this version does not know)"
has "other kinds same summary" "$out" "  total      30.0µs    60.0µs    60.0µs    60.0µs    60.0µs"
has "other kinds message" "$(cat "$tmp/err")" "skipped 2 records of kinds this version does not know"

"$eph" report "$tmp/no-such.jsonl" >/dev/null 2>"$tmp/err"; eq "missing rc" "$?" 1
has "missing message" "$(cat "$tmp/err")" "cannot open $tmp/no-such.jsonl: No such file or directory"
"$eph" report "$tmp" >/dev/null 2>"$tmp/err"; eq "directory rc" "$?" 1
has "directory message" "$(cat "$tmp/err")" "$tmp"
(cd "$tmp" && cp good.jsonl ephport.jsonl && "$eph" report >"$tmp/out") 
has "default file" "$(cat "$tmp/out")" "records:    6"

# The slow path (jansson for every line) gives the same output.
"$eph" report "$messy" >"$tmp/fast" 2>/dev/null
"$eph" report --no-fast-path "$messy" >"$tmp/slow" 2>/dev/null
ok "fast and slow paths agree" cmp -s "$tmp/fast" "$tmp/slow"

# ---- report: --json and filters --------------------------------------------------------
case_begin report-json
if [ -n "$PY" ]; then
	"$eph" report --json "$messy" >"$tmp/j" 2>/dev/null
	ok "--json parses" "$PY" -c 'import json,sys; json.load(sys.stdin)' <"$tmp/j"
	eq "json records" "$(json_get "$tmp/j" 'd["records"]')" 6
	eq "json skipped" "$(json_get "$tmp/j" 'd["skipped_malformed"]')" 6
	eq "json results" "$(json_get "$tmp/j" 'd["results"]["ok"], d["results"]["EADDRNOTAVAIL"]')" "(2, 1)"
	eq "json errors" "$(json_get "$tmp/j" 'd["errors"]')" 3
	eq "json p50" "$(json_get "$tmp/j" 'd["latency_ns"]["total"]["p50"]')" 30000
	eq "json p99.9" "$(json_get "$tmp/j" 'd["latency_ns"]["select"]["p99.9"]')" 6000
	eq "json max" "$(json_get "$tmp/j" 'd["latency_ns"]["connect"]["max"]')" 54000
	eq "json hist" "$(json_get "$tmp/j" '[(h["low"], h["count"]) for h in d["total_us_histogram"]]')" \
		"[(8, 1), (16, 2), (32, 3)]"
	eq "json footer" "$(json_get "$tmp/j" 'd["total_us"]')" "{'avg': 35, 'total': 210, 'count': 6}"
	eq "json dests" "$(json_get "$tmp/j" '[(x["dst"], x["dport"], x["calls"]) for x in d["destinations"]]')" \
		"[('10.0.0.1', 80, 3), ('2001:db8::1', 443, 2), ('10.0.0.2', 8080, 1)]"
	eq "json ports" "$(json_get "$tmp/j" 'd["ports"]["distinct"], d["ports"]["most_reused"]')" \
		"(5, [{'port': 40004, 'calls': 2}])"
	eq "json parity" "$(json_get "$tmp/j" 'd["parity"]')" "{'even': 5, 'odd': 0}"
	eq "json fallback" "$(json_get "$tmp/j" 'd["fallback"]')" 1
	eq "json span" "$(json_get "$tmp/j" 'd["span_s"], d["calls_per_s"]')" "(5.0, 1.2)"

	"$eph" report --json "$tmp/empty.jsonl" >"$tmp/j"
	eq "json empty" "$(json_get "$tmp/j" 'd["records"], d["skipped_malformed"]')" "(0, 0)"
	"$eph" report --json -p 90 --sort p99 "$good" >"$tmp/j"
	eq "json -p" "$(json_get "$tmp/j" 'sorted(d["latency_ns"]["total"])')" "['max', 'p90']"
	eq "json --sort p99" "$(json_get "$tmp/j" '[x["p99_ns"] for x in d["destinations"]]')" \
		"[60000, 50000, 40000]"

	count() { # count ARGS...: records left by the filters
		"$eph" report --json "$@" "$good" >"$tmp/j" && json_get "$tmp/j" 'd["records"]'
	}
	eq "--pid" "$(count --pid 100)" 2
	eq "--pid list" "$(count --pid 100,300)" 4
	eq "--pid twice" "$(count --pid 100 --pid 200)" 4
	eq "--comm" "$(count --comm python3)" 2
	eq "--dst v6" "$(count --dst 2001:db8::1)" 2
	eq "--dst [v6]:port" "$(count --dst '[2001:db8:0::1]:443')" 2
	eq "--dst v4:port" "$(count --dst 10.0.0.1:80)" 3
	eq "--dst no match" "$(count --dst 10.0.0.1:81)" 0
	eq "--dport" "$(count --dport 8080)" 1
	eq "--result" "$(count --result ok)" 2
	eq "--result list, any case" "$(count --result econnrefused,ETIMEDOUT)" 2
	eq "--errors" "$(count --errors)" 3
	eq "--since/--until" "$(count --since 1700000002 --until 1700000003.5)" 2
	eq "--min-us" "$(count --min-us 40)" 3
	eq "filters combined" "$(count --comm nginx --errors --dport 80)" 1
	eq "filtered_out" "$(json_get "$tmp/j" 'd["filtered_out"]')" 5
	case_end
else
	case_skip "python3 is needed to read the --json output"
fi
case_begin report-filters
out=$("$eph" report --pid 4242 "$good"); eq "no match rc" "$?" 0
has "no match message" "$out" "no records match the filters (6 records read)"
"$eph" report --dport 70000 "$good" >/dev/null 2>&1; eq "bad --dport" "$?" 2
"$eph" report --dst bogus "$good" >/dev/null 2>&1; eq "bad --dst" "$?" 2
"$eph" report --since soon "$good" >/dev/null 2>&1; eq "bad --since" "$?" 2
"$eph" report --sort size "$good" >/dev/null 2>&1; eq "bad --sort" "$?" 2

# ---- report: schema 2, connections and their outcomes --------------------------------------
# Hand-written records of the shapes the library writes: node's refused
# non-blocking connect (learned by SO_ERROR), curl's blackholed one (two SYN
# retransmissions, abandoned at 3 s), a Java-like IPv6 socket to
# ::ffff:127.0.0.1 asked again with connect() (EALREADY, then ok), and a
# blocking refusal.
v2=$tmp/v2.jsonl
call2() { # pid comm conn family dst dport extra total facts result errno
	printf '{"v":2,"ev":"connect","ts":1700000100.000000,"pid":%s,"tid":%s,"comm":"%s","fd":7,"conn":"%s","proto":"tcp","family":"%s","src":"","sport":41000,"dst":"%s","dport":%s,"strategy":"kernel","commit":"range",%s"blocking":false,"tries":1,"collisions":0,"select_ns":4000,"refused_ns":0,"lookup_ns":0,"connect_ns":30000,"total_ns":%s,%s"result":"%s","errno":%s}\n' \
		"$1" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "${11}"
}
out2() { # pid comm conn family dst dport via outcome_ns facts result errno
	printf '{"v":2,"ev":"outcome","ts":1700000101.000000,"pid":%s,"tid":%s,"comm":"%s","fd":7,"conn":"%s","proto":"tcp","family":"%s","src":"","sport":41000,"dst":"%s","dport":%s,"via":"%s","outcome_ns":%s,%s"result":"%s","errno":%s}\n' \
		"$1" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "${11}"
}
{
	call2 500 node 11.1 ipv4 127.0.0.1 8081 '' 40000 '' EINPROGRESS 115
	out2 500 node 11.1 ipv4 127.0.0.1 8081 so_error 250000 '"syn_retrans":0,' ECONNREFUSED 111
	call2 501 curl 12.1 ipv4 10.9.9.9 80 '' 35000 '' EINPROGRESS 115
	out2 501 curl 12.1 ipv4 10.9.9.9 80 close 3000000000 '"syn_retrans":2,' abandoned 0
	call2 502 java 13.1 ipv6 ::ffff:127.0.0.1 8081 '' 45000 '' EINPROGRESS 115
	call2 502 java 13.1 ipv6 ::ffff:127.0.0.1 8081 '"again":true,' 5000 '' EALREADY 114
	out2 502 java 13.1 ipv6 ::ffff:127.0.0.1 8081 connect 700000 '"syn_retrans":0,"rtt_us":41,' ok 0
	call2 503 psql 14.1 ipv4 127.0.0.1 5432 '' 60000 '"syn_retrans":0,' ECONNREFUSED 111
} >"$v2"

case_begin report-outcomes
out=$("$eph" report "$v2" 2>"$tmp/err"); rc=$?
eq "v2 rc" "$rc" 0
eq "v2 quiet stderr" "$(cat "$tmp/err")" ""
has "v2 records" "$out" "records:    5 connect() calls, 3 outcomes (8 lines read, 0 malformed, 0 filtered out)"
has "v2 connections" "$out" "connections: 4 (a connect() call that started one)"
has "v2 again" "$out" "further connect() calls on a socket already connecting or connected (not new connections): 1"
has "v2 refused outcome" "$out" "  ECONNREFUSED              2   50.00%  (refused by the destination"
has "v2 abandoned" "$out" "  abandoned                 1   25.00%  (closed by the program before the handshake ended"
has "v2 not ok" "$out" "  not ok                    3   75.00%"
has "v2 via" "$out" "learned by:     call 1, close 1, connect 1, so_error 1"
has "v2 time to outcome" "$out" "  outcome     250µs     3.00s     3.00s     3.00s     3.00s"
has "v2 rtt" "$out" "  rtt        41.0µs    41.0µs    41.0µs    41.0µs    41.0µs"
has "v2 syn" "$out" "SYN retransmissions (SYNs sent again before an answer; TCP_INFO): 1 of 4 connections with any (25.00%), 2 in total, max 2"
has "v2 EALREADY is no error" "$out" "  errors                    1   20.00%"
has "v2 dest failed" "$out" "  127.0.0.1:8081                   1          1        1"
has "v2 procs" "$out" "  501 curl          1          1        1         1        0      3.00s      3.00s"
has "v2 explained tries" "$out" "those skipped without a"
out=$("$eph" report --dst 127.0.0.1:8081 "$v2")
has "--dst matches ::ffff:" "$out" "records:    3 connect() calls, 2 outcomes"
out=$("$eph" report --result ECONNREFUSED "$v2")
has "--result on outcomes" "$out" "records:    1 connect() calls, 1 outcomes"
has "--result orphan outcome" "$out" "or an outcome whose call is not in the records read: 1"
"$eph" report "$v2" >"$tmp/fast"
"$eph" report --no-fast-path "$v2" >"$tmp/slow"
ok "v2: fast and slow paths agree" cmp -s "$tmp/fast" "$tmp/slow"
if [ -n "$PY" ]; then
	"$eph" report --json "$v2" >"$tmp/j"
	eq "json connections" "$(json_get "$tmp/j" 'd["connections"]["total"], sorted(d["connections"]["results"].items()), d["connections"]["unknown"]')" \
		"(4, [('ECONNREFUSED', 2), ('abandoned', 1), ('ok', 1)], 0)"
	eq "json syn" "$(json_get "$tmp/j" 'd["connections"]["syn_retrans"]["with_any"], d["connections"]["syn_retrans"]["max"]')" "(1, 2)"
	eq "json procs" "$(json_get "$tmp/j" 'sorted((p["pid"], p["comm"], p["failed"]) for p in d["processes"])')" \
		"[(500, 'node', 1), (501, 'curl', 1), (502, 'java', 0), (503, 'psql', 1)]"
	eq "json split" "$(json_get "$tmp/j" 'd["time_split"]["all"]["choosing_ns"], d["time_split"]["all"]["connect_ns"]')" \
		"(20000, 150000)"
fi
# Schema 1 and 2 records together: old logs still read.
out=$(cat "$good" "$v2" | "$eph" report -)
has "v1 and v2 together" "$out" "records:    11 connect() calls, 3 outcomes"
has "v1 unknown noted" "$out" "or a schema 1 log"

# ---- check ------------------------------------------------------------------------------
case_begin check
# env(1) rather than a function, so that "${cenv[@]}" CMD & gives CMD's pid.
cenv=(env -u EPHPORT_RANGE -u EPHPORT_RESERVED -u EPHPORT_STRATEGY -u EPHPORT_SEED
	-u EPHPORT_SOURCE -u EPHPORT_LOG)
clean_env() { "${cenv[@]}" "$@"; }
out=$(clean_env "$eph" check 2>/dev/null); eq "check rc" "$?" 0
has "check range" "$out" "range         "
has "check strategy" "$out" "strategy      kernel (default)"
has "check key" "$out" "random per process"
has "check log" "$out" "log           none"
out=$(clean_env EPHPORT_RANGE=1000-2000 EPHPORT_RESERVED=1000-1009,1500 EPHPORT_STRATEGY=sequential \
	EPHPORT_SEED=42 EPHPORT_SOURCE=127.0.0.1,::1 EPHPORT_LOG=$tmp/x.jsonl "$eph" check 2>/dev/null)
eq "check good env rc" "$?" 0
has "check env range" "$out" "range         1000-2000 (EPHPORT_RANGE)"
has "check env usable" "$out" "1001 ports, 990 usable"
has "check env reserved" "$out" "and EPHPORT_RESERVED)"
has "check env strategy" "$out" "strategy      sequential (EPHPORT_STRATEGY)"
has "check env seed" "$out" "fixed (EPHPORT_SEED)"
has "check env source" "$out" "source        IPv4 127.0.0.1, IPv6 ::1 (EPHPORT_SOURCE)"
has "check env log" "$out" "log           $tmp/x.jsonl (appended"

msg='ephport: EPHPORT_RANGE="70000-1": port 70000 is out of range 1-65535; ephport is disabled in this process'
out=$(clean_env EPHPORT_RANGE=70000-1 "$eph" check 2>&1 >/dev/null); eq "check bad range rc" "$?" 2
eq "check bad range message" "$out" "$msg"
out=$(clean_env EPHPORT_STRATEGY=fastest "$eph" check 2>&1 >/dev/null); eq "check bad strategy rc" "$?" 2
eq "check bad strategy message" "$out" 'ephport: EPHPORT_STRATEGY="fastest": unknown strategy; expected kernel, random, sequential or native; ephport is disabled in this process'
out=$(clean_env EPHPORT_SOURCE=10.0.0.300 "$eph" check 2>&1 >/dev/null); eq "check bad source rc" "$?" 2
has "check bad source message" "$out" 'ephport: EPHPORT_SOURCE="10.0.0.300": '
out=$(clean_env EPHPORT_LOG= "$eph" check 2>&1 >/dev/null); eq "check empty log rc" "$?" 2
has "check empty log message" "$out" 'ephport: EPHPORT_LOG="": the value is empty'

# Per-destination rules: one line per rule, in written order, the default
# marked; a default not written (the namespace's range, the wildcard) last.
out=$(clean_env EPHPORT_RANGE='127.0.0.1:7001=40100-40199;10.0.0.0/8=41000-49999;50000-59999' \
	EPHPORT_RESERVED=41000-41009 \
	EPHPORT_SOURCE='10.0.0.0/8=10.0.0.5-10.0.0.9,10.0.0.20;[fd00::/64]:443=fd00::5;127.0.0.1-127.0.0.4,::1' \
	"$eph" check 2>/dev/null)
eq "check rules rc" "$?" 0
eq "check range rules" "$(printf '%s\n' "$out" | sed -n '/^range/,/^reserved/p' | sed '$d')" \
"range         127.0.0.1:7001 -> 40100-40199 (EPHPORT_RANGE rule 1; 100 ports, 100 usable)
              10.0.0.0/8 -> 41000-49999 (EPHPORT_RANGE rule 2; 9000 ports, 8990 usable)
              default -> 50000-59999 (EPHPORT_RANGE rule 3; 10000 ports, 10000 usable)
              the most specific destination wins (the longest prefix, then one with a port)"
eq "check source rules" "$(printf '%s\n' "$out" | sed -n '/^source/,/^log/p' | sed '$d')" \
"source        10.0.0.0/8 -> IPv4 10.0.0.5-10.0.0.9, 10.0.0.20 (EPHPORT_SOURCE rule 1; 6 IPv4 addresses)
              [fd00::/64]:443 -> IPv6 fd00::5 (EPHPORT_SOURCE rule 2)
              default -> IPv4 127.0.0.1-127.0.0.4, IPv6 ::1 (EPHPORT_SOURCE rule 3; 4 IPv4 and 1 IPv6 addresses)
              the most specific destination wins (the longest prefix, then one with a port)
              a connect takes the first address of its destination's family,
              the next one only when the range has no free port left on the
              previous one for that destination"
out=$(clean_env EPHPORT_RANGE='[fd00::1]:443=1000-1999;::ffff:10.0.0.0/104=2000-2999' \
	EPHPORT_SOURCE='10.1.0.0/16:80=10.1.0.1' "$eph" check 2>/dev/null)
eq "check rules without a default rc" "$?" 0
has "check range rule IPv6" "$out" "range         [fd00::1]:443 -> 1000-1999 (EPHPORT_RANGE rule 1; 1000 ports, 1000 usable)"
has "check range rule v4-mapped" "$out" "              10.0.0.0/8 -> 2000-2999 (EPHPORT_RANGE rule 2; 1000 ports, 1000 usable)"
has "check range default from the sysctl" "$out" "              default -> $(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range) (net.ipv4.ip_local_port_range;"
has "check source rule" "$out" "source        10.1.0.0/16:80 -> IPv4 10.1.0.1 (EPHPORT_SOURCE rule 1)"
has "check source default wildcard" "$out" "              default -> the wildcard address (no default in EPHPORT_SOURCE)"
out=$(clean_env EPHPORT_SOURCE=10.0.0.1-10.0.0.3,fd00::1 "$eph" check 2>/dev/null)
has "check source list" "$out" "source        IPv4 10.0.0.1-10.0.0.3, IPv6 fd00::1 (EPHPORT_SOURCE)"
has "check source list order" "$out" "a connect takes the first address of its destination's family,"
out=$(clean_env EPHPORT_RANGE=10.0.0.0/33=1-2 "$eph" check 2>&1 >/dev/null); eq "check bad rule rc" "$?" 2
eq "check bad rule message" "$out" 'ephport: EPHPORT_RANGE="10.0.0.0/33=1-2": rule 1 "10.0.0.0/33=1-2": prefix length 33 is out of range 0-32; ephport is disabled in this process'
out=$(clean_env EPHPORT_SOURCE='10.0.0.0/8=fd00::5' "$eph" check 2>&1 >/dev/null); eq "check bad source rule rc" "$?" 2
eq "check bad source rule message" "$out" 'ephport: EPHPORT_SOURCE="10.0.0.0/8=fd00::5": rule 1 "10.0.0.0/8=fd00::5": fd00::5 is an IPv6 address but the destination is IPv4; ephport is disabled in this process'

# ---- run ----------------------------------------------------------------------------------
case_begin run
# A library built with a sanitizer (make SAN=...) pulls in its runtime,
# which then is not first in the programs it is preloaded into.
if [ -n "$san" ]; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:verify_asan_link_order=0}
fi
cd "$tmp" || exit 1
{
	marker=$tmp/started
	out=$(clean_env "$eph" run -r 70000-1 -- sh -c "touch $marker" 2>&1); rc=$?
	eq "run bad -r rc" "$rc" 2
	eq "run bad -r message" "$out" "$msg"
	ok "run bad -r: CMD not started" test ! -e "$marker"
	clean_env "$eph" run -s bogus -- sh -c "touch $marker" >/dev/null 2>&1; eq "run bad -s" "$?" 2
	clean_env "$eph" run --seed xyz -- sh -c "touch $marker" >/dev/null 2>&1; eq "run bad --seed" "$?" 2
	clean_env "$eph" run --source nowhere -- sh -c "touch $marker" >/dev/null 2>&1; eq "run bad --source" "$?" 2
	clean_env "$eph" run --reserved 5- -- sh -c "touch $marker" >/dev/null 2>&1; eq "run bad --reserved" "$?" 2
	out=$(clean_env "$eph" run -r '10.0.0.0/8=1000-1999;;2000-2999' -- sh -c "touch $marker" 2>&1)
	eq "run bad -r rule rc" "$?" 2
	eq "run bad -r rule message" "$out" 'ephport: EPHPORT_RANGE="10.0.0.0/8=1000-1999;;2000-2999": rule 2 is empty (nothing between two ";"); ephport is disabled in this process'
	out=$(clean_env "$eph" run --source '10.0.0.9-10.0.0.5' -- sh -c "touch $marker" 2>&1)
	eq "run bad --source range rc" "$?" 2
	eq "run bad --source range message" "$out" 'ephport: EPHPORT_SOURCE="10.0.0.9-10.0.0.5": range "10.0.0.9-10.0.0.5" is reversed (the first address must not exceed the last); ephport is disabled in this process'
	out=$(clean_env "$eph" run -r '127.0.0.1:7001=40100-40199;50000-59999' \
		--source '10.0.0.0/8=10.0.0.5-10.0.0.9;127.0.0.1,::1' -- \
		sh -c 'echo "$EPHPORT_RANGE|$EPHPORT_SOURCE"')
	eq "run rules set the variables" "$out" '127.0.0.1:7001=40100-40199;50000-59999|10.0.0.0/8=10.0.0.5-10.0.0.9;127.0.0.1,::1'
	clean_env EPHPORT_RANGE=9-3 "$eph" run -- sh -c "touch $marker" >/dev/null 2>&1
	eq "run bad inherited variable" "$?" 2
	ok "run refused: CMD never started" test ! -e "$marker"
	"$eph" run >/dev/null 2>&1; eq "run without CMD" "$?" 2
	"$eph" run -- no-such-command-xyz >/dev/null 2>&1; eq "run unknown CMD" "$?" 127
	: >"$tmp/noexec"
	"$eph" run -- "$tmp/noexec" >/dev/null 2>&1; eq "run non-executable CMD" "$?" 126

	clean_env "$eph" run -- sh -c 'exit 7'; eq "run exit 7" "$?" 7
	clean_env "$eph" run -- sh -c 'kill -TERM $$'; eq "run killed by SIGTERM" "$?" 143
	rm -f "$tmp/ephport.jsonl"
	clean_env "$eph" run -- true; eq "run true" "$?" 0
	ok "run created the default log" test -f "$tmp/ephport.jsonl"
	out=$("$eph" report); eq "report of a run without connects: rc" "$?" 0
	has "report of a run without connects" "$out" "no records (0 lines read, 0 malformed)"

	out=$(clean_env LD_PRELOAD= "$eph" run -r 40000-40100 -s random --seed 7 --source 127.0.0.1 \
		--reserved 40001 -- sh -c 'echo "$LD_PRELOAD|$EPHPORT_LOG|$EPHPORT_RANGE|$EPHPORT_STRATEGY|$EPHPORT_SEED|$EPHPORT_SOURCE|$EPHPORT_RESERVED"')
	eq "run environment" "$out" "$lib|$tmp/ephport.jsonl|40000-40100|random|7|127.0.0.1|40001"
	out=$(clean_env LD_PRELOAD=libm.so.6 "$eph" run -o - -- sh -c 'echo "$LD_PRELOAD|$EPHPORT_LOG"')
	eq "run prepends to LD_PRELOAD, -o -" "$out" "$lib:libm.so.6|stderr"
	out=$(clean_env "$eph" run -o stderr -- sh -c 'echo "$EPHPORT_LOG"'); eq "run -o stderr" "$out" stderr
	out=$(clean_env "$eph" run -o logs.jsonl -- sh -c 'cd / && echo "$EPHPORT_LOG"')
	eq "run -o relative made absolute" "$out" "$tmp/logs.jsonl"
	out=$(clean_env "$eph" run -o "$tmp/nodir/x.jsonl" -- true 2>&1); eq "run unwritable log rc" "$?" 2
	has "run unwritable log message" "$out" "cannot open the log $tmp/nodir/x.jsonl"
	out=$(clean_env "$eph" run sh -c 'echo no-dashes'); eq "run without --" "$out" no-dashes

	# Signals sent to ephport reach CMD; the shell-style status comes back.
	"${cenv[@]}" "$eph" run -- sleep 30 &
	bg=$!
	sleep 0.5
	kill -TERM "$bg"
	wait "$bg"; eq "run forwards SIGTERM" "$?" 143
	"${cenv[@]}" "$eph" run -- sh -c 'sleep 30 & trap "kill $!; exit 9" HUP; wait' &
	bg=$!
	sleep 0.5
	kill -HUP "$bg"
	wait "$bg"; eq "run forwards SIGHUP to a handler" "$?" 9
	bg=

	out=$(clean_env "$eph" run -- sh -c true 2>&1); eq "no warning for a dynamic program" "$out" ""
}

# Programs the loader will not preload: warned about, still run.
case_begin run-static
printf 'int main(void) { return 3; }\n' >"$tmp/static.c"
if "$CC" -static -o "$tmp/static" "$tmp/static.c" 2>/dev/null; then
	out=$(clean_env "$eph" run -- "$tmp/static" 2>&1); rc=$?
	eq "static binary still runs" "$rc" 3
	has "static binary warning" "$out" "warning: $tmp/static is a static executable (no PT_INTERP)"
else
	case_skip "$CC -static cannot link a program here (no libc.a?)"
fi
case_begin run-setuid
if [ "$(id -u)" = 0 ]; then
	cp /bin/true "$tmp/suid" && chown 65534 "$tmp/suid" && chmod 4755 "$tmp/suid"
	out=$(clean_env "$eph" run -- "$tmp/suid" 2>&1)
	has "setuid warning" "$out" "is setuid, setgid or has file capabilities"
else
	case_skip "making a setuid program needs root"
fi
cd "$top" || exit 1

# ---- make install / uninstall -------------------------------------------------------------
case_begin install
if [ -n "${SAN:-}" ]; then
	case_skip "SAN=$SAN: the installed programs would need the sanitizer runtime"
elif ! command -v make >/dev/null; then
	case_skip "make is not installed"
else
	dest=$tmp/dest
	if make -s -C "$top" install PREFIX=/usr DESTDIR="$dest" B="$B" >"$tmp/install.log" 2>&1; then
		out=$("$dest/usr/bin/ephport" --version); eq "installed --version rc" "$?" 0
		has "installed --version" "$out" "ephport "
		clean_env "$dest/usr/bin/ephport" check >/dev/null 2>&1; eq "installed check" "$?" 0
		out=$(clean_env LD_PRELOAD= "$dest/usr/bin/ephport" run -o - -- sh -c 'echo "$LD_PRELOAD"')
		eq "installed run finds the library" "$out" "$dest/usr/lib/libephport.so.0"
		for f in usr/lib/libephport.so.0 usr/lib/libephport.so usr/include/ephport.h \
			usr/lib/pkgconfig/ephport.pc usr/share/man/man1/ephport.1 \
			usr/share/man/man7/libephport.7; do
			ok "installed $f" test -e "$dest/$f"
		done
		if make -s -C "$top" uninstall PREFIX=/usr DESTDIR="$dest" B="$B" >>"$tmp/install.log" 2>&1; then
			left=$(find "$dest" \( -type f -o -type l \) | sed "s|^$dest||")
			eq "uninstall leaves no files" "$left" ""
		else
			bad "make uninstall failed:"; sed 's/^/    | /' "$tmp/install.log"
		fi
	else
		bad "make install failed:"; sed 's/^/    | /' "$tmp/install.log"
	fi
fi

case_end
say "$checks checks, $fails failed"
finish
