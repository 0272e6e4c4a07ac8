/* SPDX-License-Identifier: MIT */
/* continue: map the faulting page at once. */
#include "policy.h"

const struct policy_ops policy_ops_continue = {
	.name = "continue", .usage = "continue", .phase = PHASE_BASE,
	/* No fault hook: the range proposed so far (the faulting page, or a
	 * wider window when composed) is mapped as it is. */
};
