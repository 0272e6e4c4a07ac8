/* SPDX-License-Identifier: MIT */
/*
 * around:N -- map the faulting page and the others of its aligned window of
 * N pages.  Registering MINOR turns off the kernel's own fault-around; this
 * wins it back: sequential or clustered access takes one fault per window.
 * around:64K gives the window in bytes instead, as the kernel's
 * fault_around_bytes does: 16 pages of 4 KiB, one huge page.
 * Pages of the window that are not in the page cache, or already mapped,
 * are skipped page by page by the fault path (a "soft" range).
 */
#include "policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AROUND_MAX	 512
#define AROUND_MAX_BYTES (2u << 20)

struct around {
	uint64_t pages;	  /* window, a power of two */
	uint64_t bytes;	  /* or in bytes (around:64K), 0 if in pages */
	uint64_t windows; /* faults answered with a window (atomic) */
};

/* "64K", "1M": a window in bytes; 0 if args is not one. */
static uint64_t window_bytes(const char *args)
{
	char num[24];
	size_t n = strlen(args);
	uint64_t v, unit;

	if (n < 2 || n >= sizeof(num))
		return 0;
	unit = (args[n - 1] == 'K' || args[n - 1] == 'k')   ? 1024
	       : (args[n - 1] == 'M' || args[n - 1] == 'm') ? 1024 * 1024
							    : 0;
	memcpy(num, args, n - 1);
	num[n - 1] = '\0';
	if (!unit || policy_parse_u64(num, &v) < 0 || v > AROUND_MAX_BYTES)
		return 0;
	return v * unit;
}

static int around_create(void *state, const char *args, char *err,
			 size_t errlen)
{
	struct around *a = state;
	uint64_t n;

	if (args && (n = window_bytes(args)) >= 4096 && n <= AROUND_MAX_BYTES &&
	    !(n & (n - 1))) {
		a->bytes = n;
		return 0;
	}
	if (!args || policy_parse_u64(args, &n) < 0 || n < 1 ||
	    n > AROUND_MAX || (n & (n - 1))) {
		snprintf(err, errlen,
			 "around needs a window of N pages or BK bytes, a "
			 "power of two from 1 to %d or 4K to 2M; not \"%s\"",
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
	uint64_t win = a->bytes
			   ? (a->bytes > r->page_size ? a->bytes : r->page_size)
			   : a->pages * r->page_size;
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
	json_object_object_add(o, "around_bytes",
			       json_object_new_int64((int64_t)a->bytes));
	policy_json_count(o, "around_windows", &a->windows);
}

const struct policy_ops policy_ops_around = {
	.name = "around",
	.usage = "around:N|around:BK",
	.phase = PHASE_SHAPE,
	.state_size = sizeof(struct around),
	.create = around_create,
	.fault = around_fault,
	.status = around_status,
};
