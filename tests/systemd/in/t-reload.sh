#!/bin/bash
# `systemctl reload` with a good config (applied, same process), with a broken
# one (reload fails with the parser's message, daemon untouched and serving),
# and a SIGHUP with a broken file (daemon keeps its old configuration).
. /opt/uffdd-tests/lib.sh
setup_uffdd
need_hugepages 16

limit() { uffdctl -j status | jq -r .limits.clients; }

ok_touch "activate" --kind shmem --size 8M || fail "first client"
pid=$(main_pid)
[ "$(limit)" = 1024 ] || fail "default limits.clients is $(limit)"

write_config <<'EOF'
{ "log_level": "debug", "limits": { "clients": 64 } }
EOF
systemctl reload uffdd.service || fail "reload with a good config failed"
wait_for 5 is_active || fail "not active after reload: $(prop ActiveState)/$(prop SubState)"
[ "$(main_pid)" = "$pid" ] || fail "reload replaced the process ($pid -> $(main_pid))"
wait_for 5 sh -c '[ "$(uffdctl -j status | jq -r .limits.clients)" = 64 ]' || fail "good config not applied: limits.clients=$(limit); daemon said: $(journalctl -b -t uffdd -o cat | tail -n 1)"
log "good config: applied in place (pid $pid, limits.clients 64)"

printf '{ "limits": { "clients": "many" }\n' >/etc/uffdd/uffdd.json
if out=$(systemctl reload uffdd.service 2>&1); then
	fail "reload with a broken config reported success"
fi
wait_for 3 sh -c 'journalctl -b -u uffdd.service -o cat | grep -q "uffdd.json:[0-9]"'
log "broken config: systemctl reload failed as it should: $(journalctl -b -u uffdd.service -o cat | grep 'uffdd.json:[0-9]' | tail -n 1)"
is_active || fail "daemon not active after a failed reload: $(prop ActiveState)/$(prop SubState)"
[ "$(main_pid)" = "$pid" ] || fail "failed reload replaced the process"
[ "$(limit)" = 64 ] || fail "failed reload changed the config: limits.clients=$(limit)"
ok_touch "after broken reload" --kind shmem --size 8M || fail "not serving after a failed reload"

# The daemon's own guard, without ExecReload's check in front of it.
kill -HUP "$pid"
wait_for 5 sh -c 'journalctl -b -u uffdd.service -o cat | grep -q "reload failed"' ||
	fail "no 'reload failed' in the journal after SIGHUP with a broken file"
wait_for 5 is_active || fail "not active after SIGHUP with a broken file"
[ "$(main_pid)" = "$pid" ] || fail "SIGHUP with a broken file replaced the process"
[ "$(limit)" = 64 ] || fail "SIGHUP with a broken file changed the config"
st=$(prop StatusText)
ok_touch "after broken SIGHUP" --kind hugetlb --size 32M --threads 2 || fail "not serving after SIGHUP with a broken file"
log "SIGHUP with a broken file: kept the old config; status: $st"

write_config <<'EOF'
{ "limits": { "clients": 128 } }
EOF
systemctl reload uffdd.service || fail "reload after fixing the config failed"
wait_for 5 sh -c '[ "$(uffdctl -j status | jq -r .limits.clients)" = 128 ]' || fail "fixed config not applied"
[ "$(main_pid)" = "$pid" ] || fail "reload replaced the process"

# A key read only at start-up: the reload says it waits for a restart, in
# the journal, in the unit's status line and in uffdctl status; a restart
# applies it and the list empties.
echo '{ "limits": { "clients": 128 }, "workers": 3 }' >/etc/uffdd/uffdd.json
systemctl reload uffdd.service || fail "reload with a new workers failed"
wait_for 5 sh -c '[ "$(uffdctl -j status | jq -c .config.restart_needed)" = "[\"workers\"]" ]' ||
	fail "restart_needed is $(uffdctl -j status | jq -c .config)"
journalctl -b -u uffdd.service -o cat | grep -q "except workers: changed, but read only at start-up" ||
	fail "no warning naming workers: $(journalctl -b -u uffdd.service -o cat | tail -n 2)"
prop StatusText | grep -q "restart to apply: workers" || fail "StatusText: $(prop StatusText)"
uffdctl status | grep -q "restart to apply: workers" || fail "summary: $(uffdctl status | sed -n 2p)"
[ "$(uffdctl -j status | jq '.workers | length')" != 3 ] || fail "workers changed without a restart"
systemctl restart uffdd.service || fail "restart"
wait_for 10 sh -c '[ "$(uffdctl -j status | jq ".workers | length")" = 3 ]' || fail "restart did not apply workers"
[ "$(uffdctl -j status | jq -c .config.restart_needed)" = "[]" ] || fail "restart_needed after the restart: $(uffdctl -j status | jq -c .config)"
log "workers changed: named by the reload (journal, StatusText, uffdctl status), applied by a restart"
pass "good config applied in place; broken config refused (reload fails, SIGHUP keeps old); a start-up key named until a restart applies it"
