#!/usr/bin/env bash
# The connect path's promises that need a private network namespace:
#   ownrange  the program's own IP_LOCAL_PORT_RANGE is honoured as the
#             kernel honours it (inside the namespace's range: only its
#             ports, EADDRNOTAVAIL once they are taken; outside it:
#             ignored), and reads back as the program set it;
#   fork      8 workers forked from one process connecting together share
#             one allocator, so they rarely collide (the kernel's sockets
#             share one table);
#   reserved  EPHPORT_RESERVED holds even when every other port is taken
#             (the kernel, which does not know it, never chooses instead);
#   sources   EPHPORT_SOURCE lists several addresses: a connection moves to
#             the next only when the previous one is full for the
#             destination, so the capacity adds up (RANGE and BIND mode);
#   rules     per-destination EPHPORT_RANGE rules: each destination gets
#             its rule's ports;
#   cold      a destination never seen (IPv4 and IPv6), 90% of the range
#             held by a plain process: refused candidates turn into windows
#             the kernel judges whole, so ephport learns the taken ports in
#             a few calls (0.2.0 met a refusal in every call);
#   watch     while one thread blocks in connect(), another reads
#             SO_REUSEADDR and IP_LOCAL_PORT_RANGE as the program set them
#             (BIND and RANGE mode).
# Each case runs in its own `unshare -n`, the client with and without the
# preload; outputs must match the kernel's.
# Usage: bash tests/connectpath.test.sh [CASE...]   (default: all cases)
# Each case is reported as a case (tests/run.sh has the protocol).
. "$(dirname "$0")/helpers/lib.sh"
ALL_CASES="ownrange fork cold watch reserved sources rules"

if [ -z "${NETNS_CASE:-}" ]; then
	[ -n "$PY" ] || skip "python3 is needed for the clients"
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	command -v ip >/dev/null || skip "ip (iproute2) is needed to bring lo up"
	err=$(unshare -n true 2>&1) || skip "unshare -n is not permitted here (${err:-no message})"
	"$PY" -c 'import socket; socket.socket().getsockopt(socket.IPPROTO_IP, 51, 4)' 2>/dev/null ||
		skip "this kernel has no IP_LOCAL_PORT_RANGE (Linux 6.3+)"
	export PY
	netns_cases ${*:-$ALL_CASES}
fi

# ---- inside a fresh namespace ----------------------------------------------------
C=$NETNS_CASE
say() { printf 'connectpath.test[%s]: %s\n' "$C" "$*"; }
skip() { say "SKIP: $*"; printf '%s\n' "$*" >"$NETNS_WHY"; exit 77; }
fails=0
bad() { say "FAIL: $*"; fails=$((fails + 1)); }
ip link set lo up || skip "cannot bring lo up in the new namespace"
[ -n "$san" ] && export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:verify_asan_link_order=0}
tmp=$(mktemp -d /tmp/ephport-connpath.XXXXXX) || exit 1
srv=
trap '[ -n "$srv" ] && touch "$tmp/stop" && wait $srv 2>/dev/null; rm -rf "$tmp"' EXIT

server() {
	"$PY" "$helpers/pressure_server.py" "$tmp/server.ready" "$tmp/stop" "$@" 2>"$tmp/server.err" &
	srv=$!
	wait_file "$tmp/server.ready" 250 || { cat "$tmp/server.err"; say "FAIL: no server"; exit 1; }
}
client() { timeout 30 "$PY" "$helpers/connpath_client.py" "$@"; }
eclient() {
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env LD_PRELOAD="$preload" "${envs[@]}" timeout 30 "$PY" "$helpers/connpath_client.py" "$@"
}
# commits LOG: the "commit" values of the records, sorted and counted
commits() { "$PY" -c 'import json,sys,collections; print(dict(collections.Counter(json.loads(l).get("commit") for l in open(sys.argv[1]))))' "$1"; }

