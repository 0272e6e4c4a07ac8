/* SPDX-License-Identifier: MIT */
#include "fdcheck.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "uffd_uapi.h"

#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif

/* A short description of what fd is ("pipe", "socket", "eventfd", ...). */
static const char *fd_describe(int fd, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, len - 1);
	if (n < 0) {
		if (fstat(fd, &st) < 0)
			snprintf(buf, len, "not an open descriptor");
		else
			snprintf(buf, len, "file of mode 0%o", st.st_mode);
		return buf;
	}
	buf[n] = '\0';
	return buf;
}

int fd_check_uffd(int fd, uint64_t *features, char *err, size_t errlen)
{
	char what[256], path[64], text[512], *api, *colon;
	ssize_t n;
	int in;

	fd_describe(fd, what, sizeof(what));
	if (strcmp(what, "anon_inode:[userfaultfd]") != 0) {
		snprintf(err, errlen, "descriptor is not a userfaultfd (%s)",
			 what);
		return -ENOTTY;
	}
	if (!features)
		return 0;
	*features = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	/* A read, not stdio: this runs for every region a client hands over
	 * (every forked child's, under uffd-run). */
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || (n = read(in, text, sizeof(text) - 1)) < 0) {
		int e = errno;

		if (in >= 0)
			close(in);
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
		return -e;
	}
	close(in);
	text[n] = '\0';
	/* "API:\t<UFFD_API>:<features>:<ioctls>" in hex, since Linux 4.3. */
	api = strstr(text, "\nAPI:");
	colon = api ? strchr(api + 5, ':') : NULL;
	if (!colon) {
		snprintf(err, errlen, "userfaultfd has no API line in fdinfo");
		return -ENOTTY;
	}
	*features = strtoull(colon + 1, NULL, 16);
	return 0;
}

int fd_uffd_counts(int fd, unsigned long *pending, unsigned long *total)
{
	char path[64], line[128];
	int got = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* "pending:\t%lu\ntotal:\t%lu\nAPI:..." since Linux 4.3. */
	while (got != 3 && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "pending: %lu", pending) == 1)
			got |= 1;
		else if (sscanf(line, "total: %lu", total) == 1)
			got |= 2;
	}
	fclose(f);
	return got == 3 ? 0 : -ENOTTY;
}

int fd_check_uffd_range(int uffd, uint64_t start, uint64_t len, char *err,
			size_t errlen)
{
	return fd_check_uffd_range_mode(
	    uffd, start, len, UFFDIO_REGISTER_MODE_MINOR, err, errlen);
}

int fd_check_uffd_range_mode(int uffd, uint64_t start, uint64_t len,
			     uint64_t mode, char *err, size_t errlen)
{
	struct uffdio_register ur = {
		.range = { .start = start, .len = len },
		.mode = mode,
	};
	int e;

	if (ioctl(uffd, UFFDIO_REGISTER, &ur) == 0) {
		if (ur.ioctls & (1ULL << _UFFDIO_CONTINUE))
			return 0;
		snprintf(err, errlen, "the range cannot take UFFDIO_CONTINUE");
		return -EINVAL;
	}
	e = errno;
	switch (e) {
	case EBUSY:
		snprintf(err, errlen,
			 "the range is registered with another userfaultfd");
		break;
	case ESRCH:
		snprintf(err, errlen, "the uffd's process has exited");
		break;
	case EINVAL:
	case ENOMEM:
		snprintf(
		    err, errlen,
		    "the range %#llx+%llu is not one mapping of the memfd's "
		    "kind in the uffd's process, or the uffd lacks its "
		    "minor-fault feature",
		    (unsigned long long)start, (unsigned long long)len);
		break;
	default:
		snprintf(err, errlen, "UFFDIO_REGISTER: %s", strerror(e));
		break;
	}
	return -e;
}

/*
 * File systems whose data comes from the kernel and a local device or
 * memory.  A FUSE, network or 9p file can be made to stall every read by
 * whoever serves it, and procfs/sysfs files may answer with the reader's
 * rights: a client's file elsewhere is refused.
 */
