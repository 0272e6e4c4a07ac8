#!/bin/sh
# demo.sh BUILD: uffdd on a private socket with its built-in defaults (and
# an image store in a folder of its own), uffd-touch on hugetlb and on shmem,
# one image mapped by two clients at once, uffdctl status, then clean up.
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
# Built-in defaults but for the image store: a file: store in $dir.
printf '{ "images": { "store": "file:%s/images" } }\n' "$dir" >"$dir/uffdd.json"
echo "== starting uffdd (built-in defaults, images in file:$dir/images) on $UFFDD_SOCKET"
"$build/uffdd" --config "$dir/uffdd.json" --socket "$UFFDD_SOCKET" --control-socket "$UFFDD_CONTROL_SOCKET" &
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
echo "== an image: 32 MiB put into the store, mapped by two clients at once"
head -c 33554432 /dev/urandom >"$dir/image.bin"
"$build/uffd-image" --store "file:$dir/images" put demo-image "$dir/image.bin"
"$build/uffd-touch" --image demo-image --expect "$dir/image.bin" >"$dir/a.json" &
a=$!
"$build/uffd-touch" --image demo-image --expect "$dir/image.bin" >"$dir/b.json"
wait $a
cat "$dir/a.json" "$dir/b.json"
echo "== uffdctl images: one copy on the host, fetched once"
"$build/uffdctl" images
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
