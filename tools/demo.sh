#!/bin/sh
# demo.sh BUILD: uffdd on a private socket with its built-in defaults,
# uffd-touch on hugetlb and on shmem, uffdctl status, then clean up.
set -eu
build=$1
dir=$(mktemp -d /tmp/uffdd-demo.XXXXXX)
chmod 755 "$dir"
state="$dir/hugepages"
sh tools/hugepages.sh reserve 40 "$state"
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	sh tools/hugepages.sh restore "$state"
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
export UFFDD_SOCKET="$dir/uffdd.sock" UFFDD_CONTROL_SOCKET="$dir/control.sock"
echo "== starting uffdd (built-in defaults) on $UFFDD_SOCKET"
"$build/uffdd" --no-config --socket "$UFFDD_SOCKET" --control-socket "$UFFDD_CONTROL_SOCKET" &
pid=$!
i=0
while [ ! -S "$UFFDD_CONTROL_SOCKET" ]; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 $pid 2>/dev/null; then
		echo "uffdd did not start" >&2
		exit 1
	fi
	sleep 0.05
done
echo "== uffd-touch: 64 MiB of 2 MiB hugepages, 2 threads"
"$build/uffd-touch" --kind hugetlb --size 64M --threads 2 --name demo-hugetlb
echo "== uffd-touch: 64 MiB of 4 KiB shmem pages, 2 threads"
"$build/uffd-touch" --kind shmem --size 64M --threads 2 --name demo-shmem
echo "== a client holding its region while we look"
"$build/uffd-touch" --kind shmem --size 16M --name demo-held --hold 2 >/dev/null &
touch_pid=$!
sleep 1
echo "== uffdctl status (uffdctl -p status: the JSON)"
"$build/uffdctl" status
wait $touch_pid
echo "== stopping uffdd"
kill $pid
wait $pid
pid=""
echo "demo: done"
