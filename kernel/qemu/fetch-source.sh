#!/bin/bash
# SPDX-License-Identifier: MIT
# Fetch Debian bullseye's linux-source-5.10 tarball into the cache.
# Prints the path of the cached tarball on stdout.
#
# apt runs with a private configuration: bullseye's source list, package
# lists and download cache live in a scratch directory that goes at exit, so
# /etc/apt and /var/lib/apt never learn about bullseye.  Only the one
# package is downloaded (never installed), and only its tarball is kept.
. "$(dirname "$0")/common.sh"

mkdir -p "$UFFDD_KCACHE"
existing=$(ls "$UFFDD_KCACHE"/linux-source-5.10*.tar.xz 2>/dev/null | sort -V | tail -n1 || true)
if [ -n "$existing" ]; then
	echo "$existing"
	exit 0
fi

# Versions of this script before the private configuration left these
# behind; they were only ever written here.
rm -f /etc/apt/sources.list.d/uffdd-bullseye.list /etc/apt/preferences.d/uffdd-bullseye

# Reuse the mirror the system already uses when we can read it.
# (only live lines: URIs: in deb822 files, deb lines in one-line files)
mirror=$( { sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
	sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?//p' /etc/apt/sources.list 2>/dev/null | cut -d' ' -f1
} | grep -E '^https?://[^ ]+/debian/?$' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d); chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
apt=$work/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/empty.d" "$work/dl"
echo "deb ${mirror%/} bullseye main" >"$apt/sources.list"
# apt downloads as _apt: let it write where it downloads.
if id _apt >/dev/null 2>&1; then
	chown -R _apt "$apt/lists" "$apt/cache" "$work/dl"
fi
private_apt() {
	apt-get -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts="$apt/empty.d" \
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$apt/empty.d" \
		-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
}
log "reading bullseye's package list from $mirror (private apt configuration)"
private_apt update >&2
cd "$work/dl"
log "downloading linux-source-5.10 from bullseye"
private_apt download linux-source-5.10 >&2
deb=$(ls linux-source-5.10_*.deb)
dpkg-deb --fsys-tarfile "$deb" | tar -x --wildcards './usr/src/linux-source-5.10.tar.xz'
ver=${deb#linux-source-5.10_}; ver=${ver%_all.deb}
out=$UFFDD_KCACHE/linux-source-5.10_$ver.tar.xz
mv usr/src/linux-source-5.10.tar.xz "$out.tmp"
mv "$out.tmp" "$out"
log "cached $out"
echo "$out"
