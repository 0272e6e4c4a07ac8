/* SPDX-License-Identifier: MIT */
#include "config.h"
#include "core/log.h"
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONFIG_BYTES (1 << 20)

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->socket_path, sizeof(c->socket_path), "%s",
		 UFFDD_DEFAULT_SOCKET);
	snprintf(c->control_path, sizeof(c->control_path), "%s",
		 UFFDD_DEFAULT_CONTROL);
	c->socket_mode = 0666;
	c->control_mode = 0666;
	c->workers = 0;
	/*
	 * Floating workers (BENCHMARKS.md): pinning helps only while the
	 * client's faulting thread stays on the CPU it connected from, which
	 * the scheduler does not promise; it also needs sched_setaffinity.
	 */
	c->placement = PLACEMENT_SCHEDULER;
	c->log_level = LOG_INFO;
	snprintf(c->default_policy, sizeof(c->default_policy), "continue");
	c->grant_uids.n = 1;
	c->grant_uids.v[0] = 0;
	c->max_clients = 1024;
	c->max_regions_per_client = 256;
	c->max_bytes_per_client = (uint64_t)1 << 40;
	config_policy_defaults(c);
	config_security_defaults(c);
}

int id_list_has(const struct id_list *l, uint32_t id)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->v[i] == id)
			return 1;
	return 0;
}

struct ctx {
	const char *origin;
	char *err;
	size_t errlen;
};

int config_key_error(char *err, size_t errlen, const char *origin,
		     const char *key, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: key \"%s\": %s", origin, key, what);
	return -EINVAL;
}

#define cfail(x, key, ...) \
	config_key_error((x)->err, (x)->errlen, (x)->origin, key, __VA_ARGS__)

static int get_uint(struct ctx *x, const char *key, json_object *v,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return cfail(x, key, "expected an integer");
	errno = 0;
	i = json_object_get_int64(v);
	if (errno || i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return cfail(x, key, "out of range %llu..%llu",
			     (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)i;
	return 0;
}

static int get_str(struct ctx *x, const char *key, json_object *v, char *dst,
		   size_t size)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return cfail(x, key, "expected a string");
	s = json_object_get_string(v);
	if (strlen(s) >= size)
		return cfail(x, key, "longer than %zu bytes", size - 1);
	if (!*s)
		return cfail(x, key, "empty");
	snprintf(dst, size, "%s", s);
	return 0;
}

static int get_mode(struct ctx *x, const char *key, json_object *v,
		    unsigned *out)
{
	char buf[8], *end;
	unsigned long m;

	if (get_str(x, key, v, buf, sizeof(buf)) < 0)
		return -EINVAL;
	m = strtoul(buf, &end, 8);
	if (*end || m > 0777)
		return cfail(x, key, "expected an octal mode such as \"0660\"");
	*out = (unsigned)m;
	return 0;
}

static int get_ids(struct ctx *x, const char *key, json_object *v,
		   struct id_list *out)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return cfail(x, key, "expected an array of numeric ids");
	n = json_object_array_length(v);
	if (n > CONFIG_MAX_IDS)
		return cfail(x, key, "more than %d ids", CONFIG_MAX_IDS);
	out->n = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t id = 0;

		if (get_uint(x, key, json_object_array_get_idx(v, i), 0,
			     UINT32_MAX - 1, &id) < 0)
			return -EINVAL;
		out->v[out->n++] = (uint32_t)id;
	}
	return 0;
}

static int parse_grant(struct ctx *x, json_object *o, struct config *c)
{
	if (!json_object_is_type(o, json_type_object))
		return cfail(x, "grant", "expected an object");
	json_object_object_foreach(o, key, v)
	{
		if (strcmp(key, "uids") == 0) {
			if (get_ids(x, "grant.uids", v, &c->grant_uids) < 0)
				return -EINVAL;
		} else if (strcmp(key, "gids") == 0) {
			if (get_ids(x, "grant.gids", v, &c->grant_gids) < 0)
				return -EINVAL;
		} else {
			return cfail(x, key, "unknown key in \"grant\"");
		}
	}
	return 0;
}

static int parse_limits(struct ctx *x, json_object *o, struct config *c)
{
	uint64_t u = 0;

	if (!json_object_is_type(o, json_type_object))
		return cfail(x, "limits", "expected an object");
	json_object_object_foreach(o, key, v)
	{
		if (strcmp(key, "clients") == 0) {
			if (get_uint(x, "limits.clients", v, 1, 1000000, &u) < 0)
				return -EINVAL;
			c->max_clients = (unsigned)u;
		} else if (strcmp(key, "regions_per_client") == 0) {
			if (get_uint(x, "limits.regions_per_client", v, 1,
				     1000000, &u) < 0)
				return -EINVAL;
			c->max_regions_per_client = (unsigned)u;
		} else if (strcmp(key, "bytes_per_client") == 0) {
			if (get_uint(x, "limits.bytes_per_client", v, 1,
				     INT64_MAX, &u) < 0)
				return -EINVAL;
			c->max_bytes_per_client = u;
		} else {
			int rc = config_security_limit(c, x->origin, key, v,
						       x->err, x->errlen);

			if (rc < 0)
				return rc;
			if (rc == 0)
				return cfail(x, key,
					     "unknown key in \"limits\"");
		}
	}
	return 0;
}

