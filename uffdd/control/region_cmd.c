/* SPDX-License-Identifier: MIT */
/*
 * publish and policy on the control socket.  The main thread finds the
 * region (by id, or by name when that is unique) and checks the caller;
 * the change itself runs on the region's worker (wcall), which alone may
 * touch the region's policy.
 */
#include "control_ops.h"
#include "core/fdstore.h"
#include "core/access.h"
#include "core/log.h"
#include "policy/policy.h"
#include "core/region.h"
#include "config/rules.h"
#include "core/wcall.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 5000

struct job {
	uint64_t sid, rid;
	uint64_t off, len;
	char spec[UFFDD_POLICY_LEN];
	char err[200];
};

static json_object *fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_object *fail(const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static struct session *find_session(struct worker *w, uint64_t id)
{
	struct session *s;

	TAILQ_FOREACH(s, &w->sessions, link)
		if (s->id == id && !s->dying)
			return s;
	return NULL;
}

static int do_publish(struct worker *w, void *arg)
{
	struct job *j = arg;
	struct session *s = find_session(w, j->sid);
	struct region *r = s ? region_by_id(s, j->rid) : NULL;

	if (!r) {
		snprintf(j->err, sizeof(j->err), "the region has gone");
		return -ENOENT;
	}
	return policy_publish(r, j->off, j->len, j->err, sizeof(j->err));
}

static int do_policy(struct worker *w, void *arg)
{
	struct job *j = arg;
	struct session *s = find_session(w, j->sid);
	struct region *r = s ? region_by_id(s, j->rid) : NULL;
	struct policy *np, *old;
	int rc;

	if (!r) {
		snprintf(j->err, sizeof(j->err), "the region has gone");
		return -ENOENT;
	}
	rc = policy_create(j->spec, &np, j->err, sizeof(j->err));
	if (rc < 0)
		return rc;
	old = r->pol;
	/* Status reads r->pol under the worker's lock. */
	pthread_mutex_lock(&w->lock);
	r->pol = np;
	pthread_mutex_unlock(&w->lock);
	rc = policy_attach(np, r, j->err, sizeof(j->err));
	if (rc < 0) {
		pthread_mutex_lock(&w->lock);
		r->pol = old;
		pthread_mutex_unlock(&w->lock);
		policy_destroy(np);
		return rc;
	}
	/* The old instance lets its held faults go (the new one fills). */
	policy_release(old, r);
	/* A restarted daemon must come back with the new policy. */
	fdstore_update_region(r);
	log_client(LOG_NOTICE, s->pid, r->id,
		   "client %d region %s: policy changed to %s by uffdctl",
		   (int)s->pid, r->name, np->spec);
	return 0;
}

/*
 * Find the region named by id, or by a name no other region has.  A
 * forked child's copy of a region shares the region's policy instance:
 * those count as one region, and the parent's (the first) is taken.
 */
static json_object *locate(struct daemon *d, const char *want, struct job *j,
			   struct worker **wout, uid_t *owner)
{
	const struct policy *first = NULL;
	unsigned found = 0;
	int by_id = 0;
	char id[20];

	for (int i = 0; i < d->nworkers && !by_id; i++) {
		struct worker *w = &d->workers[i];
		struct session *s;

		pthread_mutex_lock(&w->lock);
		TAILQ_FOREACH(s, &w->sessions, link)
		{
			for (size_t k = 0; k < s->nregions && !by_id; k++) {
				struct region *r = s->regions[k];

				snprintf(id, sizeof(id), "%016" PRIx64, r->id);
				by_id = strcmp(id, want) == 0;
				if (!by_id && strcmp(r->name, want))
					continue;
				if (!by_id && found && r->pol == first)
					continue; /* a fork copy */
				/* Parents come before their children in the
				 * worker's list: the parent's copy is taken. */
				if (by_id || !found) {
					j->sid = s->id;
					j->rid = r->id;
					*wout = w;
					*owner = s->uid;
				}
				if (!first)
					first = r->pol;
				found = by_id ? 1 : found + 1;
			}
			if (by_id)
				break;
		}
		pthread_mutex_unlock(&w->lock);
	}
	if (!found)
		return fail("no region \"%.64s\" (see uffdctl regions)", want);
	if (found > 1)
		return fail("%u regions are named \"%.64s\": name one by its id "
			    "(see uffdctl regions)", found, want);
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

json_object *control_region_command(struct daemon *d, const struct peer *peer,
				    const char *cmd, json_object *req)
{
	struct job j = { 0 };
	struct worker *w = NULL;
	json_object *v, *out;
	const char *want;
	uid_t owner = 0;
	int publish = strcmp(cmd, "publish") == 0, rc;

	if (!publish && strcmp(cmd, "policy") != 0)
		return NULL;
	if (!json_object_object_get_ex(req, "region", &v) ||
	    !json_object_is_type(v, json_type_string))
		return fail("%s needs \"region\": a region id or name", cmd);
	want = json_object_get_string(v);
	if (publish) {
		if (get_u64(req, "offset", &j.off) < 0 ||
		    get_u64(req, "length", &j.len) < 0)
			return fail("publish needs \"offset\" and \"length\" "
				    "in bytes");
	} else {
		if (!json_object_object_get_ex(req, "policy", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    strlen(json_object_get_string(v)) >= sizeof(j.spec))
			return fail("policy needs \"policy\": a policy spec "
				    "(%s)", policy_names());
		snprintf(j.spec, sizeof(j.spec), "%s", json_object_get_string(v));
		if (policy_check(j.spec, j.err, sizeof(j.err)) < 0)
			return fail("%s", j.err);
	}
	out = locate(d, want, &j, &w, &owner);
	if (out)
		return out;
	/* Changing a policy is the administrator's; a producer may publish
	 * into regions of its own uid. */
	/* Groups from SO_PEERGROUPS, not /proc: no pid-reuse race, and it
	 * works when ProtectProc= hides the caller. */
	if (!access_is_admin(&d->cfg, peer) &&
	    (!publish || peer->cr.uid != owner))
		return fail("permission denied: %s needs root or a group in "
			    "admin_gids%s", cmd,
			    publish ? ", or the region owner's uid" : "");
	rc = wcall(w, publish ? do_publish : do_policy, &j, sizeof(j),
		   CALL_TIMEOUT_MS);
	if (rc < 0)
		return fail("%s", j.err[0] ? j.err : strerror(-rc));
	out = json_object_new_object();
	json_object_object_add(out, "ok", json_object_new_boolean(1));
	{
		char id[20];

		snprintf(id, sizeof(id), "%016" PRIx64, j.rid);
		json_object_object_add(out, "region", json_object_new_string(id));
	}
	if (!publish)
		json_object_object_add(out, "policy", json_object_new_string(j.spec));
	return out;
}
