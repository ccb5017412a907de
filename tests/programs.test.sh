#!/usr/bin/env bash
# Real, unmodified Debian programs under the preload, each compared with a
# run without it:
#   curl     HTTP GET from python3 -m http.server: body identical,
#            -w %{local_port} inside EPHPORT_RANGE, one log record whose
#            dport is the server's port and sport curl's local port;
#            the user's scenario (EPHPORT_RANGE=45000-45999, curl -s URL)
#            with identical output, and `ss -tn`, run while a slow server
#            holds the connection open, showing a source port in the range;
#   python3  a socket.create_connection() client printing what an echo
#            server sends back, over IPv4 and IPv6: identical output;
#   socat    `socat - TCP:127.0.0.1:PORT` echo round trip.
# Cases: curl, curl-user-scenario, curl-ss, python3-ipv4, python3-ipv6,
# socat.  A program that is missing skips its cases, with the reason
# (tests/run.sh has the protocol).
# shellcheck source=tests/helpers/lib.sh
. "$(dirname "$0")/helpers/lib.sh"

# Debian's python3 first: the servers, the log checker and the python part.
[ -n "$PY" ] || skip "python3 is needed for the servers (http.server, echo) and the log checker"
make_tmp

# ---- helpers -------------------------------------------------------------------
cat >"$tmp/client.py" <<'EOF'
# client.py HOST PORT PORTFILE: send a payload, print what comes back.
import socket, sys
host, port, portfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=10)
with open(portfile, "w") as f:
    f.write(str(s.getsockname()[1]))
s.sendall(b"".join(b"line %d from python over ephport\n" % i for i in range(200)))
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
sys.stdout.buffer.write(data)
s.close()
EOF

# in_range N LO HI
in_range() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
# san_blocks CMD...: with a sanitizer build of the library, the program must
# first run with only the sanitizer runtime preloaded.  When it does not, the
# sanitizer is to blame, not ephport, and its cases are skipped; the reason
# is in $san_why.
san_blocks() {
	[ -n "$san" ] || return 1
	LD_PRELOAD=$san timeout 5 "$@" >/dev/null 2>&1 </dev/null && return 1
	san_why="$1 fails with only the sanitizer runtime ($san) preloaded, without ephport"
	return 0
}

# ---- servers ----------------------------------------------------------------------
"$PY" "$helpers/loopback.py" echo 127.0.0.1 "$tmp/echo4.port" 150 & pids+=($!)
"$PY" "$helpers/loopback.py" echo ::1 "$tmp/echo6.port" 150 2>"$tmp/echo6.err" & pids+=($!)
echo4=$(wait_port "$tmp/echo4.port") || { say "FAIL: the IPv4 echo server did not start"; exit 1; }
echo6=$(wait_port "$tmp/echo6.port") || { echo6=; say "no IPv6 loopback: $(tail -n1 "$tmp/echo6.err")"; }

# ---- curl ---------------------------------------------------------------------------
curl_why=
if ! command -v curl >/dev/null; then
	curl_why="curl is not installed"
else
	www=$tmp/www
	mkdir -p "$www"
	head -c 300000 /dev/urandom >"$www/data.bin"
	printf '<html><body>ephport %s</body></html>\n' "$(date +%s%N)" >"$www/index.html"
	hp=$(free_range 1) || { say "FAIL: no free port for http.server"; exit 1; }
	"$PY" -m http.server --bind 127.0.0.1 --directory "$www" "$hp" \
		>"$tmp/http.log" 2>&1 & pids+=($!)
	up=
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$hp") 2>/dev/null && { up=1; break; }
		sleep 0.05
	done
	[ -n "$up" ] || { say "FAIL: python3 -m http.server did not start on port $hp"; exit 1; }
	san_blocks curl -s -o /dev/null "http://127.0.0.1:$hp/" && curl_why=$san_why
fi

case_begin curl
if [ -n "$curl_why" ]; then
	case_skip "$curl_why"
