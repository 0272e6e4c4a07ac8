#!/bin/bash
# ExecStopPost= of e2e@.service: keep the boot's journal and the units' state
# in the harness's log directory, whatever the test's result.
name=${1:-unknown}
out=/opt/out
[ -d "$out" ] && [ -w "$out" ] || exit 0
{
	echo "# SERVICE_RESULT=${SERVICE_RESULT:-} EXIT_CODE=${EXIT_CODE:-} EXIT_STATUS=${EXIT_STATUS:-}"
	systemctl --no-pager status uffdd.service uffdd.socket uffdd-control.socket 2>&1
	echo
	journalctl -b --no-pager -o short-monotonic 2>&1
} >"$out/$name.journal"
exit 0
