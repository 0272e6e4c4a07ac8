#!/bin/bash
# An image's client across the daemon's loss under a real systemd:
# `systemctl restart`, a SIGKILL that Restart=on-failure answers, and
# `systemctl stop`.  The client read the image's first half before; after,
# every page of the image must be the image's bytes or SIGBUS, never zeros,
# never another byte, never a hang: the first half (in the cache) right,
# the second half (never fetched) SIGBUS.  On restart and crash the session
# lives on (the fd store) and the new instance serves what the earlier
# one's cache holds, read from the image's page-state file; it cannot fill
# more (that memfd is sealed against writes).  On stop the client library
# takes over and does the same.  A new client afterwards gets every byte.
. /opt/uffdd-tests/lib.sh

setup_uffdd
# Before the first client starts the daemon (socket activation).
mkdir -p /var/lib/uffdd
write_config <<'CFG'
{ "images": { "store": "file:/var/lib/uffdd/images", "fetch_size": 1048576 } }
CFG
fdstore_supported || skip "needs the fd store ($(uffdd --version 2>&1 | head -n1))"

IMG=/run/ic.img
head -c $((16 << 20)) /dev/urandom >"$IMG" || fail "making the image's bytes"
# One image per round: a round's new client leaves its image all cached.
for how in restart kill stop; do
	uffd-image --store file:/var/lib/uffdd/images put "ic-$how" "$IMG" >/dev/null ||
		fail "uffd-image put ic-$how"
done

# one_round HOW: image-check across HOW (restart | kill | stop).
one_round() {
	local how=$1 pid cpid rc out t0
	rm -f /run/ic.ready /run/ic.go
	$TESTBIN/image-check --socket "$SOCK" --image "ic-$how" --file "$IMG" \
		--ready /run/ic.ready --go /run/ic.go --watchdog 60 \
		>/tmp/ic.json 2>/tmp/ic.err &
	cpid=$!
	wait_for 30 test -e /run/ic.ready || fail "$how: image-check not ready: $(cat /tmp/ic.err)"
	pid=$(main_pid)
	t0=$(now)
	case $how in
	restart) systemctl restart uffdd.service || fail "systemctl restart" ;;
	kill)
		kill -KILL "$pid"
		wait_for 10 sh -c "p=\$(systemctl show -p MainPID --value uffdd.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && [ \"\$(systemctl show -p SubState --value uffdd.service)\" = running ]" ||
			fail "kill: no new instance 10 s after SIGKILL"
		;;
	stop) systemctl stop uffdd.service || fail "systemctl stop" ;;
	esac
	log "$how took $(elapsed "$t0") s"
	touch /run/ic.go
	wait $cpid; rc=$?
	out=$(cat /tmp/ic.json)
	log "$how: $out"
	[ $rc -eq 0 ] || fail "$how: image-check rc=$rc (1: a page not right-or-SIGBUS as expected, 4: a read hung) $out $(cat /tmp/ic.err)"
	case $how in
	stop) [ "$(echo "$out" | jq -r .took_over)" = true ] || fail "stop: the library did not take over" ;;
	*) [ "$(echo "$out" | jq -r .took_over)" = false ] || fail "$how: the session did not survive (the library took over)" ;;
	esac
}

one_round restart
one_round kill
one_round stop
pass "an image's client across restart, SIGKILL and stop: cached pages right, the others SIGBUS, no zeros, no hang; a new client gets every byte"
