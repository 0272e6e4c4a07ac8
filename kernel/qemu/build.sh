#!/bin/bash
# SPDX-License-Identifier: MIT
# Build the small x86_64 test kernel, with the series (patched) or without it
# (unpatched).  Prints the path of the bzImage on stdout.
#
#   kernel/qemu/build.sh patched|unpatched
#
# The result is cached under $UFFDD_KCACHE/images/<variant>-<hash>/, the hash
# covering the series, the config fragment and this script, so a second run
# with nothing changed costs a sha256sum.
. "$(dirname "$0")/common.sh"

variant=${1:-patched}
case "$variant" in patched|unpatched) ;; *) die "usage: $0 patched|unpatched" ;; esac

hash=$(build_hash "$variant")
img=$UFFDD_KCACHE/images/$variant-$hash
if [ -f "$img/bzImage" ]; then
	log "$variant kernel cached: $img/bzImage"
	echo "$img/bzImage"
	exit 0
fi

need_pkgs gcc make flex bison bc libelf-dev libssl-dev xz-utils patch
tarball=$("$KDIR/qemu/fetch-source.sh")

# One source tree per variant, re-made only when its inputs change, so that a
# rebuild after an unrelated edit is incremental.
tree=$UFFDD_KCACHE/build/$variant
src=$tree/src
obj=$tree/obj
stamp_want="$(basename "$tarball") $( [ "$variant" = patched ] && series_hash || echo none)"
if [ "$(cat "$tree/stamp" 2>/dev/null)" != "$stamp_want" ]; then
	log "unpacking $(basename "$tarball") for the $variant kernel"
	rm -rf "$tree"
	mkdir -p "$src" "$obj"
	tar -xJf "$tarball" -C "$src" --strip-components=1
	if [ "$variant" = patched ]; then
		while read -r p; do
			case "$p" in ''|\#*) continue ;; esac
			log "applying $p"
			# No fuzz: a series that needs fuzz to apply is a series to refresh.
			patch -d "$src" -p1 -F0 -s --no-backup-if-mismatch <"$PATCHDIR/$p" ||
				die "$p does not apply cleanly to $(basename "$tarball")"
		done <"$PATCHDIR/series"
	fi
	echo "$stamp_want" >"$tree/stamp"
fi

# gcc 12 is newer than 5.10: keep its new warnings from being fatal anywhere
# a Makefile adds -Werror, and keep objtool's complaints as warnings.
kmake() {
	nice -n 10 make -s -C "$src" O="$obj" ARCH=x86_64 -j"$JOBS" \
		KCFLAGS="-Wno-error -Wno-array-bounds -Wno-stringop-overflow -Wno-use-after-free -Wno-dangling-pointer" \
		"$@"
}

t0=$(date +%s)
if [ ! -f "$obj/.config.fragment" ] || ! cmp -s "$FRAGMENT" "$obj/.config.fragment"; then
	kmake tinyconfig >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$FRAGMENT" >/dev/null
	kmake olddefconfig >/dev/null
	# Kconfig silently drops options whose dependencies are unmet: refuse that.
	bad=0
	while IFS= read -r line; do
		case "$line" in CONFIG_*=n) opt=${line%%=*}
			grep -q "^$opt=" "$obj/.config" && { log "config: $opt still set"; bad=1; } ;;
		CONFIG_*) grep -qx "$line" "$obj/.config" || { log "config: wanted $line, got $(grep "^${line%%=*}=" "$obj/.config" || echo unset)"; bad=1; } ;;
		esac
	done <"$FRAGMENT"
	[ $bad = 0 ] || die "config fragment not satisfied"
	cp "$FRAGMENT" "$obj/.config.fragment"
fi
log "building the $variant kernel (make -j$JOBS, nice)"
kmake bzImage 2>"$tree/build.log" || { tail -n 40 "$tree/build.log" >&2; die "$variant kernel build failed (log: $tree/build.log)"; }
t1=$(date +%s)
mkdir -p "$img"
cp "$obj/arch/x86/boot/bzImage" "$img/bzImage.tmp"
cp "$obj/.config" "$img/config"
mv "$img/bzImage.tmp" "$img/bzImage"
log "$variant kernel built in $((t1 - t0)) s: $img/bzImage"
echo "$img/bzImage"
