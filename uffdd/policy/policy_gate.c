/* SPDX-License-Identifier: MIT */
/*
 * gate[:timeout=MS[,action=map|deny]] -- a page is mapped only after a
 * producer published it (PUBLISH from the client library's
 * uffd_region_publish(), or `uffdctl publish REGION OFFSET LENGTH`).
 * Faults on unpublished pages are held (the thread stays blocked in the
 * kernel) and resolved the moment a publish covers them.  With a timeout,
 * a fault held that long is mapped anyway (action=map, the default) or
 * refused with SIGBUS (action=deny).  Which pages are published is kept in
 * the region's page-state file: a restarted daemon still knows them, and so
 * does the client if it takes over.
 */
#include "policy.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TIMEOUT_MS (24ull * 3600 * 1000)

struct held {
	struct policy_region *r;
	uint64_t addr;
	uint32_t tid;
	uint64_t since_ns;
};

struct gate {
	uint64_t timeout_ms; /* 0: wait for ever */
	int deny_on_timeout;
	uint64_t npages;
	uint8_t *pub; /* one bit per page, policy page indexes */
	int own_pub;  /* pub is ours, not the page-state file's */
	struct held *held;
	size_t nheld, cap;
	struct event *timer;
	int bypass; /* letting a timed-out fault through */
	/* counters (atomic) */
	uint64_t waiting, held_total, released, timeouts, published;
};

/* "timeout=MS", "timeout=2s", "timeout=300ms" into g; 0 or -EINVAL. */
static int parse_timeout(struct gate *g, char *v, char *err, size_t errlen)
{
	size_t n = strlen(v);
	uint64_t mult = 1, t;

	if (n > 2 && strcmp(v + n - 2, "ms") == 0) {
		v[n - 2] = '\0';
	} else if (n > 1 && v[n - 1] == 's') {
		v[n - 1] = '\0';
		mult = 1000;
	}
	if (policy_parse_u64(v, &t) < 0 || !t || t * mult > MAX_TIMEOUT_MS) {
		snprintf(err, errlen,
			 "gate: bad timeout \"%s\" (milliseconds, or with an "
			 "ms or s suffix; at most 24 h)",
			 v);
		return -EINVAL;
	}
	g->timeout_ms = t * mult;
	return 0;
}

static int gate_create(void *state, const char *args, char *err, size_t errlen)
{
	struct gate *g = state;
	char buf[128], *save = NULL, *kv;

	snprintf(buf, sizeof(buf), "%s", args ? args : "");
	for (kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		if (strncmp(kv, "timeout=", 8) == 0) {
			if (parse_timeout(g, kv + 8, err, errlen) < 0)
				return -EINVAL;
		} else if (strcmp(kv, "action=map") == 0) {
			g->deny_on_timeout = 0;
		} else if (strcmp(kv, "action=deny") == 0) {
			g->deny_on_timeout = 1;
		} else {
			snprintf(err, errlen,
				 "gate: unknown parameter \"%s\" (usage: "
				 "gate[:timeout=MS[,action=map|deny]])",
				 kv);
			return -EINVAL;
		}
	}
	return 0;
}

static void gate_destroy(void *state)
{
	struct gate *g = state;

	if (g->timer)
		event_free(g->timer);
	if (g->own_pub)
		free(g->pub);
	free(g->held);
}

static int published(const struct gate *g, uint64_t idx)
{
	return idx < g->npages && policy_page_bit(g->pub, idx);
}

static void arm(struct gate *g)
{
	uint64_t first = UINT64_MAX, now = policy_now_ns(), due;
	struct timeval tv;

	if (!g->timer || !g->timeout_ms || !g->nheld)
		return;
	for (size_t i = 0; i < g->nheld; i++)
		if (g->held[i].since_ns < first)
			first = g->held[i].since_ns;
	due = first + g->timeout_ms * 1000000ull;
	due = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(due / 1000000000ull);
	tv.tv_usec = (suseconds_t)(due % 1000000000ull / 1000);
	event_add(g->timer, &tv);
}