case_ownrange() {
	sysctl -qw net.ipv4.ip_local_port_range="41000 41199" || skip "cannot set the range"
	server 127.0.0.1:5000
	local k e m
	# Inside the namespace's range: ten ports, then the kernel's refusal.
	k=$(client ownrange 127.0.0.1 5000 41010 41019 11)
	grep -q '^c 10 EADDRNOTAVAIL' <<<"$k" || say "note: the kernel's 11th connect: $(grep '^c 10' <<<"$k")"
	for m in auto bind; do
		e=$(eclient EPHPORT_COMMIT=$m EPHPORT_LOG="$tmp/own-$m.jsonl" -- ownrange 127.0.0.1 5000 41010 41019 11)
		[ "$e" = "$k" ] || bad "$m: program range 41010-41019: ephport '$(tr '\n' ';' <<<"$e")', the kernel '$(tr '\n' ';' <<<"$k")'"
		say "$m: program range 41010-41019: $(tail -1 <<<"$e"), 11th: $(grep '^c 10' <<<"$e" | cut -d' ' -f3); commits $(commits "$tmp/own-$m.jsonl")"
	done
	grep -q '"commit":"range"' "$tmp/own-auto.jsonl" || bad "auto: no connect committed by range"
	# Outside the namespace's range: the kernel ignores it.
	k=$(client ownrange 127.0.0.1 5000 50000 50009 11)
	e=$(eclient EPHPORT_LOG="$tmp/out.jsonl" -- ownrange 127.0.0.1 5000 50000 50009 11)
	[ "$e" = "$k" ] || bad "program range outside the namespace's: ephport '$(tr '\n' ';' <<<"$e")', the kernel '$(tr '\n' ';' <<<"$k")'"
	say "program range 50000-50009 outside 41000-41199: $(tail -1 <<<"$e") (the kernel: $(tail -1 <<<"$k"))"
	# EPHPORT_RANGE and the program's range overlap: their intersection.
	e=$(eclient EPHPORT_RANGE=41015-41100 -- ownrange 127.0.0.1 5000 41010 41019 6)
	local inr
	inr=$("$PY" - "$e" <<'PY'
import sys
print(sum(1 for l in sys.argv[1].splitlines() if l.startswith("c ") and l.split()[2] == "ok"))
PY
)
	[ "$(tail -1 <<<"$e")" = "ports 5" ] || bad "EPHPORT_RANGE 41015-41100 with the program's 41010-41019: $(tr '\n' ';' <<<"$e") (expected the 5 ports 41015-41019)"
	grep -q '^c 5 EADDRNOTAVAIL' <<<"$e" || bad "the 6th connect in 41015-41019: $(grep '^c 5' <<<"$e")"
	say "EPHPORT_RANGE 41015-41100 and the program's 41010-41019: $inr ok, then $(grep '^c 5' <<<"$e" | cut -d' ' -f3)"
}

# collided LOG: "RECORDS CALLS-THAT-COLLIDED COLLISIONS FALLBACKS"
collided() {
	"$PY" - "$1" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(len(recs), sum(1 for r in recs if r["collisions"]),
      sum(r["collisions"] for r in recs), sum(1 for r in recs if r.get("fallback")))
PY
}

case_fork() {
	sysctl -qw net.ipv4.ip_local_port_range="40000 41999" || skip "cannot set the range"
	server 127.0.0.1:5000
	local k e1 e8 n1 hit1 coll1 fb1 n8 hit8 coll8 fb8
	k=$(client fork 127.0.0.1 5000 8 100)
	[ "$k" = "ok 800 fail 0 distinct 800" ] || say "note: the kernel: $k"
	# The reference: one process making the 800 connects in turn.  In the
	# kernel's order, scans meet ports taken earlier (the table entry
	# moves on by random steps and wraps round): that many collisions are
	# the algorithm's own.
	e1=$(eclient EPHPORT_LOG="$tmp/one.jsonl" -- fork 127.0.0.1 5000 1 800)
	e8=$(eclient EPHPORT_LOG="$tmp/fork.jsonl" -- fork 127.0.0.1 5000 8 100)
	[ "$e8" = "$k" ] || bad "8 forked workers x 100: ephport '$e8', the kernel '$k'"
	[ "$e1" = "$k" ] || bad "one process x 800: ephport '$e1', the kernel '$k'"
	read -r n1 hit1 coll1 fb1 < <(collided "$tmp/one.jsonl")
	read -r n8 hit8 coll8 fb8 < <(collided "$tmp/fork.jsonl")
	[ "$n8" = 800 ] || bad "expected 800 records, got $n8"
	# Siblings share one allocator, as every socket shares the kernel's
	# table: they must collide about as rarely as one process does.  With
	# a table copied by fork() (the same key, the same entries) they walked
	# the same candidates and collided twice as often.
	[ "$hit8" -le $((hit1 * 3 / 2 + 24)) ] ||
		bad "forked siblings: $hit8 of 800 calls collided; one process: $hit1 (bound: 1.5x + 24)"
	say "800 connects, 2000-port range: one process $hit1 calls collided ($coll1 collisions, $fb1 fallbacks); 8 forked workers $hit8 ($coll8, $fb8)"
}

