/* SPDX-License-Identifier: MIT */
/*
 * publish and policy on the control socket.  The main thread finds the
 * region (by id, or by name when that is unique) and checks the caller;
 * the change itself runs on the region's worker (wcall), which alone may
 * touch the region's policy.  A new policy's files come with the request as
 * descriptors uffdctl opened with its caller's rights ("#N"), as in
 * REGISTER: an administrator's group member gets no more than it could
 * open itself.
 */
#include "commands.h"
#include "config/rules.h"
#include "core/access.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/pagestate.h"
#include "core/session.h"
#include "core/wcall.h"
#include "core/worker.h"
#include "policy/policy.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CALL_TIMEOUT_MS 5000

struct job {
	uint64_t sid, rid;
	uint64_t off, len;
	char spec[UFFDD_POLICY_LEN];
	char err[200];
	int fds[UFFDD_MAX_FILES]; /* the new policy's files: do_policy's */
	int nfds;
};

static void close_files(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* On the worker: the region the job names, or NULL (err set). */
static struct region *job_region(struct worker *w, struct job *j,
				 struct session **s)
{
	struct region *r;

	*s = session_find(w, j->sid);
	r = *s ? region_by_id(&(*s)->regions, j->rid) : NULL;
	if (!r)
		snprintf(j->err, sizeof(j->err), "the region has gone");
	return r;
}

static int do_publish(struct worker *w, void *arg)
{
	struct job *j = arg;
	struct session *s;
	struct region *r = job_region(w, j, &s);

	if (!r)
		return -ENOENT;
	return policy_publish(&r->v, j->off, j->len, j->err, sizeof(j->err));
}

/* np on r, with the job's files in place of r's; 0 or -errno. */
static int swap_policy(struct region *r, struct policy *np, struct job *j)
{
	struct worker *w = r->s->w;
	struct policy *old = r->v.pol;
	int old_files[UFFDD_MAX_FILES], old_n = r->nfiles, rc;

	memcpy(old_files, r->files, sizeof(old_files));
	memcpy(r->files, j->fds, sizeof(int) * (size_t)j->nfds);
	r->nfiles = j->nfds;
	/* Status reads the policy under the worker's lock. */
	worker_lock(w);
	r->v.pol = np;
	worker_unlock(w);
	rc = policy_attach(np, &r->v, j->err, sizeof(j->err));
	if (rc < 0) {
		worker_lock(w);
		r->v.pol = old;
		worker_unlock(w);
		memcpy(r->files, old_files, sizeof(old_files));
		r->nfiles = old_n;
		close_files(j->fds, j->nfds);
		return rc;
	}
	close_files(old_files, old_n);
	/* The old instance lets its held faults go (the new one prepares). */
	policy_release(old, &r->v);
	return 0;
}

static int do_policy(struct worker *w, void *arg)
{
	struct job *j = arg;
	struct session *s;
	struct region *r = job_region(w, j, &s);
	struct policy_takeover t;
	struct policy *np;
	int rc, n = j->nfds;

	j->nfds = 0; /* ours from here on, whatever happens */
	rc = r ? policy_create(j->spec, &np, j->err, sizeof(j->err)) : -ENOENT;
	if (rc == 0 && r->ps && page_state_is_image(r->ps)) {
		/* Every byte of it is the image's: nothing else may serve. */
		snprintf(j->err, sizeof(j->err),
			 "an image's region keeps the image policy");
		policy_destroy(np);
		rc = -EPERM;
	} else if (rc == 0 && (policy_flags(np) & POLICY_F_CONTENT) && !r->ps) {
		/* Its client closed its uffd: it could not take over. */
		snprintf(j->err, sizeof(j->err),
			 "%.40s makes contents; the region was registered "
			 "without such a policy (its client would have to "
			 "register it again)",
			 j->spec);
		policy_destroy(np);
		rc = -EPERM;
	}
	if (rc < 0) {
		close_files(j->fds, n);
		return rc;
	}
	j->nfds = n;
	rc = swap_policy(r, np, j);
	j->nfds = 0;
	if (rc < 0)
		return rc;
	if (r->ps) {
		policy_takeover(np, &t);
		page_state_set_rules(r->ps, &t);
	}
	/* A restarted daemon must come back with the new policy. */
	session_keep_region(s, r, 1);
	log_client(LOG_NOTICE, &s->who, r->v.id,
		   "client %d region %s: policy changed to %s by uffdctl",
		   (int)s->who.pid, r->name, np->spec);
	return 0;
}

/* What locate looks for, and what it found. */
struct hunt {
	const char *want;
	struct job *j;
	const struct policy *first; /* the first match's policy instance */
	unsigned found;
	int by_id;
	uid_t owner;
};

/*
 * A region is named by its id, or by a name no other region has.  A
 * forked child's copy of a region shares the region's policy instance:
 * those count as one region, and the parent's (the first: parents come
 * before their children in a worker's list) is taken.
 */
static void hunt_session(struct session *s, void *arg)
{
	struct hunt *h = arg;
	char id[20];

	for (size_t k = 0; k < s->regions.n && !h->by_id; k++) {
		struct region *r = s->regions.v[k];

		snprintf(id, sizeof(id), "%016" PRIx64, r->v.id);
		h->by_id = strcmp(id, h->want) == 0;
		if (!h->by_id && strcmp(r->name, h->want))
			continue;
		if (!h->by_id && h->found && r->v.pol == h->first)
			continue; /* a fork copy */
		if (h->by_id || !h->found) {
			h->j->sid = s->id;
			h->j->rid = r->v.id;
			h->owner = s->who.uid;
		}
		if (!h->first)
			h->first = r->v.pol;
		h->found = h->by_id ? 1 : h->found + 1;
	}
}

/* The worker of the region named want (into j), or an error answer. */
static json_object *locate(struct daemon *d, const char *want, struct job *j,
			   struct worker **wout, uid_t *owner)
{
	struct hunt h = { .want = want, .j = j };

	for (int i = 0; i < workers_count(d->workers) && !h.by_id; i++) {
		unsigned before = h.found;

		sessions_each(worker_at(d->workers, i), hunt_session, &h);
		if (h.by_id || (h.found && !before))
			*wout = worker_at(d->workers, i);
	}
	*owner = h.owner;
	if (!h.found)
		return control_error(
		    "no region \"%.64s\" (see uffdctl regions)", want);
	if (h.found > 1)
		return control_error("%u regions are named \"%.64s\": name one "
				     "by its id (see uffdctl regions)",
				     h.found, want);
	return NULL;
}

static int get_u64(json_object *req, const char *key, uint64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v))
		return -1;
	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		if (i < 0)
			return -1;
		*out = (uint64_t)i;
		return 0;
	}
	if (json_object_is_type(v, json_type_string))
		return policy_parse_u64(json_object_get_string(v), out);
	return -1;
}

