#!/usr/bin/env bash
# The man pages render without a warning from man/groff, and document what
# the command and the log schema actually have: every option of
# `ephport run|report --help` and every key the report's reader knows.
# Cases: render, options, keys (tests/run.sh has the protocol).
. "$(dirname "$0")/helpers/lib.sh"

command -v man >/dev/null || skip "man (man-db) is not installed"
command -v col >/dev/null || skip "col (bsdextrautils) is not installed"
case_begin render
for page in man/ephport.1 man/libephport.7; do
	[ -r "$page" ] || { bad "$page is missing"; continue; }
	warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
	[ -z "$warn" ] || bad "$page: $warn"
done

text() { LC_ALL=C.UTF-8 MANWIDTH=200 man -E UTF-8 -l "$1" 2>/dev/null | col -bx; }
one=$(text man/ephport.1)
seven=$(text man/libephport.7)
# Every long option in the commands' help appears in ephport(1).
case_begin options
for cmd in run report top; do
	for opt in $("$bdir/ephport" "$cmd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		case $one in *"$opt"*) ;; *) bad "ephport(1) does not mention $cmd $opt" ;; esac
	done
done
# Every key of the schema (tools/record.c) and every passthrough reason
# appears in libephport(7).
case_begin keys
keys=$(sed -n '/rec_key_names\[K_COUNT\] = {/,/};/p' tools/record.c | grep -o '"[a-z_]*"' | tr -d '"')
[ -n "$keys" ] || bad "no keys found in tools/record.c"
for k in $keys bound udp proto address disabled; do
	grep -qE "^ +$k( |,|$)|^ +[a-z_]+, $k " <<<"$seven" || bad "libephport(7) does not describe $k"
done
finish
