/* SPDX-License-Identifier: MIT */
/*
 * around:N -- map the faulting page and the others of its aligned window of
 * N pages.  Registering MINOR turns off the kernel's own fault-around; this
 * wins it back: sequential or clustered access takes one fault per window.
 * Pages of the window that are not in the page cache, or already mapped,
 * are skipped page by page by the fault path (a "soft" range).
 */
#include "policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#define AROUND_MAX 512

struct around {
	uint64_t pages;	  /* window, a power of two */
	uint64_t windows; /* faults answered with a window (atomic) */
};

static int around_create(void *state, const char *args, char *err,
			 size_t errlen)
{
	struct around *a = state;
	uint64_t n;

	if (!args || policy_parse_u64(args, &n) < 0 || n < 1 ||
	    n > AROUND_MAX || (n & (n - 1))) {
		snprintf(err, errlen,
			 "policy \"around\" needs a window of N pages, a power "
			 "of two from 1 to %d (usage: around:N), not \"%s\"",
			 AROUND_MAX, args ? args : "");
		return -EINVAL;
	}
	a->pages = n;
	return 0;
}

static enum policy_verdict around_fault(void *state, struct policy_region *r,
					uint64_t addr, uint32_t tid,
					struct map_range *out)
{
	struct around *a = state;
	uint64_t win = a->pages * r->page_size;
	/* Align in memfd offsets: the window stays put if the mapping moves. */
	uint64_t m = addr - r->start + r->offset;
	uint64_t ms = m - m % win, me = ms + win;
	uint64_t lo = r->offset, hi = r->offset + r->len;

	(void)tid;
	if (ms < lo)
		ms = lo;
	if (me > hi)
		me = hi;
	if (out->start - r->start + r->offset < ms ||
	    out->start + out->len - r->start + r->offset > me)
		return POLICY_MAP; /* an earlier stage knows better */
	out->start = r->start + (ms - r->offset);
	out->len = me - ms;
	CNT_ADD(a->windows, 1);
	return POLICY_MAP;
}

static void around_status(void *state, struct json_object *o)
{
	struct around *a = state;

	json_object_object_add(o, "around_pages",
			       json_object_new_int64((int64_t)a->pages));
	policy_json_count(o, "around_windows", &a->windows);
}

const struct policy_ops policy_ops_around = {
	.name = "around",
	.usage = "around:N",
	.phase = PHASE_SHAPE,
	.state_size = sizeof(struct around),
	.create = around_create,
	.fault = around_fault,
	.status = around_status,
};