case_cold() {
	sysctl -qw net.ipv4.ip_local_port_range="40000 40999" || skip "cannot set the range"
	server 127.0.0.1:5000 [::1]:5000
	local host
	for host in 127.0.0.1 ::1; do
		cold_one "$host"
	done
}

# cold_one HOST: 900 of the range's 1,000 ports held towards HOST:5000.
cold_one() {
	local h=$1 dst=$1:5000
	[[ $h == *:* ]] && dst="[$h]:5000"
	rm -f "$tmp/held" "$tmp/held.release"
	"$PY" "$helpers/pressure_hold.py" "$tmp/held" "$tmp/held.release" "conn=900@$dst" \
		>/dev/null 2>&1 &
	local holder=$!
	wait_file "$tmp/held" 500 || { say "FAIL: the holder did not report"; exit 1; }
	local held
	held=$(awk '/^conn/ {print $3}' "$tmp/held")
	[ "$held" = 900 ] || skip "the holder got $held of 900 connections to $dst"
	local e
	e=$(eclient EPHPORT_LOG="$tmp/cold.jsonl" -- many "$h" 5000 60)
	local ok distinct
	ok=$(grep -c '^c [0-9]* ok ' <<<"$e")
	distinct=$(awk '$3 == "ok" {print $5}' <<<"$e" | sort -u | wc -l)
	[ "$ok" = 60 ] || bad "$h: 60 connects with 100 ports free: $ok ok"
	[ "$distinct" = 60 ] || bad "$h: 60 connects: $distinct distinct ports"
	awk '$3 == "ok" && ($5 < 40000 || $5 > 40999) {print "port " $5 " outside the range"}' <<<"$e" |
		while read -r l; do bad "$h: $l"; done
	local calls hit coll fb
	read -r calls hit coll fb < <(collided "$tmp/cold.jsonl")
	# One-port attempts learn one port each (about 3 µs apiece): within a
	# call's budget a cold destination cost every one of the 60 calls a
	# collision (0.2.0).  Windows learn 32-256 ports a refusal: here 6 to
	# 15 calls meet one, as the scan moves into regions not learned yet.
	[ "$calls" = 60 ] || bad "$h: expected 60 records, got $calls"
	[ "$hit" -le 30 ] || bad "$h: $hit of 60 calls met a refusal ($coll refusals, $fb fallbacks): knowledge is learned too slowly"
	[ "$coll" -le 60 ] || bad "$h: $coll refusals in 60 calls (one-port attempts: hundreds)"
	[ "$fb" -le 4 ] || bad "$h: $fb of 60 calls fell back to the kernel's choice"
	touch "$tmp/held.release"
	wait "$holder"
	rm -f "$tmp/cold.jsonl"
	say "$h: 900 of 1000 ports held by a plain process: 60 connects, $hit met refusals ($coll in all), $fb fell back"
}

