#!/bin/bash
# Regions whose contents the daemon makes (populate, gate) across the
# daemon's loss under a real systemd: `systemctl restart`, a SIGKILL that
# Restart=on-failure answers, and `systemctl stop`.  Every page of the
# populate region must hold the image's bytes afterwards, never zeros; a page
# the client wrote after it was filled (and whose page tables it dropped)
# must not be filled again by a restarted daemon (the page-state file in the
# fd store); published gate pages come at once, an unpublished one waits for
# its publish.  On restart and crash the session lives on; on stop the
# client library takes the regions over.  A record region's trace goes on
# across a restart (never truncated, one header); a crash loses what the
# daemon had not yet written (its buffer), never what it had.
. /opt/uffdd-tests/lib.sh
setup_uffdd
fdstore_supported || skip "needs the fd store ($(uffdd --version 2>&1 | head -n1))"

ok_touch "activate" --kind shmem --size 8M || fail "first client"

# one_round HOW: content-check across HOW (restart | kill | stop).
one_round() {
	local how=$1 pid cpid rc out t0
	rm -f /run/cc.ready /run/cc.go
	# The files on tmpfs: a client's file must be on a local file system
	# the daemon's reads cannot be held up on (overlay is not one).
	$TESTBIN/content-check --socket "$SOCK" --image /run/cc.img --size 32 \
		--trace /run/cc.trace --ready /run/cc.ready --go /run/cc.go \
		>/tmp/cc.json 2>/tmp/cc.err &
	cpid=$!
	wait_for 20 test -e /run/cc.ready || fail "$how: content-check not ready: $(cat /tmp/cc.err)"
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
	touch /run/cc.go
	wait $cpid; rc=$?
	out=$(cat /tmp/cc.json)
	log "$how: $out"
	[ $rc -eq 0 ] || fail "$how: content-check rc=$rc $out $(cat /tmp/cc.err)"
	case $how in
	stop) [ "$(echo "$out" | jq -r .connected)" = false ] || fail "stop: still connected" ;;
	*) [ "$(echo "$out" | jq -r .connected)" = true ] || fail "$how: the session did not survive" ;;
	esac
	[ "$(echo "$out" | jq .trace_headers)" = 1 ] || fail "$how: the trace was started anew"
	case $how in
	restart) [ "$(echo "$out" | jq '.trace_pages_before + .trace_pages_after')" = 20 ] ||
		fail "restart: the trace lost pages" ;;
	kill) [ "$(echo "$out" | jq .trace_pages_after)" = 10 ] || fail "kill: the trace did not go on" ;;
	stop) [ "$(echo "$out" | jq .trace_pages_before)" = 10 ] || fail "stop: the trace lost pages" ;;
	esac
}

one_round restart
one_round kill
one_round stop
pass "populate and gate across restart, SIGKILL and stop: every page right, none filled twice, none published lost; the trace goes on"
