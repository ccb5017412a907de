#!/usr/bin/env bash
# `ephport report` on one million generated records: prints a one-row table
# (records, seconds, records/s).  The target is under two seconds on the
# project's 2-core machines.  Usage: bash bench/report_bench.sh [BUILD_DIR]
# REPORT_BENCH_RECORDS=N changes the count; REPORT_BENCH_JANSSON=1 adds a
# row for --no-fast-path (every line parsed by jansson).
set -u
B=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
n=${REPORT_BENCH_RECORDS:-1000000}
eph=$B/ephport
[ -x "$eph" ] || { echo "report_bench: $eph not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ephport-report-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
log=$tmp/bench.jsonl

# Records shaped like the library's (schema 2): a few programs and
# destinations (IPv4 and IPv6), mostly nonblocking connects, each followed
# by its outcome record (most ok, some refused, a few abandoned after SYN
# retransmissions), some blocking calls refused and timed out, tries with a
# geometric tail, a few passthrough and fallback records.  N lines in all.
awk -v n="$n" '
BEGIN {
	srand(42); ts = 1732240000
	nd = split("10.0.0.5 10.0.0.6 10.0.0.7 192.168.1.20 93.184.216.34 2001:db8::1 2001:db8::2 ::1 127.0.0.1 172.16.0.9", D, " ")
	np = split("443 80 8080 5432 6379", P, " ")
	nc = split("curl python3 nginx haproxy wrk", C, " ")
	for (i = 0; lines < n; i++) {
		ts += rand() * 0.0002
		d = D[int(rand() * nd) + 1]; dp = P[int(rand() * np) + 1]
		v6 = index(d, ":") > 0
		t = 1; c = 0
		while (rand() < 0.15 && t < 4000) { t++; if (rand() < 0.3) c++ }
		strat = "kernel"; extra = "\"commit\":\"range\","
		sel = int(400 + t * 150 + rand() * 800)
		con = int(exp(log(20000) + 1.2 * (rand() + rand() + rand() - 1.5)))
		r = rand()
		if (r < 0.55) { res = "EINPROGRESS"; e = 115; blk = "false" }
		else if (r < 0.97) { res = "ok"; e = 0; blk = "true" }
		else if (r < 0.99) { res = "ECONNREFUSED"; e = 111; blk = "true" }
		else { res = "ETIMEDOUT"; e = 110; blk = "true"; con = con * 10000 }
		sp = 32768 + int(rand() * 14116) * 2
		if (rand() < 0.01) { strat = "passthrough"; extra = "\"reason\":\"bound\","; t = 0; c = 0; sel = 0; sp++ }
		else if (rand() < 0.001) { extra = "\"fallback\":true,\"commit\":\"range\"," }
		if (res == "ECONNREFUSED" || res == "ETIMEDOUT") sp = 0
		fam = v6 ? "ipv6" : "ipv4"; src = v6 ? "2001:db8::100" : "10.0.0.2"
		pid = 4000 + i % 7; fd = 3 + i % 50; conn = (100000 + i) ".1"
		facts = ""
		if (res != "EINPROGRESS") facts = (res == "ETIMEDOUT") ? "\"syn_retrans\":6," : "\"syn_retrans\":0,\"rtt_us\":" int(50 + rand() * 400) ","
		printf "{\"v\":2,\"ev\":\"connect\",\"ts\":%.6f,\"pid\":%d,\"tid\":%d,\"comm\":\"%s\",\"fd\":%d,\"conn\":\"%s\",\"proto\":\"tcp\",\"family\":\"%s\",\"src\":\"%s\",\"sport\":%d,\"dst\":\"%s\",\"dport\":%d,\"strategy\":\"%s\",%s\"blocking\":%s,\"tries\":%d,\"collisions\":%d,\"select_ns\":%d,\"refused_ns\":%d,\"lookup_ns\":0,\"connect_ns\":%d,\"total_ns\":%d,%s\"result\":\"%s\",\"errno\":%d}\n",
			ts, pid, 4000 + i % 13, C[i % nc + 1], fd, conn, fam, src, sp, d, dp, strat, extra, blk, t, c, sel, c * 3000, con,
			sel + con + 300, facts, res, e
		lines++
		if (res != "EINPROGRESS" || lines >= n) continue
		o = rand(); via = "so_error"; retr = 0; rtt = int(50 + rand() * 400)
		if (o < 0.96) { ores = "ok"; oe = 0; ons = con + rtt * 1000 }
		else if (o < 0.99) { ores = "ECONNREFUSED"; oe = 111; ons = con + rtt * 1000; rtt = 0 }
		else { ores = "abandoned"; oe = 0; via = "close"; retr = 2; rtt = 0; ons = 3000000000 }
		facts = "\"syn_retrans\":" retr "," (rtt ? "\"rtt_us\":" rtt "," : "")
		printf "{\"v\":2,\"ev\":\"outcome\",\"ts\":%.6f,\"pid\":%d,\"tid\":%d,\"comm\":\"%s\",\"fd\":%d,\"conn\":\"%s\",\"proto\":\"tcp\",\"family\":\"%s\",\"src\":\"%s\",\"sport\":%d,\"dst\":\"%s\",\"dport\":%d,\"via\":\"%s\",\"outcome_ns\":%d,%s\"result\":\"%s\",\"errno\":%d}\n",
			ts + ons / 1e9, pid, 4000 + i % 13, C[i % nc + 1], fd, conn, fam, src, sp, d, dp, via, ons, facts, ores, oe
		lines++
	}
}' >"$log" || { echo "report_bench: cannot generate $log"; exit 1; }

now() { date +%s.%N; }
row() { # row LABEL ARGS...
	local t0 t1
	t0=$(now)
	"$eph" report "${@:2}" "$log" >/dev/null || { echo "report_bench: ephport report failed"; exit 1; }
	t1=$(now)
	awk -v n="$n" -v a="$t0" -v b="$t1" -v l="$1" \
		'BEGIN { s = b - a; printf "%-22s %10d %9.3f %12.0f\n", l, n, s, n / s }'
}

printf '%-22s %10s %9s %12s\n' "ephport report" records seconds records/s
"$eph" report "$log" >/dev/null 2>&1 # warm the page cache
row "text"
[ "${REPORT_BENCH_JANSSON:-0}" = 1 ] && row "text, --no-fast-path" --no-fast-path
[ "${REPORT_BENCH_FORMS:-0}" = 1 ] && { row "--json" --json; row "--html" --html /dev/null; row "--openmetrics" --openmetrics; }
exit 0
