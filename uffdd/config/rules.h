/* SPDX-License-Identifier: MIT */
/*
 * Which policy a region gets at REGISTER: the configuration's rules
 * matching the client (uid, gid, executable, systemd unit) and the
 * region's name, and which policies a client may ask for itself.
 */
#ifndef UFFDD_RULES_H
#define UFFDD_RULES_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Who asks, as the rules see it (peer.c: from the kernel, never from the
 * client). */
struct rules_client {
	uid_t uid;
	gid_t gid;
	const char *exe;  /* the executable's full path, "" if not known */
	const char *unit; /* its unit's full cgroup path, "" if none */
};

/*
 * The policy spec for a REGISTER of region `name` by who, which asked for
 * `requested` ("" for none) and passed nfiles files, into out.  Returns 0,
 * or -EPERM/-EINVAL/-EBADF with a message for the client in err.  The
 * caller holds the configuration still (a reload swaps it).
 */
/*
 * A spec that comes with nfiles descriptors (REGISTER, or `uffdctl policy`
 * on the control socket) names each of them once, as "#N", and no path:
 * the daemon opens no path but its configuration's.  0, or -EBADF/-EPERM
 * with err set.
 */
struct policy;
int rules_client_files(const struct policy *p, unsigned nfiles, char *err,
		       size_t errlen);

int rules_choose(const struct config_policies *c,
		 const struct rules_client *who, const char *name,
		 const char *requested, unsigned nfiles, char *out,
		 size_t outlen, char *err, size_t errlen);

#endif
