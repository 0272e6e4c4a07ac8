/* SPDX-License-Identifier: MIT */
/*
 * learn[:pages=N,window=MS] -- a learned child working set.  A forked
 * child starts with empty page tables for its parent's shared memory and
 * faults again on every page it touches; the children of one parent touch
 * much the same pages in their first moments.  This policy remembers, per
 * region lineage (learn_set.h: one memfd, one parent, one uid), the pages
 * children touched in their first `window` milliseconds, and when a new
 * child's region registers, maps those pages at once, in ranges, before
 * the child's first fault.  Pages outside the set fault and are served as
 * ever (by the later stages: continue, around:N...), and teach the set.
 *
 * A page mapped ahead is a page the daemon would map on a fault: every
 * range goes through the chain's prepare hook first (a gate's unpublished
 * page, a deny region, a page populate cannot fill are never mapped
 * ahead), and only pages already in the page cache are mapped.  The
 * mapping starts on the worker's next turn, when every stage of the
 * composition has attached, and runs in steps of at most LEARN_STEP_NS,
 * so that the worker's other clients are served in between.
 */
#include "learn_set.h"
#include "policy.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LEARN_PAGES_DEFAULT  4096u
#define LEARN_PAGES_MAX	     65536u
#define LEARN_WINDOW_DEFAULT 250u
#define LEARN_WINDOW_MAX     60000u
#define LEARN_TEACH_MAX	     4096u
/*
 * Pages of the set this close are mapped as one range with the pages
 * between them (through the same prepare, so only what a fault would
 * map): a UFFDIO_CONTINUE costs about twice a page it maps in passing
 * (measured on shmem here: ~2.4 us for one page, ~1.4 us a page in a
 * range), and children that touch every other page are common (8 KiB
 * buffers of which the first 4 KiB is read).
 */
#ifndef LEARN_GAP
#define LEARN_GAP 1
#endif
/* A step of the mapping: the worker-turn bound. */
#define LEARN_STEP_NS POLICY_TURN_NS

struct learn;

/* One child region in its first moments. */
struct track {
	struct learn *l;
	struct policy_region *r;
	uint64_t session;
	struct learn_key key;
	struct learn_child c;
	size_t next; /* the plan's next page to map */
	uint64_t t0, map_ns, mapped;
	uint64_t *touched;
	size_t ntouched;
	struct event *step_ev, *end_ev;
	struct track *next_t;
};

struct learn {
	unsigned pages;	    /* a new lineage's bound */
	unsigned window_ms; /* a child's first moments */
	unsigned teach;	    /* 1 in teach children registers (boards) */
	struct track *tracks;
	/* counters (atomic) */
	uint64_t children, self, premapped, misses, hits, late, unused;
	uint64_t set_pages;
	uint64_t map_us_last, map_us_max;
};

static int learn_create(void *state, const char *args, char *err, size_t errlen)
{
	struct learn *l = state;
	char buf[128], *save = NULL, *kv;
	uint64_t v;

	l->pages = LEARN_PAGES_DEFAULT;
	l->window_ms = LEARN_WINDOW_DEFAULT;
	l->teach = 1;
	snprintf(buf, sizeof(buf), "%s", args ? args : "");
	for (kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		if (strncmp(kv, "pages=", 6) == 0 &&
		    policy_parse_u64(kv + 6, &v) == 0 && v >= 16 &&
		    v <= LEARN_PAGES_MAX) {
			l->pages = (unsigned)v;
		} else if (strncmp(kv, "window=", 7) == 0 &&
			   policy_parse_u64(kv + 7, &v) == 0 && v >= 1 &&
			   v <= LEARN_WINDOW_MAX) {
			l->window_ms = (unsigned)v;
		} else if (strncmp(kv, "teach=", 6) == 0 &&
			   policy_parse_u64(kv + 6, &v) == 0 && v >= 1 &&
			   v <= LEARN_TEACH_MAX) {
			l->teach = (unsigned)v;
		} else {
			snprintf(err, errlen,
				 "learn: bad parameter \"%s\" (usage: "
				 "learn[:pages=N,window=MS,teach=T], N 16..%u, "
				 "MS 1..%u, T 1..%u)",
				 kv, LEARN_PAGES_MAX, LEARN_WINDOW_MAX,
				 LEARN_TEACH_MAX);
			return -EINVAL;
		}
	}
	return 0;
}

static void store_max(uint64_t *max, uint64_t v)
{
	if (v > CNT_LD(*max))
		__atomic_store_n(max, v, __ATOMIC_RELAXED);
}

/* The plan is done with: count how long it took. */
static void plan_over(struct track *t)
{
	uint64_t us = t->map_ns / 1000;

	if (!t->c.plan)
		return;
	learn_plan_done(&t->c);
	learn_count_premap(t->mapped, us);
	__atomic_store_n(&t->l->map_us_last, us, __ATOMIC_RELAXED);
	store_max(&t->l->map_us_max, us);
}

