/* SPDX-License-Identifier: MIT */
/* Who may do what (SECURITY.md), from the peer's credentials and groups. */
#ifndef UFFDD_ACCESS_H
#define UFFDD_ACCESS_H

#include <stddef.h>

#include "config/config.h"
#include "peer.h"

/*
 * May p use the data socket?  deny_uids/deny_gids first, then, if either
 * allow list is set, p must be in one.  0, or -EACCES with why.
 */
int access_data_allowed(const struct config_access *c, const struct peer *p,
			char *why, size_t len);

/* May p change state (uffdctl disconnect, policy, publish)?  root or
 * a member (primary or supplementary group) of admin_gids. */
int access_is_admin(const struct config_access *c, const struct peer *p);

/* May uid/gid have a /dev/userfaultfd grant? */
int access_may_grant(const struct config_access *c, uid_t uid, gid_t gid);

#endif
