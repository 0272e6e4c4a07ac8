/* SPDX-License-Identifier: MIT */
/*
 * Which policy a region gets: configuration rules matching the client
 * (uid, gid, executable, systemd unit) and the region's name, and which
 * policies a client may ask for itself.
 */
#ifndef UFFDD_RULES_H
#define UFFDD_RULES_H

#include <stddef.h>
#include <sys/types.h>

#include "core/daemon.h"

/*
 * The policy spec for a REGISTER of region `name` by s, which asked for
 * `requested` ("" for none), into out.  Returns 0, or -EPERM/-EINVAL with
 * a message for the client in err.
 */
int rules_choose(struct daemon *d, const struct session *s, const char *name,
		 const char *requested, char *out, size_t outlen, char *err,
		 size_t errlen);

/* At connect: the executable's name and the systemd unit of pid. */
void client_identity(pid_t pid, char *exe, size_t exelen, char *unit,
		     size_t unitlen);

#endif
