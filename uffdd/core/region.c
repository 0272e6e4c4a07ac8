/* SPDX-License-Identifier: MIT */
#include "region.h"
#include "bounds.h"
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <string.h>
#include <unistd.h>

/* Index of the first region whose end is above addr. */
static size_t lower(const struct session *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nregions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct region *r = s->regions[mid];

		if (r->start + r->len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct region *region_find(const struct session *s, uint64_t addr)
{
	size_t i = lower(s, addr);

	if (i < s->nregions && s->regions[i]->start <= addr)
		return s->regions[i];
	return NULL;
}

struct region *region_by_id(const struct session *s, uint64_t id)
{
	for (size_t i = 0; i < s->nregions; i++)
		if (s->regions[i]->id == id)
			return s->regions[i];
	return NULL;
}

int region_insert(struct session *s, struct region *r)
{
	size_t i = lower(s, r->start);

	if (i < s->nregions && s->regions[i]->start < r->start + r->len)
		return -EEXIST;
	if (s->nregions == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		struct region **n = realloc(s->regions, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->regions = n;
		s->cap = cap;
	}
	memmove(&s->regions[i + 1], &s->regions[i],
		(s->nregions - i) * sizeof(*s->regions));
	s->regions[i] = r;
	s->nregions++;
	return 0;
}

void region_remove(struct session *s, struct region *r)
{
	for (size_t i = 0; i < s->nregions; i++) {
		if (s->regions[i] != r)
			continue;
		memmove(&s->regions[i], &s->regions[i + 1],
			(s->nregions - i - 1) * sizeof(*s->regions));
		s->nregions--;
		return;
	}
}

void region_free(struct region *r)
{
	/* First: a policy lets go of the faults it holds through the uffd. */
	policy_release(r->pol, r);
	r->pol = NULL;
	limits_region_end(r);
	limits_region_freed();
	if (r->ev)
		event_free(r->ev);
	if (r->uffd >= 0)
		close(r->uffd);
	if (r->memfd >= 0)
		close(r->memfd);
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

struct region *region_make(struct session *s, const struct region_params *p,
			   char *err, size_t errlen)
{
	struct region *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->uffd = -1;
	r->memfd = -1;
	if (policy_create(p->policy, &r->pol, err, errlen) < 0) {
		free(r);
		return NULL;
	}
	limits_region_made();
	r->id = p->id;
	while (!r->id || region_by_id(s, r->id))
		r->id = random_id();
	r->s = s;
	r->start = p->start;
	r->len = p->len;
	r->offset = p->offset;
	r->page_size = p->page_size;
	r->kind = p->kind;
	r->uffd_features = p->uffd_features;
	snprintf(r->name, sizeof(r->name), "%s", p->name[0] ? p->name : "anon");
	/* Names end up in logs and JSON: keep them printable. */
	for (char *c = r->name; *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
	return r;
}
