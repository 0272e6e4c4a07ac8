#!/bin/bash
# `systemctl restart uffdd` while a client has threads faulting in a loop
# over a large hugetlb region: every byte verified, no thread stuck, the
# client still registered afterwards, and the longest stall close to the
# restart itself.  Needs the daemon's fd store support.
. /opt/uffdd-tests/lib.sh
setup_uffdd
fdstore_supported || skip "expected to fail until uffdd keeps sessions in the fd store ($(uffdd --version 2>&1 | head -n1))"
need_hugepages 272

ok_touch "activate" --kind shmem --size 8M || fail "first client"
pid=$(main_pid)
$TESTBIN/fault-loop --socket "$SOCK" --kind hugetlb --size 512M --threads 4 --duration 6 \
	--stuck-after 20 --expect-connected --name restart-loop >/tmp/loop.json 2>/tmp/loop.err &
lpid=$!
sleep 1
# A policy changed at run time must survive the restart (fd store).
uffdctl policy restart-loop around:2 >/dev/null || fail "uffdctl policy failed"
sleep 1
t0=$(now)
systemctl restart uffdd.service || fail "systemctl restart failed"
trs=$(elapsed "$t0")
npid=$(main_pid)
[ "$npid" != "$pid" ] || fail "restart kept pid $pid"
log "restart took $trs s (pid $pid -> $npid)"
wait_for 5 sh -c "uffdctl -j status | jq -e '[.clients[] | select(.pid == $lpid)] | length == 1' >/dev/null" ||
	fail "client $lpid not registered with the new instance: $(uffdctl -j status | jq -c .clients)"
log "client $lpid registered with the new instance: $(uffdctl -j status | jq -c "[.clients[] | select(.pid == $lpid) | {pid, regions: (.regions | length)}]")"
pol=$(uffdctl -j regions | jq -r '.[] | select(.name == "restart-loop") | .policy')
[ "$pol" = around:2 ] || fail "policy after the restart is \"$pol\", not the around:2 set before it"

wait $lpid; lrc=$?
loop=$(cat /tmp/loop.json)
echo "$loop" | jq -c '{size,threads,touches,bytes_verified,mismatches,stuck_threads,max_stall_ms:(.max_stall_ns/1e6),p50_touch_ns_le,connected_end,top_stalls}'
[ $lrc -eq 0 ] || fail "fault-loop: rc=$lrc $loop $(cat /tmp/loop.err)"
stall=$(echo "$loop" | jq '.max_stall_ns/1e9')
awk -v s="$stall" -v r="$trs" 'BEGIN { exit !(s < r + 1.0) }' || fail "longest stall $stall s, restart $trs s"
pass "restart in $trs s under load: $(echo "$loop" | jq .bytes_verified) bytes verified, longest stall $stall s, client still registered"
