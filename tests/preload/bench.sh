#!/bin/sh
# bench.sh BUILD [--pairs N] [--seconds S] [--policies "P ..."] [--scale N]
#                [--no-forkserve]
#
# Forking servers with and without uffd-run, in alternating groups: each
# round runs every configuration once -- unwrapped, then under uffd-run
# with each policy given (default: learn+around:64K, uffd-run's default,
# and learn:teach=16+around:64K, where most children leave their copy to
# the kernel once the set is learned) -- in an
# order that rotates from round to round, so that drift of a shared
# machine falls on all alike.  N rounds (default 7).  Workloads:
#
#   PostgreSQL (a process per connection; its shared memory one
#   MAP_SHARED|MAP_ANONYMOUS mapping), pgbench scale 10, shared_buffers
#   256 MB, at 4 KiB (huge_pages=off) and 2 MiB (huge_pages=on):
#     -S -C   select only, a new connection -- a fork -- per transaction
#     TPC-B   the default script on 4 long-lived connections, for 2S
#             seconds: the second half is the steady state reported
#   forkserve (tests/preload/forkserve.c): a fork per request, each child
#   reading 256 scattered pages of a 64 MiB table and 4 more its key picks,
#   at 4 KiB and 2 MiB, 2 clients.
#
# For each configuration: the median and the range (min..max) of its
# throughput, the median and range of its ratio to the unwrapped run of the
# same round (the pair), the median connection (or request) time, the
# faults uffdd served per connection (per child), and uffdd's CPU time per
# connection.  Results also in bench/results/preload.txt when that
# directory exists.
set -u
B=$(cd "${1:-build}" && pwd)
shift
ROUNDS=7 SECS=8 SCALE=10 FORKSERVE=1
POLICIES="learn+around:64K learn:teach=16+around:64K"
while [ $# -gt 0 ]; do
	case "$1" in
	--pairs | --rounds) ROUNDS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--policies) POLICIES=$2; shift 2 ;;
	--scale) SCALE=$2; shift 2 ;;
	--no-forkserve) FORKSERVE=0; shift ;;
	*) echo "bench.sh: unknown argument $1" >&2; exit 64 ;;
	esac
done
. tests/preload/pglib.sh

trap pl_cleanup EXIT INT TERM
pl_deps postgresql postgresql-contrib || exit 1
pl_workdir
# shared_buffers 256 MB: about 140 hugepages for huge_pages=on; forkserve
# 32 more.
sh tools/hugepages.sh reserve 200 "$HP_STATE" >/dev/null || exit 1
pl_daemon_start || exit 1
pg_init || exit 1
echo "shared_buffers = 256MB" >> "$W/pg/postgresql.conf"
R="$W/results"
mkdir -p "$R"

# Configurations: label mode policy ("-" for none).
CONFIGS="unwrapped plain -"
REFUSED=""
accepts() { # POLICY: does uffdd take it?  (uffd-run exits 64 if not)
	"$B/uffd-run" --socket "$W/d/uffdd.sock" --policy "$1" --require -- true \
		2> "$W/policy.err"
	rc=$?
	[ $rc = 0 ] && return 0
	echo "$REFUSED" | grep -q "^  $1: " || REFUSED="$REFUSED
  $1: $(cut -c1-150 "$W/policy.err")"
	return 1
}
for p in $POLICIES; do
	accepts "$p" && CONFIGS="$CONFIGS
$p wrapped $p"
done
NCONF=$(echo "$CONFIGS" | wc -l)

pg_start plain off
pg_sql -c "create database bench" postgres
pgbench -i -s "$SCALE" -q bench > "$W/init.log" 2>&1 || { cat "$W/init.log"; exit 1; }
pg_stop

total_faults() { "$B/tests/preload/preload_test" --summary "$W/d/ctl.sock" x |
	sed -n 's/.*total_faults=\([0-9]*\).*/\1/p'; }
daemon_cpu() { awk '{print $14 + $15}' "/proc/$DPID/stat"; } # clock ticks
HZ=$(getconf CLK_TCK)

