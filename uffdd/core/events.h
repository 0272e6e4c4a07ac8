/* SPDX-License-Identifier: MIT */
/*
 * Following the client process: fork, mremap, munmap and madvise events
 * read from its uffds.  All of it runs on the session's worker.
 */
#ifndef UFFDD_EVENTS_H
#define UFFDD_EVENTS_H

#include "daemon.h"
#include "uffd_uapi.h"

/* A non-fault message read from home's uffd (home may be retired). */
void events_handle(struct region *home, const struct uffd_msg *m);

/* A forked child's session learns its pid from a faulting thread's id. */
void events_learn_pid(struct session *s, uint32_t tid);

/* Session end: release what a child session holds (pidfd, timers). */
void events_session_end(struct session *s);

/*
 * Take r out of its session now (table, event, policy) and free it from
 * the event loop later, so that a fault batch being resolved never sees
 * its descriptors closed under it.
 */
void region_retire(struct region *r, const char *why);

#endif
