/* SPDX-License-Identifier: MIT */
/*
 * A client may ask for a policy itself only if every stage of it is in
 * its client_policies (the matching rule's, else the global list), and it
 * names every file of it by a descriptor it passed ("#N"), each once: a
 * path from a client is never opened.  Rules are the administrator's:
 * their policies are not checked against either list.
 *
 * A rule's exe and unit are globs on full paths ('*' stops at '/'), matched
 * against what the kernel reports (peer.c): the executable's path, checked
 * to be the very file the process runs, and the full cgroup path of its
 * unit, so that a user's unit never passes for a system unit of that name.
 */
#include "rules.h"
#include "policy/policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int glob_ok(const char *pat, const char *s)
{
	return !pat[0] || fnmatch(pat, s, 0) == 0;
}

/* An identity glob: "" matches anyone; else s must be known and match
 * with '*' inside one path component. */
static int path_glob_ok(const char *pat, const char *s)
{
	return !pat[0] || (s && s[0] && fnmatch(pat, s, FNM_PATHNAME) == 0);
}

static const struct policy_rule *match(const struct config_policies *c,
				       const struct rules_client *who,
				       const char *name)
{
	for (unsigned i = 0; i < c->nrules; i++) {
		const struct policy_rule *r = &c->rules[i];

		if ((r->uid < 0 || r->uid == (int64_t)who->uid) &&
		    (r->gid < 0 || r->gid == (int64_t)who->gid) &&
		    path_glob_ok(r->exe, who->exe) &&
		    path_glob_ok(r->unit, who->unit) &&
		    glob_ok(r->region, name))
			return r;
	}
	return NULL;
}

struct file_check {
	unsigned nfiles; /* the client passed this many */
	unsigned used;	 /* bit n: #n is named */
	const char *bad; /* why, once a file is wrong */
	char arg[64];
};

/* A client's file argument: "#N", a descriptor it passed, named once. */
static void check_file(const struct policy_ops *ops, void *state, void *arg)
{
	struct file_check *fc = arg;
	const char *file;
	int n;

	if (fc->bad || !(ops->flags & POLICY_F_FILE))
		return;
	file = policy_file(ops, state);
	snprintf(fc->arg, sizeof(fc->arg), "%s", file);
	n = policy_file_index(file);
	if (n < 0)
		fc->bad = "is a path: a client passes its files as "
			  "descriptors and names them #N (the daemon opens no "
			  "path a client names; libuffdclient does this)";
	else if ((unsigned)n >= fc->nfiles)
		fc->bad = "names a descriptor the message does not carry";
	else if (fc->used & (1u << n))
		fc->bad = "is named twice";
	else
		fc->used |= 1u << n;
}

int rules_client_files(const struct policy *p, unsigned nfiles, char *err,
		       size_t errlen)
{
	struct file_check fc = { .nfiles = nfiles };

	policy_each(p, check_file, &fc);
	if (fc.bad) {
		snprintf(err, errlen, "file %.40s %s", fc.arg, fc.bad);
		return fc.arg[0] == '#' ? -EBADF : -EPERM;
	}
	if (fc.used != (1u << nfiles) - 1) {
		snprintf(err, errlen,
			 "%u files passed, but the policy names only some of "
			 "them",
			 nfiles);
		return -EBADF;
	}
	return 0;
}

/* May a client limited to `may` ask for spec?  0 or -EPERM/-EINVAL. */
static int may_ask(uint32_t may, unsigned nfiles, const char *spec, char *err,
		   size_t errlen)
{
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
		rc = rules_client_files(p, nfiles, err, errlen);
	}
	policy_destroy(p);
	return rc;
}

int rules_choose(const struct config_policies *c,
		 const struct rules_client *who, const char *name,
		 const char *requested, unsigned nfiles, char *out,
		 size_t outlen, char *err, size_t errlen)
{
	const struct policy_rule *r = match(c, who, name);
	int rc;

	if (!requested[0]) {
		if (nfiles) {
			snprintf(err, errlen,
				 "%u files passed with no policy to use them",
				 nfiles);
			return -EBADF;
		}
		snprintf(out, outlen, "%s",
			 r && r->policy[0] ? r->policy : c->default_policy);
		return 0;
	}
	rc = may_ask(r && r->has_may ? r->may : c->client_policies, nfiles,
		     requested, err, errlen);
	if (rc == 0)
		snprintf(out, outlen, "%s", requested);
	return rc;
}