case_watch() {
	local k e m
	k=$(client watch 127.0.0.1 0)
	for m in range bind; do
		e=$(eclient EPHPORT_COMMIT=$m EPHPORT_LOG="$tmp/w-$m.jsonl" -- watch 127.0.0.1 0)
		[ "$e" = "$k" ] || bad "$m: ephport '$(tr '\n' ';' <<<"$e")', the kernel '$(tr '\n' ';' <<<"$k")'"
		grep -q "\"commit\":\"$m\"" "$tmp/w-$m.jsonl" || bad "$m: the connect was not committed by $m: $(cat "$tmp/w-$m.jsonl")"
		say "$m: $(tr '\n' ';' <<<"$e")"
	done
}

case_reserved() {
	sysctl -qw net.ipv4.ip_local_port_range="41000 41031" || skip "cannot set the range"
	server 127.0.0.1:5000
	# A plain process holds 15 of the 16 ports ephport may use; ephport's
	# first connect finds the last one, its second has none left but the
	# 16 reserved ones, which the kernel would happily choose.
	"$PY" "$helpers/pressure_hold.py" "$tmp/held" "$tmp/held.release" conn=15@127.0.0.1:5000 \
		>/dev/null 2>&1 &
	wait_file "$tmp/held" 250 || { say "FAIL: the holder did not report"; exit 1; }
	# The holder's 15 ports are the kernel's first even ones; reserve the
	# 16 ports it did not take... of the even ones: 41000-41031 minus
	# theirs, 17 ports; reserve 16 of them and leave one.
	local held free rsv last
	held=$(awk '/^conn/ {print $5}' "$tmp/held")
	free=$(awk -v used="$held" 'BEGIN { n = split(used, u, ","); for (i = 1; i <= n; i++) t[u[i]] = 1
		for (p = 41000; p <= 41031; p++) if (!(p in t)) print p }')
	last=$(head -1 <<<"$free")
	rsv=$(tail -n +2 <<<"$free" | paste -sd,)
	local e
	e=$(eclient EPHPORT_RESERVED="$rsv" EPHPORT_LOG="$tmp/rsv.jsonl" -- ownrange 127.0.0.1 5000 0 0 3)
	[ "$(sed -n 1p <<<"$e" | cut -d' ' -f3)" = ok ] || bad "first connect with one usable port left: $(sed -n 1p <<<"$e")"
	grep -q '^c 1 EADDRNOTAVAIL' <<<"$e" || bad "second connect, only reserved ports free: $(sed -n 2p <<<"$e") (expected EADDRNOTAVAIL)"
	grep -q '^c 2 EADDRNOTAVAIL' <<<"$e" || bad "third connect, only reserved ports free: $(sed -n 3p <<<"$e") (expected EADDRNOTAVAIL)"
	local ports
	ports=$("$PY" -c 'import json,sys; print(",".join(str(json.loads(l)["sport"]) for l in open(sys.argv[1])))' "$tmp/rsv.jsonl")
	local p
	for p in ${ports//,/ }; do
		[ "$p" = 0 ] && continue
		[[ ,$rsv, == *,$p,* ]] && bad "a connect got reserved port $p (EPHPORT_RESERVED=$rsv)"
		[ "$p" = "$last" ] || bad "a connect got port $p, expected the one usable port $last"
	done
	touch "$tmp/held.release"
	say "15 ports held, 16 reserved, one usable ($last): source ports $ports; results $(cut -d' ' -f3 <<<"$e" | head -3 | paste -sd,)"
}

# src_counts OUTPUT: "ADDR:N ..." connects per source address, in order
src_counts() { awk '$3 == "ok" {n[$4]++; if (!($4 in seen)) {seen[$4] = 1; o[++k] = $4}}
	END {for (i = 1; i <= k; i++) printf "%s%s:%d", (i > 1 ? " " : ""), o[i], n[o[i]]}' <<<"$1"; }

case_sources() {
	sysctl -qw net.ipv4.ip_local_port_range="41000 41009" || skip "cannot set the range"
	server 127.0.0.10:5000
	local m e want="127.0.0.1:10 127.0.0.2:10 127.0.0.3:5"
	for m in auto bind; do
		e=$(eclient EPHPORT_COMMIT=$m EPHPORT_SOURCE=127.0.0.1-127.0.0.3 EPHPORT_LOG="$tmp/src-$m.jsonl" -- \
			many 127.0.0.10 5000 25)
		[ "$(src_counts "$e")" = "$want" ] ||
			bad "$m: 25 connects over 3 sources of 10 ports each: $(src_counts "$e") (expected $want)"
		grep -q ' EADDRNOTAVAIL\| ECONN' <<<"$e" && bad "$m: a connect failed: $(grep -v ' ok ' <<<"$e" | head -3 | tr '\n' ';')"
		say "$m: 25 connects from 127.0.0.1-127.0.0.3, 10 ports: $(src_counts "$e")"
	done
	# All three full: the 31st connect is refused, as the kernel refuses.
	e=$(eclient EPHPORT_SOURCE=127.0.0.1-127.0.0.3 -- many 127.0.0.10 5000 31)
	[ "$(src_counts "$e")" = "127.0.0.1:10 127.0.0.2:10 127.0.0.3:10" ] || bad "31 connects: $(src_counts "$e")"
	grep -q '^c 30 EADDRNOTAVAIL' <<<"$e" || bad "the 31st connect with every source full: $(grep '^c 30' <<<"$e")"
	say "31 connects: $(src_counts "$e"), then $(grep '^c 30' <<<"$e" | cut -d' ' -f3)"
	# The report and top group the calls by source address.
	local rep
	rep=$("$bdir/ephport" report "$tmp/src-auto.jsonl" 2>&1)
	for a in "127.0.0.1 *10 " "127.0.0.2 *10 " "127.0.0.3 *5 "; do
		grep -q "^  $a" <<<"$rep" || bad "report's source table lacks '$a': $(sed -n '/^source addresses/,/^$/p' <<<"$rep" | tr '\n' ';')"
	done
	rep=$("$bdir/ephport" top -b -n 1 -S -a "$tmp/src-auto.jsonl" 2>&1)
	grep -q '^SOURCE ' <<<"$rep" && grep -q '^127\.0\.0\.3 ' <<<"$rep" ||
		bad "top -S shows no row per source: $(tr '\n' ';' <<<"$rep")"
}

case_rules() {
	sysctl -qw net.ipv4.ip_local_port_range="41000 41099" || skip "cannot set the range"
	server 127.0.0.20:5000 127.0.0.21:5000 127.0.0.21:5001
	local e r="127.0.0.20=41000-41004;127.0.0.21:5001=41010-41019;41050-41059"
	e=$(eclient EPHPORT_RANGE="$r" EPHPORT_LOG="$tmp/rules.jsonl" -- many 127.0.0.20 5000 6)
	local ports
	ports=$(awk '$3 == "ok" {print $5}' <<<"$e" | sort -n | paste -sd,)
	[ "$ports" = "41000,41001,41002,41003,41004" ] || bad "127.0.0.20 (rule 41000-41004): ports $ports"
	grep -q '^c 5 EADDRNOTAVAIL' <<<"$e" || bad "127.0.0.20: the 6th connect: $(grep '^c 5' <<<"$e")"
	e=$(eclient EPHPORT_RANGE="$r" -- many 127.0.0.21 5001 3)
	awk '$3 == "ok" && ($5 < 41010 || $5 > 41019) {exit 1}' <<<"$e" || bad "127.0.0.21:5001 (rule 41010-41019): $(tr '\n' ';' <<<"$e")"
	e=$(eclient EPHPORT_RANGE="$r" -- many 127.0.0.21 5000 3)
	awk '$3 == "ok" && ($5 < 41050 || $5 > 41059) {exit 1}' <<<"$e" || bad "127.0.0.21:5000 (the default 41050-41059): $(tr '\n' ';' <<<"$e")"
	say "rules $r: 127.0.0.20 got $ports then EADDRNOTAVAIL; 127.0.0.21:5001 and :5000 within their rules"
}

case $C in
sources) case_sources ;;
rules) case_rules ;;
reserved) case_reserved ;;
ownrange) case_ownrange ;;
fork) case_fork ;;
cold) case_cold ;;
watch) case_watch ;;
*) say "unknown case $C"; exit 2 ;;
esac
[ $fails -eq 0 ] && exit 0
say "$fails check(s) failed"
exit 1
