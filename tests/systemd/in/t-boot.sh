#!/bin/bash
# The container itself: systemd is PID 1 and socket activation, Type=notify
# and the device node work here.  Needs nothing of uffdd, so a failure here
# is the harness's, not the daemon's.
. /opt/uffdd-tests/lib.sh

[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd"
[ -c /dev/userfaultfd ] || fail "no /dev/userfaultfd in the container"

# A throwaway socket-activated unit (a FIFO, so that bash can be its client)
# and a Type=notify one that reports READY=1 and STATUS= the way uffdd does.
cat >/run/systemd/system/boot-fifo.socket <<'EOF'
[Socket]
ListenFIFO=/run/boot.fifo
EOF
cat >/run/systemd/system/boot-fifo.service <<'EOF'
[Service]
ExecStart=/bin/sh -c 'read l; echo "got:$l" >/run/boot.out'
StandardInput=socket
StandardOutput=journal
EOF
cat >/run/systemd/system/boot-notify.service <<'EOF'
[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh -c 'systemd-notify --ready --status="up"; exec sleep infinity'
EOF
systemctl daemon-reload
systemctl start boot-fifo.socket || fail "boot-fifo.socket did not start"
[ "$(prop ActiveState boot-fifo.service)" = inactive ] || fail "boot-fifo.service active before use"
echo hello >/run/boot.fifo
wait_for 5 test -s /run/boot.out || fail "socket activation: boot-fifo.service never ran"
[ "$(cat /run/boot.out)" = "got:hello" ] || fail "socket activation: got '$(cat /run/boot.out)'"
timeout 10 systemctl start boot-notify.service || fail "Type=notify unit did not get ready"
[ "$(prop StatusText boot-notify.service)" = up ] || fail "STATUS= not seen"
pass "systemd $(systemctl --version | head -n1 | cut -d' ' -f2) is PID 1; sockets, Type=notify and /dev/userfaultfd work"
