#!/usr/bin/env bash
# Occupancy knowledge under pressure (lib/occupancy.c, lib/sockdiag.c, the
# candidate loop in lib/connect.c).  Every case runs in its own private
# network namespace (`unshare -n`, lo up, loopback only), bounded in time:
#
#  full      net.ipv4.ip_local_port_range = 41000 41199 (200 ports); a process
#            outside the preload holds 198 connections to 127.0.0.1:5000, the
#            kernel choosing their ports.  Under the preload with
#            EPHPORT_RANGE=41000-41199 two connects get exactly the two free
#            ports with at most 4 collisions each (the sock_diag view knows
#            the 198 others), the third fails with EADDRNOTAVAIL
#            after examining the whole range.  With the range full and no
#            EPHPORT_RANGE, the call falls back to the kernel's connect
#            ("fallback":true) and returns what the kernel alone returns,
#            to the same destination (EADDRNOTAVAIL) and to 127.0.0.2 (ok:
#            the kernel shares ports between distinct 4-tuples).
#  other     the same range occupied by 190 connections to ANOTHER
#            destination (127.0.0.2) and six listeners bound inside the range
#            (with and without SO_REUSEADDR, on 0.0.0.0 and 127.0.0.1): four
#            connects to 127.0.0.1 get exactly the four free ports, never a
#            listener's, with collisions far below the 196 occupied ports;
#            the fifth fails with EADDRNOTAVAIL; without
#            EPHPORT_RANGE the answer is the kernel's, never a listener port.
#  tw0 tw1 tw2
#            net.ipv4.tcp_tw_reuse = 0, 1, 2.  A 4-tuple left in TIME_WAIT by
#            an active close from the client (the client closes first, the
#            server then closes) is connected again by a NEW process, once at
#            once and once 1.5 s later, under the preload (EPHPORT_RANGE of
#            one port) and without it (the sysctl range of one port): the
#            kernel's answer is the reference and ephport must give the same.
#            Expected on loopback: EADDRNOTAVAIL at once for every value;
#            after 1.5 s reuse for 1 and 2, EADDRNOTAVAIL for 0.  Also a
#            TIME_WAIT left by the kernel's own connect, met by ephport with
#            the sysctl's range (no EPHPORT_RANGE): the kernel's answer too.
#  freed     EPHPORT_RANGE of 2 ports, one process: two connections held, the
#            third refused; an abortive close (SO_LINGER {1,0}) of one, or a
#            passive close (the server closed first), frees its port, and
#            the next connect gets exactly that port at once; a close that
#            leaves TIME_WAIT does not free it (tcp_tw_reuse=0).
#  nodiag    NETLINK sockets denied by seccomp (tests/helpers/sandbox.c):
#            with the range half full, 100 connects all succeed on free ports
#            (collisions expected: the plain candidate loop), the next one
#            gets EADDRNOTAVAIL, without EPHPORT_RANGE the
#            kernel's answer; nothing on stderr, no crash.
#  twkeep    tcp_tw_reuse = 0: a TIME_WAIT left by an earlier ephport
#            connection (ephport leaves SO_REUSEADDR on on the sockets it
#            connected and binds with it to share ports, and the kernel's
#            connect() of a bound socket reuses a TIME_WAIT 4-tuple whatever
#            tcp_tw_reuse says, so only ephport's knowledge protects it) is
#            never reused by a later ephport connect to the same destination,
#            in the same process (at once and after 1.5 s) and in a new
#            process; IPv4 and IPv6.
#  nodiagtw  the same protection when sock_diag is unavailable.
#  twstale   the same protection against a TIME_WAIT another ephport process
#            left after this process last read its view of the destination.
#  twreuseport
#            the same protection for a program that sets SO_REUSEPORT on its
#            client sockets; the kernel's own connect is the reference.
#
# Loopback only: a destination that is not loopback (where tcp_tw_reuse=2
# differs from 1) cannot be reached in a namespace without a network, so the
# loopback-only rule of tcp_tw_reuse=2 is checked only from the loopback side.
#
# Usage: bash tests/pressure.test.sh [CASE...]   (default: all cases)
# Each case is reported as a case (tests/run.sh has the protocol); one that
# cannot be set up here is skipped with the reason.  Nothing here bounds how
# long a connect() takes (the times are shown; make bench measures them);
# the 60 s limit per case only tells a hang from a slow machine.
. "$(dirname "$0")/helpers/lib.sh"
nodiag=$hbin/sandbox

ALL_CASES="full other tw0 tw1 tw2 freed nodiag twkeep nodiagtw twstale twreuseport"

# ---- outside: prerequisites, then one namespace per case ----------------------
if [ -z "${NETNS_CASE:-}" ]; then
	[ -n "$PY" ] || skip "python3 is needed for the listeners and the clients"
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	command -v ip >/dev/null || skip "ip (iproute2) is needed to bring lo up in the namespace"
	command -v ss >/dev/null || skip "ss (iproute2) is needed to look at TIME_WAIT sockets"
	command -v timeout >/dev/null || skip "timeout (coreutils) is needed to bound each case"
	if ! err=$(unshare -n true 2>&1); then
		skip "unshare -n is not permitted here (${err:-no message}); needs root or user namespaces"
	fi
	[ -x "$nodiag" ] || { say "FAIL: $nodiag is not built (make test-programs)"; exit 1; }
	export PY
	netns_cases ${*:-$ALL_CASES}
fi

# ---- inside a fresh namespace ----------------------------------------------------
C=$NETNS_CASE
say() { printf 'pressure.test[%s]: %s\n' "$C" "$*"; }
# The reason goes to the outer script, which reports the case skipped.
skip() { say "SKIP: $*"; printf '%s\n' "$*" >"$NETNS_WHY"; exit 77; }

ip link set lo up || skip "cannot bring lo up in the new namespace"
setsys() {
	sysctl -q -w "$1=$2" >/dev/null 2>&1 || skip "cannot set $1 inside the namespace"
	local got
	got=$(sysctl -n "$1" | tr -s '\t ' '  ')
	[ "$got" = "$2" ] || skip "$1 reads '$got' after writing '$2'"
}

# Under SAN builds the sanitizer runtime comes first in $preload (lib.sh).
[ -n "$san" ] && export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:verify_asan_link_order=0}