# One measurement into $R/PREFIX.{tps,ms,fpc,cpu}: throughput, connection
# or request time, and (wrapped) uffdd's faults and CPU per unit.
record() { # PREFIX MODE TPS MS UNITS F0 F1 C0 C1
	echo "$3" >> "$R/$1.tps"
	echo "$4" >> "$R/$1.ms"
	if [ "$2" = wrapped ] && [ "${5:-0}" -gt 0 ]; then
		echo $(( ($7 - $6) / $5 )) >> "$R/$1.fpc"
		awk -v c=$(( $9 - $8 )) -v n="$5" -v hz="$HZ" \
			'BEGIN { printf "%.0f\n", c * 1e6 / hz / n }' >> "$R/$1.cpu"
	fi
}

pg_round() { # HUGE(on|off) SIZE-LABEL MODE POLICY LABEL
	pg_start "$3" "$1" "$4" || exit 1
	# Warm: shared buffers filled, and a learned set taught.
	pgbench -n -S -C -c 4 -j 2 -T 3 bench > /dev/null 2>&1
	pgbench -n -S -c 4 -j 2 -T 2 bench > /dev/null 2>&1
	for wl in sc tpcb; do
		f0=$(total_faults) c0=$(daemon_cpu)
		if [ $wl = sc ]; then
			pgbench -n -S -C -c 4 -j 2 -T "$SECS" bench > "$W/out" 2>&1
		else
			pgbench -n -c 4 -j 2 -T $((2 * SECS)) --progress=1 bench \
				> "$W/out" 2>&1
		fi
		f1=$(total_faults) c1=$(daemon_cpu)
		tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/out")
		# Steady state: the second half, once every connection's
		# backend has touched what it uses.
		[ $wl = tpcb ] && tps=$(awk -v s="$SECS" '/^progress: / {
			t = $2 + 0; v = $4 + 0; if (t > s) { sum += v; n++ } }
			END { if (n) printf "%.1f", sum / n }' "$W/out")
		ms=$(sed -n 's/^average connection time = \([0-9.]*\).*/\1/p' "$W/out")
		n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$W/out")
		grep -q "number of failed transactions: 0 " "$W/out" ||
			{ echo "bench-preload: failed transactions ($5, $2 $wl):"; cat "$W/out"; }
		[ $wl = tpcb ] && n=0 # faults per connection: -C only
		record "pg-$2-$wl.$(echo "$5" | tr ':/+' '___')" "$3" "${tps:-0}" \
			"${ms:--}" "${n:-0}" "${f0:-0}" "${f1:-0}" "$c0" "$c1"
	done
	pg_stop
}

