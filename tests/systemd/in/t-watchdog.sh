#!/bin/bash
# Watchdog: freeze the daemon (SIGSTOP).  Its workers stop beating, systemd
# times out after WatchdogSec, aborts and (TimeoutAbortSec later) kills it,
# and Restart=on-failure brings a new instance.  A client faulting meanwhile
# recovers: without the fd store its session is gone and the kernel serves
# it; with the fd store the new instance adopts it.
. /opt/uffdd-tests/lib.sh
setup_uffdd
need_hugepages 80

ok_touch "activate" --kind shmem --size 8M || fail "first client"
pid=$(main_pid)
wd=$(prop WatchdogUSec)
r0=$(prop NRestarts)
exp=()
fdstore_supported && exp=(--expect-connected)
$TESTBIN/fault-loop --socket "$SOCK" --kind hugetlb --size 128M --threads 2 --duration 14 \
	--stuck-after 30 --name wd-loop "${exp[@]}" >/tmp/loop.json 2>/tmp/loop.err &
lpid=$!
sleep 1
t0=$(now)
kill -STOP "$pid"
log "froze pid $pid (WatchdogSec=$wd)"
wait_for 25 sh -c "p=\$(systemctl show -p MainPID --value uffdd.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && [ \"\$(systemctl show -p SubState --value uffdd.service)\" = running ]" ||
	fail "no new instance within 25 s: $(prop ActiveState)/$(prop SubState) MainPID=$(main_pid)"
dt=$(elapsed "$t0")
r1=$(prop NRestarts)
[ "$r1" -gt "$r0" ] || fail "NRestarts did not grow ($r0 -> $r1)"
journalctl -b -u uffdd.service -o cat | grep -i -m1 'watchdog' | sed 's/^/  journal: /'
log "new instance pid $(main_pid) $dt s after the freeze, NRestarts $r0 -> $r1"
# WatchdogSec (5 s) + TimeoutAbortSec (3 s) + RestartSec, with some slack.
awk -v e="$dt" 'BEGIN { exit !(e < 12) }' || fail "restart took $dt s"

wait $lpid; lrc=$?
loop=$(cat /tmp/loop.json)
log "fault-loop: $(echo "$loop" | jq -c '{touches,bytes_verified,mismatches,stuck_threads,max_stall_ms:(.max_stall_ns/1e6),connected_end}')"
[ $lrc -eq 0 ] || fail "fault-loop across the watchdog restart: rc=$lrc $loop $(cat /tmp/loop.err)"
ok_touch "new instance serves" --kind hugetlb --size 32M --threads 2 || fail "new instance does not serve"
pass "frozen daemon replaced after $dt s (NRestarts $r0 -> $r1); client recovered, max stall $(echo "$loop" | jq '.max_stall_ns/1e9') s"
