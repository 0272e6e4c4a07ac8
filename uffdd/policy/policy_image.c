/* SPDX-License-Identifier: MIT */
/*
 * image[:record] -- a client's mapping of an image from the host's cache
 * (uffdd/image).  The daemon gives it to every region whose memfd is an
 * image's; no client asks for it by name.
 *
 * A fault on a page the cache holds is mapped at once, with the rest of
 * its fetch block (images.map_window) around it, since a registered range
 * has no fault-around of its own.  A fault on a page not yet cached is
 * held: its block is asked for (once per block and instance, whatever the
 * number of faults) and every held fault of the block is mapped when the
 * block is in; if the fetch fails, or the block takes longer than
 * images.fault_timeout_ms, they get SIGBUS (UFFDIO_POISON), counted and
 * logged once per instance.  Before Linux 6.6 there is no poison: such a
 * fault keeps waiting and its block is asked for again (never a page the
 * cache has not filled).
 *
 * record: the order in which this client first touched pages (every page
 * is a fault: no window) goes to the store beside the image when the
 * region ends, for every host that maps the image later to prefetch.
 */
#include "image/cache.h"
#include "policy.h"
#include "trace.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define RETRY_MS 1000 /* no poison: ask again this often */

struct held {
	TAILQ_ENTRY(held) link;
	struct policy_region *r;
	uint64_t addr;
	uint32_t tid;
	uint64_t block; /* memfd offset of its block */
	uint64_t since, deadline;
};

/* Outlives the instance while answers to its asks are on their way. */
struct ipol {
	struct image *img;
	const struct image_info *info;
	int record;
	struct trace_rec rec;
	TAILQ_HEAD(, held) held; /* in deadline order */
	uint8_t *asked;		 /* per block: an answer is on its way */
	unsigned wants;
	int gone;
	struct event_base *base;
	struct event *timer;
	uint32_t window, timeout_ms;
	int can_poison;
	/* Restored from the fd store: the memfd is an earlier instance's
	 * cache, sealed against writes, so no page of it can be filled any
	 * more.  What that instance filled (the page-state bits) is served,
	 * the rest refused. */
	int frozen;
	/* counters (atomic) */
	uint64_t cached, waited, poisoned, timeouts, waiting;
};

struct image_pol {
	struct ipol *p;
};

struct ask {
	struct ipol *p;
	uint64_t block;
};

