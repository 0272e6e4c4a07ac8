#!/bin/sh
# bench.sh BUILD [--rounds N] [--seconds S] [--policies "P ..."] [--huge-policies "P ..."]
#
# A forking server with and without uffd-run: PostgreSQL (a process per
# connection, its shared memory one MAP_SHARED|MAP_ANONYMOUS mapping) and
# pgbench, two workloads each:
#   steady    4 clients on 4 long-lived connections (pgbench -c 4 -j 2)
#   conn/txn  one new connection, hence one fork, per transaction (-C)
# for 4 KiB pages (huge_pages=off) and 2 MiB pages (huge_pages=on), each
# unwrapped and under uffd-run with every policy given.  The configurations
# run one after another within a round (alternating), N rounds; the table
# shows each one's median tps and its difference to the unwrapped median of
# the same page size, the median pgbench connection time, and the faults
# uffdd served per connection.  A policy the daemon refuses is reported as
# such.  Results also in bench/results/preload.txt when that directory
# exists.
set -u
B=$(cd "${1:-build}" && pwd)
shift
ROUNDS=3 SECS=5
POLICIES="continue around:16 around:64 eager"
HPOLICIES="continue around:8 eager"
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--policies) POLICIES=$2; shift 2 ;;
	--huge-policies) HPOLICIES=$2; shift 2 ;;
	*) echo "bench.sh: unknown argument $1" >&2; exit 64 ;;
	esac
done
. tests/preload/pglib.sh

trap pl_cleanup EXIT INT TERM
pl_deps postgresql postgresql-contrib || exit 1
pl_workdir
sh tools/hugepages.sh reserve 100 "$HP_STATE" >/dev/null || exit 1
pl_daemon_start || exit 1
pg_init || exit 1
R="$W/results"
mkdir -p "$R"

# Configurations: label mode huge policy ("-" for none).
CONFIGS="4k:unwrapped plain off -"
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
4k:$p wrapped off $p"
done
CONFIGS="$CONFIGS
2M:unwrapped plain on -"
for p in $HPOLICIES; do
	accepts "$p" && CONFIGS="$CONFIGS
2M:$p wrapped on $p"
done

pg_start plain off
pg_sql -c "create database bench" postgres
pgbench -i -s 4 -q bench > "$W/init.log" 2>&1 || { cat "$W/init.log"; exit 1; }
pg_stop

total_faults() { pl_status postgres | sed -n 's/.*total_faults=\([0-9]*\).*/\1/p'; }

echo "$CONFIGS" > "$W/configs"
r=1
while [ $r -le "$ROUNDS" ]; do
	while read -r label mode huge pol <&3; do
		[ "$pol" = "-" ] && pol=""
		f=$(echo "$label" | tr ':/' '__')
		pg_start "$mode" "$huge" "$pol" || exit 1
		pgbench -n -c 4 -j 2 -T "$SECS" bench > "$W/out" 2>&1
		sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/out" >> "$R/$f.steady"
		f0=$(total_faults)
		pgbench -n -C -c 4 -j 2 -T "$SECS" bench > "$W/out" 2>&1
		f1=$(total_faults)
		sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/out" >> "$R/$f.conn"
		sed -n 's/^average connection time = \([0-9.]*\).*/\1/p' "$W/out" >> "$R/$f.ctime"
		n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$W/out")
		if [ "$mode" = wrapped ] && [ "${n:-0}" -gt 0 ]; then
			echo $(( (f1 - f0) / n )) >> "$R/$f.fpc"
		fi
		pg_stop
		echo "round $r: $label done" >&2
	done 3< "$W/configs"
	r=$((r + 1))
done

median() { [ -s "$1" ] && sort -g "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}' || echo "-"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "-" || a == "-" || b == 0) print "-"; else printf "%+.1f%%", (a - b) * 100 / b }'; }

{
	echo "bench-preload: PostgreSQL $("$PGB/postgres" --version | awk '{print $3}') + pgbench (scale 4), $ROUNDS rounds x ${SECS}s, medians; $(nproc) CPUs, $(uname -r)"
	printf '%-18s %12s %9s %14s %9s %12s %11s\n' config steady_tps vs_unwr conn/txn_tps vs_unwr conn_ms faults/conn
	while read -r label mode huge pol; do
		f=$(echo "$label" | tr ':/' '__')
		base=$(echo "$label" | cut -d: -f1)_unwrapped
		s=$(median "$R/$f.steady") c=$(median "$R/$f.conn")
		bs=$(median "$R/$base.steady") bc=$(median "$R/$base.conn")
		printf '%-18s %12s %9s %14s %9s %12s %11s\n' "$label" "$s" "$(pct "$s" "$bs")" \
			"$c" "$(pct "$c" "$bc")" "$(median "$R/$f.ctime")" "$(median "$R/$f.fpc")"
	done < "$W/configs"
	echo "per round (steady tps | conn/txn tps), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	while read -r label mode huge pol; do
		f=$(echo "$label" | tr ':/' '__')
		printf '  %-16s %s | %s\n' "$label" "$(tr '\n' ' ' < "$R/$f.steady")" \
			"$(tr '\n' ' ' < "$R/$f.conn")"
	done < "$W/configs"
	[ -n "$REFUSED" ] && echo "refused by uffdd:$REFUSED"
} > "$W/table"
cat "$W/table"
[ -d bench/results ] && cp "$W/table" bench/results/preload.txt
exit 0
