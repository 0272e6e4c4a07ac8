/* SPDX-License-Identifier: MIT */
/* What a received descriptor really is, checked before it is trusted. */
#ifndef UFFDD_FDCHECK_H
#define UFFDD_FDCHECK_H

#include <stddef.h>
#include <stdint.h>

struct memfd_info {
	int kind;           /* UFFDD_KIND_SHMEM or UFFDD_KIND_HUGETLB */
	uint64_t size;      /* st_size */
	uint32_t page_size; /* 4096 or the hugetlbfs page size */
	int seals;          /* F_GET_SEALS, -1 if the file cannot be sealed */
};

/*
 * 0 if fd is a userfaultfd; then *features (if not NULL) holds the
 * UFFD_FEATURE_* bits its UFFDIO_API handshake enabled, read from
 * /proc/self/fdinfo.  -ENOTTY with a description in err otherwise.
 */
int fd_check_uffd(int fd, uint64_t *features, char *err, size_t errlen);

/*
 * 0 if fd is a shmem (tmpfs/memfd) or hugetlbfs file; fills *mi.
 * -EBADF/-EINVAL with a description in err otherwise.
 */
int fd_check_memfd(int fd, struct memfd_info *mi, char *err, size_t errlen);

/* A short description of what fd is ("pipe", "socket", "eventfd", ...). */
const char *fd_describe(int fd, char *buf, size_t len);

#endif
