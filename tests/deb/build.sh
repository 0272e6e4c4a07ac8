#!/bin/bash
# build.sh OUT: the Debian packages of this tree, built in a copy under OUT
# (the files git knows, as they are in the working tree) with
# `dpkg-buildpackage -us -uc`, so the tree and its build directories stay as
# they are.  Installs dpkg-dev and the build dependencies from apt when they
# are missing.  Leaves OUT/*.deb, *.changes, the source package and build.log.
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"

need() {
	local missing=() p
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "deb: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}
need dpkg-dev
# debian/control's Build-Depends, build profiles dropped (all are wanted here).
bdeps=$(sed -n '/^Build-Depends:/,/^[A-Z][A-Za-z-]*:/{ /^Build-Depends:/{ s/^Build-Depends://; p; d }; /^[A-Z]/d; p }' \
	debian/control | tr '\n' ' ' | sed 's/<[^>]*>//g')
if ! dpkg-checkbuilddeps >/dev/null 2>&1; then
	echo "deb: installing the build dependencies"
	DEBIAN_FRONTEND=noninteractive apt-get satisfy -y -q --no-install-recommends "$bdeps" >/dev/null ||
		{ apt-get update -q >/dev/null &&
			DEBIAN_FRONTEND=noninteractive apt-get satisfy -y -q --no-install-recommends "$bdeps" >/dev/null; }
fi

version=$(dpkg-parsechangelog -S Version)
upstream=$(sed -n 's/^VERSION := //p' Makefile)
[ "$version" = "$upstream" ] || {
	echo "deb: debian/changelog says $version, the Makefile's VERSION $upstream" >&2
	exit 1
}
rm -rf "$out"
src=$out/uffdd-$version
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf - | tar -C "$src" -xf -
else
	tar --exclude=./build --exclude=./build-asan -cf - . | tar -C "$src" -xf -
fi
echo "deb: dpkg-buildpackage -us -uc in $src (log: $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log"
	echo "deb: dpkg-buildpackage failed (full log: $out/build.log)" >&2
	exit 1
fi
rm -rf "$src"
ls -1 "$out"
