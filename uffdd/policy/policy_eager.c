/* SPDX-License-Identifier: MIT */
/*
 * eager: map every page that is already in the page cache as soon as the
 * region is registered (or copied into a forked child), then behave like
 * continue.  A process that forks per request pays one batch of CONTINUEs
 * at registration instead of one fault per page it touches: cheap with 2 MiB
 * pages, costly for large regions of 4 KiB pages.
 */
#include "policy.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct eager {
	uint64_t pages; /* mapped at attach (atomic) */
	uint64_t attaches;
};

static int eager_attach(void *state, struct policy_region *r, char *err,
			size_t errlen)
{
	struct eager *e = state;
	long n;

	(void)err;
	(void)errlen;
	/* Soft: pages not in the page cache are left to fault as usual. */
	n = policy_map(r, r->start, r->len, 1);
	if (n < 0)
		policy_log(r, LOG_WARNING,
			   "eager: mapping region %016" PRIx64 ": %s", r->id,
			   strerror((int)-n));
	else
		CNT_ADD(e->pages, (uint64_t)n);
	CNT_ADD(e->attaches, 1);
	return 0;
}

static void eager_status(void *state, struct json_object *o)
{
	struct eager *e = state;

	policy_json_count(o, "eager_pages", &e->pages);
	policy_json_count(o, "eager_attaches", &e->attaches);
}

const struct policy_ops policy_ops_eager = {
	.name = "eager",
	.usage = "eager",
	.phase = PHASE_BASE,
	.state_size = sizeof(struct eager),
	.attach = eager_attach,
	/* No fault hook: later faults map their page, as continue does. */
	.status = eager_status,
};
