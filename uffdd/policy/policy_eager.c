/* SPDX-License-Identifier: MIT */
/*
 * eager: map every page that is already in the page cache as soon as the
 * region is registered (or copied into a forked child), then behave like
 * continue.  A process that forks per request pays one walk of CONTINUEs
 * per copy instead of one fault per page it touches.
 *
 * The walk runs in the background, a step of at most POLICY_TURN_NS per
 * turn of the worker's loop, so that the other clients' faults are served
 * in between however large the region; a hole is skipped at once where the
 * file system tells (shmem), so a sparse region costs what it holds, not
 * its size.  A page the client touches before the walk reaches it faults
 * and is mapped as continue would.
 */
#include "policy.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct eager;

/* One region's walk, from its first byte to its end. */
struct walk {
	struct eager *e;
	struct policy_region *r;
	uint64_t off; /* how far into the region (it may move or shrink) */
	uint64_t t0;
	struct event *ev;
	struct walk *next;
};

struct eager {
	struct walk *walks;
	/* counters (atomic) */
	uint64_t pages; /* mapped by walks */
	uint64_t attaches;
	uint64_t walking;	  /* walks under way */
	uint64_t last_walk_us;	  /* how long the last finished walk took */
	uint64_t longest_step_us; /* the longest step (POLICY_TURN_NS) */
};

static void walk_end(struct walk *w)
{
	struct walk **p = &w->e->walks;

	while (*p != w)
		p = &(*p)->next;
	*p = w->next;
	CNT_ADD(w->e->walking, (uint64_t)-1);
	event_free(w->ev);
	free(w);
}

static void step(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval now = { 0, 0 };
	struct walk *w = arg;
	struct policy_region *r = w->r;
	uint64_t pos = r->start + w->off, end = r->start + r->len;
	uint64_t t0 = policy_now_ns(), us;
	long n;

	(void)fd;
	(void)what;
	n = w->off < r->len ? policy_map_present(r, &pos, end, POLICY_TURN_NS)
			    : 0;
	us = (policy_now_ns() - t0) / 1000;
	if (us > CNT_LD(w->e->longest_step_us))
		__atomic_store_n(&w->e->longest_step_us, us, __ATOMIC_RELAXED);
	if (n > 0)
		CNT_ADD(w->e->pages, (uint64_t)n);
	w->off = pos - r->start;
	if (n >= 0 && w->off < r->len) {
		event_add(w->ev, &now);
		return;
	}
	if (n < 0 && n != -ESRCH)
		policy_log(r, LOG_WARNING,
			   "eager: mapping region %016" PRIx64 ": %s", r->id,
			   strerror((int)-n));
	__atomic_store_n(&w->e->last_walk_us, (policy_now_ns() - w->t0) / 1000,
			 __ATOMIC_RELAXED);
	walk_end(w);
}

static int eager_attach(void *state, struct policy_region *r, char *err,
			size_t errlen)
{
	static const struct timeval now = { 0, 0 };
	struct eager *e = state;
	struct walk *w = calloc(1, sizeof(*w));

	if (w)
		w->ev = event_new(policy_loop(r), -1, 0, step, w);
	if (!w || !w->ev) {
		free(w);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->e = e;
	w->r = r;
	w->t0 = policy_now_ns();
	w->next = e->walks;
	e->walks = w;
	CNT_ADD(e->walking, 1);
	CNT_ADD(e->attaches, 1);
	event_add(w->ev, &now);
	return 0;
}

/* r stops using the instance: its walk, if still under way, ends. */
static void eager_detach(void *state, struct policy_region *r)
{
	struct eager *e = state;

	for (struct walk *w = e->walks, *next; w; w = next) {
		next = w->next;
		if (w->r == r)
			walk_end(w);
	}
}

static void eager_status(void *state, struct json_object *o)
{
	struct eager *e = state;

	policy_json_count(o, "eager_pages", &e->pages);
	policy_json_count(o, "eager_attaches", &e->attaches);
	policy_json_count(o, "eager_walking", &e->walking);
	policy_json_count(o, "eager_last_walk_us", &e->last_walk_us);
	policy_json_count(o, "eager_longest_step_us", &e->longest_step_us);
}

const struct policy_ops policy_ops_eager = {
	.name = "eager",
	.usage = "eager",
	.phase = PHASE_BASE,
	.state_size = sizeof(struct eager),
	.attach = eager_attach,
	.detach = eager_detach,
	/* No fault hook: later faults map their page, as continue does. */
	.status = eager_status,
};
