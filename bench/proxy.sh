#!/usr/bin/env bash
# Real proxies in front of ephport: nginx and HAProxy as reverse proxies to a
# small loopback backend, under wrk, plain against under ephport (LD_PRELOAD),
# with and without upstream keepalive, in a 28,232-port range (the kernel's
# default 32768-60999) and a 1,000-port range (40000-40999), the same range
# for both sides.  Every run has its own private network namespace (unshare
# -n: lo only, the range set by sysctl), so that no TIME_WAIT carries over
# from one run to the next; plain and ephport runs alternate, R rounds of D
# seconds each, and the rounds are summed per side.
#
#   bash bench/proxy.sh /ABS/PATH/libephport.so
#
# EPHPORT_BENCH_PROXY_SECONDS (D, default 4), EPHPORT_BENCH_PROXY_ROUNDS (R,
# default 5), EPHPORT_BENCH_QUICK=1 (D=2, R=1), EPHPORT_BENCH_PROXIES
# ("nginx haproxy"), EPHPORT_BENCH_WRK ("-t2 -c64"), EPHPORT_BENCH_PROXY_COMMIT
# (EPHPORT_COMMIT of the ephport side, default auto).
#
# Each row: 2xx responses/s, the slowest request (wrk's latency max, the
# largest over the rounds) and the worst round's 99th percentile per side, non-2xx responses and socket errors (connect/read/write/timeout), the
# ratios, and the verdict for the targets: ephport at least 95% of plain's
# 2xx/s, slowest request at most twice plain's.
#
# Without upstream keepalive the proxy speaks HTTP/1.1 to the backend but
# keeps no idle connections, so it closes each upstream connection itself
# after the response and the TIME_WAIT lands on its own source port: the
# port range is what is under pressure.
set -u
here=$(cd "$(dirname "$0")" && pwd)

