#!/bin/sh
# real.sh BUILD: unmodified Debian programs under uffd-run.
#
# PostgreSQL (a process per connection; its main shared memory is one
# MAP_SHARED|MAP_ANONYMOUS mapping, MAP_HUGETLB with huge_pages=on) runs
# pgbench three ways: unwrapped, under uffd-run with 4 KiB shmem, under
# uffd-run with 2 MiB hugetlb.  Checked:
#  - the same results: a single-client pgbench with a fixed seed leaves the
#    database in one exact state (a checksum of every balance), which must
#    be the same in all three; concurrent runs keep pgbench's invariants
#    (sum of account = branch = teller balances = sum of history deltas),
#    no failed transactions, amcheck finds the primary key index sound;
#  - every process of the server has a session with its region, faults are
#    counted, no errors; one session per connection forked (-C run).
# Prints "N passed, N failed" like the other test programs.
set -u
B=$(cd "${1:-build}" && pwd)
. tests/preload/pglib.sh

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
bad() { fail=$((fail + 1)); echo "not ok - $*"; }

trap pl_cleanup EXIT INT TERM
pl_deps postgresql postgresql-contrib || { echo "cannot install PostgreSQL"; exit 1; }
pl_workdir
# shared_buffers 128 MB: about 73 hugepages for huge_pages=on.
sh tools/hugepages.sh reserve 100 "$HP_STATE" >/dev/null || exit 1
pl_daemon_start || exit 1
pg_init || exit 1

STATE_SQL="select (select sum(abalance) from pgbench_accounts) || ' ' ||
  (select sum(bbalance) from pgbench_branches) || ' ' ||
  (select sum(tbalance) from pgbench_tellers) || ' ' ||
  (select coalesce(sum(delta), 0) from pgbench_history) || ' ' ||
  (select count(*) from pgbench_history) || ' ' ||
  (select md5(string_agg(aid || ':' || abalance, ',' order by aid)) from pgbench_accounts)"

# Forks the daemon followed, from its counters (never its log, which
# throttles per uid): children registered with FORKED, and clients that
# connected themselves whose parent, told by the kernel, was a client.
forks_followed() {
	"$B/uffdctl" -C "$W/d/ctl.sock" status -j | python3 -c '
import json, sys
t = json.load(sys.stdin)["totals"]
print(t["forked"] + t["child_clients"])'
}

# invariant STATE: the four sums equal
invariant() {
	set -- $1
	[ "$1" = "$2" ] && [ "$2" = "$3" ] && [ "$3" = "$4" ]
}

