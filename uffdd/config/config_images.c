/* SPDX-License-Identifier: MIT */
/*
 * "images": where images come from and how the host's cache keeps them
 * (docs/images.md).
 *
 *   "images": { "store": "file:/var/lib/uffdd/images", "fetch_size": 1048576,
 *               "fault_timeout_ms": 10000, "keep_s": 600, "budget": 0,
 *               "prefetch_inflight": 32, "map_window": 0 }
 */
#include "keys.h"

#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

const char *const config_images_keys[] = { "images", NULL };

void config_images_defaults(struct config_images *c)
{
	snprintf(c->store, sizeof(c->store), "file:/var/lib/uffdd/images");
	c->fetch_size = 1u << 20;
	c->fault_timeout_ms = 10000;
	c->keep_s = 600;
	c->budget = 0;
	c->prefetch_inflight = 32;
	c->map_window = 0;
}

#define U32(f) offsetof(struct config_images, f), sizeof(uint32_t)
static const struct {
	const char *key;
	size_t off, size;
	uint64_t min, max;
} nums[] = {
	{ "fetch_size", U32(fetch_size), 65536, 4u << 20 },
	{ "fault_timeout_ms", U32(fault_timeout_ms), 10, 3600000 },
	{ "keep_s", U32(keep_s), 0, 30u * 86400 },
	{ "budget", offsetof(struct config_images, budget), sizeof(uint64_t), 0,
	  INT64_MAX },
	{ "prefetch_inflight", U32(prefetch_inflight), 1, 1024 },
	{ "map_window", U32(map_window), 0, 64u << 20 },
};
#undef U32

static int parse_one(struct config_images *c, const struct cfg_ctx *x,
		     const char *key, json_object *v)
{
	char full[64];
	uint64_t u = 0;

	snprintf(full, sizeof(full), "images.%s", key);
	if (!strcmp(key, "store"))
		return cfg_str(x, full, v, c->store, sizeof(c->store), 1);
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i].key) != 0)
			continue;
		if (cfg_uint(x, full, v, nums[i].min, nums[i].max, &u) < 0)
			return -EINVAL;
		if (nums[i].size == sizeof(uint64_t))
			*(uint64_t *)((char *)c + nums[i].off) = u;
		else
			*(uint32_t *)((char *)c + nums[i].off) = (uint32_t)u;
		return 0;
	}
	return cfg_fail(x, key, "unknown key in \"images\"");
}

int config_images_key(struct config_images *c, const struct cfg_ctx *x,
		      const char *key, json_object *v)
{
	struct config_images n = *c;

	if (strcmp(key, "images") != 0)
		return 0;
	if (cfg_object(x, "images", v) < 0)
		return -EINVAL;
	json_object_object_foreach (v, k, iv) {
		if (parse_one(&n, x, k, iv) < 0)
			return -EINVAL;
	}
	if (n.fetch_size & (n.fetch_size - 1))
		return cfg_fail(x, "images.fetch_size",
				"must be a power of two (64 KiB to 4 MiB)");
	*c = n;
	return 1;
}

void config_images_json(const struct config_images *c, json_object *o)
{
	json_object *i = json_object_new_object();

	json_object_object_add(i, "store", json_object_new_string(c->store));
	for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
		const char *f = (const char *)c + nums[k].off;
		uint64_t v = nums[k].size == sizeof(uint64_t)
				 ? *(const uint64_t *)(const void *)f
				 : *(const uint32_t *)(const void *)f;

		json_object_object_add(i, nums[k].key,
				       json_object_new_int64((int64_t)v));
	}
	json_object_object_add(o, "images", i);
}
