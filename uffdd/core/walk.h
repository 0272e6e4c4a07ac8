/* SPDX-License-Identifier: MIT */
/*
 * Mapping what a large range of a region has in the page cache, without a
 * fault (eager), in steps: a worker's turn stays within a time budget
 * however large and sparse the region.  A hole is skipped at once to the
 * next page with contents (SEEK_DATA on a private open of the memfd, where
 * the file system tells: shmem does, hugetlbfs does not, and has 512 times
 * fewer pages); a page already mapped is stepped over.  Worker thread.
 */
#ifndef UFFDD_WALK_H
#define UFFDD_WALK_H

#include <stdint.h>

struct region;

/*
 * Map the resident pages of [*pos, end) of r for at most budget_ns; *pos
 * moves to where it stopped (end once done, and then walk_done).  The
 * pages mapped, or -errno (-ESRCH: the process is gone, or r retired).
 */
long walk_map(struct region *r, uint64_t *pos, uint64_t end,
	      uint64_t budget_ns);

/* r needs no more walks for now: let go of what they opened. */
void walk_done(struct region *r);

#endif
