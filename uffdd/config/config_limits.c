/* SPDX-License-Identifier: MIT */
/*
 * "limits": what no client can talk its way past (SECURITY.md).
 *
 *   "limits": { "clients": 1024, "clients_per_uid": 256, "regions": 8192,
 *               "regions_per_client": 256, "bytes": 4 TiB,
 *               "bytes_per_client": 1 TiB, "messages_per_second": 1000,
 *               "pending_faults": 4096, "pending_faults_total": 65536,
 *               "hello_timeout_ms": 5000, "control_connections": 64,
 *               "uid_share_percent": 25, "admin_reserve_percent": 10 }
 */
#include "keys.h"

#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

const char *const config_limits_keys[] = { "limits", NULL };

void config_limits_defaults(struct config_limits *c)
{
	c->clients = 1024;
	c->clients_per_uid = 256;
	c->regions = 8192;
	c->regions_per_client = 256;
	c->bytes = (uint64_t)4 << 40;
	c->bytes_per_client = (uint64_t)1 << 40;
	c->msg_rate = 1000;
	c->pending_faults = 4096;
	c->pending_faults_total = 65536;
	c->hello_timeout_ms = 5000;
	c->control_conns = 64;
	c->uid_share_percent = 25;
	c->admin_reserve_percent = 10;
}

#define U32(f) offsetof(struct config_limits, f), sizeof(unsigned)
static const struct {
	const char *key;
	size_t off, size;
	uint64_t min, max;
} limits[] = {
	{ "clients", U32(clients), 1, 1000000 },
	{ "clients_per_uid", U32(clients_per_uid), 1, 1000000 },
	{ "regions", U32(regions), 1, 10000000 },
	{ "regions_per_client", U32(regions_per_client), 1, 1000000 },
	{ "bytes", offsetof(struct config_limits, bytes), sizeof(uint64_t), 1,
	  INT64_MAX },
	{ "bytes_per_client", offsetof(struct config_limits, bytes_per_client),
	  sizeof(uint64_t), 1, INT64_MAX },
	{ "messages_per_second", U32(msg_rate), 1, 10000000 },
	{ "pending_faults", U32(pending_faults), 1, 10000000 },
	{ "pending_faults_total", U32(pending_faults_total), 1, 100000000 },
	{ "hello_timeout_ms", U32(hello_timeout_ms), 10, 3600000 },
	{ "control_connections", U32(control_conns), 1, 100000 },
	{ "uid_share_percent", U32(uid_share_percent), 1, 100 },
	{ "admin_reserve_percent", U32(admin_reserve_percent), 0, 90 },
};
#undef U32

#define NLIMITS (sizeof(limits) / sizeof(limits[0]))

static int unknown_limit(const struct cfg_ctx *x, const char *key)
{
	const char *known[NLIMITS + 1];
	char full[64];

	for (size_t i = 0; i < NLIMITS; i++)
		known[i] = limits[i].key;
	known[NLIMITS] = NULL;
	snprintf(full, sizeof(full), "limits.%.40s", key);
	return cfg_unknown(x, full, key, known);
}

static int parse_limit(struct config_limits *c, const struct cfg_ctx *x,
		       const char *key, json_object *v)
{
	char full[64];
	uint64_t u = 0;

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		if (strcmp(key, limits[i].key) != 0)
			continue;
		snprintf(full, sizeof(full), "limits.%s", key);
		if (cfg_uint(x, full, v, limits[i].min, limits[i].max, &u) < 0)
			return -EINVAL;
		if (limits[i].size == sizeof(uint64_t))
			*(uint64_t *)((char *)c + limits[i].off) = u;
		else
			*(unsigned *)((char *)c + limits[i].off) = (unsigned)u;
		return 0;
	}
	return unknown_limit(x, key);
}

int config_limits_key(struct config_limits *c, const struct cfg_ctx *x,
		      const char *key, json_object *v)
{
	if (strcmp(key, "limits") != 0)
		return 0;
	if (cfg_object(x, "limits", v) < 0)
		return -EINVAL;
	json_object_object_foreach (v, k, lv) {
		if (parse_limit(c, x, k, lv) < 0)
			return -EINVAL;
	}
	return 1;
}

void config_limits_json(const struct config_limits *c, json_object *o)
{
	json_object *l = json_object_new_object();

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		const char *f = (const char *)c + limits[i].off;
		uint64_t v = limits[i].size == sizeof(uint64_t)
				 ? *(const uint64_t *)(const void *)f
				 : *(const unsigned *)(const void *)f;

		json_object_object_add(l, limits[i].key,
				       json_object_new_int64((int64_t)v));
	}
	json_object_object_add(o, "limits", l);
}
