/* SPDX-License-Identifier: MIT */
/*
 * `uffdctl disconnect CLIENT`: end a client's session (its regions are
 * released and its threads carry on, served by the kernel).  The main
 * thread finds the session; the worker that owns it ends it (wcall).
 */
#include "core/access.h"
#include "control.h"
#include "core/log.h"
#include "core/session.h"
#include "core/wcall.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
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

static json_object *answer(const char *key, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static json_object *answer(const char *key, const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, key, json_object_new_string(msg));
	return o;
}

static int do_kick(struct worker *w, void *arg)
{
	struct kick *k = arg;
	struct session *s;
	char why[96];

	TAILQ_FOREACH(s, &w->sessions, link)
		if (s->id == k->sid && !s->dying)
			break;
	if (!s)
		return -ENOENT;
	snprintf(why, sizeof(why), "disconnected by uffdctl (pid %d, uid %u)",
		 (int)k->by_pid, (unsigned)k->by_uid);
	session_drop(s, why);
	return 0;
}

json_object *control_disconnect(struct daemon *d, const struct peer *by,
				json_object *req)
{
	json_object *v;
	const char *arg;
	char *end;
	uint64_t want_sid = 0;
	long want_pid = 0;
	struct kick k = { .by_uid = by->cr.uid, .by_pid = by->cr.pid };
	struct worker *home = NULL;
	pid_t pid = 0;
	int rc;

	if (!json_object_object_get_ex(req, "client", &v))
		return answer("error", "disconnect needs \"client\": a pid or a "
			      "session id");
	arg = json_object_get_string(v);
	/* 16 hex digits: a session id; otherwise a pid. */
	if (strlen(arg) == 16) {
		want_sid = strtoull(arg, &end, 16);
		if (*end)
			want_sid = 0;
	}
	if (!want_sid) {
		want_pid = strtol(arg, &end, 10);
		if (*end || want_pid <= 0)
			return answer("error", "\"%.40s\" is neither a pid nor "
				      "a session id", arg);
	}
	for (int i = 0; i < d->nworkers && !home; i++) {
		struct worker *w = &d->workers[i];
		struct session *s;

		pthread_mutex_lock(&w->lock);
		TAILQ_FOREACH(s, &w->sessions, link)
		{
			if (s->dying || s->child)
				continue;
			if ((want_sid && s->id == want_sid) ||
			    (!want_sid && s->pid == (pid_t)want_pid)) {
				k.sid = s->id;
				pid = s->pid;
				home = w;
				break;
			}
		}
		pthread_mutex_unlock(&w->lock);
	}
	if (!home)
		return answer("error", "no client %.40s", arg);
	rc = wcall(home, do_kick, &k, sizeof(k), CALL_TIMEOUT_MS);
	if (rc < 0)
		return answer("error", "disconnecting client %d: %s", (int)pid,
			      strerror(-rc));
	log_notice("control: client %d disconnected by pid %d uid %u",
		   (int)pid, (int)by->cr.pid, (unsigned)by->cr.uid);
	v = json_object_new_object();
	json_object_object_add(v, "disconnected", json_object_new_int(pid));
	{
		char sid[20];

		snprintf(sid, sizeof(sid), "%016" PRIx64, k.sid);
		json_object_object_add(v, "session", json_object_new_string(sid));
	}
	return v;
}
