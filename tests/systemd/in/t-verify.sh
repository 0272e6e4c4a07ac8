#!/bin/bash
# The installed units pass `systemd-analyze verify` with no output at all, the
# install put everything where it belongs with the intended owners and modes,
# and the sandbox's exposure score is what systemd/README.md says.
. /opt/uffdd-tests/lib.sh
setup_uffdd

U=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
units=("$U/uffdd.service" "$U/uffdd.socket" "$U/uffdd-control.socket")
for u in "${units[@]}"; do [ -f "$u" ] || fail "$u not installed"; done
# --man=no: the root has no man(1) to look the Documentation= pages up with
# (make check-man checks them).
out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze verify (rc=$rc): $out"
log "systemd-analyze verify: clean"

# Owners and modes of what the sockets and tmpfiles/sysusers made.
st() { stat -c '%a %U:%G' "$1"; }
getent group uffd >/dev/null || fail "sysusers: no group uffd"
getent group uffdadm >/dev/null || fail "sysusers: no group uffdadm"
[ "$(st /dev/userfaultfd)" = "660 root:uffd" ] || fail "/dev/userfaultfd is $(st /dev/userfaultfd)"
[ "$(st /run/uffdd/uffdd.sock)" = "666 root:root" ] || fail "data socket is $(st /run/uffdd/uffdd.sock)"
[ "$(st /run/uffdd/control.sock)" = "660 root:uffdadm" ] || fail "control socket is $(st /run/uffdd/control.sock)"
log "sockets: data $(st /run/uffdd/uffdd.sock), control $(st /run/uffdd/control.sock); /dev/userfaultfd $(st /dev/userfaultfd)"

# The score, as systemd computes it for the loaded unit and for the file.
online=$(systemd-analyze security --no-pager uffdd.service 2>&1 | sed -n 's/.*Overall exposure level for uffdd.service: //p')
offline=$(systemd-analyze security --offline=true --no-pager "$U/uffdd.service" 2>&1 | sed -n 's/.*Overall exposure level for uffdd.service: //p')
[ -n "$offline" ] || fail "no exposure figure from systemd-analyze security"
systemd-analyze security --no-pager uffdd.service 2>&1 | grep -E '^✗' | sed 's/^/  /'
score=${offline%% *}
awk -v s="$score" 'BEGIN { exit !(s <= 0.5) }' || fail "exposure $offline, above 0.5"
pass "verify clean; exposure $online (loaded unit), $offline (offline)"
