/* SPDX-License-Identifier: MIT */
/*
 * The files policies read and write.  A client's file is a descriptor the
 * client opened with its own rights and passed in REGISTER ("#N" in its
 * spec): the daemon checks it with fstat and uses it, and never opens a path
 * a client chose.  A path is opened only if the administrator wrote it in
 * the configuration, and then beneath policy_dir, without following a link.
 */
#ifndef UFFDD_FILES_H
#define UFFDD_FILES_H

#include <stddef.h>

#include "policy/policy.h"

struct region;

/* The descriptor (the caller's) for file argument arg of r's policy: see
 * policy_open_file().  -errno with err set. */
int files_open(const struct region *r, const char *arg,
	       enum policy_file_use use, char *err, size_t errlen);

/*
 * path (absolute, under dir) opened beneath dir: no symbolic link, no
 * "..", no magic link on the way (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS; a walk with O_NOFOLLOW
 * where the kernel lacks openat2), O_NONBLOCK | O_NOCTTY, then checked to
 * be a regular file.  use WRITE creates or truncates it.  -errno with err.
 */
int files_open_configured(const char *dir, const char *path,
			  enum policy_file_use use, char *err, size_t errlen);

/* The walk files_open_configured falls back to where openat2 is missing
 * (ENOSYS): rel beneath dirfd, one O_NOFOLLOW component at a time.  The
 * fd or -errno.  (Called directly by its unit test.) */
int files_walk_open(int dirfd, const char *rel, enum policy_file_use use);

#endif