fs_round() { # HUGE(0|1) SIZE-LABEL MODE POLICY LABEL
	pre=""
	[ "$3" = wrapped ] && pre="$B/uffd-run --socket $W/d/uffdd.sock --policy $4 --"
	# shellcheck disable=SC2086
	$pre "$B/tests/preload/forkserve" serve "$W/fs.sock" 64 "$1" 256 2> "$W/fs.log" &
	fspid=$!
	i=0
	while [ ! -S "$W/fs.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	"$B/tests/preload/forkserve" load "$W/fs.sock" 2 2 > /dev/null
	f0=$(total_faults) c0=$(daemon_cpu)
	out=$("$B/tests/preload/forkserve" load "$W/fs.sock" "$SECS" 2)
	f1=$(total_faults) c1=$(daemon_cpu)
	kill "$fspid"
	wait "$fspid" 2>/dev/null
	rm -f "$W/fs.sock"
	echo "$out" | grep -q " wrong=0 failed=0" ||
		echo "bench-preload: forkserve ($5, $2): $out"
	record "fs-$2.$(echo "$5" | tr ':/+' '___')" "$3" \
		"$(echo "$out" | sed -n 's/.* rps=\([0-9.]*\).*/\1/p')" \
		"$(echo "$out" | sed -n 's/.* ms_per_request=\([0-9.]*\).*/\1/p')" \
		"$(echo "$out" | sed -n 's/^requests=\([0-9]*\).*/\1/p')" \
		"${f0:-0}" "${f1:-0}" "$c0" "$c1"
}

echo "$CONFIGS" > "$W/configs"
r=1
while [ $r -le "$ROUNDS" ]; do
	# Rotate: round r starts with configuration (r-1) mod NCONF.
	k=$(( (r - 1) % NCONF ))
	{ tail -n +$((k + 1)) "$W/configs"; head -n "$k" "$W/configs"; } > "$W/order"
	for size in 4k 2M; do
		huge=off fsh=0
		[ $size = 2M ] && huge=on fsh=1
		while read -r label mode pol <&3; do
			[ "$pol" = "-" ] && pol=""
			pg_round "$huge" "$size" "$mode" "$pol" "$label"
			[ "$FORKSERVE" = 1 ] && fs_round "$fsh" "$size" "$mode" "$pol" "$label"
			echo "round $r: $size $label done" >&2
		done 3< "$W/order"
	done
	r=$((r + 1))
done

# Statistics --------------------------------------------------------------
median() { [ -s "$1" ] && sort -g "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}' || echo "-"; }
range() { [ -s "$1" ] && sort -g "$1" | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%s..%s", lo, hi}' || echo "-"; }
# Per-round ratio of a configuration to the unwrapped run of the round.
ratios() { # FILE BASEFILE -> one ratio (percent difference) per round
	paste "$1" "$2" | awk '$2 > 0 { printf "%.1f\n", ($1 - $2) * 100 / $2 }'
}
pct() { [ -s "$1" ] && awk -v m="$(median "$1")" -v r="$(range "$1")" \
	'BEGIN { printf "%+.1f%% [%s]", m, r }' || echo "-"; }

report_wl() { # PREFIX TITLE UNIT
	printf '\n%s\n' "$2"
	printf '  %-16s %12s %20s %26s %9s %8s %9s\n' config "$3" "range" \
		"vs unwrapped [range]" "ms/conn" faults "uffdd_us"
	while read -r label mode pol; do
		f="$R/$1.$(echo "$label" | tr ':/+' '___')"
		base="$R/$1.unwrapped"
		rel="-"
		if [ "$label" != unwrapped ]; then
			ratios "$f.tps" "$base.tps" > "$f.rel"
			rel=$(pct "$f.rel")
		fi
		printf '  %-16s %12s %20s %26s %9s %8s %9s\n' "$label" \
			"$(median "$f.tps")" "$(range "$f.tps")" "$rel" \
			"$(median "$f.ms")" "$(median "$f.fpc")" "$(median "$f.cpu")"
	done < "$W/configs"
}

{
	echo "bench-preload: $ROUNDS rounds (configurations alternated, order rotating), ${SECS}s each;" \
		"$(nproc) CPUs, $(uname -r); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "PostgreSQL $("$PGB/postgres" --version | awk '{print $3}'), pgbench scale $SCALE, shared_buffers 256MB, 4 clients, 2 threads"
	echo "columns: median tps, its range, the median (and range) of each round's difference to that round's"
	echo "unwrapped run, median connection time (pgbench's, ms; forkserve: ms per request and client),"
	echo "uffdd-served faults per connection (child), uffdd CPU per connection (child), us"
	report_wl pg-4k-sc "4 KiB pages, -S -C (a fork per connection)" tps
	report_wl pg-2M-sc "2 MiB pages, -S -C (a fork per connection)" tps
	report_wl pg-4k-tpcb "4 KiB pages, TPC-B on 4 long-lived connections, steady state (2nd half)" tps
	report_wl pg-2M-tpcb "2 MiB pages, TPC-B on 4 long-lived connections, steady state (2nd half)" tps
	if [ "$FORKSERVE" = 1 ]; then
		report_wl fs-4k "forkserve, 4 KiB pages (a fork per request)" req/s
		report_wl fs-2M "forkserve, 2 MiB pages (a fork per request)" req/s
	fi
	echo
	echo "every round (tps or req/s, in round order):"
	for wl in pg-4k-sc pg-2M-sc pg-4k-tpcb pg-2M-tpcb fs-4k fs-2M; do
		while read -r label mode pol; do
			f="$R/$wl.$(echo "$label" | tr ':/+' '___').tps"
			[ -s "$f" ] && printf '  %-11s %-16s %s\n' "$wl" "$label" "$(tr '\n' ' ' < "$f")"
		done < "$W/configs"
	done
	"$B/uffdctl" -C "$W/d/ctl.sock" status -j 2>/dev/null |
		python3 -c 'import json,sys; l=json.load(sys.stdin).get("learn"); l and print("learn (daemon-wide, whole run):", " ".join("%s=%s" % kv for kv in l.items()))' 2>/dev/null
	[ -n "$REFUSED" ] && echo "refused by uffdd:$REFUSED"
} > "$W/table"
cat "$W/table"
[ -d bench/results ] && cp "$W/table" bench/results/preload.txt
exit 0
