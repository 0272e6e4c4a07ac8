/* SPDX-License-Identifier: MIT */
/*
 * A client may ask for a policy itself only if every stage of it is in
 * its client_policies (the matching rule's, else the global list), and a
 * stage that uses a file only if the file resolves under policy_paths
 * (the daemon opens it with its own privileges).  Rules are the
 * administrator's: their policies are not checked against either list.
 */
#include "rules.h"
#include "policy/policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int glob_ok(const char *pat, const char *s)
{
	return !pat[0] || fnmatch(pat, s, 0) == 0;
}

static const struct policy_rule *match(const struct config_policies *c,
				       const struct rules_client *who,
				       const char *name)
{
	for (unsigned i = 0; i < c->nrules; i++) {
		const struct policy_rule *r = &c->rules[i];

		if ((r->uid < 0 || r->uid == (int64_t)who->uid) &&
		    (r->gid < 0 || r->gid == (int64_t)who->gid) &&
		    glob_ok(r->exe, who->exe) && glob_ok(r->unit, who->unit) &&
		    glob_ok(r->region, name))
			return r;
	}
	return NULL;
}

struct file_check {
	const struct config_policies *c;
	const char *bad; /* the first file outside policy_paths */
	char resolved[PATH_MAX];
};

static int under(const struct config_policies *c, const char *path)
{
	for (unsigned i = 0; i < c->npaths; i++) {
		char dir[PATH_MAX];
		size_t n;

		if (!realpath(c->paths[i], dir))
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

	if (fc->bad || !(ops->flags & POLICY_F_FILE))
		return;
	path = policy_file(ops, state);
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

/* May a client limited to `may` ask for spec?  0 or -EPERM/-EINVAL. */
static int may_ask(const struct config_policies *c, uint32_t may,
		   const char *spec, char *err, size_t errlen)
{
	struct file_check fc = { .c = c };
	char asked[160], names[160];
	struct policy *p;
	uint32_t bits;
	int rc = policy_create(spec, &p, err, errlen);

	if (rc < 0)
		return rc;
	bits = policy_bits(p);
	if (bits & ~may) {
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
				 "client may name (policy_paths)",
				 fc.bad);
			rc = -EPERM;
		}
	}
	policy_destroy(p);
	return rc;
}

int rules_choose(const struct config_policies *c,
		 const struct rules_client *who, const char *name,
		 const char *requested, char *out, size_t outlen, char *err,
		 size_t errlen)
{
	const struct policy_rule *r = match(c, who, name);
	int rc;

	if (!requested[0]) {
		snprintf(out, outlen, "%s",
			 r && r->policy[0] ? r->policy : c->default_policy);
		return 0;
	}
	rc = may_ask(c, r && r->has_may ? r->may : c->client_policies,
		     requested, err, errlen);
	if (rc == 0)
		snprintf(out, outlen, "%s", requested);
	return rc;
}
