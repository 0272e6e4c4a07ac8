/* SPDX-License-Identifier: MIT */
/* continue: map the faulting page at once. */
#include "daemon.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>

static int cont_create(const char *args, void **state, char *err,
		       size_t errlen)
{
	if (args) {
		snprintf(err, errlen, "policy \"continue\" takes no arguments");
		return -EINVAL;
	}
	*state = NULL;
	return 0;
}

/* The range proposed so far (the faulting page, or a wider window when
 * composed) is mapped as it is. */
static enum policy_verdict cont_fault(void *state, struct region *r,
				      uint64_t addr, uint32_t tid,
				      struct map_range *out)
{
	(void)state;
	(void)r;
	(void)addr;
	(void)tid;
	(void)out;
	return POLICY_MAP;
}

const struct policy_ops policy_continue = {
	.name = "continue",
	.usage = "continue",
	.phase = PHASE_BASE,
	.create = cont_create,
	.fault = cont_fault,
};
