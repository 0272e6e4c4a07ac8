/* SPDX-License-Identifier: MIT */
#include "status.h"
#include "caps_json.h"
#include "core/bounds.h"
#include "core/clock.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/session.h"
#include "core/share.h"
#include "core/unresolved.h"
#include "core/worker.h"
#include "policy/learn_set.h"
#include "policy/policy.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *mode_name(int m)
{
	switch (m) {
	case UFFDD_UFFD_DEVICE:
		return "device";
	case UFFDD_UFFD_SYSCALL:
		return "syscall";
	case UFFDD_UFFD_USER_ONLY:
		return "user-mode-only";
	default:
		return "unknown";
	}
}

static json_object *u64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* An id as 16 hex digits. */
static json_object *id_json(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%016" PRIx64, v);
	return json_object_new_string(buf);
}

static json_object *latency(const struct histo *h)
{
	json_object *lat = json_object_new_object();

	json_object_object_add(lat, "p50", u64(histo_pct(h, 50)));
	json_object_object_add(lat, "p99", u64(histo_pct(h, 99)));
	json_object_object_add(lat, "max", u64(histo_max(h)));
	return lat;
}

static json_object *region_json(const struct region *r)
{
	json_object *o = json_object_new_object(), *ps;
	char start[24];

	json_object_object_add(o, "id", id_json(r->v.id));
	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(
	    o, "kind",
	    json_object_new_string(r->kind == UFFDD_KIND_HUGETLB ? "hugetlb"
								 : "shmem"));
	json_object_object_add(o, "page_size", u64(r->v.page_size));
	snprintf(start, sizeof(start), "0x%" PRIx64, r->v.start);
	json_object_object_add(o, "start", json_object_new_string(start));
	json_object_object_add(o, "length", u64(r->v.len));
	json_object_object_add(o, "offset", u64(r->v.offset));
	json_object_object_add(o, "policy",
			       json_object_new_string(r->v.pol->spec));
	json_object_object_add(o, "faults", u64(CNT_LD(r->st.faults)));
	json_object_object_add(o, "pages_mapped",
			       u64(CNT_LD(r->st.pages_mapped)));
	json_object_object_add(o, "errors", u64(CNT_LD(r->st.errors)));
	json_object_object_add(o, "races", u64(CNT_LD(r->st.races)));
	json_object_object_add(o, "held", u64(CNT_LD(r->hold.held_est)));
	json_object_object_add(o, "paused",
			       json_object_new_boolean(CNT_LD(r->hold.paused)));
	json_object_object_add(o, "denied", u64(CNT_LD(r->st.denied)));
	json_object_object_add(o, "latency_ns", latency(&r->lat));
	ps = json_object_new_object();
	policy_status(r->v.pol, ps);
	json_object_object_add(o, "policy_stats", ps);
	return o;
}

static json_object *events_json(const struct session_events *e)
{
	json_object *ev = json_object_new_object();

	json_object_object_add(ev, "fork", u64(CNT_LD(e->fork)));
	json_object_object_add(ev, "remap", u64(CNT_LD(e->remap)));
	json_object_object_add(ev, "remove", u64(CNT_LD(e->remove)));
	json_object_object_add(ev, "unmap", u64(CNT_LD(e->unmap)));
	return ev;
}

/* Who the client is, and, for a forked child, whose. */
static void identity_json(const struct session *s, json_object *o)
{
	json_object_object_add(o, "pid", json_object_new_int(s->who.pid));
	json_object_object_add(o, "uid", json_object_new_int64(s->who.uid));
	json_object_object_add(o, "gid", json_object_new_int64(s->who.gid));
	json_object_object_add(o, "comm", json_object_new_string(s->who.comm));
	json_object_object_add(o, "name",
			       json_object_new_string(s->proto.name));
	json_object_object_add(o, "exe", json_object_new_string(s->who.exe));
	json_object_object_add(o, "unit", json_object_new_string(s->who.unit));
	json_object_object_add(o, "cgroup",
			       json_object_new_string(s->who.cgroup));
	/* Known from the socket (PIDFD_GET_INFO), or from the fork event. */
	json_object_object_add(o, "parent_pid",
			       json_object_new_int(s->who.parent_pid));
	if (s->child) {
		json_object_object_add(o, "parent_session",
				       id_json(s->child->parent_session));
		json_object_object_add(
		    o, "pid_known", json_object_new_boolean(s->who.pid_known));
	}
}

