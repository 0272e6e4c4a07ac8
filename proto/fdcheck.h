/* SPDX-License-Identifier: MIT */
/* What a received descriptor really is, checked before it is trusted. */
#ifndef UFFDD_FDCHECK_H
#define UFFDD_FDCHECK_H

#include <stddef.h>
#include <stdint.h>

struct memfd_info {
	int kind;	    /* UFFDD_KIND_SHMEM or UFFDD_KIND_HUGETLB */
	uint64_t size;	    /* st_size */
	uint32_t page_size; /* 4096 or the hugetlbfs page size */
	int seals;	    /* F_GET_SEALS, -1 if the file cannot be sealed */
	uint64_t dev, ino;  /* which file it is */
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
/* The same without asking for read-write (an image's read-only memfd). */
int fd_check_memfd_ro(int fd, struct memfd_info *mi, char *err, size_t errlen);

/* How a policy uses a file (fd_check_file). */
#define FD_FILE_READ   0x1 /* pread: an image, a trace */
#define FD_FILE_WRITE  0x2 /* write: a trace being recorded */
#define FD_FILE_ANY_FS 0x4 /* the administrator's file: any file system */

/*
 * 0 if fd is a regular file open for what `how` says (FD_FILE_*), on a
 * file system whose reads and writes no other process can hold up (a local
 * disk or memory file system: not FUSE, NFS, 9p, procfs, ...) unless
 * FD_FILE_ANY_FS; *size (if not NULL) is its size.  -EINVAL, -EBADF,
 * -EACCES or -EXDEV with a description in err otherwise.  Never reads,
 * writes or blocks on the file.
 */
int fd_check_file(int fd, int how, uint64_t *size, char *err, size_t errlen);

/*
 * The uffd's own counts from /proc/self/fdinfo: faults queued and not yet
 * read (pending), and all it has outstanding, read or not (total).  So
 * total - pending is what the reader holds unanswered.  0 or -errno.
 */
int fd_uffd_counts(int fd, unsigned long *pending, unsigned long *total);

/*
 * Make sure [start, start+len) of the uffd's process is registered with
 * this uffd in MINOR mode: UFFDIO_REGISTER from here acts on the uffd's mm
 * and is idempotent for a range already registered.  Refuses (-EINVAL,
 * -EBUSY, -ENOMEM ... with err) a range that is not mapped, not shmem or
 * hugetlbfs as the uffd's features require, or another uffd's; a range
 * the client forgot to register is registered.
 */
int fd_check_uffd_range(int uffd, uint64_t start, uint64_t len, char *err,
			size_t errlen);
/* The same with another UFFDIO_REGISTER mode (an image: MISSING|MINOR,
 * since registering again replaces the mode the client chose). */
int fd_check_uffd_range_mode(int uffd, uint64_t start, uint64_t len,
			     uint64_t mode, char *err, size_t errlen);

#endif
