#!/bin/bash
# check.sh OUT: the packages tests/deb/build.sh left in OUT, checked.
#  1. lintian (pedantic): no error; what it says is printed and kept in
#     OUT/lintian.txt.
#  2. tests/systemd/in/t-deb.sh in a booted systemd (systemd-nspawn, the
#     root of tests/systemd with a compiler added, cached apart): apt-get
#     install, files, units, pkg-config, the library example, uffd-run,
#     apt-get purge, file lists before and after (kept in OUT/logs).
set -euo pipefail
out=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/../.." && pwd)

dpkg -s lintian >/dev/null 2>&1 || {
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends lintian >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends lintian >/dev/null; }
}
changes=$(ls "$out"/*.changes)
lintian -I --pedantic "$changes" >"$out/lintian.txt" 2>&1 || true
grep -v 'running with root privileges' "$out/lintian.txt" | sed 's/^/lintian: /'
echo "lintian: $(grep -c '^E:' "$out/lintian.txt") errors, $(grep -c '^W:' "$out/lintian.txt") warnings, $(grep -c '^I:' "$out/lintian.txt") info, $(grep -c '^P:' "$out/lintian.txt") pedantic"
if grep -q '^E:' "$out/lintian.txt"; then
	echo "check-deb: lintian reports errors" >&2
	exit 1
fi

stage=$out/stage
rm -rf "$stage" && mkdir -p "$stage"
for d in "$out"/*.deb; do
	case $d in *-dbgsym_*) ;; *) cp "$d" "$stage/" ;; esac
done
export UFFDD_NSPAWN_ROOT=${UFFDD_NSPAWN_DEB_ROOT:-/var/cache/uffdd/nspawn-root-deb}
export UFFDD_NSPAWN_EXTRA=gcc,libc6-dev,pkg-config
UFFDD_SYSTEMD_HUGEPAGES=${UFFDD_SYSTEMD_HUGEPAGES:-64} \
	"$here/tests/systemd/run.sh" --stage "$stage" --testbin "$stage" --logdir "$out/logs" deb