static json_object *session_json(const struct session *s, unsigned *nregions)
{
	json_object *o = json_object_new_object(),
		    *rs = json_object_new_array();

	identity_json(s, o);
	json_object_object_add(o, "events", events_json(&s->events));
	json_object_object_add(o, "session", id_json(s->id));
	json_object_object_add(o, "worker",
			       json_object_new_int(worker_idx(s->w)));
	json_object_object_add(
	    o, "uffd", json_object_new_string(mode_name(s->proto.uffd_mode)));
	json_object_object_add(o, "granted",
			       json_object_new_boolean(s->proto.granted));
	json_object_object_add(o, "connected_s",
			       json_object_new_int64(time(NULL) - s->since));
	for (size_t i = 0; i < s->regions.n; i++)
		json_object_array_add(rs, region_json(s->regions.v[i]));
	*nregions += (unsigned)s->regions.n;
	json_object_object_add(o, "regions", rs);
	return o;
}

/* What walking every session of every worker gathers. */
struct walk {
	json_object *clients; /* NULL: totals only */
	unsigned nclients, nregions;
};

static void walk_session(struct session *s, void *arg)
{
	struct walk *w = arg;

	w->nclients++;
	if (w->clients)
		json_object_array_add(w->clients,
				      session_json(s, &w->nregions));
	else
		w->nregions += (unsigned)s->regions.n;
}

void status_totals(struct daemon *d, unsigned *clients, unsigned *regions,
		   uint64_t *faults)
{
	struct walk walk = { 0 };

	*faults = 0;
	for (int i = 0; i < workers_count(d->workers); i++) {
		struct worker *w = worker_at(d->workers, i);

		sessions_each(w, walk_session, &walk);
		*faults += CNT_LD(worker_stats(w)->faults);
	}
	*clients = walk.nclients;
	*regions = walk.nregions;
}

/* Every worker's sessions into walk, and their counters into sum. */
static json_object *workers_json(struct daemon *d, struct walk *walk,
				 struct worker_stats *sum)
{
	json_object *ws = json_object_new_array();

	for (int i = 0; i < workers_count(d->workers); i++) {
		struct worker *w = worker_at(d->workers, i);
		const struct worker_stats *st = worker_stats(w);
		json_object *wj = json_object_new_object();

		sessions_each(w, walk_session, walk);
		json_object_object_add(
		    wj, "sessions",
		    json_object_new_int((int)worker_load_now(w)));
		sum->faults += CNT_LD(st->faults);
		sum->pages_mapped += CNT_LD(st->pages_mapped);
		sum->errors += CNT_LD(st->errors);
		sum->races += CNT_LD(st->races);
		sum->wakeups += CNT_LD(st->wakeups);
		histo_merge(&sum->lat, &st->lat);
		json_object_object_add(wj, "faults", u64(CNT_LD(st->faults)));
		json_object_object_add(wj, "wakeups", u64(CNT_LD(st->wakeups)));
		json_object_array_add(ws, wj);
	}
	return ws;
}

static json_object *totals_json(struct daemon *d, const struct walk *walk,
				const struct worker_stats *sum)
{
	json_object *tot = json_object_new_object();

	json_object_object_add(tot, "clients",
			       json_object_new_int((int)walk->nclients));
	json_object_object_add(tot, "regions",
			       json_object_new_int((int)walk->nregions));
	json_object_object_add(tot, "faults", u64(sum->faults));
	json_object_object_add(tot, "pages_mapped", u64(sum->pages_mapped));
	json_object_object_add(tot, "errors", u64(sum->errors));
	json_object_object_add(tot, "races", u64(sum->races));
	json_object_object_add(tot, "wakeups", u64(sum->wakeups));
	json_object_object_add(tot, "rejected_clients",
			       u64(d->n.rejected_clients));
	json_object_object_add(
	    tot, "denied_clients",
	    u64(__atomic_load_n(&d->n.denied_clients, __ATOMIC_RELAXED)));
	json_object_object_add(
	    tot, "forked",
	    u64(__atomic_load_n(&d->n.forked, __ATOMIC_RELAXED)));
	json_object_object_add(
	    tot, "child_clients",
	    u64(__atomic_load_n(&d->n.child_clients, __ATOMIC_RELAXED)));
	json_object_object_add(tot, "faults_per_s",
			       json_object_new_double(d->n.fault_rate));
	/* Nested last: scripts without a JSON parser read the flat keys
	 * before it (kernel/qemu/guest-init.sh). */
	json_object_object_add(tot, "latency_ns", latency(&sum->lat));
	return tot;
}