# ---- one run, inside its namespace ------------------------------------------------
if [ "${1:-}" = --one ]; then
	proxy=$2 ka=$3 range=$4 side=$5 secs=$6 lib=$7 out=$8
	ip link set lo up || exit 1
	sysctl -qw net.ipv4.ip_local_port_range="$range" || exit 1
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ephport-proxy.XXXXXX") || exit 1
	pids=()
	cleanup() {
		local p
		for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
		for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
		rm -rf "$dir"
	}
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
	for d in cbt pt ft ut st; do mkdir -p "$dir/$d"; done
	temps="client_body_temp_path $dir/cbt; proxy_temp_path $dir/pt;
	       fastcgi_temp_path $dir/ft; uwsgi_temp_path $dir/ut; scgi_temp_path $dir/st;"

	# The backend: a plain nginx answering 200 "ok" on 127.0.0.1:8081.
	cat >"$dir/backend.conf" <<-EOF
	daemon off; master_process on; worker_processes 1;
	pid $dir/backend.pid; error_log $dir/backend.err warn;
	events { worker_connections 16384; }
	http {
	    access_log off; $temps
	    keepalive_requests 1000000; keepalive_timeout 60s;
	    server { listen 127.0.0.1:8081 backlog=4096;
	             location / { return 200 "ok\n"; } }
	}
	EOF
	nginx -c "$dir/backend.conf" -p "$dir" -e "$dir/backend.err" 2>>"$dir/backend.err" &
	pids+=($!)

	# The proxy on 127.0.0.1:8080.
	if [ "$proxy" = nginx ]; then
		if [ "$ka" = on ]; then
			up="upstream backend { server 127.0.0.1:8081; keepalive 64; keepalive_requests 1000000; }"
		else
			up="upstream backend { server 127.0.0.1:8081; }"
		fi
		cat >"$dir/proxy.conf" <<-EOF
		daemon off; master_process on; worker_processes 1;
		pid $dir/proxy.pid; error_log $dir/proxy.err error;
		env LD_PRELOAD; env EPHPORT_COMMIT;
		events { worker_connections 16384; }
		http {
		    access_log off; $temps
		    keepalive_requests 1000000;
		    $up
		    server { listen 127.0.0.1:8080 backlog=4096;
		             location / { proxy_pass http://backend;
		                          proxy_http_version 1.1;
		                          proxy_set_header Connection ""; } }
		}
		EOF
		cmd=(nginx -c "$dir/proxy.conf" -p "$dir" -e "$dir/proxy.err")
	else
		if [ "$ka" = on ]; then
			reuse="http-reuse always"
		else
			reuse="http-reuse never
    option http-server-close"
		fi
		cat >"$dir/proxy.cfg" <<-EOF
		global
		    nbthread 1
		    maxconn 8000
		defaults
		    mode http
		    timeout connect 5s
		    timeout client 30s
		    timeout server 30s
		frontend f
		    bind 127.0.0.1:8080
		    default_backend b
		backend b
		    $reuse
		    server s1 127.0.0.1:8081 maxconn 4000
		EOF
		cmd=(haproxy -f "$dir/proxy.cfg" -db)
	fi
	if [ "$side" = ephport ]; then
		LD_PRELOAD=$lib EPHPORT_COMMIT=${EPHPORT_BENCH_PROXY_COMMIT:-auto} "${cmd[@]}" 2>>"$dir/proxy.err" &
	else
		env -u LD_PRELOAD "${cmd[@]}" 2>>"$dir/proxy.err" &
	fi
	pids+=($!)

	# Wait for both to answer; then check where the library is loaded.
	ok=
	for _ in $(seq 100); do
		if curl -s -o /dev/null --max-time 1 http://127.0.0.1:8080/; then ok=1; break; fi
		sleep 0.05
	done
	if [ -z "$ok" ]; then
		echo "ERROR the proxy does not answer: $(tail -n 3 "$dir"/*.err 2>/dev/null | tr '\n' ' ')" >"$out"
		exit 0
	fi
	procs=$(pgrep -P "${pids[1]}"; echo "${pids[1]}")
	loaded=0 total=0
	for p in $procs; do
		total=$((total + 1))
		grep -q libephport "/proc/$p/maps" 2>/dev/null && loaded=$((loaded + 1))
	done
	if { [ "$side" = ephport ] && [ "$loaded" -ne "$total" ]; } ||
	   { [ "$side" = plain ] && [ "$loaded" -ne 0 ]; }; then
		echo "ERROR libephport is loaded in $loaded of the proxy's $total processes ($side side)" >"$out"
		exit 0
	fi
	# shellcheck disable=SC2086
	wrk ${EPHPORT_BENCH_WRK:--t2 -c64} -d"${secs}s" --latency http://127.0.0.1:8080/ >"$dir/wrk.out" 2>&1
	awk -v procs="$total" '
		function us(v) {
			if (v ~ /us$/) return v + 0
			if (v ~ /ms$/) return v * 1000
			if (v ~ /m$/) return v * 60e6
			if (v ~ /s$/) return v * 1e6
			return v + 0
		}
		/requests in/ { n = $1; d = $4; sub(/s,?$/, "", d) }
		/^ +Latency / && !lat { max = us($4); lat = 1 }
		/Non-2xx or 3xx responses:/ { bad = $NF }
		/^ +99% / { p99 = us($2) }
		/Socket errors:/ { gsub(/,/, ""); c = $4; r = $6; w = $8; t = $10 }
		END {
			if (n == "") { print "ERROR wrk printed no result"; exit }
			printf "OK %d %.3f %d %.0f %d %d %d %d %.0f\n", n, d, bad + 0, max, c + 0, r + 0, w + 0, t + 0, p99
		}' "$dir/wrk.out" >"$out"
	exit 0
fi