static int img_create(void *state, const char *args, char *err, size_t errlen)
{
	struct image_pol *s = state;

	if (args && strcmp(args, "record")) {
		snprintf(err, errlen,
			 "image: unknown parameter \"%s\" (usage: "
			 "image[:record])",
			 args);
		return -EINVAL;
	}
	s->p = calloc(1, sizeof(*s->p));
	if (!s->p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->p->record = args != NULL;
	TAILQ_INIT(&s->p->held);
	return 0;
}

static void final_free(struct ipol *p)
{
	if (p->timer)
		event_free(p->timer);
	trace_rec_free(&p->rec);
	free(p->asked);
	if (p->img)
		image_unref(p->img);
	free(p);
}

static void img_destroy(void *state)
{
	struct image_pol *s = state;
	struct ipol *p = s->p;
	struct held *h;
	char *buf;
	size_t len;

	if (!p)
		return;
	while ((h = TAILQ_FIRST(&p->held))) {
		TAILQ_REMOVE(&p->held, h, link);
		free(h);
	}
	if (p->record && p->img && p->rec.n &&
	    trace_rec_encode(&p->rec, &buf, &len) == 0) {
		image_trace_store(p->img, buf, len);
		policy_log(NULL, LOG_INFO,
			   "image %s@%llu: recorded %llu pages, storing "
			   "the trace",
			   p->info->name, (unsigned long long)p->info->version,
			   (unsigned long long)p->rec.n);
		free(buf);
	}
	if (p->timer)
		event_del(p->timer);
	p->gone = 1;
	if (!p->wants)
		final_free(p);
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

static int img_attach(void *state, struct policy_region *r, char *err,
		      size_t errlen)
{
	struct ipol *p = ((struct image_pol *)state)->p;
	struct image_cache *c = image_cache_global();
	const struct image_conf *conf;
	uint64_t nblocks;

	if (p->img)
		return 0; /* another piece of the same memory */
	p->img = c ? image_match(c, r->memfd) : NULL;
	if (!p->img && r->restored) {
		p->frozen = 1;
		p->can_poison = policy_caps(r)->poison;
		policy_log(r, LOG_NOTICE,
			   "image: a mapping of an earlier instance's cache: "
			   "its filled pages are served, the others get "
			   "SIGBUS%s",
			   p->can_poison ? ""
					 : " (no UFFDIO_POISON: they wait)");
		return 0;
	}
	if (!p->img) {
		snprintf(err, errlen,
			 "image: the memfd is not an image of this daemon's "
			 "cache (ask for it with IMAGE_OPEN)");
		return -EINVAL;
	}
	p->info = image_get_info(p->img);
	conf = image_cache_conf(c);
	if (r->page_size != p->info->page_size ||
	    r->offset + r->len > p->info->map_len) {
		snprintf(err, errlen,
			 "image: the region is not inside the "
			 "image's pages");
		return -EINVAL;
	}
	nblocks =
	    (p->info->map_len + p->info->fetch_size - 1) / p->info->fetch_size;
	p->asked = calloc(nblocks, 1);
	p->base = policy_loop(r);
	p->timer = evtimer_new(p->base, on_timer, p);
	if (!p->asked || !p->timer ||
	    (p->record &&
	     trace_rec_init(&p->rec, p->info->map_len / r->page_size,
			    r->page_size))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->window = conf->map_window;
	p->timeout_ms = conf->fault_timeout_ms;
	p->can_poison = policy_caps(r)->poison;
	return 0;
}

/* A held fault is answered or let go: the core's count follows. */
static void forget(struct ipol *p, struct held *h)
{
	TAILQ_REMOVE(&p->held, h, link);
	CNT_ADD(p->waiting, (uint64_t)-1);
	policy_held_done(h->r, 1);
	free(h);
}

/*
 * The core is done with r: its held faults are woken, not mapped (their
 * pages are not in the cache): they fault again, to whoever serves r now
 * - the client's takeover, which refuses what the cache lacks.
 */
static void img_detach(void *state, struct policy_region *r)
{
	struct ipol *p = ((struct image_pol *)state)->p;
	struct held *h, *n;

	for (h = TAILQ_FIRST(&p->held); h; h = n) {
		n = TAILQ_NEXT(h, link);
		if (h->r != r)
			continue;
		policy_wake(r, h->addr, r->page_size);
		forget(p, h);
	}
}

/*
 * The part of the window around memfd offset off (whose page is cached)
 * that r maps: pages in the page cache that are not filled yet (a fetch
 * writing them, or not started) are never mapped, so the window stops at
 * the first page on either side whose bit is clear.
 */
static void window(const struct ipol *p, const struct policy_region *r,
		   uint64_t off, uint64_t want, struct map_range *out)
{
	uint64_t lo, len, hi, ps = r->page_size, a, b;

	if (want) {
		lo = off / want * want;
		len = want;
	} else {
		image_block(p->img, off, &lo, &len);
	}
	hi = lo + len;
	if (lo < r->offset)
		lo = r->offset;
	if (hi > r->offset + r->len)
		hi = r->offset + r->len;
	a = off / ps * ps;
	b = a + ps;
	while (a > lo && image_page_ok(p->img, a - ps))
		a -= ps;
	while (b < hi && image_page_ok(p->img, b))
		b += ps;
	out->start = r->start + (a - r->offset);
	out->len = b - a;
}

static void arm(struct ipol *p)
{
	struct held *h = TAILQ_FIRST(&p->held);
	uint64_t now = policy_now_ns(), due;
	struct timeval tv;

	if (!h || p->gone)
		return;
	due = h->deadline > now ? h->deadline - now : 0;
	tv.tv_sec = (time_t)(due / 1000000000ull);
	tv.tv_usec = (suseconds_t)(due % 1000000000ull / 1000);
	event_add(p->timer, &tv);
}

/* SIGBUS for h, or (no poison) keep it and ask again later. */
static int refuse(struct ipol *p, struct held *h, const char *why)
{
	if (!p->can_poison || policy_deny(h->r, h->addr, h->tid) < 0)
		return -1;
	CNT_ADD(p->poisoned, 1);
	image_count_poison(p->img, 1, why); /* logs once per image */
	return 0;
}

static void on_ready(void *arg, int err);

static void ask(struct ipol *p, uint64_t off)
{
	uint64_t b = off / p->info->fetch_size;
	struct ask *a;

	if (p->asked[b])
		return;
	a = malloc(sizeof(*a));
	if (!a)
		return; /* the timeout ends the faults */
	a->p = p;
	a->block = b;
	if (image_want(p->img, p->base, off, on_ready, a) < 0) {
		free(a);
		return;
	}
	p->asked[b] = 1;
	p->wants++;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ipol *p = arg;
	uint64_t now = policy_now_ns();
	struct held *h;

	(void)fd;
	(void)what;
	while ((h = TAILQ_FIRST(&p->held)) && h->deadline <= now) {
		if (refuse(p, h, "the store did not answer in time") == 0) {
			CNT_ADD(p->timeouts, 1);
			forget(p, h);
			continue;
		}
		/* No poison: wait on, and ask again. */
		TAILQ_REMOVE(&p->held, h, link);
		h->deadline = now + RETRY_MS * 1000000ull;
		TAILQ_INSERT_TAIL(&p->held, h, link);
		ask(p, h->block);
	}
	arm(p);
}

static void map_held(struct ipol *p, struct held *h)
{
	struct map_range m;
	uint64_t off = h->r->offset + (h->addr - h->r->start);
	uint64_t now = policy_now_ns();

	window(p, h->r, off, p->record ? h->r->page_size : p->window, &m);
	/* soft: the faulting page may have been mapped meanwhile by another
	 * thread's fault; pages of the window already mapped are skipped. */
	policy_map(h->r, m.start, m.len, 1);
	CNT_ADD(p->waited, 1);
	image_count_fault(p->img, 0, now - h->since);
}

static void on_ready(void *arg, int err)
{
	struct ask *a = arg;
	struct ipol *p = a->p;
	uint64_t b = a->block;
	struct held *h, *n;

	free(a);
	p->wants--;
	if (p->gone) {
		if (!p->wants)
			final_free(p);
		return;
	}
	p->asked[b] = 0;
	for (h = TAILQ_FIRST(&p->held); h; h = n) {
		n = TAILQ_NEXT(h, link);
		if (h->block / p->info->fetch_size != b)
			continue;
		if (!err)
			map_held(p, h);
		else if (refuse(p, h, "fetching it from the store failed") < 0)
			continue; /* waits on; the timer asks again */
		forget(p, h);
	}
	arm(p);
}

/*
 * A page the earlier instance filled is mapped (one page: its neighbours
 * may not be filled); any other is refused.  Without the page-state bits
 * (the file did not fit a region split meanwhile) nothing is known to be
 * filled.
 */
static enum policy_verdict
frozen_fault(struct ipol *p, const struct policy_region *r, uint64_t off)
{
	const struct policy_pages *pg = r->pages;
	uint64_t i = off / r->page_size;

	if (pg && pg->filled && i < pg->npages &&
	    policy_page_bit(pg->filled, i)) {
		CNT_ADD(p->cached, 1);
		return POLICY_MAP;
	}
	CNT_ADD(p->poisoned, 1);
	return POLICY_DENY;
}

static enum policy_verdict img_fault(void *state, struct policy_region *r,
				     uint64_t addr, uint32_t tid,
				     struct map_range *out)
{
	struct ipol *p = ((struct image_pol *)state)->p;
	uint64_t off = r->offset + (addr - r->start);
	struct held *h;

	if (p->frozen)
		return frozen_fault(p, r, off);
	if (!p->img)
		return POLICY_HOLD; /* never attached: nothing to show */
	if (p->record)
		trace_rec_touch(&p->rec, off / r->page_size);
	if (image_page_ok(p->img, off)) {
		CNT_ADD(p->cached, 1);
		image_count_fault(p->img, 1, 0);
		if (!p->record)
			window(p, r, off, p->window, out);
		return POLICY_MAP;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return POLICY_HOLD; /* nothing better: it waits for a retry */
	h->r = r;
	h->addr = addr;
	h->tid = tid;
	h->block = off;
	h->since = policy_now_ns();
	h->deadline = h->since + (uint64_t)p->timeout_ms * 1000000ull;
	TAILQ_INSERT_TAIL(&p->held, h, link);
	CNT_ADD(p->waiting, 1);
	ask(p, off);
	if (TAILQ_FIRST(&p->held) == h)
		arm(p);
	return POLICY_HOLD;
}

static void img_status(void *state, struct json_object *o)
{
	struct ipol *p = ((struct image_pol *)state)->p;

	if (p->info) {
		json_object_object_add(o, "image",
				       json_object_new_string(p->info->name));
		policy_json_count(o, "image_version", &p->info->version);
		policy_json_count(o, "image_id", &p->info->id);
	}
	if (p->frozen)
		json_object_object_add(o, "image_frozen",
				       json_object_new_boolean(1));
	policy_json_count(o, "image_faults_cached", &p->cached);
	policy_json_count(o, "image_faults_waited", &p->waited);
	policy_json_count(o, "image_waiting", &p->waiting);
	policy_json_count(o, "image_poisoned", &p->poisoned);
	policy_json_count(o, "image_timeouts", &p->timeouts);
	if (p->record)
		policy_json_count(o, "image_recorded", &p->rec.n);
}

/* A client that takes over maps what the image's file marks filled and
 * refuses the rest: it has no access to the store. */
static void img_takeover(void *state, struct policy_takeover *t)
{
	(void)state;
	t->flags |= POLICY_TAKE_IMAGE;
}

const struct policy_ops policy_ops_image = {
	.name = "image",
	.usage = "image[:record]",
	.phase = PHASE_BASE,
	/* A page not in the cache yet is a missing fault: this policy
	 * fetches it, then the core maps it.  The daemon makes every byte:
	 * the region gets the image's page-state file, and its client keeps
	 * its uffd to take over. */
	.flags = POLICY_F_MISSING | POLICY_F_CONTENT,
	/* A fault the core cannot resolve (a CONTINUE that fails) is refused:
	 * given back to the kernel, the range would show pages the cache
	 * never filled. */
	.unresolved = POLICY_UNRESOLVED_DENY,
	.takeover = img_takeover,
	.state_size = sizeof(struct image_pol),
	.create = img_create,
	.destroy = img_destroy,
	.attach = img_attach,
	.detach = img_detach,
	.fault = img_fault,
	.status = img_status,
};
