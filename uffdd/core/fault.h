/* SPDX-License-Identifier: MIT */
#ifndef UFFDD_FAULT_H
#define UFFDD_FAULT_H

#include <event2/util.h>

#include "daemon.h"

/* Pick the CONTINUE request number the kernel answers. */
void fault_init(const struct uffd_caps *caps);

/* libevent callback for a region's uffd (arg: the region). */
void fault_cb(evutil_socket_t fd, short what, void *arg);

/*
 * Map [start, start+len) of r now, without a fault (a gate letting go, a
 * prefetch).  soft: pages absent from the page cache or already mapped are
 * skipped quietly.  Returns the pages mapped or -errno (-ESRCH: the
 * process is gone or r was retired).  Counts into r's stats.
 */
long fault_map(struct region *r, uint64_t start, uint64_t len, int soft);

/*
 * Refuse the access to the page at addr: UFFDIO_POISON, so that the
 * faulting thread gets SIGBUS.  Logged with pid, tid and address.
 */
int fault_deny(struct region *r, uint64_t addr, uint32_t tid);

#endif
