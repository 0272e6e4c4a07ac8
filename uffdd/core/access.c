/* SPDX-License-Identifier: MIT */
#include "access.h"

#include <errno.h>
#include <stdio.h>

/* 1 if p's primary or a supplementary group is in l. */
static int in_gids(const struct peer *p, const struct id_list *l)
{
	if (id_list_has(l, p->cr.gid))
		return 1;
	for (int i = 0; i < p->ngroups; i++)
		if (id_list_has(l, p->groups[i]))
			return 1;
	return 0;
}

int access_data_allowed(const struct config_access *c, const struct peer *p,
			char *why, size_t len)
{
	if (id_list_has(&c->deny_uids, p->cr.uid)) {
		snprintf(why, len, "uid %u is denied (access.deny_uids)",
			 (unsigned)p->cr.uid);
		return -EACCES;
	}
	if (in_gids(p, &c->deny_gids)) {
		snprintf(why, len,
			 "a group of uid %u is denied "
			 "(access.deny_gids)",
			 (unsigned)p->cr.uid);
		return -EACCES;
	}
	if (!c->allow_uids.n && !c->allow_gids.n)
		return 0;
	if (id_list_has(&c->allow_uids, p->cr.uid) ||
	    in_gids(p, &c->allow_gids))
		return 0;
	snprintf(why, len,
		 "uid %u is not in access.allow_uids or "
		 "access.allow_gids",
		 (unsigned)p->cr.uid);
	return -EACCES;
}

int access_is_admin(const struct config_access *c, const struct peer *p)
{
	return p->cr.uid == 0 || in_gids(p, &c->admin_gids);
}

int access_may_grant(const struct config_access *c, uid_t uid, gid_t gid)
{
	return id_list_has(&c->grant_uids, uid) ||
	       id_list_has(&c->grant_gids, gid);
}
