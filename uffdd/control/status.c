/* SPDX-License-Identifier: MIT */
#include "status.h"
#include "core/bounds.h"
#include "policy/policy.h"
#include "uffd_uapi.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
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

static json_object *region_json(const struct region *r)
{
	json_object *o = json_object_new_object(), *lat;
	char id[20];

	snprintf(id, sizeof(id), "%016" PRIx64, r->id);
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(
		o, "kind",
		json_object_new_string(r->kind == UFFDD_KIND_HUGETLB ? "hugetlb"
								     : "shmem"));
	json_object_object_add(o, "page_size", u64(r->page_size));
	snprintf(id, sizeof(id), "0x%" PRIx64, r->start);
	json_object_object_add(o, "start", json_object_new_string(id));
	json_object_object_add(o, "length", u64(r->len));
	json_object_object_add(o, "offset", u64(r->offset));
	json_object_object_add(o, "policy", json_object_new_string(r->pol->spec));
	json_object_object_add(o, "faults", u64(CNT_LD(r->st.faults)));
	json_object_object_add(o, "pages_mapped", u64(CNT_LD(r->st.pages_mapped)));
	json_object_object_add(o, "errors", u64(CNT_LD(r->st.errors)));
	json_object_object_add(o, "races", u64(CNT_LD(r->st.races)));
	limits_region_status(r, o);
	json_object_object_add(o, "denied", u64(CNT_LD(r->st.denied)));
	lat = json_object_new_object();
	json_object_object_add(lat, "p50", u64(histo_pct(&r->lat, 50)));
	json_object_object_add(lat, "p99", u64(histo_pct(&r->lat, 99)));
	json_object_object_add(lat, "max", u64(histo_max(&r->lat)));
	json_object_object_add(o, "latency_ns", lat);
	if (r->pol->ops->status) {
		json_object *ps = json_object_new_object();

		r->pol->ops->status(r->pol->state, ps);
		json_object_object_add(o, "policy_stats", ps);
	}
	return o;
}

static json_object *session_json(const struct session *s, unsigned *nregions)
{
	json_object *o = json_object_new_object(), *rs = json_object_new_array();
	char id[20];

	json_object_object_add(o, "pid", json_object_new_int(s->pid));
	json_object_object_add(o, "uid", json_object_new_int64(s->uid));
	json_object_object_add(o, "gid", json_object_new_int64(s->gid));
	json_object_object_add(o, "comm", json_object_new_string(s->comm));
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "exe", json_object_new_string(s->exe));
	json_object_object_add(o, "unit", json_object_new_string(s->unit));
	/* Known from the socket (PIDFD_GET_INFO), or from the fork event. */
	json_object_object_add(o, "parent_pid", json_object_new_int(s->parent_pid));
	if (s->child) {
		/* A forked child followed through UFFD_EVENT_FORK. */
		snprintf(id, sizeof(id), "%016" PRIx64, s->parent_session);
		json_object_object_add(o, "parent_session",
				       json_object_new_string(id));
		json_object_object_add(o, "pid_known",
				       json_object_new_boolean(s->pid_known));
	}
	{
		json_object *ev = json_object_new_object();

		json_object_object_add(ev, "fork", u64(CNT_LD(s->ev_fork)));
		json_object_object_add(ev, "remap", u64(CNT_LD(s->ev_remap)));
		json_object_object_add(ev, "remove", u64(CNT_LD(s->ev_remove)));
		json_object_object_add(ev, "unmap", u64(CNT_LD(s->ev_unmap)));
		json_object_object_add(o, "events", ev);
	}
	snprintf(id, sizeof(id), "%016" PRIx64, s->id);
	json_object_object_add(o, "session", json_object_new_string(id));
	json_object_object_add(o, "worker", json_object_new_int(s->w->idx));
	json_object_object_add(o, "uffd", json_object_new_string(mode_name(s->uffd_mode)));
	json_object_object_add(o, "granted", json_object_new_boolean(s->granted));
	json_object_object_add(o, "connected_s",
			       json_object_new_int64(time(NULL) - s->since));
	for (size_t i = 0; i < s->nregions; i++)
		json_object_array_add(rs, region_json(s->regions[i]));
	*nregions += (unsigned)s->nregions;
	json_object_object_add(o, "regions", rs);
	return o;
}

void status_totals(struct daemon *d, unsigned *clients, unsigned *regions,
		   uint64_t *faults)
{
	*clients = *regions = 0;
	*faults = 0;
	for (int i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		struct session *s;

		pthread_mutex_lock(&w->lock);
		TAILQ_FOREACH(s, &w->sessions, link)
		{
			(*clients)++;
			*regions += (unsigned)s->nregions;
		}
		pthread_mutex_unlock(&w->lock);
		*faults += CNT_LD(w->st.faults);
	}
}

struct json_object *status_build(struct daemon *d)
{
	json_object *o = json_object_new_object(), *cl = json_object_new_array();
	json_object *tot = json_object_new_object(), *lim, *ws;
	struct worker_stats sum = { 0 };
	unsigned nclients = 0, nregions = 0;

	json_object_object_add(o, "version", json_object_new_string(UFFDD_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "uptime_s",
			       json_object_new_double((double)(now_ns() - d->started_ns) / 1e9));
	json_object_object_add(o, "kernel", status_kernel(&d->caps));
	ws = json_object_new_array();
	for (int i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		struct session *s;
		json_object *wj = json_object_new_object();

		pthread_mutex_lock(&w->lock);
		TAILQ_FOREACH(s, &w->sessions, link)
		{
			json_object_array_add(cl, session_json(s, &nregions));
			nclients++;
		}
		json_object_object_add(wj, "sessions", json_object_new_int((int)w->nsessions));
		pthread_mutex_unlock(&w->lock);
		sum.faults += CNT_LD(w->st.faults);
		sum.pages_mapped += CNT_LD(w->st.pages_mapped);
		sum.errors += CNT_LD(w->st.errors);
		sum.races += CNT_LD(w->st.races);
		sum.wakeups += CNT_LD(w->st.wakeups);
		json_object_object_add(wj, "faults", u64(CNT_LD(w->st.faults)));
		json_object_object_add(wj, "wakeups", u64(CNT_LD(w->st.wakeups)));
		json_object_array_add(ws, wj);
	}
	json_object_object_add(tot, "clients", json_object_new_int((int)nclients));
	json_object_object_add(tot, "regions", json_object_new_int((int)nregions));
	json_object_object_add(tot, "faults", u64(sum.faults));
	json_object_object_add(tot, "pages_mapped", u64(sum.pages_mapped));
	json_object_object_add(tot, "errors", u64(sum.errors));
	json_object_object_add(tot, "races", u64(sum.races));
	json_object_object_add(tot, "wakeups", u64(sum.wakeups));
	json_object_object_add(tot, "rejected_clients", u64(d->rejected_clients));
	json_object_object_add(o, "totals", tot);
	lim = json_object_new_object();
	json_object_object_add(lim, "clients", json_object_new_int((int)d->cfg.max_clients));
	json_object_object_add(lim, "regions_per_client",
			       json_object_new_int((int)d->cfg.max_regions_per_client));
	json_object_object_add(lim, "bytes_per_client", u64(d->cfg.max_bytes_per_client));
	limits_status(d, lim, tot); /* the rest of the limits, refusals */
	json_object_object_add(o, "limits", lim);
	json_object_object_add(o, "default_policy",
			       json_object_new_string(d->cfg.default_policy));
	json_object_object_add(o, "workers", ws);
	json_object_object_add(o, "clients", cl);
	return o;
}
