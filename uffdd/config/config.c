/* SPDX-License-Identifier: MIT */
/* Reading the configuration: the file, its JSON, and the top-level keys. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define MAX_CONFIG_BYTES (1 << 20)

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	config_sockets_defaults(&c->sock);
	c->work.n = 0;
	/*
	 * Floating workers (BENCHMARKS.md): pinning helps only while the
	 * client's faulting thread stays on the CPU it connected from, which
	 * the scheduler does not promise; it also needs sched_setaffinity.
	 */
	c->work.placement = PLACEMENT_SCHEDULER;
	c->log_level = LOG_INFO;
	config_access_defaults(&c->access);
	config_limits_defaults(&c->limits);
	config_policy_defaults(&c->policy);
	config_images_defaults(&c->images);
}

int config_log_level(const char *name)
{
	static const char *names[] = { "emerg",	  "alert",  "crit", "err",
				       "warning", "notice", "info", "debug" };

	for (int i = 0; i < 8; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	if (strcmp(name, "error") == 0)
		return LOG_ERR;
	if (strcmp(name, "warn") == 0)
		return LOG_WARNING;
	return -1;
}

static const char *const worker_keys[] = { "workers", "placement", "spin_us",
					   "log_level", NULL };

/* workers, placement, spin_us, log_level: 1 if it was one of them. */
static int worker_key(struct config *c, const struct cfg_ctx *x,
		      const char *key, json_object *v)
{
	char word[16];
	uint64_t u = 0;
	int rc;

	if (!strcmp(key, "workers")) {
		rc = cfg_uint(x, key, v, 0, 256, &u);
		c->work.n = (int)u;
	} else if (!strcmp(key, "spin_us")) {
		rc = cfg_uint(x, key, v, 0, 10000, &u);
		c->work.spin_us = (unsigned)u;
	} else if (!strcmp(key, "placement")) {
		rc = cfg_str(x, key, v, word, sizeof(word), 0);
		if (!rc && !strcmp(word, "scheduler"))
			c->work.placement = PLACEMENT_SCHEDULER;
		else if (!rc && !strcmp(word, "pinned"))
			c->work.placement = PLACEMENT_PINNED;
		else if (!rc)
			rc = cfg_fail(x, key,
				      "expected \"scheduler\" or \"pinned\"");
	} else if (!strcmp(key, "log_level")) {
		rc = cfg_str(x, key, v, word, sizeof(word), 0);
		if (!rc && (c->log_level = config_log_level(word)) < 0)
			rc = cfg_fail(x, key,
				      "expected err, warning, notice, "
				      "info or debug");
	} else {
		return 0;
	}
	return rc < 0 ? rc : 1;
}

/* Every top-level key, from each part's list. */
static int unknown(const struct cfg_ctx *x, const char *key)
{
	static const char *const *const parts[] = {
		config_sockets_keys, worker_keys,	 config_access_keys,
		config_limits_keys,  config_policy_keys, config_images_keys
	};
	const char *all[64];
	size_t n = 0;

	for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++)
		for (const char *const *k = parts[p]; *k && n < 63; k++)
			all[n++] = *k;
	all[n] = NULL;
	return cfg_unknown(x, key, key, all);
}

static int parse_root(struct config *c, const struct cfg_ctx *x,
		      json_object *root)
{
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(x->err, x->errlen,
			 "%s: the top level must be an object", x->origin);
		return -EINVAL;
	}
	json_object_object_foreach (root, key, v) {
		int rc = config_sockets_key(&c->sock, x, key, v);

		if (!rc)
			rc = worker_key(c, x, key, v);
		if (!rc)
			rc = config_access_key(&c->access, x, key, v);
		if (!rc)
			rc = config_limits_key(&c->limits, x, key, v);
		if (!rc)
			rc = config_policy_key(&c->policy, x, key, v);
		if (!rc)
			rc = config_images_key(&c->images, x, key, v);
		if (!rc)
			rc = unknown(x, key);
		if (rc < 0)
			return rc;
	}
	return config_policy_check(&c->policy, x);
}

/* Only white space after the object? */
static int blank_tail(const char *text, size_t off, size_t len)
{
	while (off < len && strchr(" \t\r\n", text[off]))
		off++;
	return off == len;
}

/* "origin:line:col: why" for a JSON error at byte off. */
static int json_error(const char *text, size_t off, size_t len, const char *why,
		      const struct cfg_ctx *x)
{
	size_t line = 1, col = 1;

	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	snprintf(x->err, x->errlen, "%s:%zu:%zu: %s", x->origin, line, col,
		 why);
	return -EINVAL;
}

/* The JSON document in text, or NULL with the error set. */
static json_object *tokenize(const char *text, size_t len,
			     const struct cfg_ctx *x)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	if (!tok) {
		snprintf(x->err, x->errlen, "%s: out of memory", x->origin);
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (root && jerr == json_tokener_success &&
	    (end >= len || blank_tail(text, end, len)))
		return root;
	json_error(
	    text, end, len,
	    jerr == json_tokener_success    ? "trailing data after the object"
	    : jerr == json_tokener_continue ? "unexpected end of file"
					    : json_tokener_error_desc(jerr),
	    x);
	json_object_put(root);
	return NULL;
}

