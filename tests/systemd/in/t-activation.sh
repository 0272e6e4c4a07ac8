#!/bin/bash
# Socket activation: the service is not running; a client connects; systemd
# starts it (Type=notify: the client's connection waits in the backlog until
# the daemon takes the socket) and it serves every fault.  Also: the sandbox
# is what the unit asks for, and clients' real uids are seen through it.
. /opt/uffdd-tests/lib.sh
setup_uffdd
need_hugepages 32

[ "$(prop ActiveState)" = inactive ] || fail "uffdd.service is $(prop ActiveState) before any client"
[ "$(prop ActiveState uffdd.socket)" = active ] || fail "uffdd.socket not listening"

t0=$(now)
ok_touch "first client (hugetlb)" --kind hugetlb --size 64M --threads 2 || fail "the first client was not served"
log "activation + first client: $(elapsed "$t0") s"
is_active || fail "uffdd.service is $(prop ActiveState)/$(prop SubState) after a client"
pid=$(main_pid)
ok_touch "shmem client" --kind shmem --size 16M --threads 2 || fail "shmem client"

# An unprivileged client: served, and seen under its own uid.
setpriv --reuid=65534 --regid=65534 --clear-groups \
	uffd-touch --socket "$SOCK" --kind shmem --size 8M --hold 3 --name nobody >/tmp/nobody.json 2>&1 &
cpid=$!
wait_for 5 sh -c 'uffdctl -j status 2>/dev/null | jq -e "[.clients[] | select(.uid == 65534)] | length > 0" >/dev/null' ||
	fail "unprivileged client not listed with uid 65534: $(uffdctl -j status 2>&1 | jq -c '.clients' 2>&1)"
wait $cpid || fail "unprivileged client: $(cat /tmp/nobody.json)"
[ "$(jq -r .verified /tmp/nobody.json)" = true ] || fail "unprivileged client: $(cat /tmp/nobody.json)"
log "uid 65534 client served and listed as uid 65534"

# A client in a unit of its own is named by that unit, although the
# daemon cannot read its /proc (ProtectProc=invisible): SO_PEERPIDFD +
# PIDFD_GET_INFO give its cgroup.
systemd-run --quiet --unit=uffdd-client-probe.service \
	uffd-touch --socket "$SOCK" --kind shmem --size 4M --hold 3 --name probe >/dev/null 2>&1 ||
	fail "systemd-run of a client failed"
wait_for 5 sh -c 'uffdctl -j status 2>/dev/null | jq -e "[.clients[] | select(.unit == \"uffdd-client-probe.service\")] | length == 1" >/dev/null' ||
	fail "client in uffdd-client-probe.service not seen with its unit: $(uffdctl -j status 2>&1 | jq -c '[.clients[] | {pid, comm, unit}]' 2>&1)"
log "a client in uffdd-client-probe.service is listed with that unit (comm $(uffdctl -j status | jq -r '.clients[] | select(.unit == "uffdd-client-probe.service") | .comm'))"

# The daemon's identity and sandbox, from the outside.
s=/proc/$pid/status
uid=$(awk '/^Uid:/ { print $2 }' $s)
groups=$(awk '/^Groups:/ { $1 = ""; print }' $s)
capeff=$(awk '/^CapEff:/ { print $2 }' $s)
capbnd=$(awk '/^CapBnd:/ { print $2 }' $s)
nnp=$(awk '/^NoNewPrivs:/ { print $2 }' $s)
seccomp=$(awk '/^Seccomp:/ { print $2 }' $s)
ugid=$(getent group uffd | cut -d: -f3)
[ "$uid" -ne 0 ] || fail "daemon runs as root"
echo " $groups " | grep -q " $ugid " || fail "daemon lacks the uffd group ($ugid): groups$groups"
[ "$capeff" = 0000000000000000 ] && [ "$capbnd" = 0000000000000000 ] || fail "capabilities eff=$capeff bnd=$capbnd"
[ "$nnp" = 1 ] && [ "$seccomp" = 2 ] || fail "NoNewPrivs=$nnp Seccomp=$seccomp"
log "daemon pid $pid: uid $uid (DynamicUser=), groups$groups, no capabilities, NoNewPrivs, seccomp filter"
# The grant path works under the sandbox: it opened /dev/userfaultfd.
journalctl -b -u uffdd.service -o cat | grep -q 'userfaultfd granted' ||
	log "note: no '/dev/userfaultfd granted' in the journal"

wait_for 5 sh -c '[ -n "$(systemctl show -p StatusText --value uffdd.service)" ]' || fail "no STATUS= from the daemon"
pass "activated by a client; served hugetlb, shmem, and uid 65534; status: $(prop StatusText)"