else
	url=http://127.0.0.1:$hp/data.bin
	lo=$(free_range 100) || { say "FAIL: no 100 free ports for EPHPORT_RANGE"; exit 1; }
	hi=$((lo + 99))
	timeout 10 curl -s -o "$tmp/c0.bin" "$url" || bad "curl without the preload failed"
	run_preloaded EPHPORT_RANGE=$lo-$hi EPHPORT_LOG=$tmp/curl.jsonl -- \
		timeout 10 curl -s -o "$tmp/c1.bin" -w '%{local_port}' "$url" >"$tmp/c1.port"
	rc=$?
	lp=$(cat "$tmp/c1.port")
	if [ $rc -ne 0 ]; then
		bad "curl under the preload exited $rc"
	else
		cmp -s "$www/data.bin" "$tmp/c0.bin" || bad "curl without the preload: body differs from the file"
		cmp -s "$tmp/c0.bin" "$tmp/c1.bin" || bad "curl: body under the preload differs from the body without it"
		in_range "$lp" "$lo" "$hi" || bad "curl: local port '$lp' is outside EPHPORT_RANGE $lo-$hi"
		checklog "$tmp/curl.jsonl" 1 "0.dport=$hp" "0.sport=$lp" \
			0.dst=127.0.0.1 0.src=127.0.0.1 0.proto=tcp 0.family=ipv4 \
			0.strategy=kernel 0.result~ok,EINPROGRESS 0.comm=curl || bad "curl: log record"
		[ "$case_fails" -eq 0 ] && say "curl: $(wc -c <"$tmp/c1.bin") bytes identical, local port $lp in $lo-$hi"
	fi
fi

# The user's scenario, verbatim but for the log path.
case_begin curl-user-scenario
if [ -n "$curl_why" ]; then
	case_skip "$curl_why"
else
	url=http://127.0.0.1:$hp/
	timeout 10 curl -s "$url" >"$tmp/u0.out" || bad "curl -s $url failed without the preload"
	run_preloaded EPHPORT_RANGE=45000-45999 EPHPORT_LOG=$tmp/x.jsonl -- \
		timeout 10 curl -s "$url" >"$tmp/u1.out"
	rc=$?
	[ $rc -eq 0 ] || bad "user scenario: curl exited $rc under the preload"
	[ -s "$tmp/u0.out" ] || bad "user scenario: empty output without the preload"
	cmp -s "$tmp/u0.out" "$tmp/u1.out" || bad "user scenario: output differs with the preload"
	checklog "$tmp/x.jsonl" 1 "0.dport=$hp" 0.sport@45000-45999 \
		0.result~ok,EINPROGRESS 0.strategy=kernel || bad "user scenario: log record"
	[ "$case_fails" -eq 0 ] && say "user scenario: curl -s $url output identical under the preload"
fi

# ss -tn while a slow server holds the connection.
case_begin curl-ss
if [ -n "$curl_why" ]; then
	case_skip "$curl_why"
elif ! command -v ss >/dev/null; then
	case_skip "ss (iproute2) is not installed"
