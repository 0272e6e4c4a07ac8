#!/bin/sh
# A single-node Ceph cluster for the image tests: one mon, one mgr, one
# memstore OSD, pool size 1, every daemon a plain process with a PID file
# (no systemd, no cephadm).  Debian 12's packages (Ceph 16).
#
#   cluster.sh start [DIR]   install what is missing, (re)create, wait HEALTH_OK
#   cluster.sh stop  [DIR]   stop the daemons by PID, in parallel
#   cluster.sh url   [DIR]   the store URL the tests and uffd-image take
#   cluster.sh reads [DIR]   the OSD's read ops and bytes so far, "OPS BYTES"
#   cluster.sh osd-stop|osd-cont [DIR]   SIGSTOP/SIGCONT the OSD (a store
#                            that hangs without an error)
#
# DIR defaults to $UFFD_CEPH_DIR or /tmp/uffdd-ceph.  Everything lives in
# DIR: ceph.conf, keys/ (cephx keyrings, outside the mon's data dir because
# `ceph-mon --mkfs` refuses a non-empty one), run/ (PID files, admin
# sockets), log/, mon/, mgr/, osd/.  A start over a leftover cluster (an
# aborted run) stops its daemons by their PID files first.
set -eu

cmd=${1:-}
dir=${2:-${UFFD_CEPH_DIR:-/tmp/uffdd-ceph}}
pool=${UFFD_CEPH_POOL:-uffd-images}
# memstore keeps the objects in the OSD's RAM: room for the 1 GiB and
# 512 MiB test images, the benchmark's image and their rewrites.
osd_bytes=${UFFD_CEPH_OSD_BYTES:-6442450944}
conf="$dir/ceph.conf"

say() { echo "ceph: $*" >&2; }
die() {
	say "$*"
	exit 1
}

install_pkgs() {
	missing=""
	for p in ceph-mon ceph-osd ceph-mgr ceph-common librados-dev; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages:$missing (install them as root)"
	say "installing$missing (a few minutes the first time)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null
}

# The PIDs of this cluster's daemons that are still alive.  A PID file can
# outlive its process (an aborted run, a reboot): a PID counts only if that
# process is a ceph daemon started with this cluster's conf.
live_pids() {
	for f in "$dir"/run/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		[ -n "$pid" ] || continue
		cl=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		case "$cl" in
		*ceph-*"$conf"*) echo "$pid" ;;
		esac
	done
}

# Stop them all at once: one by one takes 12-26 s, in parallel about 2 s.
stop_cluster() {
	pids=$(live_pids)
	[ -z "$pids" ] && return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	i=0
	while [ $i -lt 150 ]; do
		left=""
		for p in $pids; do
			kill -0 "$p" 2>/dev/null && left="$left $p"
		done
		[ -z "$left" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	say "still running after 15 s, SIGKILL:$left"
	# shellcheck disable=SC2086
	kill -KILL $left 2>/dev/null || true
	# SIGCONT too: a daemon stopped with SIGSTOP (osd-stop) ignores TERM.
	# shellcheck disable=SC2086
	kill -CONT $left 2>/dev/null || true
}

# A TCP port nobody listens on, for the monitor.
free_port() {
	p=${UFFD_CEPH_PORT:-41300}
	while [ "$p" -lt 41400 ]; do
		if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
		p=$((p + 1))
	done
	die "no free port in 41300-41399"
}

write_conf() {
	cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$port]
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $dir/keys/\$cluster.\$name.keyring
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
crash dir = $dir/crash
mon data = $dir/mon/\$id
mgr data = $dir/mgr/\$id
osd data = $dir/osd/\$id
osd objectstore = memstore
memstore device bytes = $osd_bytes
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
# Small or full scratch disks: the default warns below 30% free.
mon data avail warn = 1
mon data avail crit = 0
mon warn on pool no redundancy = false
osd op num shards = 1
osd op num threads per shard = 2

[client]
log file = /dev/null
admin socket =
EOF
}

ceph_() {
	timeout 60 ceph -c "$conf" -n client.admin "$@"
}

