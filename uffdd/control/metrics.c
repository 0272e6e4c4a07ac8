/* SPDX-License-Identifier: MIT */
/*
 * The daemon's counters in the Prometheus text format (version 0.0.4, what
 * the node exporter's textfile collector reads), for `uffdctl metrics`.
 *
 * Daemon-wide counters and the fault latency histogram count since the
 * start; a client's or a region's series live as long as it does, labelled
 * with what identifies it, so per-policy or per-user rates are sums over
 * them (sum by (policy) (rate(uffdd_region_faults_total[1m]))).
 */
#include "metrics.h"
#include "core/bounds.h"
#include "core/clock.h"
#include "core/daemon.h"
#include "core/session.h"
#include "core/worker.h"
#include "policy/counter.h"
#include "policy/learn_set.h"
#include "policy/policy.h"
#include "status.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Latency buckets: powers of two from 512 ns to 2^31 ns (2.1 s). */
#define LAT_FIRST 9
#define LAT_LAST  31

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len)
			break;
		{
			size_t cap = (o->cap + (size_t)n + 1) * 2;
			char *b = realloc(o->buf, cap);

			if (!b) {
				o->failed = 1;
				return;
			}
			o->buf = b;
			o->cap = cap;
		}
	}
	o->len += (size_t)n;
}

static void family(struct out *o, const char *name, const char *type,
		   const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: \, " and newline escaped, as the format wants. */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s && n + 2 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[n++] = '\\';
			buf[n++] = *s;
		} else if (*s == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	return buf;
}

/* The labels that name a client: {session,pid,uid,comm}. */
static void client_labels(const struct session *s, char *buf, size_t len)
{
	char comm[64];

	snprintf(buf, len,
		 "session=\"%016" PRIx64 "\",pid=\"%d\",uid=\"%u\","
		 "comm=\"%s\"",
		 s->id, (int)s->who.pid, (unsigned)s->who.uid,
		 esc(s->who.comm, comm, sizeof(comm)));
}

static void region_labels(const struct region *r, char *buf, size_t len)
{
	char cl[256], name[200], pol[300];

	client_labels(r->s, cl, sizeof(cl));
	snprintf(buf, len,
		 "%s,region=\"%016" PRIx64 "\",name=\"%s\",kind=\"%s\","
		 "policy=\"%s\"",
		 cl, r->v.id, esc(r->name, name, sizeof(name)),
		 r->kind == UFFDD_KIND_HUGETLB ? "hugetlb" : "shmem",
		 esc(r->v.pol->spec, pol, sizeof(pol)));
}

/* One pass over every session of every worker, per metric family. */
struct pass {
	struct out *o;
	const char *metric;
	int per_region;
	uint64_t (*value)(const struct session *s, const struct region *r);
};

static void pass_session(struct session *s, void *arg)
{
	struct pass *p = arg;
	char labels[1024];

	if (!p->per_region) {
		client_labels(s, labels, sizeof(labels));
		put(p->o, "%s{%s} %" PRIu64 "\n", p->metric, labels,
		    p->value(s, NULL));
		return;
	}
	for (size_t i = 0; i < s->regions.n; i++) {
		const struct region *r = s->regions.v[i];

		region_labels(r, labels, sizeof(labels));
		put(p->o, "%s{%s} %" PRIu64 "\n", p->metric, labels,
		    p->value(s, r));
	}
}

static void each(struct daemon *d, struct pass *p)
{
	for (int i = 0; i < workers_count(d->workers); i++)
		sessions_each(worker_at(d->workers, i), pass_session, p);
}

static uint64_t v_regions(const struct session *s, const struct region *r)
{
	(void)r;
	return s->regions.n;
}

static uint64_t v_bytes(const struct session *s, const struct region *r)
{
	uint64_t n = 0;

	(void)r;
	for (size_t i = 0; i < s->regions.n; i++)
		n += s->regions.v[i]->v.len;
	return n;
}

static uint64_t v_forks(const struct session *s, const struct region *r)
{
	(void)r;
	return CNT_LD(s->events.fork);
}

#define REGION_VALUE(fn, expr)                                                 \
	static uint64_t fn(const struct session *s, const struct region *r)    \
	{                                                                      \
		(void)s;                                                       \
		return (expr);                                                 \
	}
REGION_VALUE(v_faults, CNT_LD(r->st.faults))
REGION_VALUE(v_mapped, CNT_LD(r->st.pages_mapped))
REGION_VALUE(v_errors, CNT_LD(r->st.errors))
REGION_VALUE(v_races, CNT_LD(r->st.races))
REGION_VALUE(v_denied, CNT_LD(r->st.denied))
REGION_VALUE(v_held, CNT_LD(r->hold.held_est))
REGION_VALUE(v_length, r->v.len)
#undef REGION_VALUE

