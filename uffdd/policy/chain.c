/* SPDX-License-Identifier: MIT */
/*
 * Instances and composition.  Every instance is a chain of stages (a
 * single policy is a chain of one), sorted by phase; the core calls the
 * chain, the chain calls each stage's hook.
 */
#include "policy.h"
#include "table.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STAGES 6

struct stage {
	const struct policy_ops *ops;
	void *state;
};

struct chain {
	int n;
	struct stage st[MAX_STAGES];
};

/* Chain callbacks ---------------------------------------------------------- */

static void chain_destroy(void *state)
{
	struct chain *c = state;

	for (int i = 0; i < c->n; i++) {
		if (c->st[i].ops->destroy)
			c->st[i].ops->destroy(c->st[i].state);
		free(c->st[i].state);
	}
	free(c);
}

static void chain_detach(void *state, struct policy_region *r)
{
	struct chain *c = state;

	for (int i = c->n - 1; i >= 0; i--)
		if (c->st[i].ops->detach)
			c->st[i].ops->detach(c->st[i].state, r);
}

static int chain_attach(void *state, struct policy_region *r, char *err,
			size_t errlen)
{
	struct chain *c = state;

	for (int i = 0; i < c->n; i++) {
		int rc;

		if (!c->st[i].ops->attach)
			continue;
		rc = c->st[i].ops->attach(c->st[i].state, r, err, errlen);
		if (rc < 0) {
			while (--i >= 0)
				if (c->st[i].ops->detach)
					c->st[i].ops->detach(c->st[i].state, r);
			return rc;
		}
	}
	return 0;
}

static enum policy_verdict chain_fault(void *state, struct policy_region *r,
				       uint64_t addr, uint32_t tid,
				       struct map_range *out)
{
	struct chain *c = state;

	for (int i = 0; i < c->n; i++) {
		enum policy_verdict v;

		if (!c->st[i].ops->fault)
			continue;
		v = c->st[i].ops->fault(c->st[i].state, r, addr, tid, out);
		if (v != POLICY_MAP)
			return v;
	}
	return POLICY_MAP;
}

