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

/* Who asks, as the rules see it. */
struct rules_client {
	uid_t uid;
	gid_t gid;
	const char *exe;  /* the executable's name */
	const char *unit; /* its systemd unit, "" if none */
};

/*
 * The policy spec for a REGISTER of region `name` by who, which asked for
 * `requested` ("" for none), into out.  Returns 0, or -EPERM/-EINVAL with
 * a message for the client in err.  The caller holds the configuration
 * still (a reload swaps it).
 */
int rules_choose(const struct config_policies *c,
		 const struct rules_client *who, const char *name,
		 const char *requested, char *out, size_t outlen, char *err,
		 size_t errlen);

#endif