run_one() { # MODE HUGE LABEL
	mode=$1 huge=$2 label=$3
	pg_start "$mode" "$huge" || { bad "$label: server starts"; return; }
	pg_sql -c "drop database if exists bench" -c "create database bench" postgres
	pgbench -i -s 2 -q bench > "$W/init.log" 2>&1 || { bad "$label: pgbench -i"; cat "$W/init.log"; }
	pgbench -n -c 1 -j 1 -t 3000 --random-seed=7 bench > "$W/seq.log" 2>&1
	state=$(pg_sql -c "$STATE_SQL" bench)
	echo "$state" > "$W/state.$label"
	echo "# $label: deterministic state $state"
	invariant "$state" && ok "$label: deterministic run keeps invariants" ||
		bad "$label: deterministic run invariants ($state)"

	pgbench -n -c 4 -j 2 -T 5 bench > "$W/steady.$label" 2>&1
	steady_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/steady.$label")
	grep -q "number of failed transactions: 0 " "$W/steady.$label" &&
		ok "$label: 4 clients, no failed transaction ($steady_tps tps)" ||
		{ bad "$label: 4 clients"; cat "$W/steady.$label"; }
	[ "$mode" = wrapped ] && k0=$(forks_followed)
	pgbench -n -C -c 4 -j 2 -T 5 bench > "$W/conn.$label" 2>&1
	[ "$mode" = wrapped ] && k1=$(forks_followed)
	conn_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/conn.$label")
	conns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$W/conn.$label")
	grep -q "number of failed transactions: 0 " "$W/conn.$label" &&
		ok "$label: connection per transaction, no failed transaction ($conn_tps tps)" ||
		{ bad "$label: connection per transaction"; cat "$W/conn.$label"; }
	state=$(pg_sql -c "$STATE_SQL" bench)
	invariant "$state" && ok "$label: invariants after concurrent runs" ||
		bad "$label: invariants after concurrent runs ($state)"
	pg_sql -c "create extension if not exists amcheck" \
		-c "select bt_index_check('pgbench_accounts_pkey', true)" bench >/dev/null 2>"$W/amcheck.log" &&
		ok "$label: amcheck on pgbench_accounts_pkey" ||
		{ bad "$label: amcheck"; cat "$W/amcheck.log"; }

	if [ "$mode" = wrapped ]; then
		# A process forked a moment ago may not have its session yet
		# (its REGISTER is answered asynchronously): look a few times.
		tries=0
		while :; do
			sum=$(pl_status postgres)
			missing=""
			for p in $(pg_pids); do
				echo ",${sum##*pids=}," | grep -q ",$p," || missing="$missing $p"
			done
			tries=$((tries + 1))
			[ -z "$missing" ] || [ $tries -ge 20 ] && break
			sleep 0.1
		done
		echo "# $label: uffdd: $sum"
		[ -z "$missing" ] && ok "$label: every server process has a session" ||
			bad "$label: processes without a session:$missing"
		echo "$sum" | grep -q " unserved=0 " && echo "$sum" | grep -q " errors=0 " &&
			! echo "$sum" | grep -q " faults=0 " &&
			ok "$label: each session has its region, faults counted, no errors" ||
			bad "$label: sessions ($sum)"
		forks=$((k1 - k0))
		[ "$forks" -ge "${conns:-0}" ] &&
			ok "$label: $forks forks followed for $conns connections" ||
			bad "$label: $forks forks followed for $conns connections"
	fi
	pg_stop
}

run_one plain off plain
run_one wrapped off shmem
run_one wrapped on hugetlb
if grep -q "hugetlb" "$W/d/uffdd.log"; then
	ok "huge_pages=on: the region was hugetlb"
else
	bad "huge_pages=on: no hugetlb region registered"
fi
for l in shmem hugetlb; do
	if [ "$(cat "$W/state.plain")" = "$(cat "$W/state.$l")" ]; then
		ok "$l: same database state as unwrapped"
	else
		bad "$l: database state differs from unwrapped"
	fi
done
# Something simpler: Python's mmap.mmap(-1, n) is MAP_SHARED|MAP_ANONYMOUS.
# Its own test suite for mmap (anonymous maps, resize = mremap, madvise),
# then a fork with the child checking and writing the parent's memory.
if python3 -c 'import test.test_mmap' 2>/dev/null ||
	{ pl_deps python3 libpython3.11-testsuite && python3 -c 'import test.test_mmap'; } 2>/dev/null; then
	(cd /tmp && python3 -m test test_mmap) > "$W/py.plain" 2>&1
	(cd /tmp && "$B/uffd-run" --socket "$W/d/uffdd.sock" --min-size 4096 -v -- \
		python3 -m test -v test_mmap) > "$W/py.wrapped" 2>&1
	a=$(grep -E "^Total tests|^Result" "$W/py.plain" | tr '\n' ' ')
	b=$(grep -E "^Total tests|^Result" "$W/py.wrapped" | tr '\n' ' ')
	n=$(grep -c ': served "python3' "$W/py.wrapped")
	echo "# python3 test_mmap: unwrapped: $a; wrapped: $b; $n mappings served"
	[ -n "$a" ] && [ "$a" = "$b" ] && [ "$n" -gt 0 ] &&
		ok "python3 -m test test_mmap: same result under uffd-run, $n mappings served" ||
		{ bad "python3 test_mmap under uffd-run"; tail -20 "$W/py.wrapped"; }
	cat > "$W/fork.py" <<'PY'
