#!/bin/bash
# SPDX-License-Identifier: MIT
# make check-kernel: build 5.10 with and without the series (cached), boot
# both under QEMU with an initramfs holding the ABI tests and uffdd,
# uffdctl, uffd-touch, and check the guests' verdicts:
#   patched:   ABI tests pass, uffdd serves 64 MiB of hugetlb and of shmem
#              with exact fault/page counts;
#   unpatched: ABI tests skip, uffdd refuses to start naming minor faults.
#
#   kernel/qemu/check.sh BUILD_DIR
. "$(dirname "$0")/common.sh"

build=${1:-build}
out=$build/kernel
mkdir -p "$out"
t0=$(date +%s)

bins=()
for b in "$build/uffdd" "$build/uffdctl" "$build/uffd-touch" \
	"$build/tests/kernel/abi-minor" "$build/tests/kernel/abi-register" \
	"$build/tests/kernel/abi-image"; do
	[ -x "$b" ] || die "$b is missing: run make first"
	bins+=("$b")
done

patched=$("$KDIR/qemu/build.sh" patched)
t1=$(date +%s)
unpatched=$("$KDIR/qemu/build.sh" unpatched)
t2=$(date +%s)

# Images in the guest come from a file: store made here (uffd-image runs
# on the host only): an 8 MiB image of random bytes and its source.
[ -x "$build/uffd-image" ] || die "$build/uffd-image is missing: run make first"
rm -rf "$out/images"
mkdir -p "$out/images/store"
head -c 8388608 /dev/urandom >"$out/images/kimg.bin"
"$build/uffd-image" --store "file:$out/images/store" put kimg "$out/images/kimg.bin" >/dev/null ||
	die "uffd-image put failed"
export UFFDD_GUEST_EXTRA="$out/images"

need_pkgs gcc libc6-dev
# Static: the one guest program that must work whatever else is broken.
gcc -O2 -Wall -Wextra -Werror -static -o "$out/guest-exit" "$KDIR/qemu/guest-exit.c"
"$KDIR/qemu/mkinitramfs.sh" "$out/initramfs.cpio.gz" "${bins[@]}" "$out/guest-exit"

verdict=0
for mode in patched unpatched; do
	bz=$patched
	[ $mode = unpatched ] && bz=$unpatched
	log "booting the $mode kernel ($bz)"
	tb=$(date +%s)
	if "$KDIR/qemu/boot.sh" "$bz" "$out/initramfs.cpio.gz" $mode "$out/guest-$mode.log"; then
		log "$mode guest: PASS in $(($(date +%s) - tb)) s"
		# A WARN_ON or a "FAULT_FLAG_ALLOW_RETRY missing" splat is a
		# failure even if every test passed.
		if grep -n 'WARNING:\|BUG:\|Call Trace\|ALLOW_RETRY missing' "$out/guest-$mode.log"; then
			log "$mode guest: kernel warnings in the log"
			verdict=1
		fi
	else
		log "$mode guest: FAIL in $(($(date +%s) - tb)) s (log: $out/guest-$mode.log)"
		verdict=1
	fi
done
t3=$(date +%s)

echo
echo "=== check-kernel summary"
grep -h 'KCHECK: \(kernel\|.* totals\|.*exit\|VERDICT\|FAIL\)' "$out/guest-patched.log" "$out/guest-unpatched.log" || true
grep -h '^[0-9]* passed, ' "$out/guest-patched.log" || true
echo "kernel builds: patched $((t1 - t0)) s, unpatched $((t2 - t1)) s (0-1 s when cached); boots + tests $((t3 - t2)) s"
if [ $verdict = 0 ]; then
	echo "check-kernel: PASS"
else
	echo "check-kernel: FAIL"
fi
exit $verdict
