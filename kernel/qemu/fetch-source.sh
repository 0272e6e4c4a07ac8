#!/bin/bash
# SPDX-License-Identifier: MIT
# Fetch Debian bullseye's linux-source-5.10 tarball into the cache.
# Prints the path of the cached tarball on stdout.
#
# bullseye is added as its own apt source file (same mirror apt already uses,
# pinned low so nothing else is ever installed from it); we only
# `apt-get download` the one package, we never install it.
. "$(dirname "$0")/common.sh"

mkdir -p "$UFFDD_KCACHE"
existing=$(ls "$UFFDD_KCACHE"/linux-source-5.10*.tar.xz 2>/dev/null | sort -V | tail -n1 || true)
if [ -n "$existing" ]; then
	echo "$existing"
	exit 0
fi

list=/etc/apt/sources.list.d/uffdd-bullseye.list
pref=/etc/apt/preferences.d/uffdd-bullseye
if [ ! -f "$list" ]; then
	# Reuse the mirror the system already uses when we can read it.
	# (only live lines: URIs: in deb822 files, deb lines in one-line files)
	mirror=$( { sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
		sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?//p' /etc/apt/sources.list 2>/dev/null | cut -d' ' -f1
	} | grep -E '^https?://[^ ]+/debian/?$' | head -n1 || true)
	mirror=${mirror:-http://deb.debian.org/debian}
	log "adding bullseye apt source ($mirror) in $list"
	echo "deb ${mirror%/} bullseye main" >"$list"
	printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 1\n' >"$pref"
	apt-get update -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- \
		-o APT::Get::List-Cleanup=0 >&2
fi

work=$(mktemp -d); chmod 755 "$work"  # apt's _apt user downloads into it
trap 'rm -rf "$work"' EXIT
cd "$work"
log "downloading linux-source-5.10 from bullseye"
if ! apt-get download -t bullseye linux-source-5.10 >&2; then
	apt-get update -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >&2
	apt-get download -t bullseye linux-source-5.10 >&2
fi
deb=$(ls linux-source-5.10_*.deb)
dpkg-deb --fsys-tarfile "$deb" | tar -x --wildcards './usr/src/linux-source-5.10.tar.xz'
ver=${deb#linux-source-5.10_}; ver=${ver%_all.deb}
out=$UFFDD_KCACHE/linux-source-5.10_$ver.tar.xz
mv usr/src/linux-source-5.10.tar.xz "$out.tmp"
mv "$out.tmp" "$out"
log "cached $out"
echo "$out"
