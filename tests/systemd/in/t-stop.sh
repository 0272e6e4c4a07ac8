#!/bin/bash
# `systemctl stop uffdd.service` while clients are faulting: they carry on
# with their memory served by the kernel, nothing hangs, every byte stays
# right.  Stop empties the fd store, so their sessions end (unlike restart).
# With the sockets stopped too, a client falls back to plain memory.
. /opt/uffdd-tests/lib.sh
setup_uffdd
need_hugepages 96

ok_touch "activate" --kind shmem --size 8M || fail "first client"
$TESTBIN/fault-loop --socket "$SOCK" --kind hugetlb --size 128M --threads 2 --duration 4 \
	--stuck-after 20 --name stop-loop >/tmp/loop.json 2>/tmp/loop.err &
lpid=$!
uffd-touch --socket "$SOCK" --kind hugetlb --size 32M --hold 2 --name stop-hold >/tmp/hold.json 2>&1 &
hpid=$!
sleep 1
wait_for 5 sh -c '[ "$(uffdctl -j status | jq ".clients | length")" -ge 2 ]' || fail "clients not registered before stop"
t0=$(now)
systemctl stop uffdd.service || fail "systemctl stop failed"
log "stop took $(elapsed "$t0") s"

wait $hpid; hrc=$?
hold_done=$(elapsed "$t0")
[ $hrc -eq 0 ] && [ "$(jq -r .verified /tmp/hold.json)" = true ] || fail "uffd-touch across stop: rc=$hrc $(cat /tmp/hold.json)"
awk -v e="$hold_done" 'BEGIN { exit !(e < 5) }' || fail "uffd-touch needed $hold_done s after stop"
log "uffd-touch (holding its region) exited $hold_done s after stop, verified"

wait $lpid; lrc=$?
[ $lrc -eq 0 ] || fail "fault-loop across stop: rc=$lrc $(cat /tmp/loop.json /tmp/loop.err)"
loop=$(cat /tmp/loop.json)
[ "$(echo "$loop" | jq .stuck_threads)" = 0 ] || fail "fault-loop threads stuck: $loop"
[ "$(echo "$loop" | jq .mismatches)" = 0 ] || fail "fault-loop mismatches: $loop"
log "fault-loop across stop: $(echo "$loop" | jq -c '{touches,bytes_verified,mismatches,stuck_threads,max_stall_ms:(.max_stall_ns/1e6),connected_end}')"

# The sockets still listen: the next client starts a new instance.
ok_touch "after stop (re-activates)" --kind shmem --size 8M || fail "no re-activation after stop"
is_active || fail "not re-activated"

# Everything stopped: a client with --fallback runs on plain memory.
systemctl stop uffdd.socket uffdd-control.socket uffdd.service
out=$(timeout 30 uffd-touch --socket "$SOCK" --kind shmem --size 8M --fallback 2>/tmp/fb.err) ||
	fail "fallback client: $out $(cat /tmp/fb.err)"
[ "$(echo "$out" | jq -r .verified)" = true ] || fail "fallback client: $out"
log "all stopped, --fallback client: $(echo "$out" | jq -c '{verified,served}')"
pass "clients carried on after stop (none hung, all bytes verified; max stall $(echo "$loop" | jq '.max_stall_ns/1e6') ms)"