tmp=$(mktemp -d /tmp/ephport-pressure.XXXXXX) || exit 1
pids=()
cleanup() {
	touch "$tmp/stop" "$tmp"/*.release 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# server SPEC...: listeners (see pressure_server.py)
server() {
	"$PY" "$helpers/pressure_server.py" "$tmp/server.ready" "$tmp/stop" "$@" \
		2>"$tmp/server.err" &
	pids+=($!)
	wait_file "$tmp/server.ready" 250 || { cat "$tmp/server.err"; say "FAIL: the listeners did not start"; exit 1; }
}
# hold NAME ITEM...: occupy ports (pressure_hold.py); the report is $tmp/NAME
hold() {
	local name=$1
	shift
	"$PY" "$helpers/pressure_hold.py" "$tmp/$name" "$tmp/$name.release" "$@" &
	pids+=($!)
	wait_file "$tmp/$name" 500 || { say "FAIL: the holder $name did not report"; exit 1; }
}
# kclient ARGS...: the client without the preload (the kernel chooses)
kclient() { timeout 20 "$PY" "$helpers/pressure_client.py" "$@"; }
# eclient VAR=VALUE... -- ARGS...: the client under the preload
eclient() {
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env LD_PRELOAD="$preload" "${envs[@]}" timeout 20 "$PY" "$helpers/pressure_client.py" "$@"
}
# line OUTPUT KIND NAME: the client's output line for that command
line() { awk -v k="$2" -v n="$3" '$1 == k && $2 == n' <<<"$1" | head -n 1; }
# res OUTPUT NAME / port OUTPUT NAME / ms OUTPUT NAME / at OUTPUT NAME:
# fields of "c NAME RESULT SPORT MS T"
res() { line "$1" c "$2" | awk '{print $3}'; }
port() { line "$1" c "$2" | awk '{print $4}'; }
ms() { line "$1" c "$2" | awk '{print $5}'; }
at() { line "$1" c "$2" | awk '{print $6}'; }
# closed OUTPUT NAME: T of "x NAME closed T"
closed() { line "$1" x "$2" | awk '{print $4}'; }
# kref OUTPUT NAME...: the kernel's own client (the reference) gave a result
# for each NAME; without one, the comparisons with it would prove nothing.
kref() {
	local o=$1 n
	shift
	for n; do
		[ -n "$(res "$o" "$n")" ] || bad "the kernel's client gave no result for $n: $(tr '\n' ';' <<<"$o")"
	done
}
# logrecs FILE: the records, one line each (see pressure_log.py)
logrecs() { "$PY" "$helpers/pressure_log.py" "$1"; }
# rec RECORDS I FIELD (1-based record, field of pressure_log.py's line)
rec() { sed -n "${2}p" <<<"$1" | awk -v f="$3" '{print $f}'; }
# in_list PORT LIST(comma)
in_list() { [[ ,$2, == *,$1,* ]]; }
# tw_present LPORT RPORT: ss sees LPORT -> RPORT in TIME_WAIT
tw_present() {
	ss -Htan state time-wait | awk -v l="$1" -v r="$2" '
		{ n = split($(NF - 1), a, ":"); m = split($NF, b, ":");
		  if (a[n] == l && b[m] == r) f = 1 }
		END { exit !f }'
}
# The ports of LOW..HIGH not in the comma list USED, comma-separated.
free_ports() {
	awk -v lo="$1" -v hi="$2" -v used="$3" 'BEGIN {
		n = split(used, u, ","); for (i = 1; i <= n; i++) taken[u[i]] = 1
		s = ""; for (p = lo; p <= hi; p++) if (!(p in taken)) s = s (s == "" ? "" : ",") p
		print s }'
}
finish() {
	[ $fails -eq 0 ] && exit 0
	say "$fails check(s) failed"
	exit 1
}

# ---- full: 198 of 200 ports held by connections to the same destination --------
# Mechanisms to run the occupancy cases under: the default (RANGE where the
# kernel has IP_LOCAL_PORT_RANGE) and BIND (bind-before-connect).
commit_modes() {
	local m=auto
	if "$PY" -c 'import socket,sys; s=socket.socket(); s.getsockopt(socket.IPPROTO_IP, 51, 4)' 2>/dev/null; then
		m="$m range"
	else
		say "note: no IP_LOCAL_PORT_RANGE on this kernel; RANGE mode not checked"
	fi
	echo "$m bind"
}

# The most refused candidates one call makes before the kernel's own choice
# takes over (EP_ATTEMPTS_MAX in lib/choose.c; a time budget usually ends
# the attempts sooner).
ATTEMPTS_MAX=1024

full_mode() { # MODE FREE-PORTS HELD-PORTS
	local mode=$1 freep=$2 out=$tmp/c1-$1.out
	rm -f "$tmp/c1.ready" "$tmp/c1.release"
	eclient EPHPORT_COMMIT="$mode" EPHPORT_RANGE=41000-41199 EPHPORT_LOG="$tmp/full-$mode.jsonl" -- \
		c a 127.0.0.1 5000 c b 127.0.0.1 5000 c z 127.0.0.1 5000 \
		t "$tmp/c1.ready" h "$tmp/c1.release" >"$out" 2>"$tmp/c1.err" &
	local cpid=$!
	pids+=($cpid)
	wait_file "$tmp/c1.ready" 500 || { cat "$out" "$tmp/c1.err"; say "FAIL: the client did not finish its connects"; exit 1; }
	local o pa pb
	o=$(cat "$out")
	pa=$(port "$o" a) pb=$(port "$o" b)
	[ "$(res "$o" a)" = ok ] && [ "$(res "$o" b)" = ok ] ||
		bad "$mode: connects on the two free ports: $(tr '\n' ';' <<<"$o")"
	in_list "$pa" "$freep" || bad "$mode: first connect got port $pa, not one of the free ports $freep"
	in_list "$pb" "$freep" || bad "$mode: second connect got port $pb, not one of the free ports $freep"
	[ "$pa" != "$pb" ] || bad "$mode: both connects got port $pa"
	[ "$(res "$o" z)" = EADDRNOTAVAIL ] || bad "$mode: connect with the range full: '$(line "$o" c z)', expected EADDRNOTAVAIL"
	[ "$(port "$o" z)" = 0 ] || bad "$mode: the refused socket is left bound to port $(port "$o" z)"
	local r
	r=$(logrecs "$tmp/full-$mode.jsonl") || bad "$mode: log: $r"
	if [ "$(wc -l <<<"$r")" != 3 ]; then
		bad "$mode: expected 3 log records, got: $r"
	else
		for i in 1 2; do
			[ "$(rec "$r" $i 1)" = ok ] || bad "$mode: record $i: result $(rec "$r" $i 1)"
			[ "$(rec "$r" $i 3)" -ge 1 ] || bad "$mode: record $i: tries $(rec "$r" $i 3)"
			if [ "$mode" = bind ]; then
				# EPHPORT_RANGE outside what the kernel can be
				# told: every candidate is tried for real.
				[ "$(rec "$r" $i 5)" = false ] || bad "$mode: record $i: fallback with EPHPORT_RANGE set"
			else
				# Bounded work: each of the 198 taken ports is
				# refused at most once, then the kernel's choice
				# within the range.
				[ "$(rec "$r" $i 4)" -le 198 ] ||
					bad "$mode: record $i: $(rec "$r" $i 4) collisions for 198 taken ports"
			fi
		done
		[ "$(rec "$r" 3 1)" = EADDRNOTAVAIL ] || bad "$mode: record 3: result $(rec "$r" 3 1)"
		if [ "$mode" = bind ]; then
			[ "$(rec "$r" 3 3)" -ge 200 ] || bad "$mode: record 3: EADDRNOTAVAIL after examining $(rec "$r" 3 3) of 200 candidates"
		else
			[ "$(rec "$r" 3 4)" -le 200 ] || bad "$mode: record 3: $(rec "$r" 3 4) collisions before the kernel's answer"
		fi
		say "$mode: 99% full: tries/collisions/fallback $(rec "$r" 1 3)/$(rec "$r" 1 4)/$(rec "$r" 1 5), $(rec "$r" 2 3)/$(rec "$r" 2 4)/$(rec "$r" 2 5); full: tries $(rec "$r" 3 3), collisions $(rec "$r" 3 4), fallback $(rec "$r" 3 5)"
	fi
	touch "$tmp/c1.release"
	wait $cpid 2>/dev/null
	[ -s "$tmp/c1.err" ] && bad "$mode: stderr under the preload: $(cat "$tmp/c1.err")"
}

case_full() {
	setsys net.ipv4.ip_local_port_range "41000 41199"
	server 0.0.0.0:5000
	hold held conn=198@127.0.0.1:5000
	local n last held freep
	read -r _ _ n last held <"$tmp/held"
	[ "$n" = 198 ] || { say "FAIL: the holder got $n of 198 connections ($last)"; exit 1; }
	freep=$(free_ports 41000 41199 "$held")
	say "198 ports held by the kernel's connect(); free: $freep"

	# Two connects on the two free ports, the third refused; held until
	# released, then the next mechanism.
	local m
	for m in $(commit_modes); do
		full_mode "$m" "$freep" "$held"
	done

	# Full range again, held this time.  Without EPHPORT_RANGE: the
	# kernel's answer, for the same and for another destination.
	eclient EPHPORT_RANGE=41000-41199 -- c a 127.0.0.1 5000 c b 127.0.0.1 5000 \
		t "$tmp/c2.ready" h "$tmp/c2.release" >"$tmp/c2.out" 2>&1 &
	pids+=($!)
	wait_file "$tmp/c2.ready" 500 || { cat "$tmp/c2.out"; say "FAIL: the client did not finish its connects"; exit 1; }
	local e k r
	e=$(eclient EPHPORT_LOG="$tmp/fb.jsonl" -- c y 127.0.0.1 5000 c w 127.0.0.2 5000 2>"$tmp/fb.err")
	k=$(kclient c y 127.0.0.1 5000 c w 127.0.0.2 5000)
	kref "$k" y w
	[ "$(res "$e" y)" = "$(res "$k" y)" ] ||
		bad "range full, same destination, no EPHPORT_RANGE: ephport '$(line "$e" c y)', the kernel '$(line "$k" c y)'"
	[ "$(res "$k" y)" = EADDRNOTAVAIL ] || say "note: the kernel's own connect gave $(res "$k" y), not EADDRNOTAVAIL"
	[ "$(res "$e" w)" = "$(res "$k" w)" ] ||
		bad "range full, other destination 127.0.0.2: ephport '$(line "$e" c w)', the kernel '$(line "$k" c w)'"
	if [ "$(res "$e" w)" = ok ]; then
		local pw
		pw=$(port "$e" w)
		[ "$pw" -ge 41000 ] && [ "$pw" -le 41199 ] || bad "the connect to 127.0.0.2 got port $pw outside the range"
	fi
	[ -s "$tmp/fb.err" ] && bad "stderr under the preload: $(cat "$tmp/fb.err")"
	r=$(logrecs "$tmp/fb.jsonl") || bad "log: $r"
	[ "$(rec "$r" 1 5)" = true ] || bad "record for the full range without EPHPORT_RANGE: no \"fallback\":true: $(sed -n 1p <<<"$r")"
	[ "$(rec "$r" 1 1)" = "$(res "$k" y)" ] || bad "logged result $(rec "$r" 1 1), the kernel's $(res "$k" y)"
	[ "$(rec "$r" 2 5)" = false ] || bad "the other destination fell back to the kernel: $(sed -n 2p <<<"$r")"
	say "no EPHPORT_RANGE, range full: 127.0.0.1 -> $(res "$e" y) (fallback $(rec "$r" 1 5)), 127.0.0.2 -> $(res "$e" w) port $(port "$e" w) (fallback $(rec "$r" 2 5), collisions $(rec "$r" 2 4)); the kernel: $(res "$k" y), $(res "$k" w)"
	touch "$tmp/c2.release"
	finish
}

# ---- other: occupancy by other destinations and by listeners ---------------------
# The kernel's own connect() shares a port held by a connection to another
# destination, never a port bound explicitly (a listener's).  RANGE mode
# must answer exactly as the kernel does; BIND mode cannot bind beside a
# socket without SO_REUSEADDR, so it finds only the 4 ports nobody holds.
other_mode() { # MODE FREE-PORTS LISTENER-PORTS
	local mode=$1 freep=$2 lports=$3 out=$tmp/o-$1.out
	rm -f "$tmp/c1.ready" "$tmp/c1.release"
	eclient EPHPORT_COMMIT="$mode" EPHPORT_RANGE=41000-41199 EPHPORT_LOG="$tmp/other-$mode.jsonl" -- \
		c a 127.0.0.1 5000 c b 127.0.0.1 5000 c c 127.0.0.1 5000 c d 127.0.0.1 5000 \
		c z 127.0.0.1 5000 t "$tmp/c1.ready" h "$tmp/c1.release" >"$out" 2>"$tmp/c1.err" &
	local cpid=$!
	pids+=($cpid)
	wait_file "$tmp/c1.ready" 500 || { cat "$out" "$tmp/c1.err"; say "FAIL: the client did not finish its connects"; exit 1; }
	local o got= p x
	o=$(cat "$out")
	for x in a b c d z; do
		p=$(port "$o" $x)
		if [ "$mode" = bind ] && [ $x = z ]; then
			[ "$(res "$o" z)" = EADDRNOTAVAIL ] || bad "$mode: fifth connect: '$(line "$o" c z)', expected EADDRNOTAVAIL"
			continue
		fi
		[ "$(res "$o" $x)" = ok ] || { bad "$mode: connect $x: '$(line "$o" c $x)'"; continue; }
		in_list "$p" "$lports" && bad "$mode: connect $x got port $p, bound by a listener"
		[ "$mode" = bind ] && ! in_list "$p" "$freep" && bad "$mode: connect $x got port $p, not one of the free ports $freep"
		in_list "$p" "$got" && bad "$mode: connect $x got port $p twice"
		got="$got,$p"
	done
	local r
	r=$(logrecs "$tmp/other-$mode.jsonl") || bad "$mode: log: $r"
	[ "$(wc -l <<<"$r")" = 5 ] || bad "$mode: expected 5 log records, got: $r"
	if [ "$mode" != bind ]; then
		local i
		for i in 1 2 3 4 5; do
			[ "$(rec "$r" $i 5)" = false ] || bad "$mode: record $i fell back to the kernel: the kernel shares these ports itself"
		done
	fi
	say "$mode: ports $(for x in a b c d z; do port "$o" $x; done | paste -sd,); tries/collisions $(awk '{printf "%s/%s ", $3, $4}' <<<"$r")"
	touch "$tmp/c1.release"
	wait $cpid 2>/dev/null
	[ -s "$tmp/c1.err" ] && bad "$mode: stderr under the preload: $(cat "$tmp/c1.err")"
}

case_other() {
	setsys net.ipv4.ip_local_port_range "41000 41199"
	server 0.0.0.0:5000
	local lports=41010,41051,41100,41151,41198,41199
	hold held listen=0.0.0.0:41010 listen=127.0.0.1:41051:reuse listen=0.0.0.0:41100:reuse \
		listen=127.0.0.1:41151 listen=0.0.0.0:41198 listen=0.0.0.0:41199:reuse \
		conn=190@127.0.0.2:5000
	if grep '^listen' "$tmp/held" | grep -qv ' ok$'; then
		say "FAIL: a listener could not bind: $(grep '^listen' "$tmp/held" | tr '\n' ';')"
		exit 1
	fi
	local n last held freep
	read -r _ _ n last held < <(grep '^conn' "$tmp/held")
	[ "$n" = 190 ] || { say "FAIL: the holder got $n of 190 connections to 127.0.0.2 ($last)"; exit 1; }
	freep=$(free_ports 41000 41199 "$held,$lports")
	[ "$(tr ',' '\n' <<<"$freep" | wc -l)" = 4 ] || { say "FAIL: expected 4 free ports, have $freep"; exit 1; }
	say "190 ports held by connections to 127.0.0.2, listeners on $lports; free: $freep"

	# The kernel's own answer for five connects (closed at once).
	local k x
	k=$(kclient c a 127.0.0.1 5000 c b 127.0.0.1 5000 c c 127.0.0.1 5000 c d 127.0.0.1 5000 c z 127.0.0.1 5000)
	for x in a b c d z; do
		[ "$(res "$k" $x)" = ok ] || say "note: the kernel's own connect $x: '$(line "$k" c $x)'"
	done
	local m
	for m in $(commit_modes); do
		other_mode "$m" "$freep" "$lports"
	done
	finish
}

# ---- tw0/tw1/tw2: TIME_WAIT candidates, ephport against the kernel -------------
# ephport and the kernel each get their own port and TIME_WAIT sockets: a
# TIME_WAIT left by the kernel's own connect (no SO_REUSEADDR) makes every
# bind() of its port fail, and one left by ephport (bound with SO_REUSEADDR)
# makes the kernel's connect skip its port whatever the 4-tuple, so a shared
# TIME_WAIT would measure the bind table, not tcp_tw_reuse.  Two
# destinations each: one asked at once, one after 1.5 s.
#
# "At once" must come well within the second after which a TIME_WAIT may
# be reused, however slow the machine (or the interpreter under a
# sanitizer) is to start a program: every client is started beforehand and
# held (pressure_client.py "h FILE") until its file appears; the closes the
# immediate connects meet come last in their client, which then creates the
# file those connects wait for.  The clients print CLOCK_MONOTONIC at each
# close and connect: the largest time from a close to the immediate connect
# that meets its TIME_WAIT bounds the TIME_WAITs' age then; when it is not
# under 800 ms the case is skipped, saying so.
# held NAME GO eclient|kclient [ENV... --] ARGS...: start a client held
# until the file GO exists; its output goes to $tmp/NAME.out (stderr:
# $tmp/NAME.err), its pid to $held_pid.
held() {
	local n=$1 go=$2 how=$3
	shift 3
	if [ "$how" = eclient ]; then
		local envs=()
		while [ "$1" != -- ]; do envs+=("$1"); shift; done
		shift
		eclient "${envs[@]}" -- t "$tmp/$n.ready" h "$go" "$@" >"$tmp/$n.out" 2>"$tmp/$n.err" &
	else
		kclient t "$tmp/$n.ready" h "$go" "$@" >"$tmp/$n.out" 2>"$tmp/$n.err" &
	fi
	held_pid=$!
	pids+=($held_pid)
}
case_tw() {
	local v=$1 PE=41600 PK=41500
	setsys net.ipv4.tcp_tw_reuse "$v"
	setsys net.ipv4.ip_local_port_range "$PK $PK"
	server 127.0.0.1:5101 127.0.0.1:5102 127.0.0.1:5103 127.0.0.1:5104 \
		127.0.0.1:5105 127.0.0.1:5106

	# Active closes from the client side; the server closes when it reads
	# EOF.  Then, at once, a new process each.
	local w=() n
	held me "$tmp/go.close" eclient EPHPORT_RANGE=$PE-$PE -- c b 127.0.0.1 5102 x b \
		c a 127.0.0.1 5101 x a W $PE 5101 t "$tmp/me.done" W $PE 5102
	w+=($held_pid)
	held mk "$tmp/go.close" kclient c b 127.0.0.1 5104 x b c d 127.0.0.1 5106 x d \
		c a 127.0.0.1 5103 x a c c 127.0.0.1 5105 x c W $PK 5103 W $PK 5105 t "$tmp/mk.done" \
		W $PK 5104 W $PK 5106
	w+=($held_pid)
	held ei "$tmp/me.done" eclient EPHPORT_RANGE=$PE-$PE EPHPORT_LOG="$tmp/imm.jsonl" -- c i 127.0.0.1 5101
	local wi=($held_pid)
	held ki "$tmp/mk.done" kclient c i 127.0.0.1 5103
	wi+=($held_pid)
	held fo "$tmp/mk.done" eclient EPHPORT_LOG="$tmp/fimm.jsonl" -- c i 127.0.0.1 5105
	wi+=($held_pid)
	for n in me mk ei ki fo; do
		wait_file "$tmp/$n.ready" 1500 || { say "FAIL: the client $n did not start"; exit 1; }
	done
	local t1
	touch "$tmp/go.close"
	wait "${w[@]}"
	t1=$(now_ms)
	wait "${wi[@]}"
	local me mk ei ki fi_
	me=$(cat "$tmp/me.out") mk=$(cat "$tmp/mk.out")
	ei=$(cat "$tmp/ei.out") ki=$(cat "$tmp/ki.out") fi_=$(cat "$tmp/fo.out")
	cat "$tmp/ei.err" "$tmp/fo.err" >"$tmp/e.err"
	# ms from each close to the connect that meets its TIME_WAIT; the largest
	local dt
	dt=$(awk -v a="$(closed "$me" a) $(at "$ei" i)" -v b="$(closed "$mk" a) $(at "$ki" i)" \
		-v c="$(closed "$mk" c) $(at "$fi_" i)" 'BEGIN {
		m = 0; n = split(a " " b " " c, t, " ")
		if (n != 6) { print 99999; exit }
		for (i = 1; i < n; i += 2) { d = (t[i + 1] - t[i]) * 1000; if (d > m) m = d }
		printf "%d", m }')
	[ "$(port "$me" a) $(port "$me" b)" = "$PE $PE" ] || { say "FAIL: ephport did not make its connections from $PE: $(tr '\n' ';' <<<"$me")"; exit 1; }
	[ "$(port "$mk" a) $(port "$mk" b) $(port "$mk" c) $(port "$mk" d)" = "$PK $PK $PK $PK" ] || { say "FAIL: the kernel did not make its connections from $PK: $(tr '\n' ';' <<<"$mk")"; exit 1; }
	for w in "$PE 5101" "$PE 5102" "$PK 5103" "$PK 5104" "$PK 5105" "$PK 5106"; do
		tw_present $w || { say "FAIL: no TIME_WAIT $w: $(ss -tan | tr '\n' ';')"; exit 1; }
	done

	[ $dt -lt 800 ] || skip "the immediate connects came up to ${dt} ms after the closes (machine too slow to test 'at once')"
	# Then 1.5 s after the closes.
	local el kl fl
	local wait=$((1500 - ($(now_ms) - t1)))
	[ $wait -gt 0 ] && sleep "$(awk -v w=$wait 'BEGIN {printf "%.3f", w / 1000}')"
	el=$(eclient EPHPORT_RANGE=$PE-$PE EPHPORT_LOG="$tmp/late.jsonl" -- c l 127.0.0.1 5102 2>>"$tmp/e.err")
	kl=$(kclient c l 127.0.0.1 5104)
	fl=$(eclient EPHPORT_LOG="$tmp/flate.jsonl" -- c l 127.0.0.1 5106 2>>"$tmp/e.err")

	local xi=EADDRNOTAVAIL xl=ok
	[ "$v" = 0 ] && xl=EADDRNOTAVAIL
	[ "$(res "$ki" i)" = $xi ] || say "note: at once, the kernel's own connect gave $(res "$ki" i) (expected $xi); the kernel is the reference"
	[ "$(res "$kl" l)" = $xl ] || say "note: after 1.5 s, the kernel's own connect gave $(res "$kl" l) (expected $xl); the kernel is the reference"
	[ -n "$(res "$ki" i)" ] && [ -n "$(res "$kl" l)" ] || bad "the kernel client failed: $ki / $kl"
	[ "$(res "$ei" i)" = "$(res "$ki" i)" ] ||
		bad "tcp_tw_reuse=$v, at once (${dt} ms): ephport '$(line "$ei" c i)', the kernel '$(line "$ki" c i)'"
	[ "$(res "$el" l)" = "$(res "$kl" l)" ] ||
		bad "tcp_tw_reuse=$v, after 1.5 s: ephport '$(line "$el" c l)', the kernel '$(line "$kl" c l)'"
	# The kernel's TIME_WAIT (no SO_REUSEADDR) cannot be bound over; with the
	# sysctl's range (no EPHPORT_RANGE) ephport must leave it to the kernel.
	[ "$(res "$fi_" i)" = "$(res "$ki" i)" ] ||
		bad "tcp_tw_reuse=$v, at once, the kernel's TIME_WAIT, no EPHPORT_RANGE: ephport '$(line "$fi_" c i)', the kernel '$(line "$ki" c i)'"
	[ "$(res "$fl" l)" = "$(res "$kl" l)" ] ||
		bad "tcp_tw_reuse=$v, after 1.5 s, the kernel's TIME_WAIT, no EPHPORT_RANGE: ephport '$(line "$fl" c l)', the kernel '$(line "$kl" c l)'"
	[ "$(res "$ei" i)" = ok ] && [ "$(port "$ei" i)" != $PE ] && bad "at once: ephport connected from $(port "$ei" i), outside EPHPORT_RANGE"
	[ "$(res "$el" l)" = ok ] && [ "$(port "$el" l)" != $PE ] && bad "after 1.5 s: ephport connected from $(port "$el" l), outside EPHPORT_RANGE"
	# A refusal leaves the TIME_WAIT alone; a reuse replaces it.
	if [ "$(res "$ei" i)" != ok ]; then
		tw_present $PE 5101 || bad "the TIME_WAIT $PE -> 5101 vanished although ephport refused it"
	fi
	local r
	r=$(logrecs "$tmp/imm.jsonl") || bad "log: $r"
	[ "$(rec "$r" 1 1)" = "$(res "$ei" i)" ] || bad "logged $(rec "$r" 1 1), the program saw $(res "$ei" i)"
	r=$(logrecs "$tmp/late.jsonl") || bad "log: $r"
	[ "$(rec "$r" 1 1)" = "$(res "$el" l)" ] || bad "logged $(rec "$r" 1 1), the program saw $(res "$el" l)"
	[ -s "$tmp/e.err" ] && bad "stderr under the preload: $(cat "$tmp/e.err")"
	say "tcp_tw_reuse=$v: at once (${dt} ms) ephport $(res "$ei" i), kernel $(res "$ki" i), ephport on the kernel's TIME_WAIT $(res "$fi_" i); after 1.5 s ephport $(res "$el" l), kernel $(res "$kl" l), ephport on the kernel's TIME_WAIT $(res "$fl" l)"
	finish
}

# ---- freed: a port freed by close() is chosen again --------------------------------
case_freed() {
	setsys net.ipv4.tcp_tw_reuse 0
	server 127.0.0.1:5000 127.0.0.1:5001:close
	local R=41700-41701

	# Abortive close, then an orderly one that leaves TIME_WAIT.
	local o pa pb pd
	o=$(eclient EPHPORT_RANGE=$R EPHPORT_LOG="$tmp/rst.jsonl" -- \
		c a 127.0.0.1 5000 c b 127.0.0.1 5000 c z 127.0.0.1 5000 r a c d 127.0.0.1 5000 \
		c y 127.0.0.1 5000 x b c v 127.0.0.1 5000 2>"$tmp/e.err")
	pa=$(port "$o" a) pb=$(port "$o" b) pd=$(port "$o" d)
	[ "$(res "$o" a) $(res "$o" b)" = "ok ok" ] && [ "$pa" != "$pb" ] ||
		bad "two connections in a 2-port range: $(tr '\n' ';' <<<"$o")"
	[ "$(res "$o" z)" = EADDRNOTAVAIL ] || bad "third connect: '$(line "$o" c z)', expected EADDRNOTAVAIL"
	[ "$(res "$o" d)" = ok ] && [ "$pd" = "$pa" ] ||
		bad "after the abortive close of port $pa: '$(line "$o" c d)', expected ok on $pa"
	[ "$(res "$o" y)" = EADDRNOTAVAIL ] || bad "with both ports held again: '$(line "$o" c y)', expected EADDRNOTAVAIL"
	[ "$(res "$o" v)" = EADDRNOTAVAIL ] ||
		bad "after an orderly close of port $pb (TIME_WAIT, tcp_tw_reuse=0): '$(line "$o" c v)', expected EADDRNOTAVAIL"
	local r
	r=$(logrecs "$tmp/rst.jsonl") || bad "log: $r"
	[ "$(rec "$r" 4 2)" = "$pa" ] || bad "record 4: sport $(rec "$r" 4 2), expected $pa"
	say "abortive close of $pa: the next connect got $(res "$o" d) on $pd (tries $(rec "$r" 4 3), collisions $(rec "$r" 4 4), $(ms "$o" d) ms); after the TIME_WAIT close of $pb: $(res "$o" v)"

	# The server closes first: the client's close is passive, no TIME_WAIT.
	o=$(eclient EPHPORT_RANGE=$R EPHPORT_LOG="$tmp/passive.jsonl" -- \
		c a 127.0.0.1 5001 c b 127.0.0.1 5001 c z 127.0.0.1 5001 e a c d 127.0.0.1 5001 \
		c y 127.0.0.1 5001 2>>"$tmp/e.err")
	pa=$(port "$o" a) pb=$(port "$o" b) pd=$(port "$o" d)
	[ "$(res "$o" a) $(res "$o" b)" = "ok ok" ] && [ "$pa" != "$pb" ] ||
		bad "two connections (server closing first): $(tr '\n' ';' <<<"$o")"
	[ "$(res "$o" z)" = EADDRNOTAVAIL ] || bad "third connect (both in CLOSE_WAIT): '$(line "$o" c z)', expected EADDRNOTAVAIL"
	[ "$(line "$o" e a)" = "e a eof" ] || bad "the server's FIN did not arrive: $(line "$o" e a)"
	[ "$(res "$o" d)" = ok ] && [ "$pd" = "$pa" ] ||
		bad "after the passive close of port $pa: '$(line "$o" c d)', expected ok on $pa"
	[ "$(res "$o" y)" = EADDRNOTAVAIL ] || bad "with both ports held again: '$(line "$o" c y)', expected EADDRNOTAVAIL"
	r=$(logrecs "$tmp/passive.jsonl") || bad "log: $r"
	say "passive close of $pa: the next connect got $(res "$o" d) on $pd (tries $(rec "$r" 4 3), $(ms "$o" d) ms)"
	[ -s "$tmp/e.err" ] && bad "stderr under the preload: $(cat "$tmp/e.err")"
	finish
}

# nodiag_run VAR=VALUE... -- CLIENT-ARGS...: the client under the preload with
# netlink denied
nodiag_run() {
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	timeout 20 "$nodiag" --no-netlink env LD_PRELOAD="$preload" "${envs[@]}" \
		"$PY" "$helpers/pressure_client.py" "$@"
}
nodiag_works() {
	local err
	err=$("$nodiag" --no-netlink true 2>&1)
	case $? in
	0) ;;
	77) skip "seccomp cannot deny netlink here: $err" ;;
	*) say "FAIL: $nodiag: $err"; exit 1 ;;
	esac
}

# ---- nodiag: sock_diag unavailable -------------------------------------------------
case_nodiag() {
	nodiag_works
	setsys net.ipv4.ip_local_port_range "41000 41199"
	server 127.0.0.1:5000
	hold held conn=100@127.0.0.1:5000
	local n last held
	read -r _ _ n last held <"$tmp/held"
	[ "$n" = 100 ] || { say "FAIL: the holder got $n of 100 connections ($last)"; exit 1; }

	# Control, with sock_diag: ephport reads no socket table any more, so
	# a cold destination costs the same: at most each of the 100 taken
	# candidates refused once.
	local o r
	o=$(eclient EPHPORT_RANGE=41000-41199 EPHPORT_LOG="$tmp/ctl.jsonl" -- c a 127.0.0.1 5000)
	r=$(logrecs "$tmp/ctl.jsonl") || bad "log: $r"
	[ "$(res "$o" a)" = ok ] || bad "control connect: $o"
	[ "$(rec "$r" 1 4)" -le 100 ] || bad "control with sock_diag: $(rec "$r" 1 4) collisions at 50% (bound: 100)"

	# Netlink denied: 100 connects on the 100 free ports, then one too many.
	local args=() i
	for i in $(seq 1 100); do args+=(c "n$i" 127.0.0.1 5000); done
	nodiag_run EPHPORT_RANGE=41000-41199 EPHPORT_LOG="$tmp/nd.jsonl" -- \
		"${args[@]}" c z 127.0.0.1 5000 t "$tmp/c1.ready" h "$tmp/c1.release" \
		>"$tmp/c1.out" 2>"$tmp/c1.err" &
	pids+=($!)
	wait_file "$tmp/c1.ready" 1000 || { cat "$tmp/c1.out" "$tmp/c1.err"; say "FAIL: the client under seccomp did not finish"; exit 1; }
	o=$(cat "$tmp/c1.out")
	local got=, p nok=0
	for i in $(seq 1 100); do
		p=$(port "$o" "n$i")
		if [ "$(res "$o" "n$i")" != ok ]; then
			bad "connect $i of 100 (no sock_diag, 100 ports free): '$(line "$o" c "n$i")'"
			continue
		fi
		nok=$((nok + 1))
		[ "$p" -ge 41000 ] && [ "$p" -le 41199 ] || bad "connect $i: port $p outside the range"
		in_list "$p" "$held" && bad "connect $i: port $p is held by another process"
		in_list "$p" "$got" && bad "connect $i: port $p twice"
		got="$got$p,"
	done
	[ "$(res "$o" z)" = EADDRNOTAVAIL ] || bad "no sock_diag, range full: '$(line "$o" c z)', expected EADDRNOTAVAIL"
	r=$(logrecs "$tmp/nd.jsonl") || bad "log: $r"
	local csum
	csum=$(awk '{s += $4} END {print s + 0}' <<<"$r")
	[ "$(wc -l <<<"$r")" = 101 ] || bad "expected 101 log records, got $(wc -l <<<"$r")"
	# The kernel took the even ports first, and ephport's kernel order tries
	# them first too: without knowledge its first connect must collide.
	[ "$(rec "$r" 1 4)" -ge 1 ] ||
		bad "first connect without sock_diag: 0 collisions; the seccomp filter did not take effect?"
	[ -s "$tmp/c1.err" ] && bad "stderr with netlink denied: $(head -c 600 "$tmp/c1.err")"
	say "netlink denied: $nok/100 connects ok at 50-100% occupancy, $csum collisions in all (first: $(rec "$r" 1 4)), full range refused in $(ms "$o" z) ms; control with sock_diag: $(rec "$(logrecs "$tmp/ctl.jsonl")" 1 4) collisions"

	# Full range, no EPHPORT_RANGE: the kernel decides.
	local e k
	e=$(nodiag_run EPHPORT_LOG="$tmp/fb.jsonl" -- c y 127.0.0.1 5000 2>"$tmp/fb.err")
	k=$(kclient c y 127.0.0.1 5000)
	kref "$k" y
	[ "$(res "$e" y)" = "$(res "$k" y)" ] ||
		bad "no sock_diag, no EPHPORT_RANGE, range full: ephport '$(line "$e" c y)', the kernel '$(line "$k" c y)'"
	r=$(logrecs "$tmp/fb.jsonl") || bad "log: $r"
	[ "$(rec "$r" 1 5)" = true ] || bad "no \"fallback\":true: $(sed -n 1p <<<"$r")"
	[ -s "$tmp/fb.err" ] && bad "stderr with netlink denied: $(cat "$tmp/fb.err")"
	say "no EPHPORT_RANGE: ephport $(res "$e" y) (fallback $(rec "$r" 1 5), $(ms "$e" y) ms), the kernel $(res "$k" y)"
	touch "$tmp/c1.release"
	finish
}

# twkeep_family DST RANGE-LOW: the checks of twkeep for one destination
twkeep_family() {
	local dst=$1 lo=$2 hi=$(($2 + 1)) run=$3
	local R=$lo-$hi o x y
	o=$($run EPHPORT_RANGE=$R EPHPORT_LOG="$tmp/k$lo.jsonl" -- \
		c a "$dst" 5000 x a s 0.05 c b "$dst" 5000 r b s 1.5 c c "$dst" 5000 c d "$dst" 5000 \
		2>"$tmp/k$lo.err")
	x=$(port "$o" a) y=$(port "$o" b)
	[ "$(res "$o" a)" = ok ] || { bad "$dst: first connect: $o"; return; }
	tw_present "$x" 5000 || bad "$dst: no TIME_WAIT $x -> 5000 after the client's close"
	[ "$(res "$o" b)" = ok ] && [ "$y" != "$x" ] ||
		bad "$dst, same process, at once: '$(line "$o" c b)'; port $x is in TIME_WAIT (tcp_tw_reuse=0), expected ok on the other port"
	[ "$(res "$o" c)" = ok ] && [ "$(port "$o" c)" != "$x" ] ||
		bad "$dst, same process, after 1.5 s: '$(line "$o" c c)'; port $x is in TIME_WAIT, expected ok on the other port"
	[ "$(res "$o" d)" = EADDRNOTAVAIL ] ||
		bad "$dst, same process, after 1.5 s, other port held: '$(line "$o" c d)', expected EADDRNOTAVAIL (TIME_WAIT $x not reusable)"
	[ -s "$tmp/k$lo.err" ] && bad "stderr under the preload: $(cat "$tmp/k$lo.err")"
	local o2
	o2=$($run EPHPORT_RANGE=$R EPHPORT_LOG="$tmp/k$lo.jsonl" -- c e "$dst" 5000 c f "$dst" 5000 \
		2>>"$tmp/k$lo.err")
	[ "$(res "$o2" e)" = ok ] && [ "$(port "$o2" e)" != "$x" ] ||
		bad "$dst, new process: '$(line "$o2" c e)'; port $x is in TIME_WAIT, expected ok on the other port"
	[ "$(res "$o2" f)" = EADDRNOTAVAIL ] ||
		bad "$dst, new process, other port held: '$(line "$o2" c f)', expected EADDRNOTAVAIL (TIME_WAIT $x not reusable)"
	tw_present "$x" 5000 || bad "$dst: the TIME_WAIT $x -> 5000 is gone: it was reused"
	logrecs "$tmp/k$lo.jsonl" >/dev/null || bad "log: $(logrecs "$tmp/k$lo.jsonl")"
	say "$dst: TIME_WAIT on $x kept; same process at once: $(res "$o" b) $(port "$o" b), after 1.5 s: $(res "$o" c) $(port "$o" c) / $(res "$o" d); new process: $(res "$o2" e) $(port "$o2" e) / $(res "$o2" f)"
}

# ---- twkeep: ephport's own TIME_WAIT with tcp_tw_reuse=0 --------------------------
case_twkeep() {
	setsys net.ipv4.tcp_tw_reuse 0
	server 127.0.0.1:5000 [::1]:5000
	twkeep_family 127.0.0.1 41800 eclient
	twkeep_family ::1 41810 eclient
	finish
}

# ---- nodiagtw: the same protection with sock_diag unavailable ----------------------
case_nodiagtw() {
	nodiag_works
	setsys net.ipv4.tcp_tw_reuse 0
	server 127.0.0.1:5000
	twkeep_family 127.0.0.1 41800 nodiag_run
	finish
}

# ---- twstale: another process's TIME_WAIT, unseen by a view read earlier -------
# Process B reads its view of 127.0.0.1:5000 (its second connect finds the
# one-port range full), frees the port, and connects from it once more (so
# the view is re-read and says the port is free).  Then process A, also
# under ephport, connects from that port and closes first: a TIME_WAIT whose
# socket had SO_REUSEADDR on (ephport leaves it on on connected sockets).
# B's next connect, well within a second, must not reuse it: with
# tcp_tw_reuse=0 the kernel's own connect never does (measured here too).
case_twstale() {
	local P=41900 PK=41950
	setsys net.ipv4.tcp_tw_reuse 0
	setsys net.ipv4.ip_local_port_range "$PK $PK"
	server 127.0.0.1:5000 127.0.0.1:5001
	eclient EPHPORT_RANGE=$P-$P EPHPORT_LOG="$tmp/b.jsonl" -- \
		c c1 127.0.0.1 5000 c c2 127.0.0.1 5000 r c1 s 0.1 c c3 127.0.0.1 5000 r c3 \
		t "$tmp/b.ready" h "$tmp/b.go" c c4 127.0.0.1 5000 >"$tmp/b.out" 2>"$tmp/b.err" &
	local bpid=$!
	pids+=($bpid)
	wait_file "$tmp/b.ready" 500 || { cat "$tmp/b.out" "$tmp/b.err"; say "FAIL: process B did not get ready"; exit 1; }
	local t0 a o k
	t0=$(now_ms)
	a=$(eclient EPHPORT_RANGE=$P-$P -- c a 127.0.0.1 5000 x a W $P 5000 2>>"$tmp/b.err")
	touch "$tmp/b.go"
	wait $bpid
	local dt=$(($(now_ms) - t0))
	o=$(cat "$tmp/b.out")
	[ "$(res "$o" c1) $(port "$o" c1)" = "ok $P" ] || { say "FAIL: B's first connect: $(tr '\n' ';' <<<"$o")"; exit 1; }
	[ "$(res "$o" c2)" = EADDRNOTAVAIL ] || bad "B's second connect, port $P held: '$(line "$o" c c2)'"
	[ "$(res "$o" c3) $(port "$o" c3)" = "ok $P" ] ||
		bad "B's connect 100 ms after the abortive close of its only port: '$(line "$o" c c3)', expected ok on $P"
	[ "$(res "$a" a) $(port "$a" a)" = "ok $P" ] || { say "FAIL: process A did not connect from $P: $a"; exit 1; }
	# The set-up itself (not ephport) can fail on a loaded machine: then
	# there is nothing to test, and the case says so instead of passing.
	[ "$(line "$a" W $P)" = "W $P 5000 yes" ] || skip "the TIME_WAIT of process A could not be set up here: $a"
	k=$(kclient c a 127.0.0.1 5001 x a W $PK 5001)
	k=$(kclient c b 127.0.0.1 5001)
	kref "$k" b
	[ "$(res "$k" b)" = EADDRNOTAVAIL ] || say "note: the kernel's own connect reused a TIME_WAIT with tcp_tw_reuse=0: $k"
	[ "$(res "$o" c4)" = "$(res "$k" b)" ] ||
		bad "B's connect about ${dt} ms after it last read its view, with A's TIME_WAIT on $P -> 5000 and tcp_tw_reuse=0: '$(line "$o" c c4)', the kernel's own connect: $(res "$k" b)"
	if [ "$(res "$k" b)" != ok ]; then
		tw_present $P 5000 || bad "A's TIME_WAIT $P -> 5000 is gone: B reused it"
	fi
	[ -s "$tmp/b.err" ] && bad "stderr under the preload: $(cat "$tmp/b.err")"
	say "another process's TIME_WAIT on $P, B's view about ${dt} ms old: B $(res "$o" c4) $(port "$o" c4), the kernel $(res "$k" b)"
	finish
}

# ---- twreuseport: a program that sets SO_REUSEPORT on its client sockets ---------
# bind() lets a SO_REUSEPORT socket share a port with a SO_REUSEPORT
# TIME_WAIT of the same user, and connect() on a bound socket reuses the
# TIME_WAIT whatever tcp_tw_reuse says.  The kernel's own connect (port 0)
# applies tcp_tw_reuse: with 0 it refuses.  ephport must do the same, in the
# same process and in a new one.
case_twreuseport() {
	local P=41900 PK=41950
	setsys net.ipv4.tcp_tw_reuse 0
	setsys net.ipv4.ip_local_port_range "$PK $PK"
	server 127.0.0.1:5000 127.0.0.1:5001 127.0.0.1:5002
	local k e e2
	k=$(kclient O reuseport c a 127.0.0.1 5001 x a W $PK 5001 c b 127.0.0.1 5001)
	[ "$(res "$k" a) $(port "$k" a)" = "ok $PK" ] || { say "FAIL: kernel setup: $k"; exit 1; }
	k="$k"$'\n'$(kclient O reuseport c c 127.0.0.1 5001)
	kref "$k" b c
	[ "$(res "$k" b)" = EADDRNOTAVAIL ] && [ "$(res "$k" c)" = EADDRNOTAVAIL ] ||
		say "note: the kernel's own connect with SO_REUSEPORT and tcp_tw_reuse=0: $(tr '\n' ';' <<<"$k")"
	e=$(eclient EPHPORT_RANGE=$P-$P -- O reuseport c a 127.0.0.1 5000 x a W $P 5000 c b 127.0.0.1 5000 2>"$tmp/e.err")
	[ "$(res "$e" a) $(port "$e" a)" = "ok $P" ] || { say "FAIL: ephport setup: $e"; exit 1; }
	[ "$(line "$e" W $P)" = "W $P 5000 yes" ] || { say "FAIL: no TIME_WAIT $P -> 5000: $e"; exit 1; }
	[ "$(res "$e" b)" = "$(res "$k" b)" ] ||
		bad "SO_REUSEPORT, same process, TIME_WAIT $P -> 5000, tcp_tw_reuse=0: ephport '$(line "$e" c b)', the kernel '$(line "$k" c b)'"
	e2=$(eclient EPHPORT_RANGE=$P-$P -- O reuseport c c 127.0.0.1 5000 2>>"$tmp/e.err")
	[ "$(res "$e2" c)" = "$(res "$k" c)" ] ||
		bad "SO_REUSEPORT, new process, TIME_WAIT $P -> 5000, tcp_tw_reuse=0: ephport '$(line "$e2" c c)', the kernel '$(line "$k" c c)'"
	if [ "$(res "$k" c)" != ok ]; then
		tw_present $P 5000 || bad "the TIME_WAIT $P -> 5000 is gone: ephport reused it"
	fi
	[ -s "$tmp/e.err" ] && bad "stderr under the preload: $(cat "$tmp/e.err")"
	say "SO_REUSEPORT over a TIME_WAIT: ephport same process $(res "$e" b), new process $(res "$e2" c); the kernel $(res "$k" b), $(res "$k" c)"
	finish
}

case $C in
twstale) case_twstale ;;
twreuseport) case_twreuseport ;;
full) case_full ;;
other) case_other ;;
tw0) case_tw 0 ;;
tw1) case_tw 1 ;;
tw2) case_tw 2 ;;
freed) case_freed ;;
nodiag) case_nodiag ;;
twkeep) case_twkeep ;;
nodiagtw) case_nodiagtw ;;
*) say "FAIL: unknown case $C (cases: $ALL_CASES)"; exit 1 ;;
esac
