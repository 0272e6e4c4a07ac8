/* SPDX-License-Identifier: MIT */
/*
 * The sockets part of the configuration:
 *
 *   "socket": "/run/uffdd/uffdd.sock", "control_socket": "...",
 *   "socket_mode": "0666", "control_socket_mode": "0660",
 *   "socket_owner": "root", "socket_group": "uffdd",         (name or id)
 *   "control_socket_owner": 0, "control_socket_group": "adm"
 *
 * Modes and owners apply when uffdd creates the sockets itself (systemd's
 * socket units say their own).
 */
#include "keys.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char *const config_sockets_keys[] = { "socket",
					    "control_socket",
					    "socket_mode",
					    "control_socket_mode",
					    "socket_owner",
					    "socket_group",
					    "control_socket_owner",
					    "control_socket_group",
					    NULL };

void config_sockets_defaults(struct config_sockets *c)
{
	snprintf(c->data_path, sizeof(c->data_path), "%s",
		 UFFDD_DEFAULT_SOCKET);
	snprintf(c->control_path, sizeof(c->control_path), "%s",
		 UFFDD_DEFAULT_CONTROL);
	c->data_mode = 0666;
	c->control_mode = 0660;
	c->data_uid = c->data_gid = -1;
	c->control_uid = c->control_gid = -1;
}

int config_sockets_key(struct config_sockets *c, const struct cfg_ctx *x,
		       const char *key, json_object *v)
{
	int64_t *owner =
	    !strcmp(key, "socket_owner")	   ? &c->data_uid
	    : !strcmp(key, "socket_group")	   ? &c->data_gid
	    : !strcmp(key, "control_socket_owner") ? &c->control_uid
	    : !strcmp(key, "control_socket_group") ? &c->control_gid
						   : NULL;
	int rc;

	if (owner)
		rc = cfg_owner(x, key, v, strstr(key, "group") != NULL, owner);
	else if (!strcmp(key, "socket"))
		rc = cfg_str(x, key, v, c->data_path, sizeof(c->data_path), 0);
	else if (!strcmp(key, "control_socket"))
		rc = cfg_str(x, key, v, c->control_path,
			     sizeof(c->control_path), 0);
	else if (!strcmp(key, "socket_mode"))
		rc = cfg_mode(x, key, v, &c->data_mode);
	else if (!strcmp(key, "control_socket_mode"))
		rc = cfg_mode(x, key, v, &c->control_mode);
	else
		return 0;
	return rc < 0 ? rc : 1;
}

static json_object *mode_json(unsigned m)
{
	char buf[8];

	snprintf(buf, sizeof(buf), "%04o", m);
	return json_object_new_string(buf);
}

void config_sockets_json(const struct config_sockets *c, json_object *o)
{
	json_object_object_add(o, "socket",
			       json_object_new_string(c->data_path));
	json_object_object_add(o, "control_socket",
			       json_object_new_string(c->control_path));
	json_object_object_add(o, "socket_mode", mode_json(c->data_mode));
	json_object_object_add(o, "control_socket_mode",
			       mode_json(c->control_mode));
	/* -1: the daemon's own, which no value in the file says. */
	if (c->data_uid >= 0)
		json_object_object_add(o, "socket_owner",
				       json_object_new_int64(c->data_uid));
	if (c->data_gid >= 0)
		json_object_object_add(o, "socket_group",
				       json_object_new_int64(c->data_gid));
	if (c->control_uid >= 0)
		json_object_object_add(o, "control_socket_owner",
				       json_object_new_int64(c->control_uid));
	if (c->control_gid >= 0)
		json_object_object_add(o, "control_socket_group",
				       json_object_new_int64(c->control_gid));
}
