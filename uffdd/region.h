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

/* Release everything r holds: its event, uffd, memfd and policy. */
void region_free(struct region *r);

#endif