/* Where the configuration came from, and what its last reload left out. */
static json_object *config_status(const struct daemon_conf *c)
{
	json_object *o = json_object_new_object(),
		    *keys = json_object_new_array();
	char list[sizeof(c->restart_keys)], *save = NULL;

	json_object_object_add(
	    o, "source",
	    json_object_new_string(c->from_file ? c->path
						: "built-in defaults"));
	json_object_object_add(o, "reloaded",
			       json_object_new_int64((int64_t)c->reloaded));
	json_object_object_add(o, "reload_error",
			       c->reload_error[0]
				   ? json_object_new_string(c->reload_error)
				   : NULL);
	snprintf(list, sizeof(list), "%s", c->restart_keys);
	for (char *k = strtok_r(list, ", ", &save); k;
	     k = strtok_r(NULL, ", ", &save))
		json_object_array_add(keys, json_object_new_string(k));
	json_object_object_add(o, "restart_needed", keys);
	return o;
}

/* The learned child working sets (the learn policy), daemon-wide. */
static json_object *learn_json(void)
{
	json_object *o = json_object_new_object();
	struct learn_totals t;

	learn_totals(&t);
	json_object_object_add(o, "lineages", u64(t.lineages));
	json_object_object_add(o, "set_pages", u64(t.set_pages));
	json_object_object_add(o, "entries", u64(t.entries));
	json_object_object_add(o, "bytes", u64(t.bytes));
	json_object_object_add(o, "children", u64(t.children));
	json_object_object_add(o, "self_mapped", u64(t.self_children));
	json_object_object_add(o, "boards", u64(t.boards));
	json_object_object_add(o, "premapped", u64(t.premapped));
	json_object_object_add(o, "hits", u64(t.hits));
	json_object_object_add(o, "misses", u64(t.misses));
	json_object_object_add(o, "late", u64(t.late));
	json_object_object_add(o, "unused", u64(t.unused));
	json_object_object_add(o, "probes", u64(t.probes));
	json_object_object_add(o, "evicted", u64(t.evicted));
	json_object_object_add(o, "dropped", u64(t.dropped));
	json_object_object_add(o, "refused", u64(t.refused));
	json_object_object_add(o, "premap_us_last", u64(t.premap_us_last));
	json_object_object_add(o, "premap_us_max", u64(t.premap_us_max));
	return o;
}

struct json_object *status_build(struct daemon *d)
{
	json_object *o = json_object_new_object(), *tot, *lim, *ws, *uids;
	struct walk walk = { .clients = json_object_new_array() };
	struct worker_stats sum = { 0 };

	json_object_object_add(o, "version",
			       json_object_new_string(UFFDD_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(
	    o, "uptime_s",
	    json_object_new_double((double)(now_ns() - d->n.started_ns) / 1e9));
	json_object_object_add(o, "kernel", status_kernel(&d->caps));
	json_object_object_add(o, "config", config_status(&d->conf));
	ws = workers_json(d, &walk, &sum);
	tot = totals_json(d, &walk, &sum);
	lim = json_object_new_object();
	uids = json_object_new_array();
	bounds_status(&d->conf.cfg.limits, lim, tot);
	share_status(lim, tot, uids);
	unresolved_status(tot);
	json_object_object_add(tot, "log_lines_held", u64(log_held_total()));
	json_object_object_add(o, "totals", tot);
	json_object_object_add(o, "limits", lim);
	json_object_object_add(
	    o, "default_policy",
	    json_object_new_string(d->conf.cfg.policy.default_policy));
	json_object_object_add(o, "learn", learn_json());
	json_object_object_add(o, "workers", ws);
	json_object_object_add(o, "clients", walk.clients);
	json_object_object_add(o, "uids", uids);
	return o;
}
