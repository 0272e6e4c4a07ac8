/* SPDX-License-Identifier: MIT */
/*
 * Inside the takeover (takeover.c: the thread and its API; takeover_serve.c:
 * answering faults the way the page-state file says).  Everything here is
 * used under t->lock.
 */
#ifndef UFFD_CLIENT_TAKEOVER_INT_H
#define UFFD_CLIENT_TAKEOVER_INT_H

#include "client_int.h"

#include <pthread.h>
#include <stdint.h>

#define MAX_SEGS 16 /* pieces of a region moved or cut by mremap/munmap */
#define NEVER	 UINT64_MAX

/* A piece of a region's pages [first, first + len/psz) now at start. */
struct seg {
	uint64_t start, len, first;
};

/* A uffd to serve: a region's own, or a forked child's copy of it. */
struct handle {
	int uffd;
	int child; /* ours to close */
	struct uffd_region *r;
	int nseg;
	struct seg seg[MAX_SEGS];
	struct handle *next;
};

/* A fault held for a gate: until published, or its deadline. */
struct held {
	struct handle *h;
	uint64_t addr, page, due;
};

struct takeover {
	pthread_t thread;
	int evfd;	      /* wakes the thread: a change, or stop */
	int sock;	      /* watched for the daemon's hang-up */
	pthread_mutex_t lock; /* everything below */
	struct uffd_region *regions;
	struct handle *handles;
	struct held *held;
	size_t nheld, cap;
	int serving;	    /* the daemon is gone: the faults are ours */
	uint64_t rewake[2]; /* when to wake every range again (or 0) */
	int hangup;	    /* the application closed the socket */
	int stop;	    /* end the thread */
	unsigned long cont_req;
	struct uffd_client *c;
	/* Faults answered since taking over: mapped, and refused (SIGBUS);
	 * atomic, read by uffd_client_takeover_stats. */
	uint64_t mapped, refused;
};

uint64_t tk_now_ns(void);

/* Read and answer what h's uffd holds; -ESRCH if its process is gone. */
int tk_drain(struct takeover *t, struct handle *h);
/* Gate faults published since, or past their deadline, let go. */
void tk_let_go(struct takeover *t);
/* Wake every range of every handle (faults raised again, to us). */
void tk_wake_all(struct takeover *t);
/* Serve uffd for region r: its own (like NULL), or a forked child's copy
 * of the range of handle like (then ours to close). */
void tk_add_handle(struct takeover *t, int uffd, struct uffd_region *r,
		   const struct handle *like);
/* Bit i of the page-state bitmap at off in r's file, set (atomically). */
void tk_set_bit(struct uffd_region *r, uint64_t off, uint64_t i);
/* Forget h and the faults it holds (closing a child's uffd). */
void tk_drop_handle(struct takeover *t, struct handle *h);

#endif
