#!/usr/bin/env bash
# tools/ensure-deps.sh GROUP...: make sure the Debian packages of GROUP
# (build, check, lint, ci; see tools/deps.txt, the one list) are installed.
#
#   - all installed: says nothing, exits 0;
#   - some missing, run as root: `apt-get update`, then `apt-get install -y
#     --no-install-recommends` of the missing ones (what .ci/run always did),
#     exits with apt-get's status;
#   - some missing, not root: one line on stderr naming the command to run
#     as root, exits 1.
# `make demo`, `make check` and `make lint` call it before building;
# .ci/run calls it for every group.
#
# Environment:
#   EPHPORT_DEPS=ignore     do not check at all (a machine that is not
#                           Debian, or a user who knows better)
#   EPHPORT_DEPS=dry-run    say what would be run, run nothing, exit 0
#   EPHPORT_DEPS_FILE=FILE  another list in the same format (tests of this
#                           script)
# Without dpkg-query (not Debian) it says so once and exits 0: the build
# then reports what is missing itself.
set -u
here=$(cd "$(dirname "$0")" && pwd)
list=${EPHPORT_DEPS_FILE:-$here/deps.txt}
mode=${EPHPORT_DEPS:-}
me=ensure-deps

case $mode in
'' | dry-run) ;;
ignore) exit 0 ;;
*) echo "$me: EPHPORT_DEPS=\"$mode\": expected ignore or dry-run" >&2; exit 2 ;;
esac
[ $# -gt 0 ] || { echo "usage: $me GROUP... (groups: build check lint ci)" >&2; exit 2; }
[ -r "$list" ] || { echo "$me: cannot read the package list $list" >&2; exit 2; }

# The packages of the groups asked for, in the list's order.
want=()
while read -r pkg group _; do
	case $pkg in '' | '#'*) continue ;; esac
	for g in "$@"; do
		[ "$g" = "$group" ] && { want+=("$pkg"); break; }
	done
done <"$list"
for g in "$@"; do
	grep -Eq "^[^#[:space:]]+[[:space:]]+$g([[:space:]]|$)" "$list" ||
		{ echo "$me: no package of group \"$g\" in $list" >&2; exit 2; }
done

if ! command -v dpkg-query >/dev/null; then
	echo "$me: no dpkg-query (not Debian?): not checking for ${want[*]}" >&2
	exit 0
fi
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
if [ "$(id -u)" != 0 ]; then
	echo "$me: missing Debian packages: ${missing[*]}; as root run: apt-get update && ${install[*]}" >&2
	exit 1
fi
echo "$me: installing ${missing[*]} (apt-get update first)" >&2
if [ "$mode" = dry-run ]; then
	echo "$me: dry run: apt-get update -qq" >&2
	echo "$me: dry run: DEBIAN_FRONTEND=noninteractive ${install[*]}" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || { echo "$me: apt-get update failed" >&2; exit 1; }
"${install[@]}" >&2 || { echo "$me: apt-get install ${missing[*]} failed" >&2; exit 1; }