start_mon() {
	k=$dir/keys
	ceph-authtool --create-keyring "$k/ceph.mon.a.keyring" --gen-key \
		-n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool --create-keyring "$k/ceph.client.admin.keyring" \
		--gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
		--cap mgr 'allow *' --cap mds 'allow *' >/dev/null
	ceph-authtool "$k/ceph.mon.a.keyring" \
		--import-keyring "$k/ceph.client.admin.keyring" >/dev/null
	monmaptool --create --fsid "$fsid" \
		--addv a "[v2:127.0.0.1:$port]" "$k/monmap" >/dev/null
	ceph-mon -c "$conf" --mkfs -i a --monmap "$k/monmap" \
		--keyring "$k/ceph.mon.a.keyring"
	ceph-mon -c "$conf" -i a 2>>"$dir/log/stderr"
}

start_mgr() {
	ceph_ auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' \
		mds 'allow *' -o "$dir/keys/ceph.mgr.x.keyring" >/dev/null
	mkdir -p "$dir/mgr/x"
	ceph-mgr -c "$conf" -i x 2>>"$dir/log/stderr"
}

start_osd() {
	uuid=$(cat /proc/sys/kernel/random/uuid)
	id=$(ceph_ osd new "$uuid")
	ceph_ auth get-or-create "osd.$id" mon 'allow profile osd' \
		mgr 'allow profile osd' osd 'allow *' \
		-o "$dir/keys/ceph.osd.$id.keyring" >/dev/null
	mkdir -p "$dir/osd/$id"
	ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1 ||
		die "ceph-osd --mkfs failed (see $dir/log/osd.$id.log)"
	ceph-osd -c "$conf" -i "$id" 2>>"$dir/log/stderr"
}

make_pool() {
	ceph_ osd pool create "$pool" 8 8 >/dev/null 2>&1
	ceph_ osd pool set "$pool" size 1 --yes-i-really-mean-it >/dev/null 2>&1
	ceph_ osd pool application enable "$pool" uffdd >/dev/null 2>&1
	# The key the daemon and the tests use: this pool only.
	ceph_ auth get-or-create client.uffdd mon 'allow r' \
		osd "allow rwx pool=$pool" \
		-o "$dir/keys/ceph.client.uffdd.keyring" >/dev/null
}

wait_health() {
	i=0
	while [ $i -lt 180 ]; do
		h=$(ceph_ health 2>/dev/null || true)
		case "$h" in
		HEALTH_OK*)
			say "HEALTH_OK after $(($(date +%s) - t0)) s"
			return 0
			;;
		esac
		sleep 1
		i=$((i + 1))
	done
	ceph_ health detail >&2 || true
	die "not HEALTH_OK after 180 s (logs in $dir/log)"
}

start() {
	install_pkgs
	t0=$(date +%s)
	stop_cluster
	rm -rf "$dir"
	mkdir -p "$dir/keys" "$dir/run" "$dir/log" "$dir/mon" "$dir/crash"
	chmod 0700 "$dir/keys"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	port=$(free_port)
	write_conf
	start_mon
	start_mgr
	start_osd
	make_pool
	wait_health
	url
}

url() {
	echo "rados:$pool,conf=$conf,user=uffdd,keyring=$dir/keys/ceph.client.uffdd.keyring"
}

# Read ops and bytes the OSD has served since it started ("OPS BYTES"),
# from its admin socket: exact and immediate, where the pool's statistics
# (rados df) lag by the mgr's report interval.  Tests take the difference
# around what they do to check "each chunk read exactly once".
reads() {
	for f in "$dir"/run/osd.*.asok; do
		timeout 30 ceph --admin-daemon "$f" perf dump |
			/usr/bin/python3 -c "import json,sys
d = json.load(sys.stdin)['osd']
print(d['op_r'], d['op_r_out_bytes'])"
	done
}

# SIGSTOP reaches a process's threads as each is next scheduled: wait
# until every thread shows "T", or a read sent at once may still be served.
osd_signal() {
	for f in "$dir"/run/osd.*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill "-$1" "$pid"
		[ "$1" = STOP ] || continue
		i=0
		while [ $i -lt 100 ] && grep -qv '^[0-9]* ([^)]*) T' \
			/proc/"$pid"/task/*/stat 2>/dev/null; do
			sleep 0.05
			i=$((i + 1))
		done
	done
}

case "$cmd" in
start) start ;;
stop) stop_cluster ;;
url) url ;;
reads) reads ;;
osd-stop) osd_signal STOP ;;
osd-cont) osd_signal CONT ;;
*)
	echo "usage: $0 start|stop|url|reads|osd-stop|osd-cont [DIR]" >&2
	exit 2
	;;
esac
