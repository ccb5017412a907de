#!/usr/bin/env bash
# tools/ensure-deps.sh, the package check of make demo/check/lint and
# .ci/run, on a list of its own (EPHPORT_DEPS_FILE) naming one installed
# package and one that does not exist, so that nothing is installed:
#   installed    every package of the group there: silent, exit 0;
#   nonroot      a package missing, not root: exactly one line on stderr
#                naming the apt-get command with the missing package only,
#                exit 1 (run as nobody with setpriv when this runs as root);
#   root         a package missing, root, EPHPORT_DEPS=dry-run: says it
#                would run apt-get update, then apt-get install of the
#                missing package only; exit 0;
#   bad-input    an unknown group, an unreadable list, a bad EPHPORT_DEPS:
#                exit 2 with one line naming the input;
#   the-list     every package in tools/deps.txt exists in the Debian
#                archive the machine knows (apt-cache), groups are known.
# tests/run.sh has the protocol.
. "$(dirname "$0")/helpers/lib.sh"
make_tmp
chmod 755 "$tmp" # the list is read as nobody too
ens=$top/tools/ensure-deps.sh
have=coreutils
none=ephport-no-such-package
printf '# test list\n%s build\n%s check  not a package\n' "$have" "$none" >"$tmp/deps.txt"
export EPHPORT_DEPS_FILE=$tmp/deps.txt
command -v dpkg-query >/dev/null || skip "dpkg-query is needed (not Debian?)"

case_begin installed
out=$(env -u EPHPORT_DEPS "$ens" build 2>&1)
rc=$?
[ $rc -eq 0 ] || bad "exit $rc with every package of the group installed: $out"
[ -z "$out" ] || bad "says something with every package installed: $out"

case_begin nonroot
if [ "$(id -u)" = 0 ]; then
	if command -v setpriv >/dev/null; then
		asuser=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		asuser=
	fi
else
	asuser=(env)
fi
if [ -z "${asuser[*]:-}" ]; then
	case_skip "running as root without setpriv (util-linux) to become nobody"
else
	out=$("${asuser[@]}" env -u EPHPORT_DEPS EPHPORT_DEPS_FILE="$tmp/deps.txt" "$ens" build check 2>&1 >"$tmp/stdout")
	rc=$?
	[ $rc -eq 1 ] || bad "not root, a package missing: exit $rc (expected 1)"
	[ "$(grep -c '' <<<"$out")" = 1 ] || bad "not root: expected one line, got: $out"
	[ -s "$tmp/stdout" ] && bad "not root: stdout is not empty: $(cat "$tmp/stdout")"
	case $out in
	*"apt-get update && apt-get install "*" $none") ;;
	*) bad "not root: the line does not name apt-get install $none: $out" ;;
	esac
	case $out in *" $have"*) bad "not root: the line names the installed $have: $out" ;; esac
fi

case_begin root
if [ "$(id -u)" != 0 ]; then
	case_skip "the install path runs as root only"
else
	out=$(EPHPORT_DEPS=dry-run "$ens" build check 2>&1)
	rc=$?
	[ $rc -eq 0 ] || bad "dry run as root: exit $rc: $out"
	grep -q "dry run: apt-get update" <<<"$out" || bad "dry run: no apt-get update: $out"
	grep -q "dry run: .*apt-get install .* $none\$" <<<"$out" || bad "dry run: no apt-get install $none: $out"
	grep -q "install.* $have" <<<"$out" && bad "dry run: would install the installed $have: $out"
	[ "$(grep -n 'apt-get update' <<<"$out" | cut -d: -f1 | head -n1)" -lt \
		"$(grep -n 'apt-get install' <<<"$out" | cut -d: -f1 | head -n1)" ] ||
		bad "dry run: apt-get update does not come first: $out"
fi

case_begin bad-input
out=$("$ens" nosuchgroup 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == *'"nosuchgroup"'* ]] || bad "unknown group: exit $rc: $out"
out=$(EPHPORT_DEPS_FILE=$tmp/missing.txt "$ens" build 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == *"$tmp/missing.txt"* ]] || bad "missing list: exit $rc: $out"
out=$(EPHPORT_DEPS=maybe "$ens" build 2>&1); rc=$?
[ $rc -eq 2 ] && [[ $out == *'EPHPORT_DEPS="maybe"'* ]] || bad "bad EPHPORT_DEPS: exit $rc: $out"
out=$(EPHPORT_DEPS=ignore "$ens" build check 2>&1); rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || bad "EPHPORT_DEPS=ignore: exit $rc: $out"

case_begin the-list
if ! command -v apt-cache >/dev/null; then
	case_skip "apt-cache is needed to look the packages up"
else
	while read -r pkg group _; do
		case $pkg in '' | '#'*) continue ;; esac
		case $group in build | check | lint | ci) ;; *) bad "tools/deps.txt: $pkg has the unknown group '$group'" ;; esac
		apt-cache show --no-all-versions "$pkg" >/dev/null 2>&1 ||
			bad "tools/deps.txt: $pkg is not a package apt-cache knows"
	done <"$top/tools/deps.txt"
fi

finish
