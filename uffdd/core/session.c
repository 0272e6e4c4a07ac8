/* SPDX-License-Identifier: MIT */
/*
 * Sessions as objects: made, handed to a worker, listed, ended; their
 * region tables changed under the worker's lock.  What a session says and
 * is told is session_proto.c's; how a fork makes one, events_fork.c's.
 */
#include "session.h"
#include "daemon.h"
#include "fdstore.h"
#include "kin.h"
#include "log.h"
#include "pagestate.h"
#include "uffd_uapi.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Workers accepted by the configuration: config_workers.n <= 256. */
#define HOSTS 256

TAILQ_HEAD(session_list, session);

/* The sessions of each worker, by its index; under the worker's lock. */
static struct host {
	int ready;
	struct session_list live;
	struct session_list pending; /* handed over, not yet attached */
} hosts[HOSTS];

static struct host *host_of(struct worker *w)
{
	struct host *h = &hosts[worker_idx(w) % HOSTS];

	if (!h->ready) {
		TAILQ_INIT(&h->live);
		TAILQ_INIT(&h->pending);
		h->ready = 1;
	}
	return h;
}

struct session *session_blank(void)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = random_id();
	s->proto.sock = -1;
	s->since = time(NULL);
	return s;
}

/* A session for sock, whose identity the kernel gave (rc of peer_identify*). */
static struct session *session_made(struct session *s, int rc, int sock)
{
	if (!s)
		return NULL;
	if (rc < 0) {
		log_warn("SO_PEERCRED: %s", strerror(-rc));
		free(s);
		return NULL;
	}
	s->share = share_get(s->who.uid);
	if (!s->share) {
		log_warn("out of memory for a new session");
		free(s);
		return NULL;
	}
	s->proto.sock = sock;
	return s;
}

struct session *session_new(int sock)
{
	struct session *s = session_blank();

	return session_made(s, s ? peer_identify(sock, &s->who) : 0, sock);
}

int session_count_in(struct session *s, int force, char *why, size_t len)
{
	if (force)
		share_force(s->share, SHARE_CLIENTS, 1);
	else if (share_take(s->share, SHARE_CLIENTS, 1, s->admin, why, len) < 0)
		return -EUSERS;
	s->counted = 1;
	return 0;
}

/* What s holds of the daemon's limits goes back, once. */
static void count_out(struct session *s)
{
	if (!s->share)
		return;
	if (s->counted)
		share_give(s->share, SHARE_CLIENTS, 1);
	share_give(s->share, SHARE_REGIONS, s->regions.n);
	share_give(s->share, SHARE_BYTES, s->regions.bytes);
	s->counted = 0;
}

struct session *session_new_child(int sock, const struct peer_id *parent)
{
	struct session *s = session_blank();

	return session_made(
	    s, s ? peer_identify_child(sock, parent, &s->who) : 0, sock);
}

void session_discard(struct session *s)
{
	if (s->kin)
		kin_leave(s->who.pid);
	if (s->proto.first) {
		uffdd_msg_close_fds(s->proto.first);
		free(s->proto.first);
	}
	if (s->proto.sock >= 0)
		close(s->proto.sock);
	count_out(s);
	share_put(s->share);
	free(s->regions.v);
	free(s->child);
	free(s);
}

int session_hand(struct session *s, struct worker *w,
		 void (*attach)(struct worker *w, void *s))
{
	struct host *h;

	worker_lock(w);
	h = host_of(w);
	TAILQ_INSERT_TAIL(&h->pending, s, link);
	worker_unlock(w);
	s->w = w;
	if (worker_post(w, attach, s) == 0)
		return 0;
	worker_lock(w);
	TAILQ_REMOVE(&h->pending, s, link);
	worker_unlock(w);
	return -ENOMEM;
}

void session_join(struct session *s, struct worker *w)
{
	struct host *h;
	struct session *p;

	worker_lock(w);
	h = host_of(w);
	TAILQ_FOREACH (p, &h->pending, link)
		if (p == s) {
			TAILQ_REMOVE(&h->pending, s, link);
			break;
		}
	TAILQ_INSERT_TAIL(&h->live, s, link);
	worker_unlock(w);
	s->w = w;
	worker_load(w, 1);
}

void session_leave(struct session *s)
{
	worker_lock(s->w);
	TAILQ_REMOVE(&host_of(s->w)->live, s, link);
	worker_unlock(s->w);
	worker_load(s->w, -1);
}

struct session *session_find(struct worker *w, uint64_t id)
{
	struct session *s;

	TAILQ_FOREACH (s, &hosts[worker_idx(w) % HOSTS].live, link)
		if (s->id == id && !s->dying)
			return s;
	return NULL;
}

