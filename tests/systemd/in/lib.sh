# Shared helpers for the tests that run inside the booted container.
# Sourced by t-*.sh.  Layout inside the container (bind mounts made by
# tests/systemd/run.sh):
#   /opt/uffdd          the staged `make install install-systemd` tree (ro)
#   /opt/uffdd-tests    these scripts (ro)
#   /opt/uffdd-testbin  test programs built on the host (ro)
#   /opt/out            the harness's log directory (rw)
# shellcheck shell=bash

set -u
T=${UFFDD_TEST:-$(basename "$0" .sh)}
T=${T#t-}
SOCK=/run/uffdd/uffdd.sock
CTL=/run/uffdd/control.sock
TESTBIN=/opt/uffdd-testbin
export UFFDD_CONTROL_SOCKET=$CTL

now() { date +%s.%N; }
# elapsed START [END]: seconds between two now() stamps, 3 decimals
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.3f", b - a }'; }

log() { echo "[$T] $*"; }
pass() { echo "PASS $T: $*"; exit 0; }
fail() { echo "FAIL $T: $*"; exit 1; }
skip() { echo "SKIP $T: $*"; exit 77; }

# check COND-DESCRIPTION COMMAND...: fail the test unless COMMAND succeeds.
check() {
	local what=$1
	shift
	"$@" || fail "$what"
}

prop() { systemctl show -p "$1" --value "${2:-uffdd.service}"; }

# wait_for SECONDS COMMAND...: poll COMMAND every 50 ms.
wait_for() {
	local limit=$1 t0
	shift
	t0=$(now)
	until "$@"; do
		if awk -v e="$(elapsed "$t0")" -v l="$limit" 'BEGIN { exit !(e > l) }'; then
			return 1
		fi
		sleep 0.05
	done
}

is_active() { [ "$(prop ActiveState)" = active ] && [ "$(prop SubState)" = running ]; }
main_pid() { prop MainPID; }

# The harness binds the host's /dev/userfaultfd node in; giving it to the
# uffd group (tmpfiles' z line) would chown the *host's* node.  Use a node of
# the container's own instead: what udev would have made here.
own_userfaultfd_node() {
	if mountpoint -q /dev/userfaultfd; then
		umount /dev/userfaultfd && rm -f /dev/userfaultfd
		mknod -m 0600 /dev/userfaultfd c 10 257 || fail "mknod /dev/userfaultfd"
	fi
}

# Install the staged tree the way a package would be unpacked, then do what a
# package's maintainer scripts do: users/groups, tmpfiles, daemon-reload,
# enable the sockets.
setup_uffdd() {
	local t0
	t0=$(now)
	[ -x /opt/uffdd/usr/sbin/uffdd ] || fail "no /opt/uffdd/usr/sbin/uffdd in the staged tree"
	tar -C /opt/uffdd -cf - . | tar -C / -xf - --keep-directory-symlink --no-overwrite-dir ||
		fail "unpacking the staged install"
	ldconfig
	own_userfaultfd_node
	systemd-sysusers || fail "systemd-sysusers"
	systemd-tmpfiles --create uffdd.conf || fail "systemd-tmpfiles"
	systemctl daemon-reload
	systemctl enable --now uffdd.socket uffdd-control.socket >/dev/null 2>&1 ||
		fail "enabling the sockets"
	log "installed in $(elapsed "$t0") s: $(uffdd --version 2>&1 | head -n1)"
}

# Write /etc/uffdd/uffdd.json from stdin.
write_config() {
	mkdir -p /etc/uffdd
	cat >/etc/uffdd/uffdd.json
}

# touch_client [uffd-touch args...]: a short client run; prints its JSON.
touch_client() {
	uffd-touch --socket "$SOCK" "$@"
}

# ok_touch LABEL [args]: a client run that must verify every byte.
ok_touch() {
	local label=$1 out rc
	shift
	out=$(timeout 60 uffd-touch --socket "$SOCK" "$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || [ "$(echo "$out" | jq -r .verified 2>/dev/null)" != true ]; then
		log "$label: uffd-touch rc=$rc: $out"
		return 1
	fi
	log "$label: $(echo "$out" | jq -c '{pages,page_size,threads,verified,elapsed_ns}')"
}

# `uffdd --version` says "fdstore: no" until the daemon keeps its sessions in
# systemd's fd store across restarts.
# UFFDD_SYSTEMD_FORCE=1 (passed by run.sh) runs the fd-store tests anyway.
fdstore_supported() {
	local v
	[ "${UFFDD_SYSTEMD_FORCE:-0}" = 1 ] && return 0
	v=$(uffdd --version 2>&1)
	echo "$v" | grep -qi fdstore && ! echo "$v" | grep -qiE 'fdstore: *no'
}

hugepages_free() { awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo; }

# need_hugepages N: skip (with the reason) when the host reserved too few.
need_hugepages() {
	local free
	free=$(hugepages_free)
	[ "${free:-0}" -ge "$1" ] || skip "needs $1 free hugepages, host has ${free:-0} (the harness reserves them)"
}