static int parse_root(struct ctx *x, json_object *root, struct config *c)
{
	uint64_t u = 0;

	if (!json_object_is_type(root, json_type_object)) {
		snprintf(x->err, x->errlen, "%s: the top level must be an object",
			 x->origin);
		return -EINVAL;
	}
	json_object_object_foreach(root, key, v)
	{
		int rc = 0;

		if (strcmp(key, "socket") == 0)
			rc = get_str(x, key, v, c->socket_path,
				     sizeof(c->socket_path));
		else if (strcmp(key, "control_socket") == 0)
			rc = get_str(x, key, v, c->control_path,
				     sizeof(c->control_path));
		else if (strcmp(key, "socket_mode") == 0)
			rc = get_mode(x, key, v, &c->socket_mode);
		else if (strcmp(key, "control_socket_mode") == 0)
			rc = get_mode(x, key, v, &c->control_mode);
		else if (strcmp(key, "placement") == 0) {
			char pl[16];

			rc = get_str(x, key, v, pl, sizeof(pl));
			if (!rc && strcmp(pl, "scheduler") == 0)
				c->placement = PLACEMENT_SCHEDULER;
			else if (!rc && strcmp(pl, "pinned") == 0)
				c->placement = PLACEMENT_PINNED;
			else if (!rc)
				rc = cfail(x, key, "expected \"scheduler\" or "
						   "\"pinned\"");
		} else if (strcmp(key, "spin_us") == 0) {
			rc = get_uint(x, key, v, 0, 10000, &u);
			c->spin_us = (unsigned)u;
		} else if (strcmp(key, "workers") == 0) {
			rc = get_uint(x, key, v, 0, 256, &u);
			c->workers = (int)u;
		} else if (strcmp(key, "log_level") == 0) {
			char lvl[16];

			rc = get_str(x, key, v, lvl, sizeof(lvl));
			if (!rc && (c->log_level = log_level_parse(lvl)) < 0)
				rc = cfail(x, key,
					   "expected err, warning, notice, "
					   "info or debug");
		} else if (strcmp(key, "default_policy") == 0) {
			char perr[256];

			rc = get_str(x, key, v, c->default_policy,
				     sizeof(c->default_policy));
			if (!rc && policy_check(c->default_policy, perr,
						sizeof(perr)) < 0)
				rc = cfail(x, key, "%s", perr);
		} else if (strcmp(key, "grant") == 0)
			rc = parse_grant(x, v, c);
		else if (strcmp(key, "admin_gids") == 0)
			rc = get_ids(x, key, v, &c->admin_gids);
		else if (strcmp(key, "limits") == 0)
			rc = parse_limits(x, v, c);
		else if ((rc = config_policy_key(c, x->origin, key, v, x->err,
						 x->errlen)) != 0)
			rc = rc < 0 ? rc : 0;
		else if ((rc = config_security_key(c, x->origin, key, v,
						   x->err, x->errlen)) != 0)
			rc = rc < 0 ? rc : 0;
		else
			rc = cfail(x, key, "unknown key");
		if (rc < 0)
			return rc;
	}
	return 0;
}

int config_parse(struct config *c, const char *text, size_t len,
		 const char *origin, char *err, size_t errlen)
{
	struct ctx x = { .origin = origin, .err = err, .errlen = errlen };
	struct json_tokener *tok;
	json_object *root;
	struct config tmp = *c;
	enum json_tokener_error jerr;
	int rc;

	if (len > MAX_CONFIG_BYTES || len > INT_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", origin,
			 MAX_CONFIG_BYTES);
		return -EFBIG;
	}
	tok = json_tokener_new();
	if (!tok) {
		snprintf(err, errlen, "%s: out of memory", origin);
		return -ENOMEM;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!root || jerr != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) < len) {
		size_t off = json_tokener_get_parse_end(tok), line = 1, col = 1;
		const char *why = jerr == json_tokener_success
					  ? "trailing data after the object"
				  : jerr == json_tokener_continue
					  ? "unexpected end of file"
					  : json_tokener_error_desc(jerr);

		/* Trailing white space is fine. */
		if (root && jerr == json_tokener_success) {
			size_t i = off;

			while (i < len && strchr(" \t\r\n", text[i]))
				i++;
			if (i == len)
				goto parsed;
		}
		for (size_t i = 0; i < off && i < len; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		snprintf(err, errlen, "%s:%zu:%zu: %s", origin, line, col, why);
		json_object_put(root);
		json_tokener_free(tok);
		return -EINVAL;
	}
parsed:
	rc = parse_root(&x, root, &tmp);
	json_object_put(root);
	json_tokener_free(tok);
	if (rc == 0)
		*c = tmp;
	return rc;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > MAX_CONFIG_BYTES) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
			 MAX_CONFIG_BYTES);
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	rc = config_parse(c, buf, got, path, err, errlen);
	free(buf);
	return rc;
}
