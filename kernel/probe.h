/* SPDX-License-Identifier: MIT */
/* Which userfaultfd features the running kernel offers. */
#ifndef UFFDD_KERNEL_PROBE_H
#define UFFDD_KERNEL_PROBE_H

#include <stddef.h>
#include <stdint.h>

struct uffd_caps {
	uint64_t features;	    /* UFFDIO_API answer to features = 0 */
	uint64_t ioctls;	    /* UFFDIO_API ioctls */
	int minor_hugetlbfs;	    /* register MINOR on hugetlbfs */
	int minor_shmem;	    /* register MINOR on shmem */
	int poison;		    /* UFFDIO_POISON */
	int continue_ok;	    /* a CONTINUE request number works */
	unsigned long continue_req; /* UFFDIO_CONTINUE or UFFDIO_CONTINUE_OLD */
	int dev_userfaultfd;	    /* /dev/userfaultfd could be opened */
	char release[65];	    /* uname -r */
	char error[256];	    /* why the probe failed, if it did */
};

/*
 * Probe the kernel: make a uffd, handshake, register a shmem memfd MINOR
 * and resolve one fault-free CONTINUE on it to learn the request number.
 * Returns 0 (caps filled, even if features are missing) or -errno when no
 * userfaultfd could be made at all (caps->error says why).
 */
int uffd_probe(struct uffd_caps *caps);

/*
 * One line naming what is missing for minor-fault service and the Linux
 * version that brought it; "" when both page kinds are served.
 */
const char *uffd_caps_missing(const struct uffd_caps *caps, char *buf,
			      size_t len);

/* Feature names for logs and JSON: calls fn for each known bit set. */
void uffd_features_each(uint64_t features,
			void (*fn)(const char *name, void *arg), void *arg);

/* How uffd_create made a uffd (the numbers of the protocol's uffd modes). */
enum uffd_how {
	UFFD_HOW_DEVICE = 1,	/* from a /dev/userfaultfd grant */
	UFFD_HOW_SYSCALL = 2,	/* userfaultfd(2), a full uffd */
	UFFD_HOW_USER_ONLY = 3, /* UFFD_USER_MODE_ONLY: kernel faults fail */
};

/*
 * Make a uffd: via dev_fd if >= 0, else userfaultfd(2), and, only if
 * allow_user_only, UFFD_USER_MODE_ONLY as the last resort.  The fd or
 * -errno; *how (if given) says which.  Only system calls: safe in a
 * forked child or a signal handler.
 */
int uffd_create(int dev_fd, int flags, int allow_user_only, int *how);

#endif