/* The first moments are over (or the region goes): teach the lineage. */
static void track_end(struct track *t)
{
	struct learn *l = t->l;
	struct learn_obs o = { .pages = t->touched, .n = t->ntouched };
	struct learn_outcome out;
	struct track **p = &l->tracks;

	plan_over(t);
	learn_end(&t->key, &t->c, &o, &out);
	CNT_ADD(l->misses, out.misses);
	CNT_ADD(l->hits, out.hits);
	CNT_ADD(l->late, out.late);
	CNT_ADD(l->unused, out.unused);
	while (*p != t)
		p = &(*p)->next_t;
	*p = t->next_t;
	if (t->step_ev)
		event_free(t->step_ev);
	if (t->end_ev)
		event_free(t->end_ev);
	free(t->touched);
	free(t);
}

static void end_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	track_end(arg);
}

/*
 * Map [start, start+len) of t's region where the chain lets it: the pages
 * mapped, or -ESRCH when the process or the region has gone.
 */
static long map_run(struct track *t, uint64_t start, uint64_t len)
{
	struct policy_region *r = t->r;
	long done = 0, n;

	if (policy_prepare(r, start, len) < 0) {
		/* A stage refused part of it (a gate): page by page. */
		if (len == r->page_size)
			return 0;
		for (uint64_t a = start; a < start + len; a += r->page_size) {
			n = map_run(t, a, r->page_size);
			if (n < 0)
				return n;
			done += n;
		}
		return done;
	}
	n = policy_map(r, start, len, POLICY_MAP_AHEAD);
	return n == -ESRCH ? n : n > 0 ? n : 0;
}

/* Does a probe hold a page in [from, to)?  Mapped in passing, it could
 * not tell whether the child uses it. */
