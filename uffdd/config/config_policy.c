/* SPDX-License-Identifier: MIT */
/*
 * The policy part of the configuration and its use at REGISTER:
 *
 *   "client_policies": ["continue", "around", "gate", "deny"],
 *   "policy_paths": ["/var/lib/uffdd"],
 *   "policy_rules": [
 *     { "match": { "uid": 1000, "gid": 100, "exe": "qemu-*",
 *                  "unit": "vm@*.service", "region": "guest-*" },
 *       "policy": "populate:/var/lib/uffdd/vm.img+around:16",
 *       "client_policies": ["continue"] }
 *   ]
 *
 * A client may ask for a policy itself only if every stage of it is in
 * its client_policies (the matching rule's, else the global list), and a
 * stage that uses a file only if the file resolves under policy_paths
 * (the daemon opens it with its own privileges).  Rules are the
 * administrator's: their policies are not checked against either list.
 */
#include "config.h"
#include "core/peer.h"
#include "policy/policy.h"
#include "rules.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void config_policy_defaults(struct config *c)
{
	static const char *const safe[] = { "continue", "around", "gate",
					    "deny", "eager" };

	c->client_policies = 0;
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		c->client_policies |= policy_bit(safe[i], strlen(safe[i]));
	c->npaths = 0;
	c->nrules = 0;
}

static int parse_names(json_object *v, uint32_t *bits, const char *origin,
		       const char *key, char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_array))
		return config_key_error(err, errlen, origin, key,
			     "expected an array of policy names (%s)",
			     policy_names());
	*bits = 0;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i);
		const char *n;
		uint32_t b;

		if (!json_object_is_type(e, json_type_string))
			return config_key_error(err, errlen, origin, key,
				     "item %zu: expected a policy name", i);
		n = json_object_get_string(e);
		b = policy_bit(n, strlen(n));
		if (!b)
			return config_key_error(err, errlen, origin, key,
				     "item %zu: unknown policy \"%.40s\" "
				     "(known: %s)", i, n, policy_names());
		*bits |= b;
	}
	return 0;
}

static int get_str(json_object *v, char *dst, size_t size, const char *origin,
		   const char *key, char *err, size_t errlen)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return config_key_error(err, errlen, origin, key, "expected a string");
	s = json_object_get_string(v);
	if (strlen(s) >= size)
		return config_key_error(err, errlen, origin, key,
			     "longer than %zu bytes", size - 1);
	snprintf(dst, size, "%s", s);
	return 0;
}

static int get_id(json_object *v, int64_t *out, const char *origin,
		  const char *key, char *err, size_t errlen)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return config_key_error(err, errlen, origin, key,
			     "expected a numeric id");
	errno = 0;
	i = json_object_get_int64(v);
	if (errno || i < 0 || i >= UINT32_MAX)
		return config_key_error(err, errlen, origin, key, "out of range");
	*out = i;
	return 0;
}