static const struct {
	const char *name, *type, *help;
	int per_region;
	uint64_t (*value)(const struct session *, const struct region *);
} series[] = {
	{ "uffdd_client_regions", "gauge", "Regions a client has registered.",
	  0, v_regions },
	{ "uffdd_client_registered_bytes", "gauge",
	  "Bytes of a client's registered regions.", 0, v_bytes },
	{ "uffdd_client_forks_total", "counter",
	  "Forked children of a client the daemon followed.", 0, v_forks },
	{ "uffdd_region_bytes", "gauge", "A region's length.", 1, v_length },
	{ "uffdd_region_faults_total", "counter",
	  "Faults the daemon resolved in a region.", 1, v_faults },
	{ "uffdd_region_pages_mapped_total", "counter",
	  "Pages mapped in a region (windows map more than one per fault).", 1,
	  v_mapped },
	{ "uffdd_region_errors_total", "counter",
	  "Faults in a region that could not be resolved.", 1, v_errors },
	{ "uffdd_region_races_total", "counter",
	  "Faults in a region another thread had resolved first.", 1, v_races },
	{ "uffdd_region_denied_total", "counter",
	  "Accesses a region's policy refused (SIGBUS).", 1, v_denied },
	{ "uffdd_region_held_faults", "gauge",
	  "Faults a region's policy holds now (gate).", 1, v_held },
};

static void daemon_part(struct daemon *d, struct out *o,
			struct worker_stats *sum)
{
	unsigned clients = 0, regions = 0;
	uint64_t faults;
	char rel[128];

	status_totals(d, &clients, &regions, &faults);
	family(o, "uffdd_info", "gauge", "The daemon's version and kernel.");
	put(o, "uffdd_info{version=\"%s\",kernel=\"%s\"} 1\n", UFFDD_VERSION,
	    esc(d->caps.release, rel, sizeof(rel)));
	family(o, "uffdd_start_time_seconds", "gauge",
	       "When the daemon started, in seconds since the epoch.");
	put(o, "uffdd_start_time_seconds %lld\n", (long long)d->n.started);
	family(o, "uffdd_clients", "gauge", "Connected clients.");
	put(o, "uffdd_clients %u\n", clients);
	family(o, "uffdd_regions", "gauge", "Registered regions.");
	put(o, "uffdd_regions %u\n", regions);
	family(o, "uffdd_clients_rejected_total", "counter",
	       "Connections refused by a limit.");
	put(o, "uffdd_clients_rejected_total %" PRIu64 "\n",
	    d->n.rejected_clients);
	family(o, "uffdd_clients_denied_total", "counter",
	       "Connections refused by the access lists.");
	put(o, "uffdd_clients_denied_total %" PRIu64 "\n",
	    __atomic_load_n(&d->n.denied_clients, __ATOMIC_RELAXED));
	family(o, "uffdd_forked_total", "counter",
	       "Forked children registered with FORKED on their parent's "
	       "connection.");
	put(o, "uffdd_forked_total %" PRIu64 "\n",
	    __atomic_load_n(&d->n.forked, __ATOMIC_RELAXED));
	family(o, "uffdd_child_clients_total", "counter",
	       "Clients that connected themselves whose parent (told by the "
	       "kernel) was a client.");
	put(o, "uffdd_child_clients_total %" PRIu64 "\n",
	    __atomic_load_n(&d->n.child_clients, __ATOMIC_RELAXED));
	family(o, "uffdd_faults_total", "counter", "Faults resolved.");
	put(o, "uffdd_faults_total %" PRIu64 "\n", sum->faults);
	family(o, "uffdd_pages_mapped_total", "counter", "Pages mapped.");
	put(o, "uffdd_pages_mapped_total %" PRIu64 "\n", sum->pages_mapped);
	family(o, "uffdd_fault_errors_total", "counter",
	       "Faults that could not be resolved.");
	put(o, "uffdd_fault_errors_total %" PRIu64 "\n", sum->errors);
	family(o, "uffdd_fault_races_total", "counter",
	       "Faults another thread had resolved first.");
	put(o, "uffdd_fault_races_total %" PRIu64 "\n", sum->races);
}

/* The limits, and the counters of what they refused (bounds.c's). */
static void limits_part(struct daemon *d, struct out *o)
{
	json_object *lim = json_object_new_object(),
		    *tot = json_object_new_object();

	bounds_status(&d->conf.cfg.limits, lim, tot);
	family(o, "uffdd_limit", "gauge",
	       "The configuration's limits (uffdd.json(5), \"limits\").");
	json_object_object_foreach (lim, key, v) {
		put(o, "uffdd_limit{limit=\"%s\"} %" PRId64 "\n", key,
		    json_object_get_int64(v));
	}
	json_object_object_foreach (tot, k, n) {
		char name[96];

		if (!strcmp(k, "live_regions")) /* uffdd_regions */
			continue;
		snprintf(name, sizeof(name), "uffdd_%s_total", k);
		family(o, name, "counter",
		       "Times a limit acted (SECURITY.md, uffdctl status).");
		put(o, "%s %" PRId64 "\n", name, json_object_get_int64(n));
	}
	json_object_put(lim);
	json_object_put(tot);
}

