/* SPDX-License-Identifier: MIT */
/*
 * Who may do what (SECURITY.md):
 *
 *   "grant": { "uids": [0], "gids": [] },      a /dev/userfaultfd grant
 *   "admin_gids": [],                          uffdctl's state changes
 *   "access": { "allow_uids": [...], "allow_gids": [...],
 *               "deny_uids": [...],  "deny_gids": [...] }   the data socket
 *
 * Users and groups by name ("uffdadm": sysusers gives it a gid of the
 * host's choosing) or numeric id; names are looked up when the file is read.
 */
#include "keys.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char *const config_access_keys[] = { "grant", "admin_gids", "access",
					   NULL };
static const char *const grant_keys[] = { "uids", "gids", NULL };
static const char *const access_keys[] = { "allow_uids", "allow_gids",
					   "deny_uids", "deny_gids", NULL };

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
			if (cfg_ids(x, "grant.uids", v, 0, &c->grant_uids) < 0)
				return -EINVAL;
		} else if (strcmp(key, "gids") == 0) {
			if (cfg_ids(x, "grant.gids", v, 1, &c->grant_gids) < 0)
				return -EINVAL;
		} else {
			char full[64];

			snprintf(full, sizeof(full), "grant.%.40s", key);
			return cfg_unknown(x, full, key, grant_keys);
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
			return cfg_unknown(x, full, key, access_keys);
		if (cfg_ids(x, full, v, strstr(key, "gids") != NULL, l) < 0)
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
		rc = cfg_ids(x, key, v, 1, &c->admin_gids);
	else if (!strcmp(key, "access"))
		rc = parse_access(c, x, v);
	else
		return 0;
	return rc < 0 ? rc : 1;
}

static json_object *ids_json(const struct id_list *l)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < l->n; i++)
		json_object_array_add(a, json_object_new_int64(l->v[i]));
	return a;
}

void config_access_json(const struct config_access *c, json_object *o)
{
	json_object *g = json_object_new_object(),
		    *a = json_object_new_object();

	json_object_object_add(g, "uids", ids_json(&c->grant_uids));
	json_object_object_add(g, "gids", ids_json(&c->grant_gids));
	json_object_object_add(o, "grant", g);
	json_object_object_add(o, "admin_gids", ids_json(&c->admin_gids));
	json_object_object_add(a, "allow_uids", ids_json(&c->allow_uids));
	json_object_object_add(a, "allow_gids", ids_json(&c->allow_gids));
	json_object_object_add(a, "deny_uids", ids_json(&c->deny_uids));
	json_object_object_add(a, "deny_gids", ids_json(&c->deny_gids));
	json_object_object_add(o, "access", a);
}
