/* SPDX-License-Identifier: MIT */
/* A session's region table: sorted by address, binary searched. */
#ifndef UFFDD_REGION_H
#define UFFDD_REGION_H

#include "daemon.h"

/* The region of s that contains addr, or NULL. */
struct region *region_find(const struct session *s, uint64_t addr);
struct region *region_by_id(const struct session *s, uint64_t id);

/* Insert r (caller holds the worker lock).  -EEXIST if it overlaps. */
int region_insert(struct session *s, struct region *r);
/* Remove r from its session's table (caller holds the worker lock). */
void region_remove(struct session *s, struct region *r);

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
 * A region of s (not yet in its table, no descriptors, no event) with its
 * policy created.  NULL with a message in err when the policy is refused.
 */
struct region *region_make(struct session *s, const struct region_params *p,
			   char *err, size_t errlen);

/* A random id, never 0 (region and session ids). */
uint64_t random_id(void);

/* Release everything r holds: its event, uffd, memfd and policy. */
void region_free(struct region *r);

#endif
