/* SPDX-License-Identifier: MIT */
/*
 * `uffdctl disconnect CLIENT`: end a client's session (its regions are
 * released and its threads carry on, served by the kernel).  The main
 * thread finds the session; the worker that owns it ends it (wcall).
 */
#include "commands.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/peer.h"
#include "core/session.h"
#include "core/wcall.h"
#include "core/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 5000

struct kick {
	uint64_t sid;
	uid_t by_uid;
	pid_t by_pid;
};

static int do_kick(struct worker *w, void *arg)
{
	struct kick *k = arg;
	struct session *s = session_find(w, k->sid);
	char why[96];

	if (!s)
		return -ENOENT;
	snprintf(why, sizeof(why), "disconnected by uffdctl (pid %d, uid %u)",
		 (int)k->by_pid, (unsigned)k->by_uid);
	session_drop(s, why);
	return 0;
}

/* Who to disconnect: a session id (16 hex digits) or a pid. */
struct target {
	uint64_t sid;
	long pid;
	uint64_t found_sid; /* the session found */
	pid_t found_pid;
};

static void match(struct session *s, void *arg)
{
	struct target *t = arg;

	if (t->found_sid || s->dying || s->child)
		return;
	if ((t->sid && s->id == t->sid) ||
	    (!t->sid && s->who.pid == (pid_t)t->pid)) {
		t->found_sid = s->id;
		t->found_pid = s->who.pid;
	}
}

/* The worker holding the target's session, or NULL. */
static struct worker *find(struct daemon *d, struct target *t)
{
	for (int i = 0; i < workers_count(d->workers); i++) {
		struct worker *w = worker_at(d->workers, i);

		sessions_each(w, match, t);
		if (t->found_sid)
			return w;
	}
	return NULL;
}

static int parse_target(const char *arg, struct target *t)
{
	char *end;

	memset(t, 0, sizeof(*t));
	if (strlen(arg) == 16) {
		t->sid = strtoull(arg, &end, 16);
		if (*end)
			t->sid = 0;
	}
	if (t->sid)
		return 0;
	t->pid = strtol(arg, &end, 10);
	return *end || t->pid <= 0 ? -1 : 0;
}

static json_object *done(const struct target *t)
{
	json_object *v = json_object_new_object();
	char sid[20];

	json_object_object_add(v, "disconnected",
			       json_object_new_int(t->found_pid));
	snprintf(sid, sizeof(sid), "%016" PRIx64, t->found_sid);
	json_object_object_add(v, "session", json_object_new_string(sid));
	return v;
}

json_object *control_disconnect(struct daemon *d, const struct peer *by,
				json_object *req)
{
	struct kick k = { .by_uid = by->cr.uid, .by_pid = by->cr.pid };
	struct worker *home;
	struct target t;
	const char *arg;
	json_object *v;
	int rc;

	if (!json_object_object_get_ex(req, "client", &v))
		return control_error("disconnect needs \"client\": a pid or a "
				     "session id");
	arg = json_object_get_string(v);
	if (parse_target(arg, &t) < 0)
		return control_error("\"%.40s\" is neither a pid nor a session "
				     "id",
				     arg);
	home = find(d, &t);
	if (!home)
		return control_error("no client %.40s", arg);
	k.sid = t.found_sid;
	rc = wcall(home, do_kick, &k, sizeof(k), CALL_TIMEOUT_MS);
	if (rc < 0)
		return control_error("disconnecting client %d: %s",
				     (int)t.found_pid, strerror(-rc));
	log_notice("control: client %d disconnected by pid %d uid %u",
		   (int)t.found_pid, (int)by->cr.pid, (unsigned)by->cr.uid);
	return done(&t);
}