else
	body="held open by a slow server $(date +%s%N)"
	"$PY" "$helpers/loopback.py" slow "$tmp/slow.port" "$tmp/release" "$body" 150 & pids+=($!)
	if sp=$(wait_port "$tmp/slow.port"); then
		run_preloaded EPHPORT_RANGE=45000-45999 EPHPORT_LOG=$tmp/ss.jsonl -- \
			timeout 10 curl -s "http://127.0.0.1:$sp/" >"$tmp/ss.out" &
		cpid=$! # bounded by timeout; waited for below
		local_port=
		for _ in $(seq 100); do
			local_port=$(ss -Htn | awk -v peer="127.0.0.1:$sp" '$1 == "ESTAB" && $5 == peer {print $4}' | head -n1)
			[ -n "$local_port" ] && break
			sleep 0.05
		done
		touch "$tmp/release"
		wait "$cpid"
		rc=$?
		local_port=${local_port##*:}
		if [ -z "$local_port" ]; then
			bad "ss -tn never showed curl's connection to 127.0.0.1:$sp"
		else
			in_range "$local_port" 45000 45999 ||
				bad "ss -tn shows source port $local_port, outside 45000-45999"
			checklog "$tmp/ss.jsonl" 1 "0.dport=$sp" "0.sport=$local_port" \
				0.result~ok,EINPROGRESS || bad "ss scenario: log record"
		fi
		[ $rc -eq 0 ] || bad "curl against the slow server exited $rc"
		[ "$(cat "$tmp/ss.out")" = "$body" ] || bad "curl against the slow server: wrong body"
		[ "$case_fails" -eq 0 ] && say "ss -tn: curl's held connection has source port $local_port"
	else
		bad "the slow server did not start"
	fi
fi

# ---- python3 -------------------------------------------------------------------------
# The program under test is Debian's python3 (the servers use it too; it is
# the interpreter the script already needs).
py_why=
san_blocks "$PY" -c 'import socket' && py_why=$san_why
for fam in 4 6; do
	case_begin "python3-ipv$fam"
	if [ $fam = 4 ]; then host=127.0.0.1 port=$echo4 family=ipv4; else host=::1 port=$echo6 family=ipv6; fi
	if [ -n "$py_why" ]; then
		case_skip "$py_why"
		continue
	fi
	if [ -z "$port" ]; then
		case_skip "no IPv6 loopback (::1)"
		continue
	fi
	lo=$(free_range 100) || { say "FAIL: no 100 free ports for EPHPORT_RANGE"; exit 1; }
	hi=$((lo + 99))
	timeout 10 "$PY" "$tmp/client.py" "$host" "$port" "$tmp/p$fam.0.port" >"$tmp/p$fam.0.out" ||
		bad "python3 IPv$fam client failed without the preload"
	run_preloaded EPHPORT_RANGE=$lo-$hi EPHPORT_LOG=$tmp/py$fam.jsonl -- \
		timeout 10 "$PY" "$tmp/client.py" "$host" "$port" "$tmp/p$fam.1.port" >"$tmp/p$fam.1.out"
	rc=$?
	[ $rc -eq 0 ] || { bad "python3 IPv$fam client exited $rc under the preload"; continue; }
	want=$("$PY" -c 'import sys; sys.stdout.write("".join("line %d from python over ephport\n" % i for i in range(200)))' | md5sum)
	[ "$(md5sum <"$tmp/p$fam.0.out")" = "$want" ] || bad "python3 IPv$fam: wrong echo without the preload"
	cmp -s "$tmp/p$fam.0.out" "$tmp/p$fam.1.out" || bad "python3 IPv$fam: output differs under the preload"
	lp=$(cat "$tmp/p$fam.1.port")
	in_range "$lp" "$lo" "$hi" || bad "python3 IPv$fam: source port $lp outside $lo-$hi"
	checklog "$tmp/py$fam.jsonl" 1 "0.dport=$port" "0.sport=$lp" \
		"0.dst=$host" "0.src=$host" "0.family=$family" 0.proto=tcp 0.strategy=kernel \
		0.result~ok,EINPROGRESS || bad "python3 IPv$fam: log record"
	[ "$case_fails" -eq 0 ] && say "python3 IPv$fam: $(wc -c <"$tmp/p$fam.1.out") bytes identical, source port $lp in $lo-$hi"
done

# ---- socat ----------------------------------------------------------------------------
case_begin socat
if ! command -v socat >/dev/null; then
	case_skip "socat is not installed"
elif san_blocks socat -V; then
	case_skip "$san_why"
else
	lo=$(free_range 100) || { say "FAIL: no 100 free ports for EPHPORT_RANGE"; exit 1; }
	hi=$((lo + 99))
	msg="socat round trip $(date +%s%N)"
	out0=$(printf '%s\n' "$msg" | timeout 10 socat -t 2 - "TCP:127.0.0.1:$echo4")
	out1=$(printf '%s\n' "$msg" | run_preloaded EPHPORT_RANGE=$lo-$hi \
		EPHPORT_LOG=$tmp/socat.jsonl -- timeout 10 socat -t 2 - "TCP:127.0.0.1:$echo4")
	rc=$?
	[ "$out0" = "$msg" ] || bad "socat without the preload: got '$out0'"
	[ $rc -eq 0 ] || bad "socat under the preload exited $rc"
	[ "$out1" = "$out0" ] || bad "socat under the preload: got '$out1', expected '$out0'"
	checklog "$tmp/socat.jsonl" 1 "0.dport=$echo4" "0.sport@$lo-$hi" \
		0.dst=127.0.0.1 0.result~ok,EINPROGRESS 0.strategy=kernel 0.comm=socat || bad "socat: log record"
	[ "$case_fails" -eq 0 ] && say "socat: echo round trip identical"
fi

finish
