# tests/preload/pglib.sh: PostgreSQL and uffdd helpers for real.sh and
# bench.sh (sourced; POSIX sh).  Everything lives in one private directory
# $W: a uffdd on its own sockets, a data directory, PostgreSQL listening on
# a Unix socket only (listen_addresses='').
#
# Needs: B (absolute build dir), W (work dir, created by pl_workdir).

PG_USER=postgres

pl_log() { echo "preload: $*" >&2; }

# Install what is missing (only then asks apt).  A Debian postinst would
# start the packaged cluster; policy-rc.d keeps it from doing so.
pl_deps() {
	missing=""
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	pl_log "installing$missing"
	made_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	{ apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
	  { apt-get update -q >/dev/null &&
	    apt-get install -y -q --no-install-recommends $missing >/dev/null; }; }
	rc=$?
	[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
	return $rc
}

pl_workdir() {
	W=$(mktemp -d /tmp/uffd-preload.XXXXXX)
	chmod 755 "$W"
	mkdir -p "$W/d" "$W/sock" "$W/pg"
	chown "$PG_USER:" "$W/sock" "$W/pg"
	chmod 700 "$W/pg"
	HP_STATE="$W/hugepages.state"
}

# uffdd granting /dev/userfaultfd to root and the postgres user.
pl_daemon_start() {
	uid=$(id -u "$PG_USER")
	printf '{"grant": {"uids": [0, %s]}}\n' "$uid" > "$W/d/uffdd.json"
	"$B/uffdd" --socket "$W/d/uffdd.sock" --control-socket "$W/d/ctl.sock" \
		--config "$W/d/uffdd.json" > "$W/d/uffdd.log" 2>&1 &
	DPID=$!
	i=0
	while [ ! -S "$W/d/ctl.sock" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -S "$W/d/ctl.sock" ] || { pl_log "uffdd did not start:"; cat "$W/d/uffdd.log" >&2; return 1; }
}

pl_daemon_stop() {
	[ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	DPID=""
}

pl_status() { "$B/tests/preload/preload_test" --summary "$W/d/ctl.sock" "$1"; }

PGB=""
pg_init() {
	PGB=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -n "$PGB" ] || { pl_log "PostgreSQL not installed"; return 1; }
	runuser -u "$PG_USER" -- "$PGB/initdb" -D "$W/pg" -A trust --no-sync \
		-U "$PG_USER" > "$W/initdb.log" 2>&1 ||
		{ cat "$W/initdb.log" >&2; return 1; }
}

# pg_start plain|wrapped HUGE_PAGES(on|off) [POLICY]
pg_start() {
	pre=""
	if [ "$1" = wrapped ]; then
		pre="$B/uffd-run --socket $W/d/uffdd.sock"
		[ -n "${3:-}" ] && pre="$pre --policy $3"
		pre="$pre --"
	fi
	# shellcheck disable=SC2086
	runuser -u "$PG_USER" -- $pre "$PGB/postgres" -D "$W/pg" -k "$W/sock" \
		-c listen_addresses= -c huge_pages="$2" -c fsync=off \
		-c max_connections=40 -c log_min_messages=warning \
		> "$W/pg.log" 2>&1 &
	i=0
	until "$PGB/pg_isready" -q -h "$W/sock" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			pl_log "PostgreSQL did not start:"
			cat "$W/pg.log" >&2
			return 1
		fi
	done
	PGPID=$(head -1 "$W/pg/postmaster.pid")
}

pg_stop() {
	runuser -u "$PG_USER" -- "$PGB/pg_ctl" -D "$W/pg" stop -m fast -w >/dev/null 2>&1
	PGPID=""
}

pg_sql() { runuser -u "$PG_USER" -- "$PGB/psql" -h "$W/sock" -qAtX -v ON_ERROR_STOP=1 "$@"; }
pgbench() { runuser -u "$PG_USER" -- "$PGB/pgbench" -h "$W/sock" "$@"; }

# Processes of the running server: the postmaster and its children.
pg_pids() { { echo "$PGPID"; pgrep -P "$PGPID"; } | sort -n | tr '\n' ' '; }

pl_cleanup() {
	[ -n "${PGPID:-}" ] && pg_stop
	pl_daemon_stop
	[ -n "${HP_STATE:-}" ] && [ -f "$HP_STATE" ] && sh tools/hugepages.sh restore "$HP_STATE"
	[ -n "${W:-}" ] && [ -z "${UFFDD_TEST_KEEP:-}" ] && rm -rf "$W"
}
