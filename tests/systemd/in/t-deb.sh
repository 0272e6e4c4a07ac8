#!/bin/bash
# The Debian packages, the way an administrator meets them: `apt-get install`
# of the .debs (bound at /opt/uffdd by tests/deb/check.sh), then the files,
# the groups and device, the units under this systemd, pkg-config and the
# library's example built and run against the socket-activated daemon,
# uffd-run, a reload; then `apt-get purge`, and the file lists before and
# after must be the same.  The lists go to /opt/out for the report.
. /opt/uffdd-tests/lib.sh

export DEBIAN_FRONTEND=noninteractive
OUT=/opt/out
PKGS="uffdd libuffdclient0 libuffdclient-dev uffd-run"

# Everything on the root file system but what lives elsewhere (/proc, /sys,
# /dev, /run, /tmp are other file systems; the bound test directories under
# /opt too) and the logs and apt/dpkg state that any install changes: the
# journal, apt's caches and lists, dpkg's status and its backups.
snapshot() {
	find / -xdev \( -path /var/log -o -path /var/cache/apt -o -path /var/lib/apt \
		-o -path /var/cache/debconf -o -path /var/cache/ldconfig \) -prune -o -print |
		grep -v -E '^/var/lib/dpkg/(status|status-old|available|available-old|lock|lock-frontend|triggers/Lock|diversions-old|statoverride-old)$' |
		sort
}

own_userfaultfd_node
need_hugepages 32
snapshot >"$OUT/deb-before.files"
find /etc/systemd/system -name '*.wants' -type d -empty | sort >"$OUT/deb-before.empty-wants"
log "before install: $(wc -l <"$OUT/deb-before.files") paths"