static void sum_workers(struct daemon *d, struct worker_stats *sum)
{
	for (int i = 0; i < workers_count(d->workers); i++) {
		const struct worker_stats *st =
		    worker_stats(worker_at(d->workers, i));

		sum->faults += CNT_LD(st->faults);
		sum->pages_mapped += CNT_LD(st->pages_mapped);
		sum->errors += CNT_LD(st->errors);
		sum->races += CNT_LD(st->races);
		histo_merge(&sum->lat, &st->lat);
	}
}

static void workers_part(struct daemon *d, struct out *o)
{
	int n = workers_count(d->workers);

	family(o, "uffdd_worker_sessions", "gauge",
	       "Clients a fault worker serves.");
	for (int i = 0; i < n; i++)
		put(o, "uffdd_worker_sessions{worker=\"%d\"} %u\n", i,
		    worker_load_now(worker_at(d->workers, i)));
	family(o, "uffdd_worker_faults_total", "counter",
	       "Faults a fault worker resolved.");
	for (int i = 0; i < n; i++)
		put(o, "uffdd_worker_faults_total{worker=\"%d\"} %" PRIu64 "\n",
		    i, CNT_LD(worker_stats(worker_at(d->workers, i))->faults));
}

/* The time from reading a fault to its mapping, every fault since start. */
static void latency_part(struct out *o, const struct histo *h)
{
	family(o, "uffdd_fault_latency_seconds", "histogram",
	       "From reading a fault to the mapping installed, as the daemon "
	       "sees it; bucket bounds are powers of two nanoseconds.");
	for (int k = LAT_FIRST; k <= LAT_LAST; k++)
		put(o,
		    "uffdd_fault_latency_seconds_bucket{le=\"%.9g\"} "
		    "%" PRIu64 "\n",
		    (double)(1ull << k) / 1e9, histo_below(h, 1ull << k));
	put(o,
	    "uffdd_fault_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
	    "uffdd_fault_latency_seconds_sum %.9f\n"
	    "uffdd_fault_latency_seconds_count %" PRIu64 "\n",
	    histo_count(h), (double)histo_sum(h) / 1e9, histo_count(h));
}

/* The learned child working sets (the learn policy), daemon-wide. */
static void learn_part(struct out *o)
{
	struct learn_totals t;

	learn_totals(&t);
	{
		const struct {
			const char *name, *type, *help;
			uint64_t v;
		} m[] = {
			{ "uffdd_learn_lineages", "gauge",
			  "Region lineages (memfd, parent, uid) learned.",
			  t.lineages },
			{ "uffdd_learn_set_pages", "gauge",
			  "Pages in the learned sets: mapped into each new "
			  "child.",
			  t.set_pages },
			{ "uffdd_learn_entries", "gauge",
			  "Pages the lineages hold, candidates included.",
			  t.entries },
			{ "uffdd_learn_bytes", "gauge",
			  "Memory the learned sets take.", t.bytes },
			{ "uffdd_learn_children_total", "counter",
			  "Child regions registered under learn.", t.children },
			{ "uffdd_learn_premapped_pages_total", "counter",
			  "Pages mapped into children ahead of their faults.",
			  t.premapped },
			{ "uffdd_learn_misses_total", "counter",
			  "Pages children faulted on in their first moments, "
			  "outside the set.",
			  t.misses },
			{ "uffdd_learn_hits_total", "counter",
			  "Set pages a probing child was left to fault on, and "
			  "did.",
			  t.hits },
			{ "uffdd_learn_unused_total", "counter",
			  "Set pages a probing child was left to fault on, and "
			  "did not.",
			  t.unused },
			{ "uffdd_learn_late_total", "counter",
			  "Set pages a child faulted on before they were "
			  "mapped.",
			  t.late },
			{ "uffdd_learn_self_mapped_total", "counter",
			  "Forked children that mapped their lineage's board "
			  "themselves.",
			  t.self_children },
			{ "uffdd_learn_evicted_total", "counter",
			  "Lineages given up for a uid's or the daemon's "
			  "bound.",
			  t.evicted },
		};

		for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
			family(o, m[i].name, m[i].type, m[i].help);
			put(o, "%s %" PRIu64 "\n", m[i].name, m[i].v);
		}
	}
	family(o, "uffdd_learn_premap_seconds_max", "gauge",
	       "The longest a child's set took to map.");
	put(o, "uffdd_learn_premap_seconds_max %.6f\n",
	    (double)t.premap_us_max / 1e6);
}

char *metrics_text(struct daemon *d)
{
	struct out o = { 0 };
	struct worker_stats sum = { 0 };

	sum_workers(d, &sum);
	daemon_part(d, &o, &sum);
	latency_part(&o, &sum.lat);
	workers_part(d, &o);
	limits_part(d, &o);
	learn_part(&o);
	for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
		struct pass p = { &o, series[i].name, series[i].per_region,
				  series[i].value };

		family(&o, series[i].name, series[i].type, series[i].help);
		each(d, &p);
	}
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
