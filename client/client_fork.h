/* SPDX-License-Identifier: MIT */
/*
 * A minimal, async-signal-safe client for places where libuffdclient's
 * normal API cannot run: a fork handler (possibly called from a signal
 * handler), or a preload library inside a program that did not ask for
 * us.  Nothing here allocates, locks, uses stdio or formats messages; the
 * sending half (open, hello, register, unregister) uses only system calls
 * and memcpy, so it may run in a forked child of a multi-threaded program
 * or in a signal handler.  Replies are read separately (uffd_raw_recv),
 * from ordinary context, so a forked child never waits for the daemon.
 *
 * Internal to the project (hidden symbols): libuffdpreload uses it.
 */
#ifndef UFFD_CLIENT_FORK_H
#define UFFD_CLIENT_FORK_H

#include "uffdd_proto.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct uffd_raw {
	int sock;		  /* SOCK_SEQPACKET to uffdd, or -1 */
	int dev_fd;		  /* granted /dev/userfaultfd, or -1 */
	uint32_t seq;		  /* last request number used */
	uint64_t kernel_features; /* from WELCOME (or the parent's) */
	uint16_t version;	  /* spoken on sock (WELCOME); 0 unknown */
};

struct uffd_raw_region {
	uint64_t start, length, offset;
	uint32_t page_size;
	int kind;  /* UFFDD_KIND_SHMEM or UFFDD_KIND_HUGETLB */
	int memfd; /* sent along; stays open here */
	const char *name;
	/* As on the wire: "" or NULL for the daemon's default; files named
	 * "#N" are files[N] (spec.h), sent along, staying open here. */
	const char *policy;
	const int *files;
	int nfiles;
	/*
	 * UFFD_FEATURE_EVENT_* to ask for (those the kernel offers).  The
	 * library asks for all, so that the daemon follows fork, mremap,
	 * munmap and madvise; the preload library for none, since it
	 * follows them itself and registers again in forked children.
	 */
	uint64_t events;
	/* UFFDIO_REGISTER_MODE_*; 0: MINOR.  An image's mapping: MISSING |
	 * MINOR (a page not yet in its cache is a missing fault). */
	uint64_t mode;
	/* UFFDD_REGF_*: a board wanted, the board mapped already. */
	uint8_t reg_flags;
};

/* What uffd_raw_register sent. */
struct uffd_raw_sent {
	uint32_t seq;	   /* the request's number */
	int mode;	   /* UFFDD_UFFD_*: how the uffd was made */
	const char *stage; /* the step that failed */
	/* Non-NULL: the uffd is kept (not closed) and returned here, for
	 * the caller to close once the daemon has answered. */
	int *uffd;
};

/* socket + connect (blocking, close-on-exec).  0 or -errno; c->sock set. */
int uffd_raw_open(struct uffd_raw *c, const char *path);

/* Send HELLO (flags: UFFDD_HELLO_*); the WELCOME is read later. */
int uffd_raw_hello(struct uffd_raw *c, const char *name, uint32_t flags,
		   uint32_t *seq);

/*
 * The one way a region is handed to the daemon: make a uffd (a
 * user-mode-only one only if allow_user_only), UFFDIO_API with the
 * minor-fault feature for r->kind and r->events, register [start,
 * start+length) MINOR, send REGISTER with the uffd and memfd.  Unless
 * out->uffd asks to keep it, this process's copy of the uffd is closed:
 * once the message is queued the daemon's copy keeps it alive, and if
 * the daemon dies the last reference goes with it, so no fault ever
 * waits for a dead daemon.  0 or -errno (out->stage names the step).
 */
int uffd_raw_register(struct uffd_raw *c, const struct uffd_raw_region *r,
		      int allow_user_only, struct uffd_raw_sent *out);

/*
 * 1 if the policy spec names a file (populate, record or prefetch with an
 * argument).  The preload library serves every large mapping of a program
 * and every forked child's copy of it with one spec: one image or trace
 * file for all of them would fill, or record, the wrong pages, so it takes
 * none.
 */
int uffd_raw_spec_has_file(const char *spec);

/*
 * In a forked child, on the connection c inherited from its parent (which
 * speaks protocol 2): send FORKED, the child's HELLO (name, flags) and
 * REGISTER of r in one message, with one end of a new socketpair.  On
 * success c->sock is the child's own connection (the parent's descriptor
 * is left as it was, for the caller to close) and the REGISTERED or
 * ERROR answer comes on it, with out->seq.  Otherwise c->sock is
 * unchanged.  0 or -errno (out->stage names the step).
 */
int uffd_raw_forked(struct uffd_raw *c, const char *name, uint32_t flags,
		    const struct uffd_raw_region *r, int allow_user_only,
		    struct uffd_raw_sent *out);

/* Send UNREGISTER for region id. */
int uffd_raw_unregister(struct uffd_raw *c, uint64_t id, uint32_t *seq);

/*
 * Receive one reply, waiting up to timeout_ms (0: only what is queued).
 * 0 with *m filled, -EAGAIN if nothing came, -ECONNRESET when the daemon
 * closed the connection, or another -errno.  Not for signal handlers.
 */
int uffd_raw_recv(struct uffd_raw *c, struct uffdd_msg *m, int timeout_ms);

#endif
