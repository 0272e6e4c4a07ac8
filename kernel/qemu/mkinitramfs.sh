#!/bin/bash
# SPDX-License-Identifier: MIT
# Make the test initramfs: busybox for the shell, guest-init.sh as /init,
# the given binaries in /opt/uffdd with every shared library ldd lists (and
# the loader), so the guest runs exactly what was built here.
#
#   kernel/qemu/mkinitramfs.sh OUT.cpio.gz BINARY...
. "$(dirname "$0")/common.sh"

out=$1
shift
need_pkgs busybox-static cpio gzip

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,run,tmp,opt/uffdd}
cp /bin/busybox "$stage/bin/busybox"
install -m 0755 "$KDIR/qemu/guest-init.sh" "$stage/init"

copy_lib() { # copy a library to the same path in the image, once
	[ -e "$stage$1" ] && return 0
	mkdir -p "$stage$(dirname "$1")"
	cp -L "$1" "$stage$1"
}

for b in "$@"; do
	[ -x "$b" ] || die "not an executable: $b"
	cp "$b" "$stage/opt/uffdd/"
	# ldd prints "name => /path (addr)" and "/lib64/ld-linux... (addr)"
	{ ldd "$b" 2>/dev/null || true; } | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' |
		while read -r lib; do copy_lib "$lib"; done
done
# Debian's loader path is a symlink chain: keep /lib64 as a directory.
# Data for the guest's tests (check.sh): copied to /opt/extra.
if [ -n "${UFFDD_GUEST_EXTRA:-}" ]; then
	cp -a "$UFFDD_GUEST_EXTRA" "$stage/opt/extra"
fi
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
log "initramfs $(du -h "$out" | cut -f1): $out"
