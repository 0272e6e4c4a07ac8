/* SPDX-License-Identifier: MIT */
/*
 * The security part of the configuration (SECURITY.md):
 *
 *   "socket_owner": "root",  "socket_group": "uffdd",        (name or id)
 *   "control_socket_owner": 0, "control_socket_group": "adm",
 *   "access": { "allow_uids": [...], "allow_gids": [...],
 *               "deny_uids": [...],  "deny_gids": [...] },
 *   "limits": { "clients_per_uid": 256, "regions": 8192,
 *               "messages_per_second": 1000, "pending_faults": 4096,
 *               "hello_timeout_ms": 5000, "control_connections": 64 }
 *
 * (limits.clients, regions_per_client and bytes_per_client are config.c's.)
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_security_defaults(struct config *c)
{
	c->socket_uid = c->socket_gid = -1;
	c->control_uid = c->control_gid = -1;
	memset(&c->allow_uids, 0, sizeof(c->allow_uids));
	memset(&c->allow_gids, 0, sizeof(c->allow_gids));
	memset(&c->deny_uids, 0, sizeof(c->deny_uids));
	memset(&c->deny_gids, 0, sizeof(c->deny_gids));
	c->max_clients_per_uid = 256;
	c->max_regions = 8192;
	c->max_msg_rate = 1000;
	c->max_pending_faults = 4096;
	c->hello_timeout_ms = 5000;
	c->max_control_conns = 64;
}

static int get_u64(json_object *v, uint64_t min, uint64_t max, uint64_t *out)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	errno = 0;
	i = json_object_get_int64(v);
	if (errno || i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return -ERANGE;
	*out = (uint64_t)i;
	return 0;
}

/* A user or group: a number, or a name looked up now. */
static int get_owner(json_object *v, int group, int64_t *out, const char *origin,
		     const char *key, char *err, size_t errlen)
{
	char buf[1024];
	const char *name;
	uint64_t id;
	int rc;

	if (json_object_is_type(v, json_type_int)) {
		if (get_u64(v, 0, UINT32_MAX - 1, &id) < 0)
			return config_key_error(err, errlen, origin, key,
				     "id out of range 0..%u", UINT32_MAX - 1);
		*out = (int64_t)id;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return config_key_error(err, errlen, origin, key,
			     "expected a %s name or a numeric id",
			     group ? "group" : "user");
	name = json_object_get_string(v);
	if (!*name || strlen(name) > 64)
		return config_key_error(err, errlen, origin, key, "bad %s name",
			     group ? "group" : "user");
	if (group) {
		struct group g, *res = NULL;

		rc = getgrnam_r(name, &g, buf, sizeof(buf), &res);
		if (rc || !res)
			return config_key_error(err, errlen, origin, key,
				     "no group named \"%s\"", name);
		*out = res->gr_gid;
	} else {
		struct passwd p, *res = NULL;

		rc = getpwnam_r(name, &p, buf, sizeof(buf), &res);
		if (rc || !res)
			return config_key_error(err, errlen, origin, key,
				     "no user named \"%s\"", name);
		*out = res->pw_uid;
	}
	return 0;
}

static int get_idlist(json_object *v, struct id_list *out, const char *origin,
		      const char *key, char *err, size_t errlen)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return config_key_error(err, errlen, origin, key,
			     "expected an array of numeric ids");
	n = json_object_array_length(v);
	if (n > CONFIG_MAX_IDS)
		return config_key_error(err, errlen, origin, key, "more than %d ids",
			     CONFIG_MAX_IDS);
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t id;

		if (get_u64(json_object_array_get_idx(v, i), 0, UINT32_MAX - 1,
			    &id) < 0)
			return config_key_error(err, errlen, origin, key,
				     "ids are integers 0..%u", UINT32_MAX - 1);
		out->v[out->n++] = (uint32_t)id;
	}
	return 0;
}

static int parse_access(struct config *c, json_object *o, const char *origin,
			char *err, size_t errlen)
{
	if (!json_object_is_type(o, json_type_object))
		return config_key_error(err, errlen, origin, "access", "expected an object");
	json_object_object_foreach(o, key, v)
	{
		struct id_list *l = !strcmp(key, "allow_uids")	 ? &c->allow_uids
				    : !strcmp(key, "allow_gids") ? &c->allow_gids
				    : !strcmp(key, "deny_uids")	 ? &c->deny_uids
				    : !strcmp(key, "deny_gids")	 ? &c->deny_gids
								 : NULL;
		char full[64];

		snprintf(full, sizeof(full), "access.%.40s", key);
		if (!l)
			return config_key_error(err, errlen, origin, full,
				     "unknown key in \"access\"");
		if (get_idlist(v, l, origin, full, err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}

int config_security_key(struct config *c, const char *origin, const char *key,
			json_object *v, char *err, size_t errlen)
{
	int64_t *owner = !strcmp(key, "socket_owner")		  ? &c->socket_uid
			 : !strcmp(key, "socket_group")		  ? &c->socket_gid
			 : !strcmp(key, "control_socket_owner") ? &c->control_uid
			 : !strcmp(key, "control_socket_group") ? &c->control_gid
								  : NULL;

	if (owner)
		return get_owner(v, strstr(key, "group") != NULL, owner, origin,
				 key, err, errlen) < 0 ? -EINVAL : 1;
	if (!strcmp(key, "access"))
		return parse_access(c, v, origin, err, errlen) < 0 ? -EINVAL : 1;
	return 0;
}

int config_security_limit(struct config *c, const char *origin,
			  const char *key, json_object *v, char *err,
			  size_t errlen)
{
	static const struct {
		const char *key;
		size_t off;
		uint64_t min, max;
	} keys[] = {
		{ "clients_per_uid", offsetof(struct config, max_clients_per_uid),
		  1, 1000000 },
		{ "regions", offsetof(struct config, max_regions), 1, 10000000 },
		{ "messages_per_second", offsetof(struct config, max_msg_rate), 1,
		  10000000 },
		{ "pending_faults", offsetof(struct config, max_pending_faults),
		  1, 10000000 },
		{ "hello_timeout_ms", offsetof(struct config, hello_timeout_ms),
		  10, 3600000 },
		{ "control_connections",
		  offsetof(struct config, max_control_conns), 1, 100000 },
	};
	char full[64];
	uint64_t u;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i].key) != 0)
			continue;
		snprintf(full, sizeof(full), "limits.%s", key);
		if (get_u64(v, keys[i].min, keys[i].max, &u) < 0)
			return config_key_error(err, errlen, origin, full,
				     "expected an integer %llu..%llu",
				     (unsigned long long)keys[i].min,
				     (unsigned long long)keys[i].max);
		*(unsigned *)((char *)c + keys[i].off) = (unsigned)u;
		return 1;
	}
	return 0;
}
