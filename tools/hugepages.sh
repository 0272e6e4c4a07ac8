#!/bin/sh
# hugepages.sh reserve N STATE | restore STATE
# Make sure N default-size hugepages are free, remembering in STATE what
# nr_hugepages was, so that restore gives back only what we took.
set -eu
nr=/proc/sys/vm/nr_hugepages
free_pages() { awk '/^HugePages_Free:/ {print $2}' /proc/meminfo; }
case "${1:-}" in
reserve)
	want=$2 state=$3
	orig=$(cat $nr)
	echo "$orig" > "$state"
	have=$(free_pages)
	if [ "$have" -lt "$want" ]; then
		if [ ! -w $nr ]; then
			echo "hugepages: $have free, $want needed; as root: echo $((orig + want - have)) > $nr" >&2
			exit 1
		fi
		echo $((orig + want - have)) > $nr
		have=$(free_pages)
		if [ "$have" -lt "$want" ]; then
			echo "hugepages: only $have of $want could be reserved (memory fragmented?)" >&2
		fi
	fi
	echo "hugepages: $(free_pages) free (nr_hugepages was $orig, now $(cat $nr))"
	;;
restore)
	state=$2
	[ -f "$state" ] || exit 0
	orig=$(cat "$state")
	rm -f "$state"
	if [ "$(cat $nr)" != "$orig" ] && [ -w $nr ]; then
		echo "$orig" > $nr
		echo "hugepages: nr_hugepages back to $orig"
	fi
	;;
*)
	echo "usage: $0 reserve N STATE | restore STATE" >&2
	exit 2
	;;
esac
