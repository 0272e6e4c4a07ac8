#!/bin/sh
# check-install.sh BUILD: what `make install` puts and `make uninstall` takes
# away, in scratch DESTDIRs.
#
#  1. The default prefix (/usr/local): every file lands under /usr/local
#     (units, sysusers, tmpfiles, sysctl and udev files too, never in the
#     package manager's /lib or /usr/lib), the library carries its full
#     version with the soname of its major number, the .pc file, the header's
#     macros and the symbol version nodes agree, the preload library is in a
#     private directory, the example compiles against the installed tree with
#     pkg-config; uninstall leaves no file, no link, no directory of ours.
#  2. PREFIX=/usr after that /usr/local build: uffd-run is rebuilt and finds
#     its library where this install put it (checked for real in a private
#     mount namespace when run as root), units in the distribution's
#     directories; uninstall again leaves nothing.
#
# Prints "N passed, N failed" like the other tests.
set -u
build=$1
san=${SANITIZE:-0}
unset MAKEFLAGS MFLAGS MAKELEVEL
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
check() {
	what=$1
	shift
	if "$@"; then ok; else bad "$what"; fi
}
mk() { make --no-print-directory -s SANITIZE="$san" BUILD="$build" "$@"; }
# A sanitized build cannot run what it links or preloads without the ASan
# runtime first in line: under SANITIZE=1 the files are checked, not run.
cflags=
[ "$san" = 1 ] && cflags="-fsanitize=address,undefined"
runs() { [ "$san" != 1 ]; }

tmp=$(mktemp -d /tmp/uffdd-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

hdr=client/uffd/client.h
macro() { sed -n "s/^#define UFFD_CLIENT_VERSION$1[[:space:]]*\"*\([0-9.]*\)\"*\$/\1/p" $hdr; }
ver=$(macro "") maj=$(macro _MAJOR) min=$(macro _MINOR) pat=$(macro _PATCH)
check "header: UFFD_CLIENT_VERSION \"$ver\" is not MAJOR.MINOR.PATCH $maj.$min.$pat" \
	[ "$ver" = "$maj.$min.$pat" ]
node=$(grep -o '^UFFDCLIENT_[0-9.]*' client/libuffdclient.map | tail -n1)
check "client/libuffdclient.map: newest node $node, the library is $ver (want UFFDCLIENT_$maj.$min)" \
	[ "$node" = "UFFDCLIENT_$maj.$min" ]

# files DIR: every file and link under DIR, relative, sorted.
files() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./|/|' | sort); }

# ---- 1. default prefix -------------------------------------------------------
D=$tmp/local
mk install DESTDIR="$D" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; bad "make install DESTDIR=$D failed"; }
files "$D" >"$tmp/local.files"
echo "# make install (PREFIX=/usr/local): $(wc -l <"$tmp/local.files") files"
sed 's/^/#   /' "$tmp/local.files"
P=$D/usr/local
outside=$(grep -v '^/usr/local/' "$tmp/local.files")
check "files outside /usr/local: $outside" [ -z "$outside" ]
for f in sbin/uffdd bin/uffdctl bin/uffd-touch bin/uffd-run lib/uffdd/libuffdpreload.so \
	lib/libuffdclient.a "lib/libuffdclient.so.$ver" include/uffd/client.h \
	lib/pkgconfig/libuffdclient.pc lib/systemd/system/uffdd.service \
	lib/systemd/system/uffdd.socket lib/systemd/system/uffdd-control.socket \
	lib/sysusers.d/uffdd.conf lib/tmpfiles.d/uffdd.conf lib/sysctl.d/60-uffdd.conf \
	lib/udev/rules.d/60-uffdd.rules share/man/man8/uffdd.8 share/man/man5/uffdd.json.5 \
	share/man/man8/uffdctl.8 share/man/man1/uffd-run.1 share/man/man1/uffd-touch.1 \
	share/man/man3/libuffdclient.3 share/man/man3/uffd_connect.3 \
	share/man/man3/uffd_region_alloc.3 share/doc/uffdd/examples/uffdd.json \
	share/doc/uffdd/examples/uffd-example.c share/bash-completion/completions/uffdctl \
	lib/systemd/system/uffdd-metrics.service lib/systemd/system/uffdd-metrics.timer; do
	check "not installed: /usr/local/$f" [ -f "$P/$f" ] && [ ! -L "$P/$f" ]
done
check "share/man/man3/uffd_region_id.3 is not a .so link to uffd_region_alloc.3" \
	[ "$(cat "$P/share/man/man3/uffd_region_id.3" 2>/dev/null)" = ".so man3/uffd_region_alloc.3" ]
check "lib/libuffdclient.so.$maj is not a link to libuffdclient.so.$ver" \
	[ "$(readlink "$P/lib/libuffdclient.so.$maj")" = "libuffdclient.so.$ver" ]
check "lib/libuffdclient.so is not a link to libuffdclient.so.$maj" \
	[ "$(readlink "$P/lib/libuffdclient.so")" = "libuffdclient.so.$maj" ]
