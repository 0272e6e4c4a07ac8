#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the test initramfs (see check.sh).  Runs the ABI tests and the
# uffdd end-to-end test on the booted kernel, prints everything on the
# serial console, and hands the verdict back through isa-debug-exit:
# 0x10 = pass (QEMU exits 33), 0x11 = fail (QEMU exits 35).
#
# Mode, from the kernel command line:
#   uffdd_check=patched    everything must work, counts must be exact
#   uffdd_check=unpatched  the kernel lacks minor faults: the ABI tests must
#                          skip and uffdd must refuse to start, naming it
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin:/opt/uffdd
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /run /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp

mode=$(sed -n 's/.*uffdd_check=\([a-z]*\).*/\1/p' /proc/cmdline)
fail=0
say() { echo "KCHECK: $*"; }
bad() { echo "KCHECK: FAIL: $*"; fail=1; }

say "kernel $(uname -r) ($(uname -v)), mode $mode, $(nproc) cpus"

# 64 MiB of hugetlb for uffd-touch (32 pages), the ABI tests' 18 and the
# hugetlb image's cache (4).
echo 96 > /proc/sys/vm/nr_hugepages
say "hugepages: $(grep -E 'HugePages_(Total|Free)' /proc/meminfo | tr -s ' \n' ' ')"

say "uffdctl check-kernel:"
uffdctl check-kernel
ck=$?
say "uffdctl check-kernel exit $ck"

run_abi() { # $1 = test, $2 = wanted exit status
	"$1"
	rc=$?
	say "$1 exit $rc (want $2)"
	[ "$rc" = "$2" ] || bad "$1 exited $rc, wanted $2"
}

# Value of "key" in the JSON object "totals" of `uffdctl status`.
total() {
	tr -d ' \n' <"$2" | sed -n 's/.*"totals":{\([^}]*\)}.*/\1/p' |
		sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

e2e() { # $1 = kind, $2 = pages (= faults with the continue policy)
	kind=$1 want=$2
	rm -f /run/uffdd.sock /run/uffdd-ctl.sock
	uffdd --no-config --socket /run/uffdd.sock --control-socket /run/uffdd-ctl.sock \
		--workers 2 2>/tmp/uffdd-$kind.log &
	pid=$!
	i=0
	while [ ! -S /run/uffdd-ctl.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S /run/uffdd-ctl.sock ] || { bad "uffdd did not start"; cat /tmp/uffdd-$kind.log; return; }
	uffd-touch --socket /run/uffdd.sock --kind "$kind" --size 64M --policy continue \
		--name "e2e-$kind" >/tmp/touch-$kind.json
	rc=$?
	say "uffd-touch $kind 64M exit $rc: $(cat /tmp/touch-$kind.json)"
	[ "$rc" = 0 ] || bad "uffd-touch $kind exited $rc"
	uffdctl -j --control-socket /run/uffdd-ctl.sock status >/tmp/status-$kind.json
	say "uffdctl status after $kind: $(tr -d '\n' </tmp/status-$kind.json | tr -s ' ')"
	faults=$(total faults /tmp/status-$kind.json)
	pages=$(total pages_mapped /tmp/status-$kind.json)
	errors=$(total errors /tmp/status-$kind.json)
	say "$kind totals: faults=$faults pages_mapped=$pages errors=$errors (want $want/$want/0)"
	[ "$faults" = "$want" ] && [ "$pages" = "$want" ] && [ "$errors" = 0 ] ||
		bad "$kind totals faults=$faults pages_mapped=$pages errors=$errors, wanted $want/$want/0"
	kill -TERM $pid
	wait $pid
	rc=$?
	say "uffdd stopped, exit $rc"
	[ "$rc" = 0 ] || bad "uffdd exited $rc on SIGTERM"
	sed 's/^/uffdd: /' /tmp/uffdd-$kind.log
}

# Images from the file: store check.sh put in /opt/extra: a cold
# client and a warm one per kind, every byte checked, the image fetched
# once (bytes_fetched is its size).
images() {
	rm -f /run/uffdd.sock /run/uffdd-ctl.sock
	echo '{"images":{"store":"file:/opt/extra/store"}}' >/tmp/images.json
	uffdd --config /tmp/images.json --socket /run/uffdd.sock \
		--control-socket /run/uffdd-ctl.sock --workers 2 2>/tmp/uffdd-images.log &
	pid=$!
	i=0
	while [ ! -S /run/uffdd-ctl.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S /run/uffdd-ctl.sock ] || { bad "uffdd (images) did not start"; cat /tmp/uffdd-images.log; return; }
	for kind in shmem hugetlb; do
		for run in cold warm; do
			uffd-touch --socket /run/uffdd.sock --image kimg --kind $kind \
				--expect /opt/extra/kimg.bin >/tmp/img-$kind-$run.json
			rc=$?
			say "image $kind $run exit $rc: $(cat /tmp/img-$kind-$run.json)"
			[ "$rc" = 0 ] || bad "uffd-touch --image ($kind, $run) exited $rc"
		done
	done
	uffdctl -j --control-socket /run/uffdd-ctl.sock images >/tmp/images-status.json
	say "uffdctl images: $(tr -d '\n' </tmp/images-status.json | tr -s ' ')"
	n=$(tr -d ' \n' </tmp/images-status.json | grep -o '"bytes_fetched":8388608' | wc -l)
	[ "$n" = 2 ] || bad "each kind's cache should have fetched the 8 MiB image once ($n of 2)"
	kill -TERM $pid
	wait $pid
	say "uffdd (images) stopped, exit $?"
	sed 's/^/uffdd: /' /tmp/uffdd-images.log
}

case "$mode" in
patched)
	[ "$ck" = 0 ] || bad "uffdctl check-kernel says no minor faults"
	run_abi abi-register 0
	run_abi abi-minor 0
	run_abi abi-image 0
	e2e hugetlb 32
	e2e shmem 16384
	images
	;;
unpatched)
	[ "$ck" != 0 ] || bad "uffdctl check-kernel accepts a kernel without minor faults"
	run_abi abi-register 77
	run_abi abi-minor 77
	run_abi abi-image 77
	uffdd --no-config --socket /run/uffdd.sock --control-socket /run/uffdd-ctl.sock \
		>/tmp/refuse.log 2>&1 &
	pid=$!
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	if kill -0 $pid 2>/dev/null; then
		bad "uffdd still running on a kernel without minor faults"
		kill -KILL $pid
	fi
	wait $pid
	rc=$?
	sed 's/^/uffdd: /' /tmp/refuse.log
	say "uffdd exit $rc"
	[ "$rc" != 0 ] || bad "uffdd exited 0 on a kernel without minor faults"
	grep -qi 'minor' /tmp/refuse.log || bad "uffdd's message does not name the missing minor-fault feature"
	;;
*)
	bad "unknown mode '$mode'"
	;;
esac

if [ "$fail" = 0 ]; then
	say "VERDICT PASS ($mode)"
	guest-exit 16
else
	say "VERDICT FAIL ($mode)"
	guest-exit 17
fi