static int chain_prepare(void *state, struct policy_region *r, uint64_t start,
			 uint64_t len)
{
	struct chain *c = state;

	for (int i = 0; i < c->n; i++) {
		int rc;

		if (!c->st[i].ops->prepare)
			continue;
		rc = c->st[i].ops->prepare(c->st[i].state, r, start, len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int chain_publish(void *state, struct policy_region *r, uint64_t off,
			 uint64_t len, char *err, size_t errlen)
{
	struct chain *c = state;

	for (int i = 0; i < c->n; i++)
		if (c->st[i].ops->publish)
			return c->st[i].ops->publish(c->st[i].state, r, off,
						     len, err, errlen);
	snprintf(err, errlen, "PUBLISH needs a region with the gate policy");
	return -EOPNOTSUPP;
}

static void chain_status(void *state, struct json_object *o)
{
	struct chain *c = state;

	for (int i = 0; i < c->n; i++)
		if (c->st[i].ops->status)
			c->st[i].ops->status(c->st[i].state, o);
}

static const struct policy_ops chain_ops = {
	.name = "chain",
	.usage = "a+b",
	.destroy = chain_destroy,
	.attach = chain_attach,
	.detach = chain_detach,
	.fault = chain_fault,
	.prepare = chain_prepare,
	.publish = chain_publish,
	.status = chain_status,
};

/* Specs -------------------------------------------------------------------- */

/* A stage of ops with its state made from args, appended to c. */
static int new_stage(struct chain *c, const struct policy_ops *ops,
		     const char *args, char *err, size_t errlen)
{
	void *state = NULL;
	int rc;

	if (ops->state_size && !(state = calloc(1, ops->state_size))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = ops->create ? ops->create(state, args, err, errlen) : 0;
	if (rc < 0) { /* create left nothing behind but state */
		free(state);
		return rc;
	}
	c->st[c->n].ops = ops;
	c->st[c->n].state = state;
	c->n++;
	return 0;
}

/* One stage "name[:args]" (plen bytes at part) appended to c. */
static int add_stage(struct chain *c, const char *part, size_t plen, char *err,
		     size_t errlen)
{
	char buf[128];
	const char *colon;
	size_t nlen;
	const struct policy_ops *ops;

	if (plen == 0) {
		snprintf(err, errlen, "empty policy in a composition");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%.*s", (int)plen, part);
	colon = strchr(buf, ':');
	nlen = colon ? (size_t)(colon - buf) : strlen(buf);
	ops = policy_lookup(buf, nlen);
	if (!ops) {
		snprintf(err, errlen, "unknown policy \"%.*s\" (known: %s)",
			 (int)nlen, buf, policy_names());
		return -EINVAL;
	}
	for (int i = 0; i < c->n; i++)
		if (c->st[i].ops == ops) {
			snprintf(err, errlen,
				 "policy \"%s\" appears twice in \"%s\"",
				 ops->name, buf);
			return -EINVAL;
		}
	if (c->n == MAX_STAGES) {
		snprintf(err, errlen, "more than %d policies composed",
			 MAX_STAGES);
		return -EINVAL;
	}
	if (colon && !colon[1]) {
		snprintf(err, errlen,
			 "policy \"%s\": empty argument after ':' "
			 "(usage: %s)",
			 ops->name, ops->usage);
		return -EINVAL;
	}
	if (colon && !strchr(ops->usage, ':')) {
		snprintf(err, errlen, "policy \"%s\" takes no arguments",
			 ops->name);
		return -EINVAL;
	}
	return new_stage(c, ops, colon ? colon + 1 : NULL, err, errlen);
}

/* Every stage of "a+b+..." into c, in the written order. */
static int parse_stages(struct chain *c, const char *spec, char *err,
			size_t errlen)
{
	for (const char *s = spec;;) {
		const char *plus = strchr(s, '+');
		size_t plen = plus ? (size_t)(plus - s) : strlen(s);
		int rc = add_stage(c, s, plen, err, errlen);

		if (rc < 0)
			return rc;
		if (!plus)
			return 0;
		s = plus + 1;
	}
}

/* Stable sort by phase (the written order breaks ties); two stages that
 * both decide on every fault cannot be composed. */
static int order_stages(struct chain *c, char *err, size_t errlen)
{
	for (int i = 1; i < c->n; i++) {
		struct stage t = c->st[i];
		int j = i;

		while (j > 0 && c->st[j - 1].ops->phase > t.ops->phase) {
			c->st[j] = c->st[j - 1];
			j--;
		}
		c->st[j] = t;
	}
	for (int i = 1; i < c->n; i++)
		if (c->st[i].ops->phase == PHASE_DECIDE &&
		    c->st[i - 1].ops->phase == PHASE_DECIDE) {
			snprintf(err, errlen,
				 "\"%s\" and \"%s\" cannot be "
				 "composed: both decide on every fault",
				 c->st[i - 1].ops->name, c->st[i].ops->name);
			return -EINVAL;
		}
	return 0;
}

int policy_create(const char *spec, struct policy **out, char *err,
		  size_t errlen)
{
	struct policy *p;
	struct chain *c;
	int rc;

	*out = NULL;
	/* Specs reach logs, status and error texts: printable ASCII only,
	 * checked before any of it is quoted back. */
	for (size_t i = 0; spec[i]; i++)
		if ((unsigned char)spec[i] < 0x20 ||
		    (unsigned char)spec[i] > 0x7e) {
			snprintf(err, errlen,
				 "policy has a byte that is not printable "
				 "ASCII (0x%02x at offset %zu)",
				 (unsigned char)spec[i], i);
			return -EINVAL;
		}
	if (strlen(spec) >= sizeof(p->spec)) {
		snprintf(err, errlen, "policy \"%.32s...\" is too long", spec);
		return -EINVAL;
	}
	if (!*spec) {
		snprintf(err, errlen, "empty policy (known: %s)",
			 policy_names());
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	c = calloc(1, sizeof(*c));
	if (!p || !c) {
		free(p);
		free(c);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = parse_stages(c, spec, err, errlen);
	if (rc == 0)
		rc = order_stages(c, err, errlen);
	if (rc < 0) {
		chain_destroy(c);
		free(p);
		return rc;
	}
	p->ops = &chain_ops;
	p->state = c;
	snprintf(p->spec, sizeof(p->spec), "%s", spec);
	*out = p;
	return 0;
}

int policy_check(const char *spec, char *err, size_t errlen)
{
	struct policy *p;
	int rc = policy_create(spec, &p, err, errlen);

	if (rc == 0)
		policy_destroy(p);
	return rc;
}

void policy_destroy(struct policy *p)
{
	if (!p)
		return;
	if (p->ops->destroy)
		p->ops->destroy(p->state);
	free(p);
}

/* Instances on regions ----------------------------------------------------- */

int policy_attach(struct policy *p, struct policy_region *r, char *err,
		  size_t errlen)
{
	int rc;

	if (!p->based) {
		p->base_offset = r->offset;
		p->based = 1;
	}
	rc = p->ops->attach ? p->ops->attach(p->state, r, err, errlen) : 0;
	if (rc < 0) {
		if (!p->refs)
			p->based = 0;
		return rc;
	}
	p->refs++;
	return 0;
}

void policy_release(struct policy *p, struct policy_region *r)
{
	if (!p)
		return;
	if (!p->refs) { /* never attached */
		policy_destroy(p);
		return;
	}
	if (p->ops->detach)
		p->ops->detach(p->state, r);
	if (--p->refs == 0)
		policy_destroy(p);
}

enum policy_verdict policy_fault(struct policy_region *r, uint64_t addr,
				 uint32_t tid, struct map_range *out)
{
	const struct policy *p = r->pol;

	return p->ops->fault ? p->ops->fault(p->state, r, addr, tid, out)
			     : POLICY_MAP;
}

int policy_prepare(struct policy_region *r, uint64_t start, uint64_t len)
{
	const struct policy *p = r->pol;

	return p->ops->prepare ? p->ops->prepare(p->state, r, start, len) : 0;
}

int policy_publish(struct policy_region *r, uint64_t off, uint64_t len,
		   char *err, size_t errlen)
{
	if (off > r->len || len > r->len - off || !len) {
		snprintf(
		    err, errlen,
		    "range %llu+%llu is not inside the region (%llu bytes)",
		    (unsigned long long)off, (unsigned long long)len,
		    (unsigned long long)r->len);
		return -EINVAL;
	}
	return chain_publish(r->pol->state, r, off, len, err, errlen);
}

int policy_board(struct policy_region *r)
{
	const struct chain *c = r->pol->state;

	if (policy_flags(r->pol) & (POLICY_F_CONTENT | POLICY_F_MISSING))
		return -1;
	for (int i = 0; i < c->n; i++)
		if (c->st[i].ops->board)
			return c->st[i].ops->board(c->st[i].state, r);
	return -1;
}

void policy_status(const struct policy *p, struct json_object *o)
{
	if (p->ops->status)
		p->ops->status(p->state, o);
}

void policy_each(const struct policy *p,
		 void (*fn)(const struct policy_ops *ops, void *state,
			    void *arg),
		 void *arg)
{
	const struct chain *c = p->state;

	for (int i = 0; i < c->n; i++)
		fn(c->st[i].ops, c->st[i].state, arg);
}

enum policy_unresolved policy_unresolved_rule(const struct policy *p)
{
	const struct chain *c = p->state;
	int rule = POLICY_UNRESOLVED_RELEASE;

	for (int i = 0; i < c->n; i++)
		if (c->st[i].ops->unresolved > rule)
			rule = c->st[i].ops->unresolved;
	return (enum policy_unresolved)rule;
}

int policy_takes_missing(const struct policy *p)
{
	const struct chain *c = p->state;

	for (int i = 0; i < c->n; i++)
		if (c->st[i].ops->flags & POLICY_F_MISSING)
			return 1;
	return 0;
}

uint32_t policy_bits(const struct policy *p)
{
	const struct chain *c = p->state;
	uint32_t bits = 0;

	for (int i = 0; i < c->n; i++)
		bits |=
		    policy_bit(c->st[i].ops->name, strlen(c->st[i].ops->name));
	return bits;
}

unsigned policy_flags(const struct policy *p)
{
	const struct chain *c = p->state;
	unsigned f = 0;

	for (int i = 0; i < c->n; i++)
		f |= c->st[i].ops->flags;
	return f;
}

void policy_takeover(const struct policy *p, struct policy_takeover *t)
{
	const struct chain *c = p->state;

	memset(t, 0, sizeof(*t));
	t->image_file = -1;
	for (int i = 0; i < c->n; i++)
		if (c->st[i].ops->takeover)
			c->st[i].ops->takeover(c->st[i].state, t);
}

uint64_t policy_page(const struct policy_region *r, uint64_t addr)
{
	return (addr - r->start + r->offset - r->pol->base_offset) /
	       r->page_size;
}

uint64_t policy_addr(const struct policy_region *r, uint64_t idx)
{
	uint64_t m = r->pol->base_offset + idx * r->page_size;

	if (m < r->offset || m - r->offset >= r->len)
		return 0;
	return r->start + (m - r->offset);
}