/* Let held fault i go: map its page (or refuse it) and forget it. */
static void let_go(struct gate *g, size_t i, int deny)
{
	struct held h = g->held[i];

	g->held[i] = g->held[--g->nheld];
	CNT_ADD(g->waiting, (uint64_t)-1);
	policy_held_done(h.r, 1);
	/* Ending, with a client that will serve the region itself: an
	 * unpublished page is not ours to map; the thread faults again and
	 * the client holds it. */
	if (deny < 0) {
		policy_wake(h.r, h.addr, h.r->page_size);
		return;
	}
	if (deny) {
		policy_deny(h.r, h.addr, h.tid);
		return;
	}
	g->bypass++;
	/* Composed with populate: the page's bytes first. */
	if (policy_prepare(h.r, h.addr, h.r->page_size) < 0)
		policy_deny(h.r, h.addr, h.tid);
	else
		policy_map(h.r, h.addr, h.r->page_size, 1);
	g->bypass--;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gate *g = arg;
	uint64_t now = policy_now_ns(), tmo = g->timeout_ms * 1000000ull;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < g->nheld;) {
		if (now - g->held[i].since_ns >= tmo) {
			struct held *h = &g->held[i];

			CNT_ADD(g->timeouts, 1);
			policy_log(h->r, LOG_NOTICE,
				   "client %d tid %u region %s: fault at "
				   "%#llx not published within %llu ms: %s",
				   (int)policy_pid(h->r), h->tid, h->r->name,
				   (unsigned long long)h->addr,
				   (unsigned long long)g->timeout_ms,
				   g->deny_on_timeout ? "denied" : "mapped");
			let_go(g, i, g->deny_on_timeout);
			continue;
		}
		i++;
	}
	arm(g);
}

