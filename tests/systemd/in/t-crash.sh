#!/bin/bash
# Crash: SIGKILL the daemon while faults are in flight.  Restart=on-failure
# brings a new instance that takes the sessions back from the fd store and
# wakes every recovered range, so each blocked fault is served; none lost.
. /opt/uffdd-tests/lib.sh
setup_uffdd
fdstore_supported || skip "expected to fail until uffdd keeps sessions in the fd store ($(uffdd --version 2>&1 | head -n1))"
need_hugepages 272

ok_touch "activate" --kind shmem --size 8M || fail "first client"
pid=$(main_pid)
r0=$(prop NRestarts)
$TESTBIN/fault-loop --socket "$SOCK" --kind hugetlb --size 512M --threads 4 --duration 6 \
	--stuck-after 20 --expect-connected --name crash-loop >/tmp/loop.json 2>/tmp/loop.err &
lpid=$!
sleep 2
t0=$(now)
kill -KILL "$pid"
wait_for 10 sh -c "p=\$(systemctl show -p MainPID --value uffdd.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && [ \"\$(systemctl show -p SubState --value uffdd.service)\" = running ]" ||
	fail "no new instance 10 s after SIGKILL"
dt=$(elapsed "$t0")
r1=$(prop NRestarts)
[ "$r1" -gt "$r0" ] || fail "NRestarts did not grow"
log "new instance pid $(main_pid) $dt s after SIGKILL (NRestarts $r0 -> $r1)"

wait $lpid; lrc=$?
loop=$(cat /tmp/loop.json)
echo "$loop" | jq -c '{size,threads,touches,bytes_verified,mismatches,stuck_threads,max_stall_ms:(.max_stall_ns/1e6),connected_end,top_stalls}'
[ $lrc -eq 0 ] || fail "fault-loop: rc=$lrc $loop $(cat /tmp/loop.err)"
stall=$(echo "$loop" | jq '.max_stall_ns/1e9')
pass "SIGKILL under load: back in $dt s; $(echo "$loop" | jq .bytes_verified) bytes verified, no fault lost, longest stall $stall s"