# --- install --------------------------------------------------------------------
ls /opt/uffdd/*.deb >/dev/null 2>&1 || fail "no .deb in /opt/uffdd"
debs=$(ls /opt/uffdd/*.deb | grep -v dbgsym)
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $debs >"$OUT/deb-apt-install.log" 2>&1 ||
	{ tail -n 20 "$OUT/deb-apt-install.log"; fail "apt-get install ./*.deb"; }
for p in $PKGS; do
	st=$(dpkg-query -W -f '${Status}' "$p" 2>&1)
	[ "$st" = "install ok installed" ] || fail "$p: $st"
	dpkg -L "$p" | sed "s|^|$p: |"
done >"$OUT/deb-installed.files"
log "installed: $(for p in $PKGS; do echo -n "$p $(dpkg-query -W -f '${Version}' "$p") "; done)"

# --- files ---------------------------------------------------------------------
ma=$(gcc -print-multiarch)
for f in /usr/sbin/uffdd /usr/bin/uffdctl /usr/bin/uffd-touch /usr/bin/uffd-run \
	/lib/systemd/system/uffdd.service /lib/systemd/system/uffdd.socket \
	/lib/systemd/system/uffdd-control.socket /lib/udev/rules.d/60-uffdd.rules \
	/usr/lib/sysusers.d/uffdd.conf /usr/lib/tmpfiles.d/uffdd.conf /usr/lib/sysctl.d/60-uffdd.conf \
	/usr/share/man/man8/uffdd.8.gz /usr/share/man/man5/uffdd.json.5.gz \
	/usr/share/man/man8/uffdctl.8.gz /usr/share/man/man1/uffd-run.1.gz \
	/usr/share/man/man3/libuffdclient.3.gz /usr/share/man/man3/uffd_region_publish.3.gz \
	/usr/share/doc/uffdd/examples/uffdd.json \
	/usr/share/doc/libuffdclient-dev/examples/uffd-example.c \
	/usr/include/uffd/client.h "/usr/lib/$ma/libuffdclient.so.0.3.0" \
	"/usr/lib/$ma/libuffdclient.so" "/usr/lib/$ma/libuffdclient.a" \
	"/usr/lib/$ma/uffdd/libuffdpreload.so"; do
	[ -e "$f" ] || fail "not installed: $f"
done
log "files: daemon, tools, units, udev/sysusers/tmpfiles/sysctl, man pages, library, example present"

# --- groups, device, units -------------------------------------------------------
getent group uffd >/dev/null || fail "postinst made no group uffd"
getent group uffdadm >/dev/null || fail "postinst made no group uffdadm"
st() { stat -c '%a %U:%G' "$1"; }
[ "$(st /dev/userfaultfd)" = "660 root:uffd" ] || fail "/dev/userfaultfd is $(st /dev/userfaultfd)"
for u in uffdd.socket uffdd-control.socket; do
	[ "$(systemctl is-enabled $u)" = enabled ] || fail "$u is $(systemctl is-enabled $u), not enabled"
	systemctl is-active --quiet $u || fail "$u is not active"
done
[ "$(systemctl is-enabled uffdd.service)" != enabled ] || fail "uffdd.service enabled (socket activation only)"
systemctl is-active --quiet uffdd.service && fail "uffdd.service runs before any client"
out=$(systemd-analyze verify --man=no /lib/systemd/system/uffdd.service \
	/lib/systemd/system/uffdd.socket /lib/systemd/system/uffdd-control.socket 2>&1)
[ -z "$out" ] || fail "systemd-analyze verify: $out"
[ "$(st /run/uffdd/control.sock)" = "660 root:uffdadm" ] || fail "control socket is $(st /run/uffdd/control.sock)"
log "groups uffd, uffdadm; /dev/userfaultfd $(st /dev/userfaultfd); sockets enabled and listening; service waits"

# --- the library, as a developer uses it -----------------------------------------
v=$(pkg-config --modversion libuffdclient) || fail "pkg-config libuffdclient"
[ "$v" = 0.3.0 ] || fail "pkg-config says $v"
cp /usr/share/doc/libuffdclient-dev/examples/uffd-example.c /tmp/
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o /tmp/uffd-example /tmp/uffd-example.c \
	$(pkg-config --cflags --libs libuffdclient) 2>"$OUT/deb-cc.log" ||
	fail "the example does not build: $(cat "$OUT/deb-cc.log")"
# shellcheck disable=SC2046
cc -o /tmp/uffd-example-static /tmp/uffd-example.c -Wl,-Bstatic \
	$(pkg-config --static --libs libuffdclient) -Wl,-Bdynamic 2>>"$OUT/deb-cc.log" ||
	fail "the example does not link statically: $(cat "$OUT/deb-cc.log")"
out=$(timeout 60 /tmp/uffd-example 2>&1) || fail "example: $out"
[ "$out" = "32 pages, served: yes" ] || fail "example: $out"
out=$(timeout 60 /tmp/uffd-example-static 2>&1) || fail "static example: $out"
[ "$out" = "32 pages, served: yes" ] || fail "static example: $out"
is_active || fail "a client did not start uffdd.service"
faults=$(uffdctl -j status | jq .totals.faults)
[ "$faults" = 64 ] || fail "uffdctl -j status: $faults faults, want 64 (32 per run)"
log "pkg-config $v; example built (shared and static) and served: $out; uffdctl: $faults faults"

# --- uffd-run ---------------------------------------------------------------------
cat >/tmp/shm.c <<'EOF'
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
int main(void)
{
	size_t n = 8 << 20;
	unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned long s = 0;

	if (p == MAP_FAILED)
		return 1;
	memset(p, 1, n);
	for (size_t i = 0; i < n; i += 4096)
		s += p[i];
	printf("%lu\n", s);
	return 0;
}
EOF
cc -o /tmp/shm /tmp/shm.c || fail "cc shm.c"
# Every page of it mapped by the daemon; in 1/16 as many faults under
# uffd-run's default (learn+around:64K: 16 pages of 4 KiB a window).
before=$(uffdctl -j status | jq .totals.pages_mapped)
fbefore=$(uffdctl -j status | jq .totals.faults)
out=$(timeout 60 uffd-run --require -- /tmp/shm 2>&1) || fail "uffd-run: $out"
[ "$out" = 2048 ] || fail "uffd-run: $out"
after=$(uffdctl -j status | jq .totals.pages_mapped)
fafter=$(uffdctl -j status | jq .totals.faults)
[ "$after" -ge $((before + 2048)) ] || fail "uffd-run's program had $((after - before)) pages mapped by uffdd, want >= 2048"
[ "$fafter" -ge $((fbefore + 128)) ] || fail "uffd-run's program took $((fafter - fbefore)) served faults, want >= 128"
log "uffd-run --require: 8 MiB shared mapping served ($((after - before)) pages in $((fafter - fbefore)) faults)"

# --- metrics for the node exporter ------------------------------------------------
[ "$(systemctl is-enabled uffdd-metrics.timer)" = disabled ] ||
	fail "uffdd-metrics.timer is $(systemctl is-enabled uffdd-metrics.timer), want disabled"
out=$(systemd-analyze verify --man=no /lib/systemd/system/uffdd-metrics.service \
	/lib/systemd/system/uffdd-metrics.timer 2>&1)
[ -z "$out" ] || fail "systemd-analyze verify (metrics units): $out"
mkdir -p /var/lib/prometheus/node-exporter
systemctl start uffdd-metrics.service || fail "uffdd-metrics.service: $(systemctl status uffdd-metrics.service | tail -n 5)"
grep -q '^uffdd_faults_total [1-9]' /var/lib/prometheus/node-exporter/uffdd.prom ||
	fail "uffdd.prom: $(head -c 300 /var/lib/prometheus/node-exporter/uffdd.prom)"
rm -rf /var/lib/prometheus
[ -f /usr/share/bash-completion/completions/uffdctl ] || fail "no bash completion"
log "metrics: uffdd-metrics.service wrote uffdd.prom in its sandbox; the timer is disabled by default"

# --- configuration ----------------------------------------------------------------
out=$(uffdd --check-config --config /usr/share/doc/uffdd/examples/uffdd.json 2>&1) ||
	fail "the example configuration: $out"
mkdir -p /etc/uffdd && cp /usr/share/doc/uffdd/examples/uffdd.json /etc/uffdd/uffdd.json
systemctl reload uffdd.service || fail "systemctl reload with the example configuration"
rm -rf /etc/uffdd
log "example configuration: $out; reload applied it"

# --- purge ------------------------------------------------------------------------
# shellcheck disable=SC2086
apt-get purge -y $PKGS >"$OUT/deb-apt-purge.log" 2>&1 ||
	{ tail -n 20 "$OUT/deb-apt-purge.log"; fail "apt-get purge"; }
systemctl is-active --quiet uffdd.service && fail "uffdd.service still runs after the purge"
systemctl is-active --quiet uffdd.socket && fail "uffdd.socket still listens after the purge"
[ -z "$(systemctl list-unit-files 'uffdd*' --no-legend 2>/dev/null)" ] ||
	fail "units left: $(systemctl list-unit-files 'uffdd*' --no-legend)"
snapshot >"$OUT/deb-after.files"
diff -u "$OUT/deb-before.files" "$OUT/deb-after.files" >"$OUT/deb-purge.diff"
left=$(comm -13 "$OUT/deb-before.files" "$OUT/deb-after.files")
[ -z "$left" ] || fail "the purge left: $left"
# deb-systemd-helper's purge removes every empty *.wants directory under
# /etc/systemd/system, also ones that were empty before (the root's
# getty.target.wants): debhelper's doing, and nothing of ours.
gone=$(comm -23 "$OUT/deb-before.files" "$OUT/deb-after.files" | grep -v -x -F -f "$OUT/deb-before.empty-wants" || true)
[ -z "$gone" ] || fail "the purge removed what was there before: $gone"
log "after purge: $(wc -l <"$OUT/deb-after.files") paths, none added; removed: $(comm -23 "$OUT/deb-before.files" "$OUT/deb-after.files" | tr '\n' ' ')(empty before); groups kept: $(getent group uffd uffdadm | cut -d: -f1 | tr '\n' ' ')"
pass "installed with apt, units and library work, purged without a trace"
