/* SPDX-License-Identifier: MIT */
/*
 * The policy part of the configuration:
 *
 *   "default_policy": "continue",
 *   "client_policies": ["continue", "around", "populate", ...],
 *   "policy_dir": "/var/lib/uffdd",
 *   "policy_rules": [
 *     { "match": { "uid": 1000, "gid": 100,
 *                  "exe": "/usr/bin/qemu-system-*",
 *                  "unit": "/system.slice/vm@*.service",
 *                  "region": "guest-*" },
 *       "policy": "populate:/var/lib/uffdd/vm.img+around:16",
 *       "client_policies": ["continue"] }
 *   ]
 *
 * The files a configured policy names are under policy_dir (the daemon
 * opens them there without following links); "#N" is a client's file and
 * has no place here.  What the rules mean at REGISTER is rules.c's.
 */
#include "keys.h"
#include "policy/policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char *const config_policy_keys[] = { "default_policy", "client_policies",
					   "policy_dir", "policy_rules", NULL };
static const char *const rule_keys[] = { "match", "policy", "client_policies",
					 NULL };
static const char *const match_keys[] = { "uid",  "gid",    "exe",
					  "unit", "region", NULL };

void config_policy_defaults(struct config_policies *c)
{
	snprintf(c->default_policy, sizeof(c->default_policy), "continue");
	c->client_policies = policy_client_default();
	snprintf(c->dir, sizeof(c->dir), "%s", UFFDD_DEFAULT_POLICY_DIR);
	c->nrules = 0;
}

/* A spec, checked as a policy could be made from it. */
static int spec(const struct cfg_ctx *x, const char *key, json_object *v,
		char *dst, size_t size)
{
	char perr[256];

	if (cfg_str(x, key, v, dst, size, 0) < 0)
		return -EINVAL;
	if (policy_check(dst, perr, sizeof(perr)) < 0)
		return cfg_fail(x, key, "%s", perr);
	return 0;
}

static int parse_names(const struct cfg_ctx *x, const char *key, json_object *v,
		       uint32_t *bits)
{
	if (!json_object_is_type(v, json_type_array))
		return cfg_fail(x, key,
				"expected an array of policy names (%s)",
				policy_names());
	*bits = 0;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i);
		const char *n;
		uint32_t b;

		if (!json_object_is_type(e, json_type_string))
			return cfg_fail(x, key,
					"item %zu: expected a policy name", i);
		n = json_object_get_string(e);
		b = policy_bit(n, strlen(n));
		if (!b)
			return cfg_fail(x, key,
					"item %zu: unknown policy \"%.40s\" "
					"(known: %s)",
					i, n, policy_names());
		*bits |= b;
	}
	return 0;
}

static int parse_dir(struct config_policies *c, const struct cfg_ctx *x,
		     const char *key, json_object *v)
{
	char dir[sizeof(c->dir)] = "";

	if (cfg_str(x, key, v, dir, sizeof(dir), 0) < 0)
		return -EINVAL;
	if (dir[0] != '/' || strstr(dir, "/../") || strstr(dir, "/./"))
		return cfg_fail(x, key,
				"\"%s\" is not an absolute path without . or "
				"..",
				dir);
	memcpy(c->dir, dir, sizeof(dir));
	return 0;
}

/* An identity glob of a rule: the full path the kernel reports. */
static int parse_path_glob(const struct cfg_ctx *x, const char *key,
			   json_object *v, char *dst, size_t size,
			   const char *example)
{
	if (cfg_str(x, key, v, dst, size, 1) < 0)
		return -EINVAL;
	if (dst[0] && dst[0] != '/')
		return cfg_fail(x, key,
				"\"%s\" is not a full path; a rule matches the "
				"full path the kernel reports, e.g. %s (a bare "
				"name would match any copy or namesake)",
				dst, example);
	return 0;
}

