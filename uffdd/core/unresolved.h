/* SPDX-License-Identifier: MIT */
/*
 * Faults the daemon cannot resolve, each resolved once by a rule and
 * counted (status: totals.unresolved), never by waking the thread into the
 * same fault again:
 *
 *   a MISSING fault no stage of the region's policy answers (the client
 *   registered its range MISSING as well as MINOR), a write-protect fault,
 *   a CONTINUE that finds no page (EFAULT) or fails otherwise:
 *       the region's policy rule (policy_unresolved_rule): release the
 *       region to the kernel, refuse the page (SIGBUS), or end the session;
 *   a fault outside every region of the session:
 *       that stretch of the client's range is unregistered.
 *
 * A rule that cannot be carried out falls to the next, stricter one:
 * refuse, then release, then end the session.  Worker thread.
 */
#ifndef UFFDD_UNRESOLVED_H
#define UFFDD_UNRESOLVED_H

#include <stdint.h>

struct region;
struct session;

enum unresolved_cause {
	UNRESOLVED_MISSING,  /* a MISSING fault no stage answers */
	UNRESOLVED_WP,	     /* a write-protect fault */
	UNRESOLVED_NO_PAGE,  /* CONTINUE: no page in the page cache */
	UNRESOLVED_ERROR,    /* CONTINUE or UFFDIO_POISON failed otherwise */
	UNRESOLVED_STRAY,    /* outside every region of the session */
	UNRESOLVED_RELEASED, /* regions given back to the kernel */
	UNRESOLVED_DROPPED,  /* sessions ended by the rule */
	UNRESOLVED_NCOUNTS,
};

/* The fault at addr of r, by thread tid, cannot be resolved (err: the
 * errno of a failed CONTINUE, 0 for a fault of the wrong kind). */
void unresolved_fault(struct region *r, uint64_t addr, uint32_t tid,
		      enum unresolved_cause why, int err);

/* r cannot be served any more (even a page of it cannot be refused): its
 * range goes back to the kernel, or its session ends. */
void unresolved_release(struct region *r, const char *why);

/* A fault at addr, read from uffd of s, outside every region of s. */
void unresolved_stray(struct session *s, int uffd, uint64_t addr, uint64_t psz);

/* The counts into status' totals. */
struct json_object;
void unresolved_status(struct json_object *totals);

#endif
