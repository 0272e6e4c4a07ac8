#!/bin/sh
# check-ctl.sh BUILD: uffdctl and the daemon's administrative side, the way
# an administrator meets them, against a real uffdd with real clients:
#
#  - the summary (clients, regions, faults/s, latency, errors, limits near
#    their bounds), the tables, and -j/-p JSON a JSON parser reads;
#  - uffdctl metrics parsed by prometheus_client's parser (Debian's
#    python3-prometheus-client), agreeing with status; -o writes a file;
#  - uffdctl top's frames, with the rate of a region that keeps faulting;
#  - exit codes 0/1/2, and errors that say what to do (a user outside the
#    control socket's group is told about root and uffdadm);
#  - a reload that names the keys waiting for a restart, and one that fails;
#  - --dump-config read back to the same configuration;
#  - the log's timestamps carry the date; bash completion.
#
# Prints "N passed, N failed" like the other tests.  Root (a user to drop to,
# hugepages not needed: shmem only).
set -u
build=$(cd "$1" && pwd)
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
# expect WHAT COMMAND...: the command must succeed.
expect() {
	what=$1
	shift
	if "$@"; then ok; else bad "$what"; fi
}
PY=/usr/bin/python3
export PATH="$build:$PATH"

sh tools/deps.sh python3-prometheus-client >/dev/null || exit 1
tmp=$(mktemp -d /tmp/uffdd-ctl.XXXXXX)
chmod 755 "$tmp"
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The control socket for root's group only; a limit that two clients of
# one uid reach, so that the summary says it is near.
write_config() {
	cat >"$tmp/uffdd.json" <<EOF
{
  // a test configuration (comments are allowed)
  "socket": "$tmp/d.sock",
  "control_socket": "$tmp/c.sock",
  "control_socket_mode": "0660",
  "control_socket_group": "root",
  "workers": ${1:-2},
  "limits": { "clients_per_uid": 2, "clients": ${2:-1024} }
}
EOF
}
write_config
uffdd --config "$tmp/uffdd.json" 2>"$tmp/uffdd.log" &
upid=$!
pids="$upid"
i=0
while [ ! -S "$tmp/c.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
export UFFDD_CONTROL_SOCKET="$tmp/c.sock"

uffd-touch --socket "$tmp/d.sock" --kind shmem --size 8M --name steady \
	--hold 60 >/dev/null &
pids="$pids $!"
"$build/tests/systemd/fault-loop" --socket "$tmp/d.sock" --kind shmem \
	--size 4M --threads 1 --duration 60 --name busy >/dev/null &
pids="$pids $!"
i=0
until [ "$(uffdctl -j status 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["totals"]["regions"])' 2>/dev/null)" = 2 ] ||
	[ $i -ge 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
sleep 2.5 # the daemon's faults/s covers the last 2 s

# --- the summary and the tables ---------------------------------------------
out=$(uffdctl status)
rc=$?
expect "uffdctl status exits $rc" [ "$rc" = 0 ]
for want in "^uffdd [0-9.]* (pid $upid), up " "^Config:   $tmp/uffdd.json" \
	"^Clients:  2 of 1024" "^Regions:  2 of 8192, 12.0 MiB" \
	"^Faults:   [0-9,]*/s; [0-9,]* since start" "^Latency:  p50 [0-9.]* [nu]s, p99 " \
	"^Errors:   0 faults failed" "^Near:     clients of its uid 2 of 2 (100%) (pid [0-9]* [a-z-]*)\$" \
	"PID *UID *CLIENT" " busy " " uffd-touch "; do
	if printf '%s\n' "$out" | grep -q -- "$want"; then ok; else
		bad "uffdctl status has no line like '$want':
$out"
	fi
done
rate=$(printf '%s\n' "$out" | sed -n 's/^Faults:   \([0-9,]*\)\/s.*/\1/p' | tr -d ,)
expect "the summary's faults/s is $rate while a client faults" [ "${rate:-0}" -gt 0 ]
printf '%s\n' "$out" >"$tmp/summary.txt"
out=$(uffdctl regions)
expect "uffdctl regions: $out" sh -c "printf '%s\n' \"\$0\" | grep -q '^[0-9a-f]\{16\} busy .* shmem *4.0 MiB'" "$out"
out=$(uffdctl clients)
expect "uffdctl clients: $out" sh -c "printf '%s\n' \"\$0\" | grep -c ' uffd-touch\| busy ' | grep -qx 2" "$out"

# JSON for scripts, read by a JSON parser.
$PY - "$build" <<'EOF' || bad "uffdctl -j/-p: the JSON"
import json, subprocess, sys
def run(*a):
    return subprocess.run(["uffdctl", *a], check=True, capture_output=True, text=True).stdout
st = json.loads(run("-j", "status"))
assert st["totals"]["regions"] == 2, st["totals"]
assert st["config"]["restart_needed"] == [], st["config"]
assert st["totals"]["latency_ns"]["p99"] > 0
pretty = run("-p", "status")
assert pretty.count("\n") > 20 and json.loads(pretty)["pid"] == st["pid"]
regions = json.loads(run("-j", "regions"))
assert sorted(r["name"] for r in regions) == ["busy", "steady"], regions
assert len(json.loads(run("--json", "clients"))) == 2
# options after the command, as uffdctl took them before
assert json.loads(run("status", "--pretty"))["pid"] == st["pid"]
EOF
ok

# --- metrics --------------------------------------------------------------------
uffdctl metrics >"$tmp/metrics.txt"
expect "uffdctl metrics exits $?" [ -s "$tmp/metrics.txt" ]
uffdctl metrics -o "$tmp/uffdd.prom"
expect "uffdctl metrics -o wrote nothing" [ -s "$tmp/uffdd.prom" ]
expect "uffdctl metrics -o left a temporary file" \
	sh -c "[ -z \"\$(ls $tmp | grep '\.tmp$')\" ]"
uffdctl -j status >"$tmp/status.json"
$PY - "$tmp/metrics.txt" "$tmp/uffdd.prom" "$tmp/status.json" <<'EOF' || bad "the metrics, as prometheus_client parses them"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
status = json.load(open(sys.argv[3]))
for path in sys.argv[1:3]:
    fams = {f.name: f for f in text_string_to_metric_families(open(path).read())}
    need = {"uffdd_info": "gauge", "uffdd_clients": "gauge", "uffdd_faults": "counter",
            "uffdd_fault_latency_seconds": "histogram", "uffdd_region_faults": "counter",
            "uffdd_limit": "gauge", "uffdd_worker_faults": "counter",
            "uffdd_client_regions": "gauge"}
    for name, typ in need.items():
        assert name in fams, (path, name, sorted(fams))
        assert fams[name].type == typ, (name, fams[name].type)
    s = {x.name + str(sorted(x.labels.items())): x.value for f in fams.values() for x in f.samples}
    assert s["uffdd_clients[]"] == 2
    h = [x for x in fams["uffdd_fault_latency_seconds"].samples if x.name.endswith("_bucket")]
    counts = [x.value for x in h]
    assert counts == sorted(counts), "buckets not cumulative"
    assert h[-1].labels["le"] == "+Inf"
    count = [x.value for x in fams["uffdd_fault_latency_seconds"].samples if x.name.endswith("_count")][0]
    assert h[-1].value == count > 0
    faults = [x.value for x in fams["uffdd_faults"].samples][0]
    assert 0 < faults <= status["totals"]["faults"], (faults, status["totals"]["faults"])
    regions = {x.labels["name"]: x for x in fams["uffdd_region_faults"].samples}
    assert set(regions) == {"busy", "steady"}, regions
    assert regions["steady"].value == 2048 and regions["steady"].labels["policy"] == "continue"
    lim = {x.labels["limit"]: x.value for x in fams["uffdd_limit"].samples}
    assert lim["clients_per_uid"] == 2
print("metrics: %d families parsed" % len(fams))
EOF
ok

# --- top ------------------------------------------------------------------------
out=$(uffdctl top -n 2 -d 0.5)
rc=$?
expect "uffdctl top -n 2 exits $rc" [ "$rc" = 0 ]
expect "uffdctl top: two frames" sh -c "[ \$(printf '%s\n' \"\$0\" | grep -c '^uffdd .* faults/s') = 2 ]" "$out"
busy=$(printf '%s\n' "$out" | awk '$3 == "busy" { r = $7 } END { print r + 0 }')
expect "uffdctl top: the busy region's faults/s in the second frame is $busy:
$out" [ "$busy" -gt 0 ]
printf '%s\n' "$out" | tail -n 4 >"$tmp/top.txt"

# --- exit codes and errors that say what to do ----------------------------------
code() { # WANT WHAT COMMAND...
	want=$1 what=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" = "$want" ]; then ok; else bad "$what: exit $got, want $want: $(cat "$tmp/err")"; fi
}
code 2 "publish x abc 4096" uffdctl publish x abc 4096
grep -q 'OFFSET "abc" is not a number of bytes' "$tmp/err" && ok || bad "publish abc: $(cat "$tmp/err")"
code 2 "no command" uffdctl
code 2 "an unknown command" uffdctl frobnicate
code 2 "status with an argument" uffdctl status now
code 2 "top -n 0" uffdctl top -n 0
code 2 "an unknown option" uffdctl --frob status
code 1 "publish to no such region" uffdctl publish nosuch 0 4096
grep -q "no region \"nosuch\"" "$tmp/err" && ok || bad "publish nosuch: $(cat "$tmp/err")"
code 0 "policy of a region" uffdctl policy steady around:4
grep -qx "region [0-9a-f]*: policy around:4" "$tmp/out" && ok || bad "policy: $(cat "$tmp/out")"
code 1 "a daemon that is not there" uffdctl -C "$tmp/none.sock" status
grep -q "uffdd is not listening there: systemctl start" "$tmp/err" && ok || bad "no daemon: $(cat "$tmp/err")"
code 1 "a user outside the socket's group" setpriv --reuid 65534 --regid 65534 --clear-groups uffdctl status
grep -q "for root and the uffdadm group" "$tmp/err" && ok || bad "EACCES: $(cat "$tmp/err")"
code 0 "check-kernel" uffdctl check-kernel
grep -q "uffdd can serve this kernel" "$tmp/out" && ok || bad "check-kernel: $(cat "$tmp/out")"

# --- reload: what waits for a restart is said -------------------------------------
write_config 3 77
kill -HUP "$upid"
i=0
until [ "$(uffdctl -j status | $PY -c 'import json,sys; print(json.load(sys.stdin)["limits"]["clients"])')" = 77 ] ||
	[ $i -ge 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
uffdctl -j status | $PY -c '
import json, sys
st = json.load(sys.stdin)
assert st["limits"]["clients"] == 77, st["limits"]
assert st["config"]["restart_needed"] == ["workers"], st["config"]
assert st["config"]["reloaded"] > 0 and st["config"]["reload_error"] is None
assert len(st["workers"]) == 2' && ok || bad "reload with a new workers: $(uffdctl -j status | head -c 400)"
grep -q "warning: configuration reloaded from $tmp/uffdd.json, except workers: changed, but read only at start-up" \
	"$tmp/uffdd.log" && ok || bad "no warning naming workers in the log: $(tail -n 3 "$tmp/uffdd.log")"
uffdctl status | grep -q "^Config:   .*reloaded .* ago; restart to apply: workers" && ok ||
	bad "the summary does not say workers waits: $(uffdctl status | head -n 2)"
echo '{ "workers": 2, "workers": 3 }' >"$tmp/uffdd.json"
kill -HUP "$upid"
i=0
until uffdctl -j status | grep -q '"reload_error":"' || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
uffdctl status | grep -q "^Config:   $tmp/uffdd.json, reloaded .*LAST RELOAD FAILED, old configuration kept: .*key \"workers\" given twice" && ok ||
	bad "a failed reload is not in the summary: $(uffdctl status | sed -n 2p)"
cp "$tmp/uffdd.json" "$tmp/dup.json"
out=$(uffdd --check-config --config "$tmp/dup.json" 2>&1)
expect "--check-config with a duplicate key: $out" sh -c "printf '%s' \"\$0\" | grep -q 'dup.json:1:17: key \"workers\" given twice (first at line 1:3)'" "$out"
echo '{ "wrokers": 2 }' >"$tmp/typo.json"
out=$(uffdd --check-config --config "$tmp/typo.json" 2>&1)
expect "--check-config with a typo: $out" sh -c "printf '%s' \"\$0\" | grep -q 'did you mean \"workers\"?'" "$out"

# --- --dump-config --------------------------------------------------------------
uffdd --dump-config --config tests/ctl/all-keys.json >"$tmp/dump1.json"
out=$(uffdd --check-config --config "$tmp/dump1.json" 2>&1)
expect "the dump is not a configuration: $out" [ $? = 0 ]
uffdd --dump-config --config "$tmp/dump1.json" >"$tmp/dump2.json"
tail -n +2 "$tmp/dump1.json" >"$tmp/d1" && tail -n +2 "$tmp/dump2.json" >"$tmp/d2"
expect "dump, read back, dumped again: $(diff "$tmp/d1" "$tmp/d2" | head)" cmp -s "$tmp/d1" "$tmp/d2"
grep -q '"workers": 3' "$tmp/d1" && ok || bad "the dump lost workers: $(head -n 8 "$tmp/d1")"
out=$(uffdd --no-config --workers 5 --dump-config | grep '"workers"')
expect "--dump-config ignores the command line: $out" [ "$out" = '  "workers": 5,' ]

# --- the log, the completion ----------------------------------------------------
line=$(head -n 1 "$tmp/uffdd.log")
expect "the log line has no date: $line" sh -c "printf '%s' \"\$0\" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} uffdd\[[0-9]+\] notice: '" "$line"
out=$(bash -c '
	. uffdd/ctl/uffdctl.bash
	c() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _uffdctl; echo "${COMPREPLY[*]}"; }
	c uffdctl st
	c uffdctl publish ""
	c uffdctl policy busy aro
	c uffdctl disconnect ""')
expect "bash completion: $out" sh -c "printf '%s\n' \"\$0\" | sed -n 1p | grep -qx status &&
	printf '%s\n' \"\$0\" | sed -n 2p | grep -qw busy &&
	printf '%s\n' \"\$0\" | sed -n 3p | grep -qx around: &&
	printf '%s\n' \"\$0\" | sed -n 4p | grep -Eqw '[0-9a-f]{16}'" "$out"

cp "$tmp/summary.txt" "$build/ctl-summary.txt" 2>/dev/null
cp "$tmp/metrics.txt" "$build/ctl-metrics.txt" 2>/dev/null
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