preload_public=$(ls "$P"/lib/libuffdpreload* 2>/dev/null)
check "the preload library is in the public libdir: $preload_public" [ -z "$preload_public" ]
soname=$(readelf -d "$P/lib/libuffdclient.so.$ver" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
check "SONAME is $soname, want libuffdclient.so.$maj" [ "$soname" = "libuffdclient.so.$maj" ]
check "uffd_region_publish is not versioned UFFDCLIENT_$maj.$min" \
	sh -c "readelf --dyn-syms -W '$P/lib/libuffdclient.so.$ver' | grep -q 'uffd_region_publish@@UFFDCLIENT_$maj.$min'"
exported=$(readelf --dyn-syms -W "$P/lib/libuffdclient.so.$ver" | awk '$7 != "UND" && $4 == "FUNC" { print $8 }' | grep -v '^uffd_' | tr '\n' ' ')
check "exports outside the uffd_ namespace: $exported" [ -z "$exported" ]
check "the units do not run /usr/local/sbin/uffdd" \
	grep -q '^ExecStart=/usr/local/sbin/uffdd$' "$P/lib/systemd/system/uffdd.service"
check "the metrics unit does not run /usr/local/bin/uffdctl" \
	grep -q '^ExecStart=/usr/local/bin/uffdctl metrics' "$P/lib/systemd/system/uffdd-metrics.service"

export PKG_CONFIG_PATH="$P/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D"
pcver=$(pkg-config --modversion libuffdclient 2>&1)
check "pkg-config --modversion libuffdclient says $pcver, the header $ver" [ "$pcver" = "$ver" ]
# shellcheck disable=SC2046
if cc $cflags -Wall -Wextra -Werror -o "$tmp/example" "$P/share/doc/uffdd/examples/uffd-example.c" \
	$(pkg-config --cflags --libs libuffdclient) 2>"$tmp/cc.log"; then
	ok
	needed=$(readelf -d "$tmp/example" | sed -n 's/.*(NEEDED).*\[\(libuffdclient.*\)\]/\1/p')
	check "the example links $needed, want libuffdclient.so.$maj" [ "$needed" = "libuffdclient.so.$maj" ]
	v=$(printf '#include <stdio.h>\n#include <uffd/client.h>\nint main(void){printf("%%s %%s\\n",UFFD_CLIENT_VERSION,uffd_client_version());return 0;}\n' |
		cc $cflags -x c - -o "$tmp/ver" $(pkg-config --cflags --libs libuffdclient) && LD_LIBRARY_PATH="$P/lib" "$tmp/ver")
	check "compiled-against and run-with versions: $v (want $ver $ver)" [ "$v" = "$ver $ver" ]
else
	bad "the installed example does not compile with pkg-config's flags: $(cat "$tmp/cc.log")"
fi
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

check "uffd-run --help does not name /usr/local/lib/uffdd" \
	sh -c "'$P/bin/uffd-run' --help | grep -q '/usr/local/lib/uffdd'"
# From its installed place uffd-run finds the library (relative to itself here,
# since the DESTDIR tree is not at /usr/local).
if runs; then
	out=$("$P/bin/uffd-run" --no-check -s "$tmp/none.sock" -- /bin/true 2>&1)
	check "installed uffd-run: $out" [ -z "$out" ]
fi

mk uninstall DESTDIR="$D" >"$tmp/uninstall.log" 2>&1 || bad "make uninstall failed: $(cat "$tmp/uninstall.log")"
left=$(files "$D")
check "make uninstall left: $left" [ -z "$left" ]
for d in include/uffd lib/uffdd share/doc/uffdd; do
	check "make uninstall left the directory /usr/local/$d" [ ! -e "$P/$d" ]
done

# ---- 2. PREFIX=/usr after the /usr/local build ------------------------------
U=$tmp/usr
mk install PREFIX=/usr DESTDIR="$U" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; bad "make install PREFIX=/usr failed"; }
files "$U" >"$tmp/usr.files"
echo "# make install PREFIX=/usr: $(wc -l <"$tmp/usr.files") files"
check "PREFIX=/usr put files under /usr/local" sh -c "! grep -q '^/usr/local/' '$tmp/usr.files'"
check "PREFIX=/usr: no /usr/lib/uffdd/libuffdpreload.so" [ -f "$U/usr/lib/uffdd/libuffdpreload.so" ]
check "PREFIX=/usr: uffd-run --help does not name /usr/lib/uffdd (stale build?)" \
	sh -c "'$U/usr/bin/uffd-run' --help | grep -q ' /usr/lib/uffdd,'"
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
check "PREFIX=/usr: units not in $unitdir" [ -f "$U$unitdir/uffdd.service" ]
check "PREFIX=/usr: the unit does not run /usr/sbin/uffdd" \
	grep -q '^ExecStart=/usr/sbin/uffdd$' "$U$unitdir/uffdd.service"
# For real: /usr/lib seen with this install's files on top, uffd-run copied
# where nothing is beside it, so only the compiled-in directory can work.
if runs && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 &&
	unshare -m true 2>/dev/null; then
	mkdir -p "$tmp/alone" && cp "$U/usr/bin/uffd-run" "$tmp/alone/"
	out=$(unshare -m sh -c "mount -t overlay overlay -o lowerdir='$U/usr/lib':/usr/lib /usr/lib &&
		'$tmp/alone/uffd-run' --no-check -s '$tmp/none.sock' -- /bin/true" 2>&1)
	check "uffd-run of a PREFIX=/usr install, library at /usr/lib/uffdd: $out" [ -z "$out" ]
	out=$("$tmp/alone/uffd-run" --no-check -s "$tmp/none.sock" -- /bin/true 2>&1)
	check "uffd-run without its library does not say where it looked: $out" \
		sh -c "echo '$out' | grep -q 'in /usr/lib/uffdd'"
else
	echo "# (sanitized, not root or no mount namespaces: uffd-run from /usr/lib/uffdd not run)"
fi
mk uninstall PREFIX=/usr DESTDIR="$U" >/dev/null 2>&1 || bad "make uninstall PREFIX=/usr failed"
left=$(files "$U")
check "make uninstall PREFIX=/usr left: $left" [ -z "$left" ]

# Back to this tree's own prefix for whatever runs next.
mk programs >/dev/null 2>&1 || bad "rebuilding for the default prefix failed"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