static int parse_match(json_object *o, struct policy_rule *r,
		       const char *origin, const char *pfx, char *err,
		       size_t errlen)
{
	char key[192];

	if (!json_object_is_type(o, json_type_object))
		return config_key_error(err, errlen, origin, pfx, "expected an object");
	json_object_object_foreach(o, k, v)
	{
		int rc;

		snprintf(key, sizeof(key), "%s.%s", pfx, k);
		if (strcmp(k, "uid") == 0)
			rc = get_id(v, &r->uid, origin, key, err, errlen);
		else if (strcmp(k, "gid") == 0)
			rc = get_id(v, &r->gid, origin, key, err, errlen);
		else if (strcmp(k, "exe") == 0)
			rc = get_str(v, r->exe, sizeof(r->exe), origin, key,
				     err, errlen);
		else if (strcmp(k, "unit") == 0)
			rc = get_str(v, r->unit, sizeof(r->unit), origin, key,
				     err, errlen);
		else if (strcmp(k, "region") == 0)
			rc = get_str(v, r->region, sizeof(r->region), origin,
				     key, err, errlen);
		else
			rc = config_key_error(err, errlen, origin, key,
				   "unknown key (uid, gid, exe, unit, region)");
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_rule(json_object *o, struct policy_rule *r, const char *origin,
		      size_t idx, char *err, size_t errlen)
{
	char key[96], perr[200];

	memset(r, 0, sizeof(*r));
	r->uid = r->gid = -1;
	snprintf(key, sizeof(key), "policy_rules[%zu]", idx);
	if (!json_object_is_type(o, json_type_object))
		return config_key_error(err, errlen, origin, key, "expected an object");
	json_object_object_foreach(o, k, v)
	{
		char sub[128];
		int rc;

		snprintf(sub, sizeof(sub), "%s.%s", key, k);
		if (strcmp(k, "match") == 0) {
			rc = parse_match(v, r, origin, sub, err, errlen);
		} else if (strcmp(k, "policy") == 0) {
			rc = get_str(v, r->policy, sizeof(r->policy), origin,
				     sub, err, errlen);
			if (!rc && policy_check(r->policy, perr,
						sizeof(perr)) < 0)
				rc = config_key_error(err, errlen, origin, sub, "%s", perr);
		} else if (strcmp(k, "client_policies") == 0) {
			rc = parse_names(v, &r->may, origin, sub, err, errlen);
			r->has_may = 1;
		} else {
			rc = config_key_error(err, errlen, origin, sub,
				   "unknown key (match, policy, "
				   "client_policies)");
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int config_policy_key(struct config *c, const char *origin, const char *key,
		      json_object *v, char *err, size_t errlen)
{
	if (strcmp(key, "client_policies") == 0)
		return parse_names(v, &c->client_policies, origin, key, err,
				   errlen) < 0 ? -EINVAL : 1;
	if (strcmp(key, "policy_paths") == 0) {
		if (!json_object_is_type(v, json_type_array))
			return config_key_error(err, errlen, origin, key,
				     "expected an array of directories");
		if (json_object_array_length(v) > CONFIG_MAX_PATHS)
			return config_key_error(err, errlen, origin, key,
				     "more than %d directories",
				     CONFIG_MAX_PATHS);
		c->npaths = 0;
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			char *p = c->policy_paths[c->npaths];

			if (get_str(json_object_array_get_idx(v, i), p,
				    sizeof(c->policy_paths[0]), origin, key,
				    err, errlen) < 0)
				return -EINVAL;
			if (p[0] != '/')
				return config_key_error(err, errlen, origin, key,
					     "item %zu: \"%s\" is not an "
					     "absolute path", i, p);
			c->npaths++;
		}
		return 1;
	}
	if (strcmp(key, "policy_rules") == 0) {
		size_t n;

		if (!json_object_is_type(v, json_type_array))
			return config_key_error(err, errlen, origin, key,
				     "expected an array of rules");
		n = json_object_array_length(v);
		if (n > CONFIG_MAX_RULES)
			return config_key_error(err, errlen, origin, key,
				     "more than %d rules", CONFIG_MAX_RULES);
		c->nrules = 0;
		for (size_t i = 0; i < n; i++) {
			if (parse_rule(json_object_array_get_idx(v, i),
				       &c->rules[i], origin, i, err,
				       errlen) < 0)
				return -EINVAL;
			c->nrules++;
		}
		return 1;
	}
	return 0;
}

static int glob_ok(const char *pat, const char *s)
{
	return !pat[0] || fnmatch(pat, s, 0) == 0;
}

static const struct policy_rule *match(const struct config *c,
				       const struct session *s,
				       const char *name)
{
	for (unsigned i = 0; i < c->nrules; i++) {
		const struct policy_rule *r = &c->rules[i];

		if ((r->uid < 0 || r->uid == (int64_t)s->uid) &&
		    (r->gid < 0 || r->gid == (int64_t)s->gid) &&
		    glob_ok(r->exe, s->exe) && glob_ok(r->unit, s->unit) &&
		    glob_ok(r->region, name))
			return r;
	}
	return NULL;
}

struct file_check {
	const struct config *c;
	const char *bad; /* the first file outside policy_paths */
	char resolved[PATH_MAX];
};

static int under(const struct config *c, const char *path)
{
	for (unsigned i = 0; i < c->npaths; i++) {
		char dir[PATH_MAX];
		size_t n;

		if (!realpath(c->policy_paths[i], dir))
			continue;
		n = strlen(dir);
		if (strncmp(path, dir, n) == 0 &&
		    (path[n] == '/' || (n == 1 && dir[0] == '/')))
			return 1;
	}
	return 0;
}

/*
 * The file must resolve (links followed) under a policy_paths directory.
 * A file that does not exist yet (record) is judged by its directory.
 */
static void check_file(const struct policy_ops *ops, void *state, void *arg)
{
	struct file_check *fc = arg;
	const char *path;
	char dir[PATH_MAX], *slash;

	if (fc->bad || !(ops->flags & POLICY_F_FILE) || !ops->file)
		return;
	path = ops->file(state);
	if (realpath(path, fc->resolved)) {
		if (!under(fc->c, fc->resolved))
			fc->bad = path;
		return;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (!realpath(dir[0] ? dir : "/", fc->resolved) ||
	    !under(fc->c, strcat(fc->resolved, "/")))
		fc->bad = path;
}

int rules_choose(struct daemon *d, const struct session *s, const char *name,
		 const char *requested, char *out, size_t outlen, char *err,
		 size_t errlen)
{
	const struct config *c = &d->cfg;
	const struct policy_rule *r;
	struct policy *p;
	struct file_check fc = { .c = c };
	uint32_t may, bits;
	char names[160];
	int rc = 0;

	/* Workers call this under d->cfg_lock (a reload swaps d->cfg). */
	r = match(c, s, name);
	if (!requested[0]) {
		snprintf(out, outlen, "%s",
			 r && r->policy[0] ? r->policy : c->default_policy);
		goto done;
	}
	rc = policy_create(requested, &p, err, errlen);
	if (rc < 0)
		goto done;
	may = r && r->has_may ? r->may : c->client_policies;
	bits = policy_bits(p);
	if (bits & ~may) {
		char asked[160];

		snprintf(err, errlen,
			 "policy %s not permitted for this client (it may ask "
			 "for: %s; see client_policies)",
			 policy_bit_names(bits & ~may, asked, sizeof(asked)),
			 policy_bit_names(may, names, sizeof(names)));
		rc = -EPERM;
	} else {
		policy_each(p, check_file, &fc);
		if (fc.bad) {
			snprintf(err, errlen,
				 "file %.60s is outside the directories a "
				 "client may name (policy_paths)", fc.bad);
			rc = -EPERM;
		}
	}
	policy_destroy(p);
	if (!rc)
		snprintf(out, outlen, "%s", requested);
done:
	return rc;
}

void client_identity(pid_t pid, char *exe, size_t exelen, char *unit,
		     size_t unitlen)
{
	char path[64], buf[PATH_MAX], line[1024];
	ssize_t n;
	FILE *f;

	exe[0] = unit[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		const char *b;

		buf[n] = '\0';
		b = strrchr(buf, '/');
		snprintf(exe, exelen, "%s", b ? b + 1 : buf);
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		/* The unified hierarchy's line, "0::/system.slice/x.service". */
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		unit_of_cgroup_path(line + 3, unit, unitlen);
	}
	fclose(f);
}

