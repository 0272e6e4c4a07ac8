/* SPDX-License-Identifier: MIT */
/* Which userfaultfd features the running kernel offers. */
#ifndef UFFDD_KERNEL_PROBE_H
#define UFFDD_KERNEL_PROBE_H

#include <stddef.h>
#include <stdint.h>

struct uffd_caps {
	uint64_t features;      /* UFFDIO_API answer to features = 0 */
	uint64_t ioctls;        /* UFFDIO_API ioctls */
	int minor_hugetlbfs;    /* register MINOR on hugetlbfs */
	int minor_shmem;        /* register MINOR on shmem */
	int poison;             /* UFFDIO_POISON */
	int continue_ok;        /* a CONTINUE request number works */
	unsigned long continue_req; /* UFFDIO_CONTINUE or UFFDIO_CONTINUE_OLD */
	int dev_userfaultfd;    /* /dev/userfaultfd could be opened */
	int created_with;       /* 0 syscall, 1 syscall user-mode-only, 2 device */
	char release[65];       /* uname -r */
	char error[256];        /* why the probe failed, if it did */
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

/* Make a uffd: via dev_fd if >= 0, else userfaultfd(2), falling back to
 * UFFD_USER_MODE_ONLY.  *how: 0 syscall, 1 user-mode-only, 2 device. */
int uffd_create(int dev_fd, int flags, int *how);

#endif
