/* SPDX-License-Identifier: MIT */
#include "unresolved.h"
#include "fault.h"
#include "log.h"
#include "session.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

/* A stray fault gives back at most this much of the client's range on
 * either side of it, between the session's regions. */
#define STRAY_REACH (1ull << 30)

static uint64_t counts[UNRESOLVED_NCOUNTS]; /* atomic */

/*
 * Unregister [start, start+len) on uffd and wake what waits there: the
 * kernel wakes by itself only ranges registered MISSING.  0 or -errno.
 */
static int give_back(int uffd, uint64_t start, uint64_t len)
{
	struct uffdio_range rg = { .start = start, .len = len };

	if (ioctl(uffd, UFFDIO_UNREGISTER, &rg) < 0 && errno != ESRCH)
		return -errno;
	ioctl(uffd, UFFDIO_WAKE, &rg);
	return 0;
}

static void counted(enum unresolved_cause c)
{
	__atomic_add_fetch(&counts[c], 1, __ATOMIC_RELAXED);
}

/* The last resort: the session ends, closing its uffds (which wakes
 * every thread blocked in them and unregisters their ranges). */
static void drop(struct session *s, const char *why)
{
	char msg[300];

	if (s->dying)
		return;
	counted(UNRESOLVED_DROPPED);
	log_client(LOG_WARNING, &s->who, 0, "client %d: %s; ending its session",
		   (int)s->who.pid, why);
	snprintf(msg, sizeof(msg), "a fault it cannot resolve (%s)", why);
	session_drop(s, msg);
}

void unresolved_release(struct region *r, const char *why)
{
	struct session *s = r->s;
	char msg[300];
	int e;

	/* Already on its way out (retired, or its session ending). */
	if (r->dead || s->dying || region_find(&s->regions, r->v.start) != r)
		return;
	/* Given back, a region whose bytes the daemon makes would show the
	 * kernel's pages, never filled: its session ends instead, and its
	 * client, which kept the uffd, serves it (or refuses its pages). */
	if (r->v.client_takes_over) {
		snprintf(msg, sizeof(msg), "region %s: %s", r->name, why);
		drop(s, msg);
		return;
	}
	e = give_back(r->uffd, r->v.start, r->v.len);
	if (e < 0) {
		snprintf(msg, sizeof(msg),
			 "region %s: %s, and it cannot be unregistered: %s",
			 r->name, why, strerror(-e));
		drop(s, msg);
		return;
	}
	counted(UNRESOLVED_RELEASED);
	log_client(LOG_WARNING, &s->who, r->v.id,
		   "client %d region %s: %s; the region is given back to the "
		   "kernel (unregistered, no longer served)",
		   (int)s->who.pid, r->name, why);
	snprintf(msg, sizeof(msg), "given back to the kernel: %s", why);
	session_retire(r, msg);
}

static const char *describe(enum unresolved_cause why, int err, char *buf,
			    size_t len)
{
	switch (why) {
	case UNRESOLVED_MISSING:
		return "a missing fault (its range is registered MISSING as "
		       "well as MINOR; uffdd serves minor faults)";
	case UNRESOLVED_WP:
		return "a write-protect fault (its range is registered WP)";
	case UNRESOLVED_NO_PAGE:
		return "CONTINUE found no page in the page cache";
	default:
		snprintf(buf, len, "CONTINUE failed: %s", strerror(err));
		return buf;
	}
}

void unresolved_fault(struct region *r, uint64_t addr, uint32_t tid,
		      enum unresolved_cause why, int err)
{
	char buf[96];
	const char *what = describe(why, err, buf, sizeof(buf));

	if (r->dead || r->s->dying || !r->v.pol)
		return;
	counted(why);
	switch (policy_unresolved_rule(r->v.pol)) {
	case POLICY_UNRESOLVED_DENY:
		/* Falls to release by itself when the page cannot be
		 * refused. */
		fault_deny(r, addr, tid);
		return;
	case POLICY_UNRESOLVED_DROP: {
		char msg[200];

		snprintf(msg, sizeof(msg), "region %s: %s", r->name, what);
		drop(r->s, msg);
		return;
	}
	case POLICY_UNRESOLVED_RELEASE:
	default:
		unresolved_release(r, what);
		return;
	}
}

/*
 * The stretch between the session's regions around addr, at most reach on
 * either side of it.
 */
static void gap(const struct session *s, uint64_t addr, uint64_t psz,
		uint64_t reach, struct uffdio_range *rg)
{
	uint64_t lo = addr > reach ? addr - reach : psz;
	uint64_t hi = addr + reach;

	for (size_t i = 0; i < s->regions.n; i++) {
		const struct region *q = s->regions.v[i];
		uint64_t end = q->v.start + q->v.len;

		if (end <= addr && end > lo)
			lo = end;
		if (q->v.start > addr && q->v.start < hi)
			hi = q->v.start;
	}
	rg->start = (lo + psz - 1) & ~(psz - 1);
	rg->len = (hi & ~(psz - 1)) - rg->start;
}

void unresolved_stray(struct session *s, int uffd, uint64_t addr, uint64_t psz)
{
	struct uffdio_range rg = { .start = addr & ~(psz - 1), .len = psz };
	char msg[160];
	int e = -EINVAL;

	counted(UNRESOLVED_STRAY);
	/*
	 * The client registered more than it told us of (or a region just
	 * went and its faults were queued): give that part of its range
	 * back to the kernel, as much around the fault as the kernel takes
	 * (one fault for a large range, not one per page; a stretch that
	 * reaches a mapping that cannot be registered at all is refused
	 * whole, so the reach shrinks), the page at least.
	 */
	for (uint64_t reach = STRAY_REACH; e < 0 && reach >= psz; reach /= 4) {
		gap(s, addr, psz, reach, &rg);
		e = give_back(uffd, rg.start, rg.len);
	}
	if (e < 0) {
		rg.start = addr & ~(psz - 1);
		rg.len = psz;
		e = give_back(uffd, rg.start, rg.len);
	}
	if (e == 0) {
		log_client(LOG_NOTICE, &s->who, 0,
			   "client %d: fault at %#llx outside its regions; "
			   "%#llx+%llu of its range is unregistered",
			   (int)s->who.pid, (unsigned long long)addr,
			   (unsigned long long)rg.start,
			   (unsigned long long)rg.len);
		return;
	}
	snprintf(msg, sizeof(msg),
		 "fault at %#llx outside its regions, and the page cannot be "
		 "unregistered: %s",
		 (unsigned long long)addr, strerror(-e));
	drop(s, msg);
}

void unresolved_status(json_object *totals)
{
	static const char *names[UNRESOLVED_NCOUNTS] = {
		[UNRESOLVED_MISSING] = "missing",
		[UNRESOLVED_WP] = "write_protect",
		[UNRESOLVED_NO_PAGE] = "no_page",
		[UNRESOLVED_ERROR] = "error",
		[UNRESOLVED_STRAY] = "outside_regions",
		[UNRESOLVED_RELEASED] = "regions_released",
		[UNRESOLVED_DROPPED] = "sessions_ended",
	};
	json_object *o = json_object_new_object();

	for (int i = 0; i < UNRESOLVED_NCOUNTS; i++)
		json_object_object_add(
		    o, names[i],
		    json_object_new_int64((int64_t)__atomic_load_n(
			&counts[i], __ATOMIC_RELAXED)));
	json_object_object_add(totals, "unresolved", o);
}