static int gate_attach(void *state, struct policy_region *r, char *err,
		       size_t errlen)
{
	struct gate *g = state;

	if (g->pub)
		return 0; /* a fork copy or a piece: same pages */
	if (g->deny_on_timeout && !policy_caps(r)->poison) {
		snprintf(err, errlen,
			 "gate action=deny needs UFFDIO_POISON (Linux 6.6+), "
			 "which this kernel lacks");
		return -EOPNOTSUPP;
	}
	g->npages = r->len / r->page_size;
	if (r->pages && r->pages->published && r->pages->npages >= g->npages) {
		g->pub = r->pages->published;
	} else {
		g->pub = calloc(g->npages / 8 + 1, 1);
		g->own_pub = 1;
	}
	if (!g->pub) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (g->timeout_ms) {
		g->timer = event_new(policy_loop(r), -1, 0, timer_cb, g);
		if (!g->timer) {
			if (g->own_pub)
				free(g->pub);
			g->pub = NULL;
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

static void gate_detach(void *state, struct policy_region *r)
{
	struct gate *g = state;

	/* r ending: its threads must not hang. */
	for (size_t i = 0; i < g->nheld;)
		if (g->held[i].r == r)
			let_go(g, i, r->client_takes_over ? -1 : 0);
		else
			i++;
	if (!g->nheld && g->timer)
		event_del(g->timer);
}

static enum policy_verdict gate_fault(void *state, struct policy_region *r,
				      uint64_t addr, uint32_t tid,
				      struct map_range *out)
{
	struct gate *g = state;
	uint64_t idx = policy_page(r, addr), lo = addr,
		 hi = addr + r->page_size;

	if (!g->pub)
		return POLICY_DENY; /* never attached: nothing can be published
				     */
	if (published(g, idx)) {
		/* A window keeps only its published run around addr. */
		while (lo > out->start &&
		       published(g, policy_page(r, lo - r->page_size)))
			lo -= r->page_size;
		while (hi < out->start + out->len &&
		       published(g, policy_page(r, hi)))
			hi += r->page_size;
		out->start = lo;
		out->len = hi - lo;
		return POLICY_MAP;
	}
	if (g->nheld == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct held *n = realloc(g->held, cap * sizeof(*n));

		if (!n) {
			policy_log(r, LOG_ERR,
				   "gate: out of memory: mapping %#llx "
				   "unpublished",
				   (unsigned long long)addr);
			return POLICY_MAP;
		}
		g->held = n;
		g->cap = cap;
	}
	g->held[g->nheld++] = (struct held){ r, addr, tid, policy_now_ns() };
	CNT_ADD(g->waiting, 1);
	CNT_ADD(g->held_total, 1);
	if (g->nheld == 1)
		arm(g);
	return POLICY_HOLD;
}

static int gate_prepare(void *state, struct policy_region *r, uint64_t start,
			uint64_t len)
{
	struct gate *g = state;

	if (g->bypass || !g->pub)
		return 0;
	for (uint64_t a = start; a < start + len; a += r->page_size)
		if (!published(g, policy_page(r, a)))
			return -EAGAIN;
	return 0;
}

/* Page idx published; 1 if it was not before. */
static uint64_t mark_one(struct gate *g, uint64_t idx)
{
	uint8_t bit = (uint8_t)(1u << (idx % 8));

	if (g->pub[idx / 8] & bit)
		return 0;
	g->pub[idx / 8] |= bit;
	return 1;
}

/*
 * Pages [first, last] published; how many were not before.  64 pages a
 * step in the middle: publishing all of a 1 TiB region of 4 KiB pages
 * writes 32 MiB of bitmap (about 50 ms here), where a step per page took
 * seconds.
 */
static uint64_t mark(struct gate *g, uint64_t first, uint64_t last)
{
	uint64_t i = first, n = 0;

	if (last >= g->npages)
		last = g->npages - 1;
	for (; i <= last && i % 64; i++)
		n += mark_one(g, i);
	for (; last - i >= 63 && i <= last; i += 64) {
		uint64_t w;

		memcpy(&w, g->pub + i / 8, sizeof(w));
		n += w ? 64 - (uint64_t)__builtin_popcountll(w) : 64;
		w = ~0ull;
		memcpy(g->pub + i / 8, &w, sizeof(w));
	}
	for (; i <= last; i++)
		n += mark_one(g, i);
	return n;
}

static int gate_publish(void *state, struct policy_region *r, uint64_t off,
			uint64_t len, char *err, size_t errlen)
{
	struct gate *g = state;
	uint64_t first, last;

	if (!g->pub) {
		snprintf(err, errlen, "gate: region not ready");
		return -EAGAIN;
	}
	if (off % r->page_size || len % r->page_size) {
		snprintf(err, errlen,
			 "offset and length must be multiples of the page "
			 "size %u",
			 r->page_size);
		return -EINVAL;
	}
	first = policy_page(r, r->start + off);
	last = policy_page(r, r->start + off + len - 1);
	CNT_ADD(g->published, mark(g, first, last));
	for (size_t i = 0; i < g->nheld;) {
		if (published(g, policy_page(g->held[i].r, g->held[i].addr))) {
			CNT_ADD(g->released, 1);
			let_go(g, i, 0);
			continue;
		}
		i++;
	}
	if (!g->nheld && g->timer)
		event_del(g->timer);
	return 0;
}

static void gate_status(void *state, struct json_object *o)
{
	struct gate *g = state;

	policy_json_count(o, "gate_waiting", &g->waiting);
	policy_json_count(o, "gate_held_total", &g->held_total);
	policy_json_count(o, "gate_released", &g->released);
	policy_json_count(o, "gate_timeouts", &g->timeouts);
	policy_json_count(o, "gate_published_pages", &g->published);
	json_object_object_add(o, "gate_timeout_ms",
			       json_object_new_int64((int64_t)g->timeout_ms));
	json_object_object_add(
	    o, "gate_action",
	    json_object_new_string(g->deny_on_timeout ? "deny" : "map"));
}

static void gate_takeover(void *state, struct policy_takeover *t)
{
	struct gate *g = state;

	t->flags |=
	    POLICY_TAKE_GATE | (g->deny_on_timeout ? POLICY_TAKE_GATE_DENY : 0);
	t->gate_timeout_ms = (uint32_t)g->timeout_ms;
}

const struct policy_ops policy_ops_gate = {
	.name = "gate",
	.usage = "gate[:timeout=MS[,action=map|deny]]",
	.unresolved = POLICY_UNRESOLVED_DENY,
	.phase = PHASE_DECIDE,
	.flags = POLICY_F_CONTENT,
	.state_size = sizeof(struct gate),
	.create = gate_create,
	.destroy = gate_destroy,
	.attach = gate_attach,
	.detach = gate_detach,
	.fault = gate_fault,
	.prepare = gate_prepare,
	.publish = gate_publish,
	.status = gate_status,
	.takeover = gate_takeover,
};
