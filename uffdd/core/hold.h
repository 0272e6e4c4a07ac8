/* SPDX-License-Identifier: MIT */
/*
 * Faults a region's policy holds unanswered (gate, and any policy that
 * waits for a page), bounded twice: limits.pending_faults per uffd, and
 * the uid's share of limits.pending_faults_total (share.c).  At either
 * bound the region's uffd is not read until the policy lets some go: the
 * further faults wait in the kernel, charged to the client.  The region's
 * worker only.
 */
#ifndef UFFDD_HOLD_H
#define UFFDD_HOLD_H

struct region;

/* r's policy holds one more fault; lets n of those it held go. */
void hold_more(struct region *r);
void hold_done(struct region *r, unsigned n);

/* How many fault messages to read from r's uffd now, at most batch (0:
 * paused, reading resumes by itself once some go). */
int hold_budget(struct region *r, int batch);

/* r goes: what it held goes back to its uid's share. */
void hold_forget(struct region *r);

#endif
