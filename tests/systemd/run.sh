#!/bin/bash
# Run uffdd's tests under a real systemd: boot a cached Debian root with
# systemd-nspawn once per test, with the staged install tree bound in, and let
# e2e@TEST.service run tests/systemd/in/t-TEST.sh and end the boot; the
# container's exit status is the verdict (0 pass, 77 skip, else fail).
#
# Usage: run.sh --stage DIR --testbin DIR [--logdir DIR] [TEST...]
#   --stage    tree from `make install install-systemd DESTDIR=DIR PREFIX=/usr`
#   --testbin  directory with the test programs (fault-loop)
#   --logdir   where each test's console log and journal go
#   TEST       names of tests/systemd/in/t-NAME.sh (default: all, in order)
# Environment: UFFDD_NSPAWN_ROOT (cache dir of the root),
#   UFFDD_SYSTEMD_HUGEPAGES (2 MiB pages to have free on the host, 320),
#   UFFDD_SYSTEMD_TIMEOUT (seconds per boot, 180),
#   UFFDD_SYSTEMD_FORCE=1 (run the fd-store tests even if `uffdd --version`
#   does not claim fd store support).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STAGE= TESTBIN= LOGDIR=
TESTS=()
while [ $# -gt 0 ]; do
	case $1 in
	--stage) STAGE=$2; shift 2 ;;
	--testbin) TESTBIN=$2; shift 2 ;;
	--logdir) LOGDIR=$2; shift 2 ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) TESTS+=("$1"); shift ;;
	esac
done
[ -n "$STAGE" ] && [ -n "$TESTBIN" ] || { echo "run.sh: --stage and --testbin are required" >&2; exit 2; }
STAGE=$(cd "$STAGE" && pwd) TESTBIN=$(cd "$TESTBIN" && pwd)
LOGDIR=${LOGDIR:-$STAGE/../systemd-logs}
mkdir -p "$LOGDIR" && LOGDIR=$(cd "$LOGDIR" && pwd)
ALL=(boot verify activation reload stop watchdog restart crash bounds content images)
[ ${#TESTS[@]} -gt 0 ] || TESTS=("${ALL[@]}")
PER_BOOT=${UFFDD_SYSTEMD_TIMEOUT:-180}

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (systemd-nspawn)" >&2; exit 2; }
[ -e /dev/userfaultfd ] || { echo "run.sh: no /dev/userfaultfd (Linux 6.1+ with CONFIG_USERFAULTFD)" >&2; exit 2; }

t_start=$(date +%s)
ROOT=$("$HERE/mkroot.sh") || { echo "run.sh: cannot build the container root" >&2; exit 1; }

# Hugepages: the container shares the host's pool and cannot change it, so
# reserve here, and give back only what this run added.
NEED=${UFFDD_SYSTEMD_HUGEPAGES:-320}
HP=/proc/sys/vm/nr_hugepages
hp_orig=$(cat $HP)
hp_free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
hp_changed=
restore_hugepages() {
	[ -n "$hp_changed" ] && echo "$hp_orig" >$HP 2>/dev/null
	rm -rf /run/systemd/nspawn/propagate/nspawn-root 2>/dev/null
}
trap restore_hugepages EXIT
trap 'exit 130' INT TERM
if [ "$hp_free" -lt "$NEED" ]; then
	want=$((hp_orig + NEED - hp_free))
	echo "$want" >$HP
	hp_changed=1
	echo "run.sh: vm.nr_hugepages $hp_orig -> $(cat $HP) (need $NEED free)"
fi

npass=0 nfail=0 nskip=0
failed=()
for t in "${TESTS[@]}"; do
	if [ ! -x "$HERE/in/t-$t.sh" ]; then
		echo "FAIL $t: no test tests/systemd/in/t-$t.sh"
		nfail=$((nfail + 1)); failed+=("$t")
		continue
	fi
	rm -f "$LOGDIR/$t.log" "$LOGDIR/$t.journal"
	s=$(date +%s.%N)
	# --register=no --keep-unit: no machined/scope needed (PID 1 on the host
	# need not be systemd).  --volatile=overlay: the cached root stays
	# pristine; every boot starts from it.
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 timeout -k 10 "$PER_BOOT" \
		systemd-nspawn -q -D "$ROOT" --volatile=overlay --register=no --keep-unit \
		--console=read-only \
		--bind-ro="$STAGE:/opt/uffdd" \
		--bind-ro="$HERE/in:/opt/uffdd-tests" \
		--bind-ro="$TESTBIN:/opt/uffdd-testbin" \
		--bind="$LOGDIR:/opt/out" \
		--bind-ro="$HERE/e2e@.service:/etc/systemd/system/e2e@.service" \
		--bind=/dev/userfaultfd \
		-b -- "systemd.wants=e2e@$t.service" systemd.show_status=no \
		systemd.log_target=journal ${UFFDD_SYSTEMD_FORCE:+systemd.setenv=UFFDD_SYSTEMD_FORCE=$UFFDD_SYSTEMD_FORCE} \
		</dev/null 2>&1 |
		tr -d '\r' | grep --line-buffered -v 'Attempted to remove disk file system' |
		tee "$LOGDIR/$t.log" | grep --line-buffered -E '^(\[|PASS |FAIL |SKIP )'
	rc=${PIPESTATUS[0]}
	secs=$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) npass=$((npass + 1)) ;;
	77) nskip=$((nskip + 1)) ;;
	*)
		nfail=$((nfail + 1)); failed+=("$t")
		# the container's own console (systemd's messages) tells why
		grep -v -E '^(\[|PASS |FAIL |SKIP )' "$LOGDIR/$t.log" | tail -n 15 | sed 's/^/  | /'
		grep -q "^FAIL $t:" "$LOGDIR/$t.log" ||
			echo "FAIL $t: container exited with $rc$([ "$rc" = 124 ] && echo " (timed out after ${PER_BOOT}s)")"
		;;
	esac
	echo "--- $t: exit $rc in ${secs}s (log: $LOGDIR/$t.log, journal: $LOGDIR/$t.journal)"
done

echo "check-systemd: $npass passed, $nfail failed, $nskip skipped in $(( $(date +%s) - t_start ))s${failed:+ (failed: ${failed[*]})}"
[ "$nfail" -eq 0 ]
