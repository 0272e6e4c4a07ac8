#!/bin/bash
# SPDX-License-Identifier: MIT
# Boot a kernel with the test initramfs under QEMU (TCG), serial console to
# stdout and to LOG.  Exits with the guest's verdict: 0 if the guest passed
# (isa-debug-exit 0x10, QEMU status 33), 1 otherwise.
#
#   kernel/qemu/boot.sh BZIMAGE INITRAMFS MODE LOG
. "$(dirname "$0")/common.sh"

bz=$1 initrd=$2 mode=$3 logf=$4
need_pkgs qemu-system-x86

# pc (not q35): isa-debug-exit sits on the ISA bus.  oops=panic + panic=-1 +
# -no-reboot turn a kernel BUG into a quick QEMU exit 0, which counts as fail.
set +e
timeout "${KBOOT_TIMEOUT:-300}" qemu-system-x86_64 \
	-M pc -accel tcg -smp 2 -m 1024 \
	-display none -monitor none -serial stdio -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$bz" -initrd "$initrd" \
	-append "console=ttyS0 loglevel=5 oops=panic panic=-1 uffdd_check=$mode" \
	</dev/null | tee "$logf"
rc=${PIPESTATUS[0]}
set -e
case $rc in
33) exit 0 ;;
35) log "guest reported FAIL ($mode)" ;;
124) log "guest timed out ($mode)" ;;
0) log "guest rebooted or panicked without a verdict ($mode)" ;;
*) log "QEMU exited $rc ($mode)" ;;
esac
exit 1
