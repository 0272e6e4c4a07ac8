#!/bin/sh
# check-docs.sh BUILD EXAMPLE.c: what the documents promise, tried.
#
#  - The README's library example (EXAMPLE.c, extracted from README.md)
#    compiles as written with -Wall -Wextra -Werror, runs without a daemon
#    (plain memory) and with one (every page a fault the daemon served).
#  - The shipped example configuration passes `uffdd --check-config`
#    (tests/unit/test_core.c proves it equals the built-in defaults).
#  (tests/unit/test_core.c checks that the policy tables name every policy.)
#
# Prints "N passed, N failed" like the other tests.
set -u
build=$1 example=$2
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

tmp=$(mktemp -d /tmp/uffdd-docs.XXXXXX)
state=$tmp/hugepages
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	sh tools/hugepages.sh restore "$state" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the README's example ---
cflags=
[ "${SANITIZE:-0}" = 1 ] && cflags="-fsanitize=address,undefined"
# shellcheck disable=SC2086
if cc $cflags -Wall -Wextra -Werror -Iclient -o "$tmp/example" "$example" \
	"$build/libuffdclient.a" -lpthread 2>"$tmp/cc.log"; then
	ok
else
	bad "the README's example does not compile: $(cat "$tmp/cc.log")"
fi
# 64 MiB of 2 MiB pages, twice (the example runs twice, one at a time).
sh tools/hugepages.sh reserve 32 "$state" >/dev/null || bad "cannot reserve 32 hugepages"
if [ -x "$tmp/example" ]; then
	out=$(UFFDD_SOCKET=$tmp/none.sock "$tmp/example" 2>&1)
	rc=$?
	case $rc:$out in
	0:*"no page service"*"32 pages, served: no"*) ok ;;
	*) bad "example without a daemon: rc $rc: $out" ;;
	esac
	"$build/uffdd" --no-config --socket "$tmp/d.sock" --control-socket "$tmp/c.sock" \
		--log-level warning 2>"$tmp/uffdd.log" &
	pid=$!
	i=0
	while [ ! -S "$tmp/c.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	out=$(UFFDD_SOCKET=$tmp/d.sock "$tmp/example" 2>&1)
	rc=$?
	[ "$rc:$out" = "0:32 pages, served: yes" ] && ok || bad "example with a daemon: rc $rc: $out"
	faults=$("$build/uffdctl" -j -C "$tmp/c.sock" status |
		sed -n 's/.*"totals": *{ *"clients": *[0-9]*, *"regions": *[0-9]*, *"faults": *\([0-9]*\).*/\1/p')
	[ "$faults" = 32 ] && ok || bad "the daemon served $faults faults for the example, want 32"
	kill "$pid" && wait "$pid" 2>/dev/null
	pid=
fi

# --- the example configuration ---
out=$("$build/uffdd" --check-config --config docs/examples/uffdd.json 2>&1)
rc=$?
[ $rc = 0 ] && ok || bad "uffdd --check-config docs/examples/uffdd.json: rc $rc: $out"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
