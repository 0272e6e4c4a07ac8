/* SPDX-License-Identifier: MIT */
#include "session_proto.h"
#include "access.h"
#include "clock.h"
#include "daemon.h"
#include "fault.h"
#include "images.h"
#include "kin.h"
#include "log.h"
#include "session.h"
#include "uffd_uapi.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Pinned placement: serve the session from the worker on the client's
 * CPU.  Only right after HELLO, when it has no region yet; the caller
 * (this session's callback) must not touch s again when this returns 1.
 */
static int move_to_cpu(struct session *s, int cpu)
{
	struct worker *from = s->w;
	struct worker *to = worker_for_cpu(worker_daemon(from)->workers, cpu);

	if (!to || to == from || s->regions.n)
		return 0;
	if (s->proto.hello_ev)
		event_free(s->proto.hello_ev);
	s->proto.hello_ev = NULL;
	event_free(s->proto.ev); /* inside its own callback: allowed */
	s->proto.ev = NULL;
	session_leave(s);
	log_client(LOG_DEBUG, &s->who, 0,
		   "client %d runs on CPU %d: moved to worker %d",
		   (int)s->who.pid, cpu, worker_idx(to));
	if (session_serve(s, to) < 0) {
		/* Stay where it was rather than lose it. */
		session_serve(s, from);
	}
	return 1;
}

/* A /dev/userfaultfd for a client that asked and may have it, or -1. */
static int grant(struct session *s, const struct uffdd_hello *h)
{
	struct daemon *d = worker_daemon(s->w);
	int dev;

	if (!(h->flags & UFFDD_HELLO_WANT_GRANT) ||
	    !access_may_grant(&d->conf.cfg.access, s->who.uid, s->who.gid))
		return -1;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		log_client(LOG_WARNING, &s->who, 0,
			   "client %d may have a /dev/userfaultfd grant "
			   "but it cannot be opened: %s",
			   (int)s->who.pid, strerror(errno));
	return dev;
}

/* WELCOME in version ver, with the grant dev if there is one. */
static int welcome(struct session *s, const struct uffdd_msg *m, uint16_t ver,
		   int dev)
{
	struct daemon *d = worker_daemon(s->w);
	struct uffdd_welcome w = {
		.version = ver,
		.kernel_features = d->caps.features,
		.session_id = s->id,
		.max_regions = d->conf.cfg.limits.regions_per_client,
		.flags = dev >= 0 ? UFFDD_WELCOME_GRANT : 0,
	};

	return uffdd_send(s->proto.sock, UFFDD_WELCOME, m->hdr.seq, &w,
			  sizeof(w), &dev, dev >= 0 ? 1 : 0);
}

/* Returns 1 when the session has moved to another worker. */
static int on_hello(struct session *s, struct uffdd_msg *m)
{
	const struct uffdd_hello *h = &m->u.hello;
	uint16_t ver =
	    h->max_version < UFFDD_PROTO_MAX ? h->max_version : UFFDD_PROTO_MAX;
	int dev, rc;

	if (s->proto.hello_done) {
		session_refuse(s, m, EPROTO, "HELLO was already received");
		return 0;
	}
	if (ver < h->min_version || ver < UFFDD_PROTO_MIN) {
		uffdd_send_error(s->proto.sock, m->hdr.seq, UFFDD_HELLO,
				 EPROTONOSUPPORT,
				 "no common protocol version: client %u..%u, "
				 "daemon %u..%u",
				 h->min_version, h->max_version,
				 UFFDD_PROTO_MIN, UFFDD_PROTO_MAX);
		session_drop(s, "no common protocol version");
		return 0;
	}
	snprintf(s->proto.name, sizeof(s->proto.name), "%s", h->name);
	peer_printable(s->proto.name);
	dev = grant(s, h);
	rc = welcome(s, m, ver, dev);
	if (dev >= 0)
		close(dev);
	if (rc < 0) {
		session_drop(s, "cannot answer HELLO");
		return 0;
	}
	s->proto.hello_done = 1;
	s->proto.granted = dev >= 0;
	/* A fork the daemon followed, though not as FORKED: its parent
	 * (from the kernel) is a client. */
	if (kin_is_client(s->who.parent_pid))
		__atomic_add_fetch(&worker_daemon(s->w)->n.child_clients, 1,
				   __ATOMIC_RELAXED);
	s->kin = kin_enter(s->who.pid) == 0;
	session_keep(s);
	log_client(LOG_INFO, &s->who, 0,
		   "client %d (%s, uid %u, \"%s\") connected on worker %d%s",
		   (int)s->who.pid, s->who.comm, (unsigned)s->who.uid,
		   s->proto.name, worker_idx(s->w),
		   s->proto.granted ? ", /dev/userfaultfd granted" : "");
	if (h->flags & UFFDD_HELLO_CPU)
		return move_to_cpu(s, (int)h->cpu);
	return 0;
}

/* The region a request after HELLO names, or NULL once refused. */
static struct region *named_region(struct session *s, struct uffdd_msg *m,
				   uint64_t id)
{
	struct region *r = region_by_id(&s->regions, id);

	if (!s->proto.hello_done)
		session_refuse(s, m, EPROTO, "HELLO must come first");
	else if (!r)
		session_refuse(s, m, ENOENT,
			       "no region %016" PRIx64 " in this session", id);
	return s->proto.hello_done ? r : NULL;
}

static void on_unregister(struct session *s, struct uffdd_msg *m)
{
	struct region *r = named_region(s, m, m->u.unreg.region_id);

	if (!r)
		return;
	log_client(LOG_INFO, &s->who, r->v.id,
		   "client %d: region %016" PRIx64 " unregistered",
		   (int)s->who.pid, r->v.id);
	session_unregister(s, r);
	if (uffdd_send(s->proto.sock, UFFDD_OK, m->hdr.seq, NULL, 0, NULL, 0) <
	    0)
		session_drop(s, "cannot answer UNREGISTER");
}

/* A producer says [offset, offset+length) of a region is ready (gate). */
static void on_publish(struct session *s, struct uffdd_msg *m)
{
	struct region *r = named_region(s, m, m->u.publish.region_id);
	char err[UFFDD_ERROR_MSG_LEN];
	int rc;

	if (!r)
		return;
	rc = policy_publish(&r->v, m->u.publish.offset, m->u.publish.length,
			    err, sizeof(err));
	if (rc < 0)
		uffdd_send_error(s->proto.sock, m->hdr.seq, m->hdr.type, -rc,
				 "%s", err);
	else if (uffdd_send(s->proto.sock, UFFDD_OK, m->hdr.seq, NULL, 0, NULL,
			    0) < 0)
		session_drop(s, "cannot answer PUBLISH");
}

/* Returns 1 when the session has moved to another worker. */
static int dispatch(struct session *s, struct uffdd_msg *m)
{
	int moved = 0;

	switch (m->hdr.type) {
	case UFFDD_HELLO:
		moved = on_hello(s, m);
		break;
	case UFFDD_REGISTER:
		session_register(s, m);
		break;
	case UFFDD_UNREGISTER:
		on_unregister(s, m);
		break;
	case UFFDD_PUBLISH:
		on_publish(s, m);
		break;
	case UFFDD_IMAGE_OPEN:
		session_image_open(s, m);
		break;
	case UFFDD_FORKED:
		session_forked(s, m);
		break;
	default:
		session_refuse(s, m, EPROTO, "%s is not a request",
			       uffdd_type_name(m->hdr.type));
		break;
	}
	uffdd_msg_close_fds(m);
	return moved;
}

/* limits.messages_per_second: 1 if s may send one more message. */
static int rate_allows(struct session *s)
{
	struct daemon *d = worker_daemon(s->w);
	unsigned rate = daemon_cfg_word(d, &d->conf.cfg.limits.msg_rate);

	if (rate_take(&s->proto.rate, rate))
		return 1;
	bounds_count(BOUNDS_RATE_LIMITED);
	log_client(LOG_WARNING, &s->who, 0,
		   "client %d (%s, uid %u): more than %u messages a second "
		   "(limits.messages_per_second); disconnected",
		   (int)s->who.pid, s->who.comm, (unsigned)s->who.uid, rate);
	uffdd_send_error(s->proto.sock, 0, 0, EBUSY,
			 "more than %u messages a second "
			 "(limits.messages_per_second)",
			 rate);
	session_drop(s, "message rate limit");
	return 0;
}

/* One message from the socket: 1 to read on, 0 to stop (s may be gone). */
static int one_message(struct session *s, int fd)
{
	struct daemon *d = worker_daemon(s->w);
	struct uffdd_msg m;
	char err[160];
	int rc = uffdd_recv(fd, &m, err, sizeof(err)), moved;

	if (rc == -EAGAIN)
		return 0;
	if (rc == -ECONNRESET) {
		session_drop(s, "disconnected");
		return 0;
	}
	if (rc < 0) {
		log_client(LOG_WARNING, &s->who, 0,
			   "client %d (%s): malformed message: %s",
			   (int)s->who.pid, s->who.comm, err);
		uffdd_send_error(s->proto.sock, 0, 0, -rc,
				 "malformed message: %s", err);
		session_drop(s, "protocol error");
		return 0;
	}
	/* A forked child's first words count as its own connection would
	 * (limits.clients_per_uid), not against its parent's rate. */
	if (m.hdr.type != UFFDD_FORKED && !rate_allows(s)) {
		uffdd_msg_close_fds(&m);
		return 0;
	}
	/* A reload may replace the configuration meanwhile. */
	daemon_cfg_read(d);
	moved = dispatch(s, &m);
	daemon_cfg_done(d);
	return !moved; /* moved: another worker owns s now */
}

static void session_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	uint64_t turn_end = now_ns() + POLICY_TURN_NS;

	(void)what;
	/* A few messages per wake-up, within a turn's time, so one chatty
	 * client cannot starve the fault path of the others on this worker
	 * (the event is level-triggered: the rest is read next turn). */
	for (int i = 0; i < 16 && !s->dying; i++)
		if (!one_message(s, (int)fd) || now_ns() >= turn_end)
			return;
	/* s may be dying here; it is freed from the event loop later. */
}

