/* SPDX-License-Identifier: MIT */
/*
 * Who may do what (SECURITY.md):
 *
 *   "grant": { "uids": [0], "gids": [] },      a /dev/userfaultfd grant
 *   "admin_gids": [],                          uffdctl's state changes
 *   "access": { "allow_uids": [...], "allow_gids": [...],
 *               "deny_uids": [...],  "deny_gids": [...] }   the data socket
 */
#include "keys.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

void config_access_defaults(struct config_access *c)
{
	memset(c, 0, sizeof(*c));
	c->grant_uids.n = 1;
	c->grant_uids.v[0] = 0;
}

static int parse_grant(struct config_access *c, const struct cfg_ctx *x,
		       json_object *o)
{
	if (cfg_object(x, "grant", o) < 0)
		return -EINVAL;
	json_object_object_foreach (o, key, v) {
		if (strcmp(key, "uids") == 0) {
			if (cfg_ids(x, "grant.uids", v, &c->grant_uids) < 0)
				return -EINVAL;
		} else if (strcmp(key, "gids") == 0) {
			if (cfg_ids(x, "grant.gids", v, &c->grant_gids) < 0)
				return -EINVAL;
		} else {
			return cfg_fail(x, key, "unknown key in \"grant\"");
		}
	}
	return 0;
}

static int parse_access(struct config_access *c, const struct cfg_ctx *x,
			json_object *o)
{
	if (cfg_object(x, "access", o) < 0)
		return -EINVAL;
	json_object_object_foreach (o, key, v) {
		struct id_list *l = !strcmp(key, "allow_uids") ? &c->allow_uids
				    : !strcmp(key, "allow_gids")
					? &c->allow_gids
				    : !strcmp(key, "deny_uids") ? &c->deny_uids
				    : !strcmp(key, "deny_gids") ? &c->deny_gids
								: NULL;
		char full[64];

		snprintf(full, sizeof(full), "access.%.40s", key);
		if (!l)
			return cfg_fail(x, full, "unknown key in \"access\"");
		if (cfg_ids(x, full, v, l) < 0)
			return -EINVAL;
	}
	return 0;
}

int config_access_key(struct config_access *c, const struct cfg_ctx *x,
		      const char *key, json_object *v)
{
	int rc;

	if (!strcmp(key, "grant"))
		rc = parse_grant(c, x, v);
	else if (!strcmp(key, "admin_gids"))
		rc = cfg_ids(x, key, v, &c->admin_gids);
	else if (!strcmp(key, "access"))
		rc = parse_access(c, x, v);
	else
		return 0;
	return rc < 0 ? rc : 1;
}
