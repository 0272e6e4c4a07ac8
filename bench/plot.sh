#!/bin/sh
# SPDX-License-Identifier: MIT
# plot.sh RESULTS: the charts of BENCHMARKS.md, from the data make bench left
# in RESULTS (cdf-<kind>.dat, latest.jsonl).  Each answers one question with
# the few modes that answer it, in colours that stay apart (Okabe-Ito):
#
#   tail-<kind>.png   what does a fault served by uffdd cost, and what decides
#                     it?  CCDF (fraction of touches slower than x), log-log,
#                     so the tail is as readable as the median.
#   median-p99.png    the same modes, median and p99 per page kind, as bars.
#   per-page.png      do window policies make served memory as fast as the
#                     kernel's own faults?  Time per page over a region.
#
# Needs gnuplot and jq (make bench-deps installs them).
set -eu
res=${1:-bench/results}
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The question "what does the daemon cost": the kernel alone, the best
# in-process handler, uffdd with its worker on the faulting thread's CPU, on
# the other CPU, and left to the scheduler (the default).
LAT_MODES="native inproc-same-cpu uffdd-same-cpu uffdd uffdd-other-cpu"
# The question "does a window beat the kernel".
PAGE_MODES="native native-read uffdd uffdd-around-16 uffdd-around-16-same-cpu"

run=$(head -n1 "$res/latest.jsonl" | jq -r '"\(.date), kernel \(.kernel), \(.cpus) CPUs, load \(.loadavg_start)-\(.loadavg_end), \(.rounds) rounds"')

# One CCDF file per kind and mode: "latency_us fraction_slower".
for kind in hugetlb shmem; do
	[ -s "$res/cdf-$kind.dat" ] || continue
	for m in $LAT_MODES; do
		awk -v want="\"$m\"" '
			/^$/ { on = 0; next }
			$1 == want && $2 == "fraction" { on = 1; next }
			on && $2 < 1 { print $1, 1 - $2 }' "$res/cdf-$kind.dat" >"$tmp/$kind-$m.ccdf"
	done
done

# Short names under the bars.
label() {
	case $1 in
	native-read) echo "native, read" ;;
	uffdd-around-16) echo "uffdd around:16" ;;
	uffdd-around-16-same-cpu) echo "around:16, same CPU" ;;
	*) echo "$1" ;;
	esac
}

# Bars: one line per mode, "label hugetlb_x shmem_x".
bars() { # FIELD MODES...
	field=$1
	shift
	for m in "$@"; do
		h=$(jq -r --arg m "$m" "select(.kind == \"hugetlb\" and .mode == \$m and .status == \"ok\") | $field" "$res/latest.jsonl")
		s=$(jq -r --arg m "$m" "select(.kind == \"shmem\" and .mode == \$m and .status == \"ok\") | $field" "$res/latest.jsonl")
		echo "\"$(label "$m")\" ${h:-NaN} ${s:-NaN}"
	done
}
# shellcheck disable=SC2086
bars '.latency_ns.median / 1000' $LAT_MODES >"$tmp/median.dat"
# shellcheck disable=SC2086
bars '.latency_ns.p99 / 1000' $LAT_MODES >"$tmp/p99.dat"
paste -d' ' "$tmp/median.dat" "$tmp/p99.dat" | awk '{ print $1, $2, $5, $3, $6 }' >"$tmp/lat.dat"
# shellcheck disable=SC2086
bars '.ns_per_page / 1000' $PAGE_MODES >"$tmp/page.dat"

gnuplot -e "tmp='$tmp'; res='$res'; run='$run'; lat_modes='$LAT_MODES'" "$here/plot.gp"
for f in tail-hugetlb tail-shmem median-p99 per-page; do
	[ -s "$res/$f.png" ] && echo "bench: chart $res/$f.png"
done