static int held_between(const struct learn_child *c, uint64_t from, uint64_t to)
{
	size_t lo = 0, hi = c->nheld;

	while (lo < hi) { /* the first held page >= from */
		size_t mid = lo + (hi - lo) / 2;

		if (c->held[mid] < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nheld && c->held[lo] < to;
}

/*
 * One step of the plan: runs of consecutive pages as single ranges, until
 * the plan ends or the step's time is up.
 */
static void step_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval now = { 0, 0 };
	struct track *t = arg;
	struct policy_region *r = t->r;
	uint64_t t0 = policy_now_ns(), psz = r->page_size,
		 first = r->offset / psz, end = (r->offset + r->len) / psz;

	(void)fd;
	(void)what;
	while (t->next < t->c.nplan) {
		uint64_t p = t->c.plan[t->next], q = p + 1;
		long n;

		t->next++;
		if (p < first || p >= end)
			continue; /* outside this mapping of the memfd */
		/* A run, and across gaps of LEARN_GAP pages: one ioctl costs
		 * more than a page mapped in passing (see the #define). */
		while (t->next < t->c.nplan &&
		       t->c.plan[t->next] <= q + LEARN_GAP &&
		       t->c.plan[t->next] < end &&
		       !held_between(&t->c, q, t->c.plan[t->next])) {
			q = t->c.plan[t->next] + 1;
			t->next++;
		}
		n = map_run(t, r->start + p * psz - r->offset, (q - p) * psz);
		if (n < 0) {
			t->next = t->c.nplan; /* nobody left to map for */
			break;
		}
		t->mapped += (uint64_t)n;
		CNT_ADD(t->l->premapped, (uint64_t)n);
		if (policy_now_ns() - t0 >= LEARN_STEP_NS)
			break;
	}
	t->map_ns += policy_now_ns() - t0;
	if (t->next < t->c.nplan)
		event_add(t->step_ev, &now);
	else
		plan_over(t);
}

static struct track *track_of(struct learn *l, const struct policy_region *r)
{
	for (struct track *t = l->tracks; t; t = t->next_t)
		if (t->r == r)
			return t;
	return NULL;
}

static int learn_attach(void *state, struct policy_region *r, char *err,
			size_t errlen)
{
	static const struct timeval now = { 0, 0 };
	struct learn *l = state;
	struct policy_client who;
	struct timeval win = { l->window_ms / 1000,
			       (suseconds_t)(l->window_ms % 1000) * 1000 };
	struct track *t;
	struct stat st;

	(void)err;
	(void)errlen;
	policy_client(r, &who);
	/* A piece of a region split in its first moments: learnt already. */
	for (t = l->tracks; t; t = t->next_t)
		if (t->session == who.session)
			return 0;
	/* The core knows the memfd's identity (else ask the file). */
	if (r->memfd_ino) {
		st.st_dev = (dev_t)r->memfd_dev;
		st.st_ino = (ino_t)r->memfd_ino;
	} else if (fstat(r->memfd, &st) < 0) {
		return 0;
	}
	/* Learning is an optimisation: without memory, serve as ever. */
	if (!(t = calloc(1, sizeof(*t))))
		return 0;
	t->l = l;
	t->r = r;
	t->session = who.session;
	t->key = (struct learn_key){ .dev = (uint64_t)st.st_dev,
				     .ino = (uint64_t)st.st_ino,
				     .parent_id = who.parent_id,
				     .parent_pid = (uint32_t)who.parent_pid,
				     .uid = (uint32_t)who.uid };
	t->touched = malloc(LEARN_OBS_PAGES * sizeof(*t->touched));
	t->step_ev = event_new(policy_loop(r), -1, 0, step_cb, t);
	t->end_ev = event_new(policy_loop(r), -1, 0, end_cb, t);
	if (!t->touched || !t->step_ev || !t->end_ev ||
	    learn_begin(&t->key, l->pages,
			r->selfmapped ? (uint32_t)who.pid : 0, &t->c) < 0) {
		if (t->step_ev)
			event_free(t->step_ev);
		if (t->end_ev)
			event_free(t->end_ev);
		free(t->touched);
		free(t);
		return 0;
	}
	t->t0 = policy_now_ns();
	t->next_t = l->tracks;
	l->tracks = t;
	CNT_ADD(l->children, 1);
	if (r->selfmapped)
		CNT_ADD(l->self, 1);
	__atomic_store_n(&l->set_pages, t->c.nset, __ATOMIC_RELAXED);
	/* Next turn: by then every stage has attached (a gate's bitmap). */
	if (t->c.nplan)
		event_add(t->step_ev, &now);
	event_add(t->end_ev, &win);
	return 0;
}

static void learn_detach(void *state, struct policy_region *r)
{
	struct track *t = track_of(state, r);

	if (t)
		track_end(t);
}

static void learn_destroy(void *state)
{
	struct learn *l = state;

	for (struct track *t = l->tracks, *next; t; t = next) {
		next = t->next_t;
		track_end(t);
	}
}

/* Observe only: the faulting page joins the child's first moments. */
static enum policy_verdict learn_fault(void *state, struct policy_region *r,
				       uint64_t addr, uint32_t tid,
				       struct map_range *out)
{
	struct track *t = track_of(state, r);

	(void)tid;
	(void)out;
	if (t && t->ntouched < LEARN_OBS_PAGES)
		t->touched[t->ntouched++] =
		    (addr - r->start + r->offset) / r->page_size;
	return POLICY_MAP;
}

static void learn_status(void *state, struct json_object *o)
{
	struct learn *l = state;

	json_object_object_add(o, "learn_pages",
			       json_object_new_int64((int64_t)l->pages));
	json_object_object_add(o, "learn_window_ms",
			       json_object_new_int64((int64_t)l->window_ms));
	json_object_object_add(o, "learn_teach",
			       json_object_new_int64((int64_t)l->teach));
	policy_json_count(o, "learn_children", &l->children);
	policy_json_count(o, "learn_self_mapped", &l->self);
	policy_json_count(o, "learn_set_pages", &l->set_pages);
	policy_json_count(o, "learn_premapped", &l->premapped);
	policy_json_count(o, "learn_hits", &l->hits);
	policy_json_count(o, "learn_misses", &l->misses);
	policy_json_count(o, "learn_late", &l->late);
	policy_json_count(o, "learn_unused", &l->unused);
	policy_json_count(o, "learn_map_us_last", &l->map_us_last);
	policy_json_count(o, "learn_map_us_max", &l->map_us_max);
}

/*
 * The board of the lineage of r's client's own children: they map it
 * themselves at fork, before they register (no daemon work per child for
 * the pages it holds).  The chain asks only when any cached page is right.
 */
static int learn_board_of(void *state, struct policy_region *r)
{
	struct learn *l = state;
	struct policy_client who;
	struct learn_key k;

	if (!r->memfd_ino)
		return -1;
	policy_client(r, &who);
	k = (struct learn_key){ .dev = r->memfd_dev,
				.ino = r->memfd_ino,
				.parent_id = who.self_id,
				.parent_pid = (uint32_t)who.pid,
				.uid = (uint32_t)who.uid };
	return learn_board(&k, l->pages, r->page_size, l->teach);
}

const struct policy_ops policy_ops_learn = {
	.name = "learn",
	.usage = "learn[:pages=N,window=MS,teach=T]",
	.phase = PHASE_OBSERVE,
	.state_size = sizeof(struct learn),
	.create = learn_create,
	.destroy = learn_destroy,
	.attach = learn_attach,
	.detach = learn_detach,
	.fault = learn_fault,
	.status = learn_status,
	.board = learn_board_of,
};