int config_parse(struct config *c, const char *text, size_t len,
		 const char *origin, char *err, size_t errlen)
{
	struct cfg_ctx x = { .origin = origin, .err = err, .errlen = errlen };
	struct config tmp = *c;
	json_object *root;
	char *copy;
	size_t bad;
	int rc;

	if (len > MAX_CONFIG_BYTES || len > INT_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", origin,
			 MAX_CONFIG_BYTES);
		return -EFBIG;
	}
	copy = malloc(len + 1);
	if (!copy) {
		snprintf(err, errlen, "%s: out of memory", origin);
		return -ENOMEM;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	bad = config_blank_comments(copy, len);
	root = bad < len ? NULL : tokenize(copy, len, &x);
	if (bad < len)
		json_error(text, bad, len, "unterminated comment", &x);
	if (root && config_duplicate_key(copy, len, &x)) {
		json_object_put(root);
		root = NULL;
	}
	free(copy);
	if (!root)
		return -EINVAL;
	rc = parse_root(&tmp, &x, root);
	json_object_put(root);
	if (rc == 0)
		*c = tmp;
	return rc;
}

/* The whole file into a NUL-terminated buffer; 0 or -errno (err set). */
static int slurp(int fd, const char *path, char **out, size_t *len, char *err,
		 size_t errlen)
{
	struct stat st;
	size_t got = 0;
	char *buf;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_size > MAX_CONFIG_BYTES) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
			 MAX_CONFIG_BYTES);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	rc = slurp(fd, path, &buf, &len, err, errlen);
	close(fd);
	if (rc < 0)
		return rc;
	rc = config_parse(c, buf, len, path, err, errlen);
	free(buf);
	return rc;
}

static const char *placement_name(int p)
{
	return p == PLACEMENT_PINNED ? "pinned" : "scheduler";
}

static const char *level_name(int l)
{
	static const char *names[] = { "emerg",	  "alert",  "crit", "err",
				       "warning", "notice", "info", "debug" };

	return l >= 0 && l < 8 ? names[l] : "info";
}

struct json_object *config_json(const struct config *c)
{
	json_object *o = json_object_new_object();

	config_sockets_json(&c->sock, o);
	json_object_object_add(o, "workers", json_object_new_int(c->work.n));
	json_object_object_add(
	    o, "placement",
	    json_object_new_string(placement_name(c->work.placement)));
	json_object_object_add(o, "spin_us",
			       json_object_new_int64(c->work.spin_us));
	json_object_object_add(
	    o, "log_level", json_object_new_string(level_name(c->log_level)));
	json_object_object_add(
	    o, "default_policy",
	    json_object_new_string(c->policy.default_policy));
	config_access_json(&c->access, o);
	config_limits_json(&c->limits, o);
	config_policy_json(&c->policy, o);
	config_images_json(&c->images, o);
	return o;
}

/* Add name to the list in buf if a and b differ there. */
static void differs(int diff, const char *name, char *buf, size_t len)
{
	size_t n = strlen(buf);

	if (diff && n < len)
		snprintf(buf + n, len - n, "%s%s", n ? ", " : "", name);
}

/* Member by member: the padding and the bytes after the store's NUL are
 * not the configuration's. */
static int images_differ(const struct config_images *a,
			 const struct config_images *b)
{
	return strcmp(a->store, b->store) || a->fetch_size != b->fetch_size ||
	       a->fault_timeout_ms != b->fault_timeout_ms ||
	       a->keep_s != b->keep_s || a->budget != b->budget ||
	       a->prefetch_inflight != b->prefetch_inflight ||
	       a->map_window != b->map_window;
}

const char *config_restart_keys(const struct config *run,
				const struct config *next, char *buf,
				size_t len)
{
	const struct config_sockets *a = &run->sock, *b = &next->sock;

	buf[0] = '\0';
	differs(strcmp(a->data_path, b->data_path), "socket", buf, len);
	differs(strcmp(a->control_path, b->control_path), "control_socket", buf,
		len);
	differs(a->data_mode != b->data_mode, "socket_mode", buf, len);
	differs(a->control_mode != b->control_mode, "control_socket_mode", buf,
		len);
	differs(a->data_uid != b->data_uid, "socket_owner", buf, len);
	differs(a->data_gid != b->data_gid, "socket_group", buf, len);
	differs(a->control_uid != b->control_uid, "control_socket_owner", buf,
		len);
	differs(a->control_gid != b->control_gid, "control_socket_group", buf,
		len);
	differs(run->work.n != next->work.n, "workers", buf, len);
	differs(run->work.placement != next->work.placement, "placement", buf,
		len);
	/* The image cache is made once, at start. */
	differs(images_differ(&run->images, &next->images), "images", buf, len);
	return buf;
}
