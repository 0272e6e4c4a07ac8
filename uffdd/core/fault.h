/* SPDX-License-Identifier: MIT */
/*
 * The fault path: drain a region's uffd, ask the policy, install the
 * mappings.  Runs on the region's worker only; it takes no lock on the
 * way and allocates nothing.
 */
#ifndef UFFDD_FAULT_H
#define UFFDD_FAULT_H

#include <stdint.h>

struct event_base;
struct region;
struct uffd_caps;

/* Pick the CONTINUE request number the kernel answers. */
void fault_init(const struct uffd_caps *caps);

/* Make uffd non-blocking (the fault path must never block on a read). */
void fault_nonblock(int uffd);

/* Serve r's uffd from loop base (the event is made, not added). */
int fault_watch(struct region *r, struct event_base *base);

/* fault_map's how (policy.h's POLICY_MAP_*). */
#define FAULT_SOFT  0x1
#define FAULT_AHEAD 0x2

/*
 * Map [start, start+len) of r now, without a fault (a gate letting go, a
 * prefetch).  soft (FAULT_SOFT): pages absent from the page cache or
 * already mapped are skipped quietly; FAULT_AHEAD as well: no thread
 * waits on these pages, do not wake any.  Returns the pages mapped or -errno
 * (-ESRCH: the process is gone or r was retired).  Counts into r's stats.
 */
long fault_map(struct region *r, uint64_t start, uint64_t len, int soft);

/*
 * One CONTINUE of [start, start+len) of r, no retry, no wake-up: 0, or the
 * errno, with *mapped the bytes mapped either way (walk.c, which decides
 * what to do at each kind of page).  Counted into r's stats.
 */
int fault_continue_once(struct region *r, uint64_t start, uint64_t len,
			uint64_t *mapped);

/*
 * Refuse the access to the page at addr: UFFDIO_POISON, so that the
 * faulting thread gets SIGBUS.  Logged with pid, tid and address.
 */
int fault_deny(struct region *r, uint64_t addr, uint32_t tid);

/* Wake the threads waiting on [start, start+len) of r, mapping nothing. */
void fault_wake(struct region *r, uint64_t start, uint64_t len);

#endif