# ---- the table ---------------------------------------------------------------------
lib=${1:?usage: bench/proxy.sh /ABS/PATH/libephport.so}
case $lib in /*) ;; *) echo "proxy.sh: \"$lib\": an absolute path is needed (LD_PRELOAD)"; exit 2 ;; esac
[ -r "$lib" ] || { echo "proxy.sh: \"$lib\": not readable"; exit 2; }
missing=
for p in nginx haproxy wrk curl unshare sysctl ip; do
	command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "skipped: missing$missing (Debian: nginx-light haproxy wrk curl)"
	exit 0
fi
if ! unshare -n true 2>/dev/null; then
	echo "skipped: cannot create a private network namespace (unshare -n needs root)"
	exit 0
fi

secs=${EPHPORT_BENCH_PROXY_SECONDS:-4}
rounds=${EPHPORT_BENCH_PROXY_ROUNDS:-5}
if [ "${EPHPORT_BENCH_QUICK:-0}" = 1 ]; then secs=2; rounds=1; fi
proxies=${EPHPORT_BENCH_PROXIES:-nginx haproxy}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ephport-proxyb.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

echo "wrk ${EPHPORT_BENCH_WRK:--t2 -c64}, $rounds round(s) of ${secs} s per side, plain and ephport alternating; backend: nginx return 200"
printf '%-22s | %9s %7s %7s %6s %11s | %9s %7s %7s %6s %11s | %6s %6s | %s\n' \
	"proxy, upstream, range" "plain 2xx/s" "p99 ms" "max ms" "non2xx" "err c/r/w/t" \
	"eph 2xx/s" "p99 ms" "max ms" "non2xx" "err c/r/w/t" "x 2xx" "x max" verdict
printf '%s\n' "$(printf '%.0s-' $(seq 150))"

for proxy in $proxies; do
	for ka in off on; do
		for range in "32768 60999" "40000 40999"; do
			nports=$(( ${range#* } - ${range% *} + 1 ))
			declare -A n=() d=() bad=() mx=() errs=() p99=()
			err=
			for side in plain ephport; do n[$side]=0; d[$side]=0; bad[$side]=0; mx[$side]=0; p99[$side]=0; errs[$side]="0 0 0 0"; done
			for r in $(seq "$rounds"); do
				if [ $((r % 2)) = 1 ]; then order="plain ephport"; else order="ephport plain"; fi
				for side in $order; do
					unshare -n bash "$here/proxy.sh" --one "$proxy" "$ka" "$range" "$side" "$secs" "$lib" "$tmp/res" \
						>/dev/null 2>&1
					read -r st a b c m e1 e2 e3 e4 q <"$tmp/res" 2>/dev/null || st="ERROR no result"
					if [ "$st" != OK ]; then err="$side: $(cat "$tmp/res" 2>/dev/null)"; continue; fi
					n[$side]=$(( ${n[$side]} + a ))
					d[$side]=$(awk -v x="${d[$side]}" -v y="$b" 'BEGIN { print x + y }')
					bad[$side]=$(( ${bad[$side]} + c ))
					[ "$m" -gt "${mx[$side]}" ] && mx[$side]=$m
					[ "$q" -gt "${p99[$side]}" ] && p99[$side]=$q
					read -r o1 o2 o3 o4 <<<"${errs[$side]}"
					errs[$side]="$((o1 + e1)) $((o2 + e2)) $((o3 + e3)) $((o4 + e4))"
				done
			done
			label="$proxy, ka $ka, $nports"
			if [ -n "$err" ]; then
				printf '%-22s | not measured: %s\n' "$label" "$err"
				continue
			fi
			awk -v l="$label" -v pn="${n[plain]}" -v pd="${d[plain]}" -v pb="${bad[plain]}" \
			    -v pm="${mx[plain]}" -v pe="${errs[plain]}" -v en="${n[ephport]}" \
			    -v ed="${d[ephport]}" -v eb="${bad[ephport]}" -v em="${mx[ephport]}" \
			    -v ee="${errs[ephport]}" -v pq="${p99[plain]}" -v eq="${p99[ephport]}" '
				function ms(u) { return u / 1000 }
				function slash(s) { gsub(/ /, "/", s); return s }
				BEGIN {
					p2 = pd > 0 ? (pn - pb) / pd : 0
					e2 = ed > 0 ? (en - eb) / ed : 0
					r2 = p2 > 0 ? e2 / p2 : 0
					rm = pm > 0 ? em / pm : 0
					v = ""
					if (r2 < 0.95) v = v " 2xx/s"
					if (rm > 2) v = v " slowest"
					printf "%-22s | %9.0f %7.1f %7.1f %6d %11s | %9.0f %7.1f %7.1f %6d %11s | %6.3f %6.2f | %s\n",
						l, p2, ms(pq), ms(pm), pb, slash(pe), e2, ms(eq), ms(em), eb, slash(ee), r2, rm,
						v == "" ? "ok" : "MISS" v
				}'
		done
	done
done
exit 0
