/* SPDX-License-Identifier: MIT */
#include "files.h"
#include "daemon.h"
#include "fdcheck.h"
#include "session.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else
struct open_how {
	uint64_t flags, mode, resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS   0x04
#define RESOLVE_BENEATH	      0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static int open_flags(enum policy_file_use use)
{
	int f = O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW;

	return use == POLICY_FILE_WRITE ? f | O_WRONLY | O_CREAT | O_TRUNC
					: f | O_RDONLY;
}

/*
 * Where the kernel has no openat2 (before Linux 5.6): one component at a
 * time, each directory with O_NOFOLLOW | O_DIRECTORY, no "." or "..".
 */
int files_walk_open(int dirfd, const char *rel, enum policy_file_use use)
{
	char buf[PATH_MAX], *save = NULL, *part, *next;
	int fd;

	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (part = strtok_r(buf, "/", &save); part; part = next) {
		int nfd;

		next = strtok_r(NULL, "/", &save);
		if (!strcmp(part, ".") || !strcmp(part, "..")) {
			close(fd);
			return -EXDEV;
		}
		nfd =
		    next ? openat(fd, part,
				  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			 : openat(fd, part, open_flags(use), 0640);
		close(fd);
		if (nfd < 0)
			return -errno;
		fd = nfd;
	}
	return fd;
}

static int open_beneath(int dirfd, const char *rel, enum policy_file_use use)
{
	struct open_how how = {
		.flags = (uint64_t)open_flags(use),
		.mode = use == POLICY_FILE_WRITE ? 0640 : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS)
		return files_walk_open(dirfd, rel, use);
	return -errno;
}

int files_open_configured(const char *dir, const char *path,
			  enum policy_file_use use, char *err, size_t errlen)
{
	const char *rel = policy_path_under(dir, path);
	int dirfd, fd, rc;
	char why[160];

	if (!rel) {
		snprintf(err, errlen, "%s is not under policy_dir (%s)", path,
			 dir);
		return -EPERM;
	}
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "policy_dir %s: %s", dir, strerror(-rc));
		return rc;
	}
	fd = open_beneath(dirfd, rel, use);
	close(dirfd);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s%s", path,
			 strerror(-fd),
			 fd == -ELOOP || fd == -EXDEV
			     ? " (no symbolic link may be on the way)"
			     : "");
		return fd;
	}
	rc = fd_check_file(
	    fd,
	    (use == POLICY_FILE_WRITE ? FD_FILE_WRITE : FD_FILE_READ) |
		FD_FILE_ANY_FS,
	    NULL, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		close(fd);
		return rc;
	}
	return fd;
}

/* The client's file n, checked, duplicated for the caller. */
static int client_file(const struct region *r, int n, enum policy_file_use use,
		       char *err, size_t errlen)
{
	char why[200];
	int rc, fd;

	if (n < 0 || n >= r->nfiles) {
		snprintf(err, errlen, "the client passed no file #%d", n);
		return -EBADF;
	}
	rc = fd_check_file(r->files[n],
			   use == POLICY_FILE_WRITE ? FD_FILE_WRITE
						    : FD_FILE_READ,
			   NULL, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "file #%d is %s", n, why);
		return rc;
	}
	fd = fcntl(r->files[n], F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "file #%d: %s", n, strerror(-rc));
	}
	return fd < 0 ? rc : fd;
}

int files_open(const struct region *r, const char *arg,
	       enum policy_file_use use, char *err, size_t errlen)
{
	struct daemon *d = worker_daemon(r->s->w);
	char dir[sizeof(d->conf.cfg.policy.dir)];

	if (policy_file_index(arg) >= 0)
		return client_file(r, policy_file_index(arg), use, err, errlen);
	/* A reload may swap the configuration meanwhile. */
	daemon_cfg_read(d);
	memcpy(dir, d->conf.cfg.policy.dir, sizeof(dir));
	daemon_cfg_done(d);
	return files_open_configured(dir, arg, use, err, errlen);
}
