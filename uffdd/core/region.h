/* SPDX-License-Identifier: MIT */
/*
 * A region: one client mapping of a memfd, registered MINOR on a uffd the
 * daemon reads.  Its geometry, memfd, name and policy are what its policy
 * sees (struct policy_region, `v`); the rest is the core's.
 *
 * A region belongs to its session's worker, which alone changes it and
 * runs its fault path; the worker's lock is held around changes of a
 * session's table so that other threads may read them.
 */
#ifndef UFFDD_REGION_H
#define UFFDD_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "histo.h"
#include "policy/policy.h"
#include "uffdd_proto.h"

struct event;
struct page_state;
struct session;
struct share;

struct region_stats {
	uint64_t faults;       /* fault messages handled */
	uint64_t pages_mapped; /* pages installed by CONTINUE */
	uint64_t errors;       /* faults that could not be resolved cleanly */
	uint64_t races;	       /* EEXIST: another thread won, woken */
	uint64_t denied;       /* faults refused (UFFDIO_POISON) */
	/* Refusals are logged a line a second, with the count left unsaid. */
	uint64_t deny_logged_ns, deny_unlogged;
};

/* limits.pending_faults (fault.c): faults held unanswered, and the pause. */
struct region_hold {
	unsigned held_est; /* an estimate, synced from the kernel's count */
	int paused;	   /* not reading the uffd until the policy lets go */
	struct event *resume_ev;
};

struct region {
	struct policy_region v; /* id, start, len, offset, page_size, memfd,
				   name, pol: what policies see */
	struct session *s;
	uint8_t kind; /* UFFDD_KIND_* */
	int uffd;
	int probe_fd; /* walk.c: a private open of the memfd, -1 none */
	uint64_t uffd_features;
	struct event *ev; /* reads the uffd: the fault path */
	char name[UFFDD_REGION_NAME_LEN];
	struct region_stats st;
	struct share *share; /* its uid's: the faults it holds (hold.c) */
	struct histo lat;    /* ns from reading the fault to the mapping */
	int dead;	     /* retired: freed from the event loop */
	/*
	 * Regions cut from one registration (split by munmap/mremap) share
	 * one userfaultfd context (each holds a dup of it): same ctx id.
	 */
	uint64_t ctx;
	uint64_t parent_ctx; /* fork copy: the parent's ctx id */
	struct region_hold hold;
	/* The files the client passed for its policy ("#N": files[N]), kept
	 * for the fd store and a later `uffdctl policy`; none in a copy. */
	int files[UFFDD_MAX_FILES];
	int nfiles;
	struct page_state *ps; /* POLICY_F_CONTENT: the page-state file */
};

/* The region that holds policy view v. */
static inline struct region *region_of(const struct policy_region *v)
{
	return (struct region *)((char *)v - offsetof(struct region, v));
}

/* A session's regions: sorted by start, never overlapping. */
struct region_table {
	struct region **v;
	size_t n, cap;
	uint64_t bytes; /* registered bytes */
};

/* The region of t that contains addr, or NULL. */
struct region *region_find(const struct region_table *t, uint64_t addr);
struct region *region_by_id(const struct region_table *t, uint64_t id);
/* Insert r (caller holds the worker lock).  -EEXIST if it overlaps. */
int region_insert(struct region_table *t, struct region *r);
/* Remove r from t (caller holds the worker lock). */
void region_remove(struct region_table *t, struct region *r);

/* What a region is made of, from a REGISTER or from the fd store. */
struct region_params {
	uint64_t id; /* 0: pick a fresh random id */
	uint64_t start, len, offset;
	uint32_t page_size;
	uint8_t kind;
	uint64_t uffd_features;
	char name[UFFDD_REGION_NAME_LEN];
	char policy[UFFDD_POLICY_LEN]; /* the spec, never empty */
};

/*
 * A region of s (not yet in a table, no descriptors, no event) with its
 * policy created; its id is unique in t.  NULL with a message in err
 * when the policy is refused.
 */
struct region *region_make(struct session *s, const struct region_table *t,
			   const struct region_params *p, char *err,
			   size_t errlen);

/*
 * A region like src for session dst over [start, start+len) at memfd
 * offset, serving uffd (taken over, closed on failure), its uffd watched
 * like src's on the same loop, its policy src's (attached).  Not in a
 * table.  NULL with a message in err.
 */
struct region *region_clone(struct region *src, struct session *dst, int uffd,
			    uint64_t start, uint64_t len, uint64_t offset,
			    char *err, size_t errlen);

/* Release everything r holds: its event, uffd, memfd and policy. */
void region_free(struct region *r);

/* A random id, never 0 (region and session ids). */
uint64_t random_id(void);

#endif
