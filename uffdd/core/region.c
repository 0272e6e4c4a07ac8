/* SPDX-License-Identifier: MIT */
#include "region.h"
#include "bounds.h"
#include "clock.h"
#include "fault.h"
#include "hold.h"
#include "pagestate.h"
#include "peer.h"
#include "reaper.h"
#include "session.h"
#include "share.h"
#include "walk.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Index of the first region whose end is above addr. */
static size_t lower(const struct region_table *t, uint64_t addr)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct region *r = t->v[mid];

		if (r->v.start + r->v.len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct region *region_find(const struct region_table *t, uint64_t addr)
{
	size_t i = lower(t, addr);

	if (i < t->n && t->v[i]->v.start <= addr)
		return t->v[i];
	return NULL;
}

struct region *region_by_id(const struct region_table *t, uint64_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->v.id == id)
			return t->v[i];
	return NULL;
}

int region_insert(struct region_table *t, struct region *r)
{
	size_t i = lower(t, r->v.start);

	if (i < t->n && t->v[i]->v.start < r->v.start + r->v.len)
		return -EEXIST;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4;
		struct region **n = realloc(t->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->v = n;
		t->cap = cap;
	}
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	t->v[i] = r;
	t->n++;
	return 0;
}

void region_remove(struct region_table *t, struct region *r)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i] != r)
			continue;
		memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
		t->n--;
		return;
	}
}

void region_free(struct region *r)
{
	/* First: a policy lets go of the faults it holds through the uffd. */
	policy_release(r->v.pol, &r->v);
	r->v.pol = NULL;
	hold_forget(r);
	share_put(r->share);
	bounds_region_freed();
	if (r->hold.resume_ev)
		event_free(r->hold.resume_ev);
	if (r->ev)
		event_free(r->ev);
	walk_done(r);
	/* The last close of a memfd frees its pages: not on a worker.  So
	 * for a client's files (one may be a memfd), and the page-state
	 * file's mapping. */
	reaper_close(r->uffd);
	reaper_close(r->v.memfd);
	for (int i = 0; i < r->nfiles; i++)
		reaper_close(r->files[i]);
	page_state_unref(r->ps);
	free(r);
}

uint64_t random_id(void)
{
	uint64_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = now_ns() * 0x9e3779b97f4a7c15ULL;
	return id;
}

/* A region of s with no descriptors and no policy, counted as alive. */
static struct region *blank(struct session *s)
{
	struct region *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->uffd = -1;
	r->probe_fd = -1;
	r->v.memfd = -1;
	r->v.name = r->name;
	r->s = s;
	r->share = s->share ? share_ref(s->share) : NULL;
	bounds_region_made(); /* region_free counts it out */
	return r;
}

struct region *region_make(struct session *s, const struct region_table *t,
			   const struct region_params *p, char *err,
			   size_t errlen)
{
	struct policy *pol;
	struct region *r;

	if (policy_create(p->policy, &pol, err, errlen) < 0)
		return NULL;
	r = blank(s);
	if (!r) {
		policy_destroy(pol);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->v.pol = pol;
	r->v.id = p->id;
	while (!r->v.id || region_by_id(t, r->v.id))
		r->v.id = random_id();
	r->v.start = p->start;
	r->v.len = p->len;
	r->v.offset = p->offset;
	r->v.page_size = p->page_size;
	r->kind = p->kind;
	r->uffd_features = p->uffd_features;
	snprintf(r->name, sizeof(r->name), "%s", p->name[0] ? p->name : "anon");
	peer_printable(r->name);
	return r;
}

struct region *region_clone(struct region *src, struct session *dst, int uffd,
			    uint64_t start, uint64_t len, uint64_t offset,
			    char *err, size_t errlen)
{
	struct region *nr = blank(dst);
	char why[200];

	if (!nr) {
		close(uffd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	nr->uffd = uffd;
	nr->v.memfd = fcntl(src->v.memfd, F_DUPFD_CLOEXEC, 0);
	nr->v.memfd_dev = src->v.memfd_dev;
	nr->v.memfd_ino = src->v.memfd_ino;
	nr->v.id = random_id();
	nr->v.start = start;
	nr->v.len = len;
	nr->v.offset = offset;
	nr->v.page_size = src->v.page_size;
	nr->kind = src->kind;
	nr->uffd_features = src->uffd_features;
	nr->ctx = src->ctx;
	nr->parent_ctx = src->parent_ctx;
	/* The same memory: the same page bits.  A piece of the client's own
	 * region is taken over with it; a forked child's copy is not (the
	 * daemon holds its only uffd). */
	nr->ps = page_state_ref(src->ps);
	nr->v.pages = src->v.pages;
	nr->v.client_takes_over = dst == src->s && src->v.client_takes_over;
	snprintf(nr->name, sizeof(nr->name), "%s", src->name);
	fault_nonblock(uffd);
	nr->v.pol = src->v.pol;
	if (nr->v.memfd < 0) {
		snprintf(err, errlen, "dup of the memfd: %s", strerror(errno));
		nr->v.pol = NULL;
		region_free(nr);
		return NULL;
	}
	if (policy_attach(nr->v.pol, &nr->v, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "policy %s: %s", src->v.pol->spec, why);
		nr->v.pol = NULL; /* not attached: not ours to release */
		region_free(nr);
		return NULL;
	}
	/* The same fault path, on the same loop, as the region it copies. */
	nr->ev = event_new(event_get_base(src->ev), uffd, EV_READ | EV_PERSIST,
			   event_get_callback(src->ev), nr);
	if (!nr->ev) {
		snprintf(err, errlen, "out of memory");
		region_free(nr);
		return NULL;
	}
	return nr;
}
