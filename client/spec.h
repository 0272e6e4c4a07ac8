/* SPDX-License-Identifier: MIT */
/*
 * A policy spec as a user writes it ("populate:/srv/vm.img@1G+around:16")
 * turned into what goes on the wire ("populate:#0@1G+around:16") and the
 * files it names, opened here, with the caller's own rights: the daemon
 * never opens a path a client names (proto/PROTOCOL.md).  Used by the
 * library and by uffdctl (internal: hidden symbols).
 */
#ifndef UFFD_CLIENT_SPEC_H
#define UFFD_CLIENT_SPEC_H

#include <stddef.h>

#include "uffdd_proto.h"

struct spec_files {
	int fd[UFFDD_MAX_FILES]; /* "#N" is fd[N] */
	int n;
	char path[UFFDD_MAX_FILES][256]; /* as the user named them */
};

/*
 * spec (NULL or "" is the daemon's default: nothing to open) into wire
 * (UFFDD_POLICY_LEN bytes) and files: every file argument of populate,
 * record and prefetch is opened (record creates or truncates its file, the
 * others only read) and checked to be a regular file the daemon may use
 * without blocking.  0, or -errno with a message in err and nothing left
 * open.
 */
int spec_open(const char *spec, char *wire, size_t wirelen,
	      struct spec_files *files, char *err, size_t errlen);

void spec_files_close(struct spec_files *files);

/* msg (an answer of the daemon's) with "#N" put back as the path the
 * user wrote, into out. */
void spec_explain(const struct spec_files *files, const char *msg, char *out,
		  size_t outlen);

#endif
