/* SPDX-License-Identifier: MIT */
/*
 * deny -- refuse every access: the fault path answers with UFFDIO_POISON
 * and the accessing thread (only that one) gets SIGBUS.  Each refusal is
 * logged with pid, tid and address.  A kernel without UFFDIO_POISON
 * (before Linux 6.6) cannot refuse a minor fault without leaving the thread
 * hanging, so the region is refused at registration instead.
 */
#include "policy.h"

#include <errno.h>
#include <stdio.h>

static int deny_attach(void *state, struct policy_region *r, char *err,
		       size_t errlen)
{
	const struct uffd_caps *caps = policy_caps(r);

	(void)state;
	if (!caps->poison) {
		snprintf(err, errlen,
			 "deny needs UFFDIO_POISON (Linux 6.6+), which this "
			 "kernel (%s) lacks",
			 caps->release);
		return -EOPNOTSUPP;
	}
	return 0;
}

static enum policy_verdict deny_fault(void *state, struct policy_region *r,
				      uint64_t addr, uint32_t tid,
				      struct map_range *out)
{
	(void)state;
	(void)r;
	(void)addr;
	(void)tid;
	(void)out;
	return POLICY_DENY;
}

/* Nothing is ever mapped ahead of a fault (prefetch) either. */
static int deny_prepare(void *state, struct policy_region *r, uint64_t start,
			uint64_t len)
{
	(void)state;
	(void)r;
	(void)start;
	(void)len;
	return -EACCES;
}

/* Composed with a policy that makes contents (deny+populate), the client
 * taking over refuses every access too.  Alone, deny makes no contents:
 * when the daemon goes, the kernel serves the client's own bytes. */
static void deny_takeover(void *state, struct policy_takeover *t)
{
	(void)state;
	t->flags |= POLICY_TAKE_DENY;
}

const struct policy_ops policy_ops_deny = {
	.name = "deny",
	.usage = "deny",
	.unresolved = POLICY_UNRESOLVED_DENY,
	.phase = PHASE_DECIDE,
	.attach = deny_attach,
	.fault = deny_fault,
	.prepare = deny_prepare,
	.takeover = deny_takeover,
};