import mmap, os
m = mmap.mmap(-1, 64 << 20)
for i in range(0, len(m), 4096):
    m[i] = (i // 4096) % 251
pid = os.fork()
if pid == 0:
    ok = all(m[i] == (i // 4096) % 251 for i in range(0, len(m), 4096))
    m[0] = 77
    os._exit(0 if ok else 1)
_, st = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(st) == 0 and m[0] == 77
print("ok")
PY
	k0=$(forks_followed)
	out=$("$B/uffd-run" --socket "$W/d/uffdd.sock" -- python3 "$W/fork.py" 2>&1)
	kids=$(( $(forks_followed) - k0 ))
	[ "$out" = ok ] && [ "$kids" -ge 1 ] &&
		ok "python3 fork: child sees and writes the parent's served memory ($kids child session)" ||
		bad "python3 fork ($out, $kids child sessions)"
else
	echo "# python3 test suite not available: skipped"
fi

# A fork-per-request server of our own (tests/preload/forkserve.c), under
# uffd-run's default policy: every answer right, the learned set mapped
# into the children, few faults left per child.
fs_run() { # HUGE LABEL
	"$B/uffd-run" --socket "$W/d/uffdd.sock" -- \
		"$B/tests/preload/forkserve" serve "$W/fs.sock" 64 "$1" 256 2> "$W/fs.log" &
	fspid=$!
	i=0
	while [ ! -S "$W/fs.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	"$B/tests/preload/forkserve" load "$W/fs.sock" 1 2 > "$W/fs.warm"
	f0=$(pl_status forkserve | sed -n 's/.*total_faults=\([0-9]*\).*/\1/p')
	out=$("$B/tests/preload/forkserve" load "$W/fs.sock" 3 2)
	rc=$?
	f1=$(pl_status forkserve | sed -n 's/.*total_faults=\([0-9]*\).*/\1/p')
	kill "$fspid"; wait "$fspid" 2>/dev/null; rm -f "$W/fs.sock"
	n=$(echo "$out" | sed -n 's/^requests=\([0-9]*\).*/\1/p')
	fpc=$(( (${f1:-0} - ${f0:-0}) / ${n:-1} ))
	echo "# forkserve $2: $out, $fpc faults per child"
	[ $rc = 0 ] && echo "$out" | grep -q " wrong=0 failed=0" &&
		ok "forkserve $2: every answer right ($n requests, a fork each)" ||
		bad "forkserve $2: $out"
	[ "${n:-0}" -gt 0 ] && [ "$fpc" -lt 10 ] &&
		ok "forkserve $2: $fpc faults per child under learn (256 pages each)" ||
		bad "forkserve $2: $fpc faults per child"
}
fs_run 0 shmem
fs_run 1 hugetlb
learned=$("$B/uffdctl" -C "$W/d/ctl.sock" status -j |
	python3 -c 'import json,sys; l=json.load(sys.stdin)["learn"]; print(l["children"], l["self_mapped"], l["premapped"], l["set_pages"])')
echo "# learn: children, children that mapped the board themselves, pages the daemon mapped ahead, set pages: $learned"
set -- $learned
# The default path: children map their lineage's board before registering.
[ "${2:-0}" -gt 0 ] && ok "learn: $2 of $1 children mapped the learned set themselves" ||
	bad "learn: no child mapped the board ($learned)"

# The kill test: uffdd SIGKILLed while PostgreSQL serves a connection per
# transaction under the default policy.  The server goes on unserved: no
# failed transaction, invariants and index sound.
pg_start wrapped off || bad "kill: server starts"
pgbench -n -C -c 4 -j 2 -T 6 bench > "$W/kill.log" 2>&1 &
bpid=$!
sleep 2
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=""
wait "$bpid"
grep -q "number of failed transactions: 0 " "$W/kill.log" &&
	ok "kill: uffdd SIGKILLed mid-run, no failed transaction ($(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/kill.log") tps)" ||
	{ bad "kill: pgbench after SIGKILL"; cat "$W/kill.log"; }
state=$(pg_sql -c "$STATE_SQL" bench)
invariant "$state" && ok "kill: invariants after the daemon died" ||
	bad "kill: invariants ($state)"
pg_sql -c "select bt_index_check('pgbench_accounts_pkey', true)" bench >/dev/null 2>"$W/amcheck.log" &&
	ok "kill: amcheck after the daemon died" ||
	{ bad "kill: amcheck"; cat "$W/amcheck.log"; }
pg_stop

grep -E "warning|error" "$W/d/uffdd.log" | head -5
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
