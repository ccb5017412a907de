#!/usr/bin/env bash
# A program built with -D_FILE_OFFSET_BITS=64 calls fcntl64, not fcntl.  The
# preload must still see those calls, or a socket duplicated with
# fcntl(F_DUPFD_CLOEXEC) loses its bookkeeping.  This script builds
# tests/helpers/fcntl64_client.c that way and checks, under the preload:
#   1. the binary imports fcntl64 (and not fcntl), the library exports it,
#      and the dynamic linker binds the binary's fcntl64 to libephport.so;
#   2. behaviour only the wrapper can give: the duplicate (fd 100), connected
#      in a two-port range whose other 4-tuple is held by a socket the
#      preload never saw, keeps TCP_NODELAY, SO_KEEPALIVE, O_NONBLOCK and
#      FD_CLOEXEC, and getsockopt(SO_REUSEADDR) still reads 0, which the
#      library can only answer for an fd whose dup it recorded.  Run twice:
#      with the library's view of the socket table (it may skip the held
#      port), and with netlink denied by seccomp (the kernel must refuse the
#      held 4-tuple: a collision, the socket replaced under fd 100);
#   3. one valid log record for the duplicate's connect.
# Cases: imports, ld-binding, reference, collision-diag, collision-nodiag
# (tests/run.sh has the protocol).  The helper is built by the Makefile
# (make test-programs) with -D_FILE_OFFSET_BITS=64.
# shellcheck source=tests/helpers/lib.sh
. "$(dirname "$0")/helpers/lib.sh"
bin=$hbin/fcntl64_client

[ -x "$bin" ] || { say "FAIL: $bin is not built (make test-programs)"; exit 1; }
[ -n "$PY" ] || skip "python3 is needed for the loopback server and the log checker"
command -v nm >/dev/null || skip "nm (binutils) is needed to inspect the helper's imports"
make_tmp

# ---- 1. who imports and who exports fcntl64 ---------------------------------
case_begin imports
imports=$(nm -D --undefined-only "$bin" | awk '{print $NF}' | sed 's/@.*//')
grep -qx fcntl64 <<<"$imports" || bad "the helper does not import fcntl64: $(tr '\n' ' ' <<<"$imports")"
grep -qx fcntl <<<"$imports" && bad "the helper imports plain fcntl; the test would prove nothing"
nm -D --defined-only "$lib" | awk '{print $NF}' | grep -qx fcntl64 ||
	bad "$lib does not export fcntl64"

# ---- the echo server ----------------------------------------------------------
"$PY" "$helpers/loopback.py" echo 127.0.0.1 "$tmp/port" 55 & pids+=($!)
dport=$(wait_port "$tmp/port") || { say "FAIL: the echo server did not start"; exit 1; }

# kv FILE KEY: the helper's value for KEY
kv() { sed -n "s/^$2=//p" "$1" | head -n1; }

# ---- 1b. the dynamic linker's word --------------------------------------------
case_begin ld-binding
LD_DEBUG=bindings LD_DEBUG_OUTPUT="$tmp/ld" LD_PRELOAD=$preload \
	timeout 20 "$bin" "$dport" >"$tmp/bind.out" 2>"$tmp/bind.err"
if ! grep -hE "binding file [^ ]*fcntl64_client \[0\] to [^ ]*libephport\.so[^ ]* \[0\]: normal symbol .fcntl64'" \
	"$tmp"/ld.* >/dev/null 2>&1; then
	bad "LD_DEBUG=bindings does not show the helper's fcntl64 bound to libephport.so:"
	grep -h "symbol .fcntl64'" "$tmp"/ld.* 2>/dev/null | sed 's/^/    /'
fi
[ "$(kv "$tmp/bind.out" soerr)" = 0 ] || bad "plain run under LD_DEBUG did not connect: $(tr '\n' ' ' <"$tmp/bind.out")"

# ---- 2+3. behaviour through a collision, both orders ----------------------------
# A reference run without the preload: what the program itself expects.
case_begin reference
timeout 20 "$bin" "$dport" >"$tmp/ref.out" 2>"$tmp/ref.err" || bad "the helper failed without the preload: $(cat "$tmp/ref.err")"
for k in fd nonblock cloexec nodelay keepalive reuseaddr soerr; do
	ref=$(kv "$tmp/ref.out" $k)
	case $k in fd) want=100 ;; reuseaddr|soerr) want=0 ;; *) want=1 ;; esac
	[ "$ref" = "$want" ] || bad "without the preload $k=$ref (expected $want): the helper itself is wrong"
done

for mode in diag nodiag; do
case_begin "collision-$mode"
p=$(free_range 2) || { say "FAIL: no two free ports in 20000-29999"; exit 1; }
total_coll=0 total_rej=0
for order in 0 1; do
	held=$((p + order)) other=$((p + 1 - order))
	log=$tmp/log$mode$order.jsonl
	out=$tmp/run$mode$order.out
	err=$tmp/run$mode$order.err
	run_preloaded EPHPORT_RANGE=$p-$((p + 1)) EPHPORT_LOG=$log -- \
		timeout 20 "$bin" "$dport" "$held" $mode >"$out" 2>"$err"
	rc=$?
	[ $rc -eq 0 ] || { bad "$mode: helper exited $rc (held port $held): $(cat "$err")"; continue; }
	if [ $mode = nodiag ] && [ "$(kv "$out" nodiag)" != 1 ]; then
		case_skip "seccomp cannot deny netlink here"
		continue 2
	fi
	for k in fd nonblock cloexec nodelay keepalive reuseaddr soerr; do
		got=$(kv "$out" $k) ref=$(kv "$tmp/ref.out" $k)
		[ "$got" = "$ref" ] || bad "$mode: held port $held: $k=$got under the preload, $ref without it"
	done
	[ "$(kv "$out" sport)" = "$other" ] || bad "$mode: held port $held: source port $(kv "$out" sport), expected $other"
	[ "$(kv "$out" peerport)" = "$dport" ] || bad "$mode: held port $held: not connected to $dport"
	en=$(kv "$out" errname)
	[ "$en" = EINPROGRESS ] || [ "$en" = ok ] || bad "$mode: held port $held: nonblocking connect gave $en"
	if checklog "$log" 1 0.fd=100 0.blocking=false 0.proto=tcp \
		0.family=ipv4 0.strategy=kernel 0.dst=127.0.0.1 "0.dport=$dport" \
		"0.sport=$(kv "$out" sport)" 0.src=127.0.0.1 "0.result=$([ "$en" = ok ] && echo ok || echo "$en")" \
		"0.tries>=1"; then
		read -r t c < <("$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(r["tries"], r["collisions"])' "$log")
		[ "$t" -le 2 ] || bad "$mode: held port $held: tries=$t in a two-port range"
		[ $mode = diag ] || [ "$c" -eq $((t - 1)) ] ||
			bad "$mode: held port $held: tries=$t collisions=$c; without inet_diag every rejected candidate is a collision"
		total_coll=$((total_coll + c)) total_rej=$((total_rej + t - 1))
	else
		bad "$mode: held port $held: log record"
	fi
done
[ "$total_rej" -ge 1 ] || bad "$mode: holding each 4-tuple of $p-$((p + 1)) in turn, no record shows a rejected candidate"
[ $mode = diag ] || [ "$total_coll" -ge 1 ] || bad "$mode: holding each 4-tuple of $p-$((p + 1)) in turn, no record shows a collision"
done

case_end
[ $fails -eq 0 ] && say "fcntl64 is imported, exported, bound to libephport.so, and its F_DUPFD_CLOEXEC/F_SETFL calls are seen through a collision"
finish