static void hello_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct daemon *d = worker_daemon(s->w);
	unsigned ms = daemon_cfg_word(d, &d->conf.cfg.limits.hello_timeout_ms);

	(void)fd;
	(void)what;
	if (s->proto.hello_done || s->dying)
		return;
	bounds_count(BOUNDS_HELLO_TIMEOUT);
	log_client(LOG_NOTICE, &s->who, 0,
		   "client %d (%s, uid %u): no HELLO within %u ms "
		   "(limits.hello_timeout_ms); disconnected",
		   (int)s->who.pid, s->who.comm, (unsigned)s->who.uid, ms);
	uffdd_send_error(s->proto.sock, 0, UFFDD_HELLO, ETIMEDOUT,
			 "no HELLO within %u ms", ms);
	session_drop(s, "no HELLO in time");
}

/* limits.hello_timeout_ms: drop s if it says no HELLO in time. */
static int hello_deadline(struct session *s)
{
	struct daemon *d = worker_daemon(s->w);
	unsigned ms;
	struct timeval tv;

	/* Sessions that said HELLO to an earlier instance (fd store) have
	 * nothing to say. */
	if (s->proto.hello_done || s->proto.restored)
		return 0;
	ms = daemon_cfg_word(d, &d->conf.cfg.limits.hello_timeout_ms);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	s->proto.hello_ev = evtimer_new(worker_base(s->w), hello_cb, s);
	if (!s->proto.hello_ev)
		return -ENOMEM;
	return evtimer_add(s->proto.hello_ev, &tv);
}

