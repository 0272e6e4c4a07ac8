/* SPDX-License-Identifier: MIT */
/*
 * Following the client process: fork, mremap, munmap and madvise events
 * read from its uffds.  All of it runs on the session's worker.
 */
#ifndef UFFDD_EVENTS_H
#define UFFDD_EVENTS_H

#include <stdint.h>

#include "uffd_uapi.h"

struct region;
struct session;

/* A non-fault message read from home's uffd (home may be retired). */
void events_handle(struct region *home, const struct uffd_msg *m);

/* events_fork.c: the child session a fork of home's process makes, with
 * the kernel's uffd for its copy of home's registration. */
void events_fork(struct region *home, int ufd);

/* events_fork.c: a forked child's session learns its pid from a faulting
 * thread's id. */
void events_learn_pid(struct session *s, uint32_t tid);

#endif