static const uint32_t local_fs[] = {
	0xEF53,	    /* ext2, ext3, ext4 */
	0x58465342, /* xfs */
	0x9123683E, /* btrfs */
	0x01021994, /* tmpfs, memfd */
	0x958458f6, /* hugetlbfs */
	0x858458f6, /* ramfs */
	0xF2F52010, /* f2fs */
	0x2FC12FC1, /* zfs */
	0xca451a4e, /* bcachefs */
	0x73717368, /* squashfs */
	0xE0F5E1E2, /* erofs */
	0x4d44,	    /* vfat, msdos */
	0x2011BAB0, /* exfat */
};

static int fs_is_local(int fd, uint32_t *type)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return 0;
	*type = (uint32_t)sfs.f_type;
	for (size_t i = 0; i < sizeof(local_fs) / sizeof(local_fs[0]); i++)
		if (local_fs[i] == *type)
			return 1;
	return 0;
}

int fd_check_file(int fd, int how, uint64_t *size, char *err, size_t errlen)
{
	char what[256];
	struct stat st;
	uint32_t fs = 0;
	int fl = fcntl(fd, F_GETFL), mode;

	if (fl < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "not an open descriptor");
		return -EBADF;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file (%s)",
			 fd_describe(fd, what, sizeof(what)));
		return -EINVAL;
	}
	mode = fl & O_ACCMODE;
	if ((fl & O_PATH) ||
	    ((how & FD_FILE_READ) && mode != O_RDONLY && mode != O_RDWR) ||
	    ((how & FD_FILE_WRITE) && mode != O_WRONLY && mode != O_RDWR)) {
		snprintf(err, errlen, "not open for %s",
			 (how & FD_FILE_WRITE) ? "writing" : "reading");
		return -EACCES;
	}
	if (!(how & FD_FILE_ANY_FS) && !fs_is_local(fd, &fs)) {
		snprintf(err, errlen,
			 "on a file system (type %#x) that is not a local "
			 "disk or memory one (FUSE, network, overlay and "
			 "procfs files are refused)",
			 fs);
		return -EXDEV;
	}
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}
static int check_memfd(int fd, struct memfd_info *mi, int read_only_ok,
		       char *err, size_t errlen);

int fd_check_memfd(int fd, struct memfd_info *mi, char *err, size_t errlen)
{
	return check_memfd(fd, mi, 0, err, errlen);
}

int fd_check_memfd_ro(int fd, struct memfd_info *mi, char *err, size_t errlen)
{
	return check_memfd(fd, mi, 1, err, errlen);
}

static int check_memfd(int fd, struct memfd_info *mi, int read_only_ok,
		       char *err, size_t errlen)
{
	char what[256];
	struct stat st;
	struct statfs sfs;

	memset(mi, 0, sizeof(*mi));
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) {
		snprintf(err, errlen, "memfd: %s", strerror(errno));
		return -EBADF;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "descriptor is not a memfd (%s)",
			 fd_describe(fd, what, sizeof(what)));
		return -EINVAL;
	}
	if ((uint64_t)sfs.f_type == HUGETLBFS_MAGIC) {
		mi->kind = UFFDD_KIND_HUGETLB;
		mi->page_size = (uint32_t)st.st_blksize;
	} else if ((uint64_t)sfs.f_type == TMPFS_MAGIC) {
		mi->kind = UFFDD_KIND_SHMEM;
		mi->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	} else {
		snprintf(err, errlen,
			 "descriptor is a file on neither tmpfs nor hugetlbfs "
			 "(%s)",
			 fd_describe(fd, what, sizeof(what)));
		return -EINVAL;
	}
	if (!read_only_ok && (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR) {
		snprintf(err, errlen, "memfd is not open read-write");
		return -EACCES;
	}
	mi->size = (uint64_t)st.st_size;
	mi->dev = (uint64_t)st.st_dev;
	mi->ino = (uint64_t)st.st_ino;
	mi->seals = fcntl(fd, F_GET_SEALS);
	return 0;
}
