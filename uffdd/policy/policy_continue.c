/* SPDX-License-Identifier: MIT */
/* continue: map the faulting page at once. */
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

const struct policy_ops policy_ops_continue = {
	.name = "continue",
	.usage = "continue",
	.phase = PHASE_BASE,
	.create = cont_create,
	/* No fault hook: the range proposed so far (the faulting page, or a
	 * wider window when composed) is mapped as it is. */
};