/*
 * A region taken back from the fd store.  A fault message the previous
 * instance read but never answered is not queued again: wake the whole
 * range so that such threads fault anew and reach us.
 */
static void resume_region(struct session *s, struct region *r)
{
	struct uffdio_range rg = { .start = r->v.start, .len = r->v.len };
	char err[200];

	if (r->ev)
		return;
	r->ctx = r->v.id;
	if (policy_attach(r->v.pol, &r->v, err, sizeof(err)) < 0)
		log_client(LOG_WARNING, &s->who, r->v.id,
			   "client %d: restored region %016" PRIx64
			   ": policy %s: %s",
			   (int)s->who.pid, r->v.id, r->v.pol->spec, err);
	if (fault_watch(r, worker_base(s->w)) < 0) {
		log_client(
		    LOG_ERR, &s->who, r->v.id,
		    "client %d: cannot watch restored region %016" PRIx64,
		    (int)s->who.pid, r->v.id);
		return;
	}
	event_add(r->ev, NULL);
	if (ioctl(r->uffd, UFFDIO_WAKE, &rg) < 0 && errno != ESRCH)
		log_client(LOG_WARNING, &s->who, r->v.id, "UFFDIO_WAKE: %s",
			   strerror(errno));
}

/* On w: s becomes one of its sessions and its socket is watched. */
static void attach(struct worker *w, void *arg)
{
	struct session *s = arg;
	struct daemon *d = worker_daemon(w);

	/* Handed over as the daemon stops: sessions_end discards it. */
	if (__atomic_load_n(&d->n.stopping, __ATOMIC_RELAXED))
		return;
	s->proto.ev = event_new(worker_base(w), s->proto.sock,
				EV_READ | EV_PERSIST, session_cb, s);
	if (!s->proto.ev) {
		log_err("worker %d: cannot attach a session", worker_idx(w));
		session_join(s, w);
		session_drop(s, "out of memory");
		return;
	}
	session_join(s, w);
	event_add(s->proto.ev, NULL);
	if (hello_deadline(s) < 0)
		log_warn("cannot arm the HELLO deadline of a session");
	for (size_t i = 0; i < s->regions.n; i++)
		resume_region(s, s->regions.v[i]);
	if (s->proto.first) { /* FORKED: its REGISTER, answered here */
		struct uffdd_msg *m = s->proto.first;

		s->proto.first = NULL;
		daemon_cfg_read(d);
		session_register(s, m);
		daemon_cfg_done(d);
		uffdd_msg_close_fds(m);
		free(m);
	}
}

void session_serve_here(struct session *s, struct worker *w)
{
	struct daemon *d = worker_daemon(w);

	if (__atomic_load_n(&d->n.stopping, __ATOMIC_RELAXED)) {
		session_discard(s); /* attach would leave it nowhere */
		return;
	}
	attach(w, s);
}

int session_serve(struct session *s, struct worker *w)
{
	return session_hand(s, w, attach);
}