static int parse_match(struct policy_rule *r, const struct cfg_ctx *x,
		       const char *pfx, json_object *o)
{
	char key[192];
	int64_t id = -1;

	if (cfg_object(x, pfx, o) < 0)
		return -EINVAL;
	json_object_object_foreach (o, k, v) {
		int rc;

		snprintf(key, sizeof(key), "%s.%s", pfx, k);
		if (!strcmp(k, "uid") || !strcmp(k, "gid")) {
			rc = cfg_owner(x, key, v, k[0] == 'g', &id);
			*(k[0] == 'u' ? &r->uid : &r->gid) = id;
		} else if (!strcmp(k, "exe")) {
			rc = parse_path_glob(x, key, v, r->exe, sizeof(r->exe),
					     "/usr/bin/qemu-system-*");
		} else if (!strcmp(k, "unit")) {
			rc =
			    parse_path_glob(x, key, v, r->unit, sizeof(r->unit),
					    "/system.slice/vm@*.service");
		} else if (!strcmp(k, "region")) {
			rc =
			    cfg_str(x, key, v, r->region, sizeof(r->region), 1);
		} else {
			rc = cfg_unknown(x, key, k, match_keys);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_rule(struct policy_rule *r, const struct cfg_ctx *x,
		      size_t idx, json_object *o)
{
	char key[96];

	memset(r, 0, sizeof(*r));
	r->uid = r->gid = -1;
	snprintf(key, sizeof(key), "policy_rules[%zu]", idx);
	if (cfg_object(x, key, o) < 0)
		return -EINVAL;
	json_object_object_foreach (o, k, v) {
		char sub[128];
		int rc;

		snprintf(sub, sizeof(sub), "%s.%s", key, k);
		if (!strcmp(k, "match")) {
			rc = parse_match(r, x, sub, v);
		} else if (!strcmp(k, "policy")) {
			rc = spec(x, sub, v, r->policy, sizeof(r->policy));
		} else if (!strcmp(k, "client_policies")) {
			rc = parse_names(x, sub, v, &r->may);
			r->has_may = 1;
		} else {
			rc = cfg_unknown(x, sub, k, rule_keys);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_rules(struct config_policies *c, const struct cfg_ctx *x,
		       const char *key, json_object *v)
{
	int n = cfg_array(x, key, v, CONFIG_MAX_RULES, "rules");

	if (n < 0)
		return n;
	c->nrules = 0;
	for (int i = 0; i < n; i++) {
		if (parse_rule(&c->rules[i], x, (size_t)i,
			       json_object_array_get_idx(v, i)) < 0)
			return -EINVAL;
		c->nrules++;
	}
	return 0;
}

int config_policy_key(struct config_policies *c, const struct cfg_ctx *x,
		      const char *key, json_object *v)
{
	int rc;

	if (!strcmp(key, "default_policy"))
		rc = spec(x, key, v, c->default_policy,
			  sizeof(c->default_policy));
	else if (!strcmp(key, "client_policies"))
		rc = parse_names(x, key, v, &c->client_policies);
	else if (!strcmp(key, "policy_dir"))
		rc = parse_dir(c, x, key, v);
	else if (!strcmp(key, "policy_paths"))
		rc = cfg_fail(x, key,
			      "is gone: a client passes the files of its "
			      "policy as descriptors it opened itself, and the "
			      "daemon opens no path a client names; files of "
			      "the configuration's own policies go under "
			      "policy_dir (docs/policies.md)");
	else if (!strcmp(key, "policy_rules"))
		rc = parse_rules(c, x, key, v);
	else
		return 0;
	return rc < 0 ? rc : 1;
}

/* The file arguments of a configured spec: paths under policy_dir. */
struct spec_files {
	const struct config_policies *c;
	const char *bad; /* why, once one is wrong */
	char arg[256];
};

static void spec_file(const struct policy_ops *ops, void *state, void *arg)
{
	struct spec_files *f = arg;
	const char *file;

	if (f->bad || !(ops->flags & POLICY_F_FILE))
		return;
	file = policy_file(ops, state);
	snprintf(f->arg, sizeof(f->arg), "%s", file);
	if (policy_file_index(file) >= 0)
		f->bad = "names a client's file (#N): the configuration "
			 "names files by path";
	else if (!policy_path_under(f->c->dir, file))
		f->bad = "is not a path under policy_dir";
}

static int check_spec(const struct config_policies *c, const struct cfg_ctx *x,
		      const char *key, const char *spec)
{
	struct spec_files f = { .c = c };
	struct policy *p;
	char err[256];

	if (!spec[0])
		return 0;
	if (policy_create(spec, &p, err, sizeof(err)) < 0)
		return cfg_fail(x, key, "%s", err);
	policy_each(p, spec_file, &f);
	policy_destroy(p);
	if (f.bad)
		return cfg_fail(x, key, "file \"%s\" %s (%s)", f.arg, f.bad,
				c->dir);
	return 0;
}

int config_policy_check(const struct config_policies *c,
			const struct cfg_ctx *x)
{
	char key[64];

	if (check_spec(c, x, "default_policy", c->default_policy) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < c->nrules; i++) {
		snprintf(key, sizeof(key), "policy_rules[%u].policy", i);
		if (check_spec(c, x, key, c->rules[i].policy) < 0)
			return -EINVAL;
	}
	return 0;
}

/* Policy bits as an array of names. */
static json_object *names_json(uint32_t bits)
{
	json_object *a = json_object_new_array();
	char buf[256], *save = NULL;

	if (!bits)
		return a;
	policy_bit_names(bits, buf, sizeof(buf));
	for (char *w = strtok_r(buf, " ", &save); w;
	     w = strtok_r(NULL, " ", &save))
		json_object_array_add(a, json_object_new_string(w));
	return a;
}

static json_object *rule_json(const struct policy_rule *r)
{
	json_object *o = json_object_new_object(),
		    *m = json_object_new_object();

	if (r->uid >= 0)
		json_object_object_add(m, "uid", json_object_new_int64(r->uid));
	if (r->gid >= 0)
		json_object_object_add(m, "gid", json_object_new_int64(r->gid));
	if (r->exe[0])
		json_object_object_add(m, "exe",
				       json_object_new_string(r->exe));
	if (r->unit[0])
		json_object_object_add(m, "unit",
				       json_object_new_string(r->unit));
	if (r->region[0])
		json_object_object_add(m, "region",
				       json_object_new_string(r->region));
	json_object_object_add(o, "match", m);
	if (r->policy[0])
		json_object_object_add(o, "policy",
				       json_object_new_string(r->policy));
	if (r->has_may)
		json_object_object_add(o, "client_policies",
				       names_json(r->may));
	return o;
}

void config_policy_json(const struct config_policies *c, json_object *o)
{
	json_object *rules = json_object_new_array();

	json_object_object_add(o, "client_policies",
			       names_json(c->client_policies));
	json_object_object_add(o, "policy_dir", json_object_new_string(c->dir));
	for (unsigned i = 0; i < c->nrules; i++)
		json_object_array_add(rules, rule_json(&c->rules[i]));
	json_object_object_add(o, "policy_rules", rules);
}