/* The spec in j names the request's descriptors, "#N", and no path. */
static json_object *check_files(struct job *j, const struct control_fds *f)
{
	struct policy *p;

	if (policy_create(j->spec, &p, j->err, sizeof(j->err)) < 0)
		return control_error("%s", j->err);
	if (rules_client_files(p, (unsigned)f->n, j->err, sizeof(j->err)) < 0) {
		policy_destroy(p);
		return control_error("%s (uffdctl opens the files it is "
				     "given and passes them)",
				     j->err);
	}
	policy_destroy(p);
	return NULL;
}

/* The request's arguments into j; an error answer if they are wrong. */
static json_object *arguments(const char *cmd, int publish, json_object *req,
			      struct job *j, const struct control_fds *f)
{
	json_object *v;

	if (publish) {
		if (get_u64(req, "offset", &j->off) < 0 ||
		    get_u64(req, "length", &j->len) < 0)
			return control_error("publish needs \"offset\" and "
					     "\"length\" in bytes");
		return NULL;
	}
	if (!json_object_object_get_ex(req, "policy", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) >= sizeof(j->spec))
		return control_error("%s needs \"policy\": a policy spec (%s)",
				     cmd, policy_names());
	snprintf(j->spec, sizeof(j->spec), "%s", json_object_get_string(v));
	return check_files(j, f);
}

static json_object *done(const struct job *j, int publish)
{
	json_object *out = json_object_new_object();
	char id[20];

	json_object_object_add(out, "ok", json_object_new_boolean(1));
	snprintf(id, sizeof(id), "%016" PRIx64, j->rid);
	json_object_object_add(out, "region", json_object_new_string(id));
	if (!publish)
		json_object_object_add(out, "policy",
				       json_object_new_string(j->spec));
	return out;
}

/* Checks done: run the job on w, with f's descriptors for a policy. */
static json_object *run_job(struct worker *w, int publish, struct job *j,
			    struct control_fds *f)
{
	int rc;

	if (!publish) {
		memcpy(j->fds, f->fd, sizeof(int) * (size_t)f->n);
		j->nfds = f->n;
		f->n = 0; /* the job's now */
	}
	rc = wcall(w, publish ? do_publish : do_policy, j, sizeof(*j),
		   CALL_TIMEOUT_MS);
	/* Not run at all: the descriptors are still here.  Timed out: the
	 * worker may still run it, and then they are its. */
	if (rc == -ENOMEM)
		close_files(j->fds, j->nfds);
	if (rc < 0)
		return control_error("%s", j->err[0] ? j->err : strerror(-rc));
	return done(j, publish);
}

json_object *control_region(struct daemon *d, const struct peer *by,
			    const char *cmd, json_object *req,
			    struct control_fds *f)
{
	int publish = strcmp(cmd, "publish") == 0;
	struct worker *w = NULL;
	struct job j = { 0 };
	uid_t owner = 0;
	json_object *v, *out;

	if (!publish && strcmp(cmd, "policy") != 0)
		return NULL;
	if (!json_object_object_get_ex(req, "region", &v) ||
	    !json_object_is_type(v, json_type_string))
		return control_error("%s needs \"region\": a region id or name",
				     cmd);
	if (publish && f->n)
		return control_error("publish takes no descriptors");
	if ((out = arguments(cmd, publish, req, &j, f)) ||
	    (out = locate(d, json_object_get_string(v), &j, &w, &owner)))
		return out;
	/* Changing a policy is the administrator's; a producer may publish
	 * into regions of its own uid.  Groups from SO_PEERGROUPS, not
	 * /proc: no pid-reuse race, and it works when ProtectProc= hides
	 * the caller. */
	if (!access_is_admin(&d->conf.cfg.access, by) &&
	    (!publish || by->cr.uid != owner))
		return control_error(
		    "permission denied: %s needs root or a "
		    "group in admin_gids%s",
		    cmd, publish ? ", or the region owner's uid" : "");
	return run_job(w, publish, &j, f);
}
