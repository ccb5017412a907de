#!/usr/bin/env bash
# make bench: every benchmark, each printing its own table.
set -u
B=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

echo "== connect() under port pressure (bench/pressure.c)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
if unshare -n true 2>/dev/null; then
	unshare -n sh -c "ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range='40000 49999' && \
		LD_LIBRARY_PATH=$B exec $B/bench/pressure"
else
	echo "skipped: cannot create a private network namespace (unshare -n needs root or user namespaces)"
fi

if [ -f bench/report_bench.sh ]; then
	echo
	echo "== ephport report on one million records (bench/report_bench.sh)"
	bash bench/report_bench.sh "$B"
fi
exit 0
