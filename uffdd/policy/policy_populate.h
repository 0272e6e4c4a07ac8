/* SPDX-License-Identifier: MIT */
/*
 * What the populate policy offers the other stages of a composition beyond
 * policy_ops: prefetch uses it to have the image read ahead.
 */
#ifndef UFFDD_POLICY_POPULATE_H
#define UFFDD_POLICY_POPULATE_H

#include <stdint.h>

struct policy_region;

/*
 * state: populate's instance.  Start reading the image bytes of
 * [addr, addr + len) of r into the page cache without waiting for them
 * (POSIX_FADV_WILLNEED).  0 or -errno.
 */
int populate_advise(void *state, struct policy_region *r, uint64_t addr,
		    uint64_t len);

#endif
