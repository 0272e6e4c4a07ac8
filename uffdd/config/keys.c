/* SPDX-License-Identifier: MIT */
#include "keys.h"

#include <errno.h>
#include <grp.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cfg_fail(const struct cfg_ctx *x, const char *key, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(x->err, x->errlen, "%s: key \"%s\": %s", x->origin, key, what);
	return -EINVAL;
}

int cfg_uint(const struct cfg_ctx *x, const char *key, json_object *v,
	     uint64_t min, uint64_t max, uint64_t *out)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return cfg_fail(x, key, "expected an integer");
	errno = 0;
	i = json_object_get_int64(v);
	if (errno || i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return cfg_fail(x, key, "out of range %llu..%llu",
				(unsigned long long)min,
				(unsigned long long)max);
	*out = (uint64_t)i;
	return 0;
}

int cfg_str(const struct cfg_ctx *x, const char *key, json_object *v, char *dst,
	    size_t size, int empty_ok)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return cfg_fail(x, key, "expected a string");
	s = json_object_get_string(v);
	if (strlen(s) >= size)
		return cfg_fail(x, key, "longer than %zu bytes", size - 1);
	if (!*s && !empty_ok)
		return cfg_fail(x, key, "empty");
	snprintf(dst, size, "%s", s);
	return 0;
}

int cfg_mode(const struct cfg_ctx *x, const char *key, json_object *v,
	     unsigned *out)
{
	char buf[8], *end;
	unsigned long m;

	if (cfg_str(x, key, v, buf, sizeof(buf), 0) < 0)
		return -EINVAL;
	m = strtoul(buf, &end, 8);
	if (*end || m > 0777)
		return cfg_fail(x, key,
				"expected an octal mode such as \"0660\"");
	*out = (unsigned)m;
	return 0;
}

int cfg_array(const struct cfg_ctx *x, const char *key, json_object *v,
	      size_t max, const char *what)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return cfg_fail(x, key, "expected an array of %s", what);
	n = json_object_array_length(v);
	if (n > max)
		return cfg_fail(x, key, "more than %zu %s", max, what);
	return (int)n;
}

/* A user or group name looked up now. */
static int owner_by_name(const struct cfg_ctx *x, const char *key,
			 const char *name, int group, int64_t *out)
{
	char buf[1024];

	if (group) {
		struct group g, *res = NULL;

		if (getgrnam_r(name, &g, buf, sizeof(buf), &res) || !res)
			return cfg_fail(x, key, "no group named \"%s\"", name);
		*out = res->gr_gid;
	} else {
		struct passwd p, *res = NULL;

		if (getpwnam_r(name, &p, buf, sizeof(buf), &res) || !res)
			return cfg_fail(x, key, "no user named \"%s\"", name);
		*out = res->pw_uid;
	}
	return 0;
}

int cfg_owner(const struct cfg_ctx *x, const char *key, json_object *v,
	      int group, int64_t *out)
{
	const char *name;
	uint64_t id = 0;

	if (json_object_is_type(v, json_type_int)) {
		if (cfg_uint(x, key, v, 0, UINT32_MAX - 1, &id) < 0)
			return -EINVAL;
		*out = (int64_t)id;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return cfg_fail(x, key, "expected a %s name or a numeric id",
				group ? "group" : "user");
	name = json_object_get_string(v);
	if (!*name || strlen(name) > 64)
		return cfg_fail(x, key, "bad %s name",
				group ? "group" : "user");
	return owner_by_name(x, key, name, group, out);
}

int cfg_ids(const struct cfg_ctx *x, const char *key, json_object *v, int group,
	    struct id_list *out)
{
	int n = cfg_array(x, key, v, CONFIG_MAX_IDS,
			  group ? "group names or ids" : "user names or ids");

	if (n < 0)
		return n;
	out->n = 0;
	for (int i = 0; i < n; i++) {
		int64_t id = 0;

		if (cfg_owner(x, key, json_object_array_get_idx(v, i), group,
			      &id) < 0)
			return -EINVAL;
		out->v[out->n++] = (uint32_t)id;
	}
	return 0;
}

int cfg_object(const struct cfg_ctx *x, const char *key, json_object *v)
{
	if (!json_object_is_type(v, json_type_object))
		return cfg_fail(x, key, "expected an object");
	return 0;
}

int id_list_has(const struct id_list *l, uint32_t id)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->v[i] == id)
			return 1;
	return 0;
}