void sessions_each(struct worker *w, void (*fn)(struct session *s, void *arg),
		   void *arg)
{
	struct session *s;

	worker_lock(w);
	TAILQ_FOREACH (s, &host_of(w)->live, link)
		fn(s, arg);
	worker_unlock(w);
}

int session_refuse(struct session *s, struct uffdd_msg *m, int code,
		   const char *fmt, ...)
{
	char why[UFFDD_ERROR_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_client(LOG_NOTICE, &s->who, 0, "client %d (%s): %s refused: %s",
		   (int)s->who.pid, s->who.comm, uffdd_type_name(m->hdr.type),
		   why);
	uffdd_send_error(s->proto.sock, m->hdr.seq, m->hdr.type, code, "%s",
			 why);
	uffdd_msg_close_fds(m);
	return -code;
}

int session_log_level(const struct session *s)
{
	return s->proto.forked_from ? LOG_DEBUG : LOG_INFO;
}

void session_keep(const struct session *s)
{
	struct fdstore_session d = {
		.granted = s->proto.granted,
		.uffd_mode = s->proto.uffd_mode,
		.since = s->since,
	};

	if (s->proto.sock < 0)
		return;
	memcpy(d.name, s->proto.name, sizeof(d.name));
	fdstore_keep_session(s->id, s->proto.sock, &d);
}

void session_keep_region(const struct session *s, const struct region *r,
			 int again)
{
	struct fdstore_region d = {
		.sid = s->id,
		.start = r->v.start,
		.len = r->v.len,
		.offset = r->v.offset,
		.kind = r->kind,
		.page_size = r->v.page_size,
	};

	struct fdstore_fds fds = {
		.uffd = r->uffd,
		.memfd = r->v.memfd,
		.files = r->files,
		.nfiles = r->nfiles,
		.pages = r->ps ? page_state_fd(r->ps) : -1,
	};

	if (s->proto.sock < 0)
		return;
	snprintf(d.name, sizeof(d.name), "%s", r->name);
	snprintf(d.policy, sizeof(d.policy), "%s", r->v.pol->spec);
	if (again)
		fdstore_update_region(r->v.id, &fds, &d);
	else
		fdstore_keep_region(r->v.id, &fds, &d);
}

int session_add_region(struct session *s, struct region *r, char *why,
		       size_t len)
{
	int rc;

	rc = share_take(s->share, SHARE_REGIONS, 1, s->admin, why, len);
	if (rc < 0)
		return rc;
	rc = share_take(s->share, SHARE_BYTES, r->v.len, s->admin, why, len);
	if (rc < 0) {
		share_give(s->share, SHARE_REGIONS, 1);
		return rc;
	}
	worker_lock(s->w);
	rc = region_insert(&s->regions, r);
	worker_unlock(s->w);
	if (rc == 0) {
		s->regions.bytes += r->v.len;
		return 0;
	}
	share_give(s->share, SHARE_REGIONS, 1);
	share_give(s->share, SHARE_BYTES, r->v.len);
	snprintf(why, len, "%s",
		 rc == -EEXIST ? "range overlaps a region of this client"
			       : "out of memory");
	return rc;
}

int session_add_live(struct session *s, struct region *r)
{
	char why[256];
	int rc = session_add_region(s, r, why, sizeof(why));

	if (rc < 0) {
		log_client(LOG_WARNING, &s->who, r->v.id,
			   "client %d: region %s %#" PRIx64 "+%" PRIu64
			   " cannot be placed: %s",
			   (int)s->who.pid, r->name, r->v.start, r->v.len, why);
		region_free(r);
		return rc;
	}
	event_add(r->ev, NULL);
	return 0;
}

void session_remove_region(struct session *s, struct region *r)
{
	worker_lock(s->w);
	region_remove(&s->regions, r);
	worker_unlock(s->w);
	s->regions.bytes -= r->v.len;
	share_give(s->share, SHARE_REGIONS, 1);
	share_give(s->share, SHARE_BYTES, r->v.len);
}

void session_shrink_region(struct session *s, struct region *r, uint64_t len)
{
	uint64_t cut = r->v.len - len;

	worker_lock(s->w);
	r->v.len = len;
	worker_unlock(s->w);
	s->regions.bytes -= cut;
	share_give(s->share, SHARE_BYTES, cut);
}

int session_adopt_region(struct session *s, struct region *r)
{
	if (region_insert(&s->regions, r) < 0)
		return -EEXIST;
	s->regions.bytes += r->v.len;
	share_force(s->share, SHARE_REGIONS, 1);
	share_force(s->share, SHARE_BYTES, r->v.len);
	return 0;
}

void session_unregister(struct session *s, struct region *r)
{
	struct uffdio_range rg = { .start = r->v.start, .len = r->v.len };

	/* Wakes any thread still waiting in the range. */
	if (ioctl(r->uffd, UFFDIO_UNREGISTER, &rg) < 0 && errno != ESRCH)
		log_client(LOG_DEBUG, &s->who, r->v.id, "UFFDIO_UNREGISTER: %s",
			   strerror(errno));
	fdstore_forget_region(r->v.id);
	session_remove_region(s, r);
	region_free(r);
}

static void retired_free_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	region_free(arg);
}

void session_retire(struct region *r, const char *why)
{
	static const struct timeval now = { 0, 0 };
	struct session *s = r->s;

	if (r->dead)
		return;
	log_client(session_log_level(s), &s->who, r->v.id,
		   "client %d: region %016" PRIx64 " \"%s\" %#" PRIx64
		   "+%" PRIu64 " dropped: %s",
		   (int)s->who.pid, r->v.id, r->name, r->v.start, r->v.len,
		   why);
	fdstore_forget_region(r->v.id);
	session_remove_region(s, r);
	r->dead = 1;
	if (r->ev)
		event_del(r->ev);
	policy_release(r->v.pol, &r->v);
	r->v.pol = NULL;
	if (event_base_once(worker_base(s->w), -1, EV_TIMEOUT, retired_free_cb,
			    r, &now) < 0)
		log_err("cannot schedule freeing a region: leaking it");
}

static void session_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	if (s->proto.ev) /* a forked child's session has no socket */
		event_free(s->proto.ev);
	share_put(s->share);
	free(s->regions.v);
	free(s->child);
	free(s);
}

/* What a session holds beyond its regions: timers, pidfd, socket. */
static void let_go(struct session *s)
{
	if (s->proto.first) {
		uffdd_msg_close_fds(s->proto.first);
		free(s->proto.first);
		s->proto.first = NULL;
	}
	if (s->proto.hello_ev)
		event_free(s->proto.hello_ev);
	s->proto.hello_ev = NULL;
	if (s->child) {
		if (s->child->find_ev)
			event_free(s->child->find_ev);
		if (s->child->pidfd_ev)
			event_free(s->child->pidfd_ev);
		if (s->child->pidfd >= 0)
			close(s->child->pidfd);
		s->child->find_ev = s->child->pidfd_ev = NULL;
		s->child->pidfd = -1;
	}
	if (s->proto.ev)
		event_del(s->proto.ev);
	if (s->proto.sock >= 0)
		close(s->proto.sock);
	s->proto.sock = -1;
}

/* A stopping daemon leaves its clients in the store for the next one. */
static void forget(const struct session *s)
{
	if (s->proto.sock < 0)
		return;
	for (size_t i = 0; i < s->regions.n; i++)
		fdstore_forget_region(s->regions.v[i]->v.id);
	fdstore_forget_session(s->id);
}

void session_drop(struct session *s, const char *why)
{
	static const struct timeval now = { 0, 0 };
	struct daemon *d = worker_daemon(s->w);
	size_t n = s->regions.n;

	if (s->dying)
		return;
	s->dying = 1;
	if (s->kin)
		kin_leave(s->who.pid);
	s->kin = 0;
	log_client(session_log_level(s), &s->who, 0,
		   "client %d (%s): session ended: %s; %zu region%s released",
		   (int)s->who.pid, s->who.comm, why, n, n == 1 ? "" : "s");
	if (!__atomic_load_n(&d->n.stopping, __ATOMIC_RELAXED))
		forget(s);
	session_leave(s);
	/*
	 * Closing the last reference to each uffd wakes every thread still
	 * blocked in it and unregisters its ranges: the client goes on,
	 * served by the kernel.
	 */
	count_out(s);
	for (size_t i = 0; i < n; i++)
		region_free(s->regions.v[i]);
	s->regions.n = 0;
	s->regions.bytes = 0;
	let_go(s);
	/* Callers up the stack may still look at s->dying. */
	if (event_base_once(worker_base(s->w), -1, EV_TIMEOUT, session_free_cb,
			    s, &now) < 0)
		log_err("cannot schedule freeing a session: leaking it");
}

void sessions_end(struct worker *w)
{
	struct host *h = host_of(w);

	while (!TAILQ_EMPTY(&h->live))
		session_drop(TAILQ_FIRST(&h->live), "daemon stopping");
	/* Handed over but never attached: nothing of theirs is served. */
	while (!TAILQ_EMPTY(&h->pending)) {
		struct session *s = TAILQ_FIRST(&h->pending);

		TAILQ_REMOVE(&h->pending, s, link);
		session_discard(s);
	}
}
