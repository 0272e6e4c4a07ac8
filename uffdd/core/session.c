/* SPDX-License-Identifier: MIT */
/*
 * One client session: HELLO, REGISTER, UNREGISTER, and everything a
 * client may get wrong.  Malformed datagrams end the session (the peer
 * is not speaking this protocol); a well-formed request that cannot be
 * granted gets an ERROR and the session goes on.
 */
#include "session.h"
#include "events.h"
#include "fault.h"
#include "fdstore.h"
#include "peer.h"
#include "worker.h"
#include "fdcheck.h"
#include "bounds.h"
#include "log.h"
#include "policy/policy.h"
#include "region.h"
#include "config/rules.h"
#include "uffd_uapi.h"

#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Highest user-space address on x86_64 and most 64-bit arches (47 bits). */
#define USER_ADDR_LIMIT (1ULL << 56)

void session_read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(buf, len, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0) {
		snprintf(buf, len, "?");
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* Names end up in logs and JSON: keep them printable. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			*s = '?';
}

struct session *session_new(struct daemon *d, int sock)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct session *s;

	(void)d;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		log_warn("SO_PEERCRED: %s", strerror(errno));
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = random_id();
	s->sock = sock;
	s->pid = cr.pid;
	s->uid = cr.uid;
	s->gid = cr.gid;
	s->since = time(NULL);
	session_read_comm(cr.pid, s->comm, sizeof(s->comm));
	sanitize(s->comm);
	s->pid_known = 1;
	s->pidfd = -1;
	client_identity(cr.pid, s->exe, sizeof(s->exe), s->unit,
			sizeof(s->unit));
	/* Hidden /proc (ProtectProc=invisible): ask the socket instead. */
	if (!s->unit[0])
		peer_unit(sock, s->unit, sizeof(s->unit));
	{
		int ppid;

		if (peer_ppid(sock, &ppid) == 0)
			s->parent_pid = ppid;
	}
	sanitize(s->exe);
	sanitize(s->unit);
	return s;
}

void session_discard(struct session *s)
{
	close(s->sock);
	free(s->regions);
	free(s);
}

static int grant_allowed(const struct config *c, const struct session *s)
{
	return id_list_has(&c->grant_uids, s->uid) ||
	       id_list_has(&c->grant_gids, s->gid);
}

/*
 * Refuse a request that is well formed but wrong here (out of order, not
 * a request, someone else's region): an ERROR to the client and a log
 * line, at most one a second per session so that a flood stays quiet.
 */
static void refuse(struct session *s, const struct uffdd_msg *m, int code,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(struct session *s, const struct uffdd_msg *m, int code,
		   const char *fmt, ...)
{
	char why[UFFDD_ERROR_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	throttle_log(&s->refuse_log, LOG_NOTICE, "client %d (%s): %s refused: %s",
		     (int)s->pid, s->comm, uffdd_type_name(m->hdr.type), why);
	uffdd_send_error(s->sock, m->hdr.seq, m->hdr.type, code, "%s", why);
}

/*
 * Pinned placement: serve the session from the worker on the client's
 * CPU.  Only right after HELLO, when it has no region yet; the caller
 * (this session's callback) must not touch s again when this returns 1.
 */
static int move_to_cpu(struct session *s, int cpu)
{
	struct worker *from = s->w, *to = worker_for_cpu(from->d, cpu);

	if (!to || to == from || s->nregions)
		return 0;
	limits_session_end(s);
	event_free(s->ev); /* inside its own callback: allowed */
	s->ev = NULL;
	pthread_mutex_lock(&from->lock);
	TAILQ_REMOVE(&from->sessions, s, link);
	from->nsessions--;
	pthread_mutex_unlock(&from->lock);
	log_client(LOG_DEBUG, s->pid, 0,
		   "client %d runs on CPU %d: moved to worker %d", (int)s->pid,
		   cpu, to->idx);
	worker_give(to, s);
	return 1;
}

static int on_hello(struct session *s, const struct uffdd_msg *m)
{
	struct daemon *d = s->w->d;
	struct uffdd_welcome w = { 0 };
	uint16_t ver;
	int dev = -1, rc;

	if (s->hello_done) {
		refuse(s, m, EPROTO, "HELLO was already received");
		return 0;
	}
	ver = m->u.hello.max_version < UFFDD_PROTO_MAX ? m->u.hello.max_version
						       : UFFDD_PROTO_MAX;
	if (ver < m->u.hello.min_version || ver < UFFDD_PROTO_MIN) {
		uffdd_send_error(s->sock, m->hdr.seq, UFFDD_HELLO,
				 EPROTONOSUPPORT,
				 "no common protocol version: client %u..%u, "
				 "daemon %u..%u",
				 m->u.hello.min_version, m->u.hello.max_version,
				 UFFDD_PROTO_MIN, UFFDD_PROTO_MAX);
		session_drop(s, "no common protocol version");
		return 0;
	}
	snprintf(s->name, sizeof(s->name), "%s", m->u.hello.name);
	sanitize(s->name);

	if ((m->u.hello.flags & UFFDD_HELLO_WANT_GRANT) &&
	    grant_allowed(&d->cfg, s)) {
		dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev < 0)
			log_client(LOG_WARNING, s->pid, 0,
				   "client %d may have a /dev/userfaultfd grant "
				   "but it cannot be opened: %s",
				   (int)s->pid, strerror(errno));
	}
	w.version = ver;
	w.kernel_features = d->caps.features;
	w.session_id = s->id;
	w.max_regions = d->cfg.max_regions_per_client;
	if (dev >= 0)
		w.flags |= UFFDD_WELCOME_GRANT;
	rc = uffdd_send(s->sock, UFFDD_WELCOME, m->hdr.seq, &w, sizeof(w),
			&dev, dev >= 0 ? 1 : 0);
	if (dev >= 0)
		close(dev);
	if (rc < 0) {
		session_drop(s, "cannot answer HELLO");
		return 0;
	}
	s->hello_done = 1;
	s->granted = dev >= 0;
	fdstore_add_session(s);
	log_client(LOG_INFO, s->pid, 0,
		   "client %d (%s, uid %u, \"%s\") connected on worker %d%s",
		   (int)s->pid, s->comm, (unsigned)s->uid, s->name, s->w->idx,
		   s->granted ? ", /dev/userfaultfd granted" : "");
	if (m->u.hello.flags & UFFDD_HELLO_CPU)
		return move_to_cpu(s, (int)m->u.hello.cpu);
	return 0;
}

/* Refuse a REGISTER: say why to the client and close what it sent. */
static int reg_refuse(struct session *s, struct uffdd_msg *m, int code,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int reg_refuse(struct session *s, struct uffdd_msg *m, int code,
		       const char *fmt, ...)
{
	char why[UFFDD_ERROR_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	refuse(s, m, code, "%s", why);
	uffdd_msg_close_fds(m);
	return -code;
}

static int on_register(struct session *s, struct uffdd_msg *m)
{
	struct daemon *d = s->w->d;
	const struct uffdd_register *rq = &m->u.reg;
	struct memfd_info mi;
	struct region_params p;
	struct region *r;
	char err[200];
	uint64_t feats, need;
	int rc;

	if (!s->hello_done)
		return reg_refuse(s, m, EPROTO, "HELLO must come first");
	if (s->nregions >= d->cfg.max_regions_per_client)
		return reg_refuse(s, m, EMFILE, "limit of %u regions reached",
				  d->cfg.max_regions_per_client);
	if (fd_check_uffd(m->fds[0], &feats, err, sizeof(err)) < 0)
		return reg_refuse(s, m, EBADF, "first descriptor: %s", err);
	if (fd_check_memfd(m->fds[1], &mi, err, sizeof(err)) < 0)
		return reg_refuse(s, m, EBADF, "second descriptor: %s", err);
	if (rq->kind != UFFDD_KIND_SHMEM && rq->kind != UFFDD_KIND_HUGETLB)
		return reg_refuse(s, m, EINVAL, "unknown region kind %u",
				  rq->kind);
	if (rq->kind != mi.kind)
		return reg_refuse(s, m, EINVAL,
				  "region says %s but the memfd is %s",
				  rq->kind == UFFDD_KIND_HUGETLB ? "hugetlb"
								 : "shmem",
				  mi.kind == UFFDD_KIND_HUGETLB ? "hugetlb"
								: "shmem");
	if (rq->kind == UFFDD_KIND_HUGETLB && !d->caps.minor_hugetlbfs)
		return reg_refuse(s, m, EOPNOTSUPP,
				  "this kernel has no minor faults on hugetlbfs "
				  "(Linux 5.13+)");
	if (rq->kind == UFFDD_KIND_SHMEM && !d->caps.minor_shmem)
		return reg_refuse(s, m, EOPNOTSUPP,
				  "this kernel has no minor faults on shmem "
				  "(Linux 5.14+)");
	need = rq->kind == UFFDD_KIND_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
					      : UFFD_FEATURE_MINOR_SHMEM;
	if (!(feats & need))
		return reg_refuse(s, m, EINVAL,
				  "the uffd was not opened with %s",
				  rq->kind == UFFDD_KIND_HUGETLB
					  ? "UFFD_FEATURE_MINOR_HUGETLBFS"
					  : "UFFD_FEATURE_MINOR_SHMEM");
	if (rq->page_size != mi.page_size)
		return reg_refuse(s, m, EINVAL,
				  "page size %u, but the memfd's is %u",
				  rq->page_size, mi.page_size);
	if (!rq->length || rq->start % mi.page_size ||
	    rq->length % mi.page_size || rq->offset % mi.page_size)
		return reg_refuse(s, m, EINVAL,
				  "start, length and offset must be non-zero "
				  "multiples of the page size %u",
				  mi.page_size);
	if (rq->start + rq->length < rq->start ||
	    rq->start + rq->length > USER_ADDR_LIMIT)
		return reg_refuse(s, m, EINVAL,
				  "range %#" PRIx64 "+%" PRIu64
				  " is outside user space",
				  rq->start, rq->length);
	if (rq->offset + rq->length < rq->offset ||
	    rq->offset + rq->length > mi.size)
		return reg_refuse(s, m, EINVAL,
				  "memfd holds %" PRIu64 " bytes, region needs "
				  "%" PRIu64 " from offset %" PRIu64,
				  mi.size, rq->length, rq->offset);
	if (s->bytes + rq->length > d->cfg.max_bytes_per_client)
		return reg_refuse(s, m, ENOSPC,
				  "limit of %" PRIu64 " bytes per client reached",
				  d->cfg.max_bytes_per_client);
	if (limits_regions() >= d->cfg.max_regions) {
		__atomic_add_fetch(&limits_st.regions_refused, 1,
				   __ATOMIC_RELAXED);
		return reg_refuse(s, m, ENOSPC,
				  "uffdd holds its limit of %u regions "
				  "(limits.regions)",
				  d->cfg.max_regions);
	}
	/* Last, as it registers what the client forgot to: the range must
	 * be a mapping of the right kind in the uffd's process. */
	if (fd_check_uffd_range(m->fds[0], rq->start, rq->length, err,
				sizeof(err)) < 0)
		return reg_refuse(s, m, EINVAL, "%s", err);

	memset(&p, 0, sizeof(p));
	p.start = rq->start;
	p.len = rq->length;
	p.offset = rq->offset;
	p.page_size = mi.page_size;
	p.kind = rq->kind;
	p.uffd_features = feats;
	snprintf(p.name, sizeof(p.name), "%s", rq->name);
	/* The configuration's rules, and what the client may ask for. */
	rc = rules_choose(d, s, rq->name[0] ? rq->name : "anon", rq->policy,
			  p.policy, sizeof(p.policy), err, sizeof(err));
	if (rc < 0)
		return reg_refuse(s, m, -rc, "%s", err);
	r = region_make(s, &p, err, sizeof(err));
	if (!r)
		return reg_refuse(s, m, EINVAL, "%s", err);

	/* The fault path must never block on a uffd read. */
	fcntl(m->fds[0], F_SETFL, fcntl(m->fds[0], F_GETFL) | O_NONBLOCK);
	r->ev = event_new(s->w->base, m->fds[0], EV_READ | EV_PERSIST, fault_cb,
			  r);
	if (!r->ev) {
		region_free(r);
		return reg_refuse(s, m, ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&s->w->lock);
	rc = region_insert(s, r);
	pthread_mutex_unlock(&s->w->lock);
	if (rc < 0) {
		region_free(r);
		return reg_refuse(s, m, -rc,
				  rc == -EEXIST ? "range overlaps a region of "
						  "this client"
						: "out of memory");
	}
	r->uffd = m->fds[0];
	r->memfd = m->fds[1];
	r->ctx = r->id;
	/* The policy may refuse the region (a file it cannot read, a memfd
	 * that is not sealed, a kernel without UFFDIO_POISON). */
	rc = policy_attach(r->pol, r, err, sizeof(err));
	if (rc < 0) {
		pthread_mutex_lock(&s->w->lock);
		region_remove(s, r);
		pthread_mutex_unlock(&s->w->lock);
		r->uffd = -1; /* still m's: reg_refuse closes them */
		r->memfd = -1;
		region_free(r);
		return reg_refuse(s, m, -rc, "%s", err);
	}
	m->nfds = 0;
	s->bytes += r->len;
	s->uffd_mode = rq->uffd_mode <= UFFDD_UFFD_USER_ONLY ? rq->uffd_mode : 0;

	struct uffdd_registered ok = { .region_id = r->id };

	if (uffdd_send(s->sock, UFFDD_REGISTERED, m->hdr.seq, &ok, sizeof(ok),
		       NULL, 0) < 0) {
		session_drop(s, "cannot answer REGISTER");
		return -EPIPE;
	}
	/* Only now: faults queued before the answer are served right away. */
	event_add(r->ev, NULL);
	fdstore_add_region(r);
	log_client(LOG_INFO, s->pid, r->id,
		   "client %d: region %016" PRIx64 " \"%s\" %s %" PRIu64
		   " MiB at %#" PRIx64 " policy %s",
		   (int)s->pid, r->id, r->name,
		   r->kind == UFFDD_KIND_HUGETLB ? "hugetlb" : "shmem",
		   r->len >> 20, r->start, r->pol->spec);
	return 0;
}

static void unregister_region(struct session *s, struct region *r)
{
	struct uffdio_range rg = { .start = r->start, .len = r->len };

	/* Wakes any thread still waiting in the range. */
	if (ioctl(r->uffd, UFFDIO_UNREGISTER, &rg) < 0 && errno != ESRCH)
		log_client(LOG_DEBUG, s->pid, r->id, "UFFDIO_UNREGISTER: %s",
			   strerror(errno));
	fdstore_remove_region(r);
	pthread_mutex_lock(&s->w->lock);
	region_remove(s, r);
	pthread_mutex_unlock(&s->w->lock);
	s->bytes -= r->len;
	region_free(r);
}

static void on_unregister(struct session *s, const struct uffdd_msg *m)
{
	struct region *r = region_by_id(s, m->u.unreg.region_id);

	if (!r) {
		refuse(s, m, ENOENT, "no region %016" PRIx64 " in this session",
		       m->u.unreg.region_id);
		return;
	}
	log_client(LOG_INFO, s->pid, r->id, "client %d: region %016" PRIx64
		   " unregistered", (int)s->pid, r->id);
	unregister_region(s, r);
	if (uffdd_send(s->sock, UFFDD_OK, m->hdr.seq, NULL, 0, NULL, 0) < 0)
		session_drop(s, "cannot answer UNREGISTER");
}

/* A producer says [offset, offset+length) of a region is ready (gate). */
static void on_publish(struct session *s, const struct uffdd_msg *m)
{
	struct region *r = region_by_id(s, m->u.publish.region_id);
	char err[UFFDD_ERROR_MSG_LEN];
	int rc;

	if (!s->hello_done) {
		refuse(s, m, EPROTO, "HELLO must come first");
		return;
	}
	if (!r) {
		refuse(s, m, ENOENT, "no region %016" PRIx64 " in this session",
		       m->u.publish.region_id);
		return;
	}
	rc = policy_publish(r, m->u.publish.offset, m->u.publish.length, err,
			    sizeof(err));
	if (rc < 0)
		uffdd_send_error(s->sock, m->hdr.seq, m->hdr.type, -rc, "%s",
				 err);
	else if (uffdd_send(s->sock, UFFDD_OK, m->hdr.seq, NULL, 0, NULL, 0) < 0)
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
		(void)on_register(s, m);
		break;
	case UFFDD_UNREGISTER:
		if (!s->hello_done)
			refuse(s, m, EPROTO, "HELLO must come first");
		else
			on_unregister(s, m);
		break;
	case UFFDD_PUBLISH:
		on_publish(s, m);
		break;
	default:
		refuse(s, m, EPROTO, "%s is not a request",
		       uffdd_type_name(m->hdr.type));
		break;
	}
	uffdd_msg_close_fds(m);
	return moved;
}

static void session_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct daemon *d = s->w->d;
	struct uffdd_msg m;
	char err[160];
	int moved;

	(void)what;
	/* A few messages per wake-up so one chatty client cannot starve
	 * the fault path of the others on this worker. */
	for (int i = 0; i < 16 && !s->dying; i++) {
		int rc = uffdd_recv((int)fd, &m, err, sizeof(err));

		if (rc == -EAGAIN)
			return;
		if (rc == -ECONNRESET) {
			session_drop(s, "disconnected");
			return;
		}
		if (rc < 0) {
			log_client(LOG_WARNING, s->pid, 0,
				   "client %d (%s): malformed message: %s",
				   (int)s->pid, s->comm, err);
			uffdd_send_error(s->sock, 0, 0, -rc,
					 "malformed message: %s", err);
			session_drop(s, "protocol error");
			return;
		}
		if (!limits_msg_allow(s)) {
			uffdd_msg_close_fds(&m);
			return;
		}
		/* A reload may replace the configuration meanwhile. */
		pthread_rwlock_rdlock(&d->cfg_lock);
		moved = dispatch(s, &m);
		pthread_rwlock_unlock(&d->cfg_lock);
		if (moved)
			return; /* another worker owns s now */
	}
	/* s may be dying here; it is freed from the event loop later. */
}

/*
 * A region taken back from the fd store.  A fault message the previous
 * instance read but never answered is not queued again: wake the whole
 * range so that such threads fault anew and reach us.
 */
static void attach_restored(struct session *s, struct region *r)
{
	struct uffdio_range rg = { .start = r->start, .len = r->len };

	char err[200];

	if (r->ev)
		return;
	r->ctx = r->id;
	if (policy_attach(r->pol, r, err, sizeof(err)) < 0)
		log_client(LOG_WARNING, s->pid, r->id,
			   "client %d: restored region %016" PRIx64
			   ": policy %s: %s", (int)s->pid, r->id, r->pol->spec,
			   err);
	fcntl(r->uffd, F_SETFL, fcntl(r->uffd, F_GETFL) | O_NONBLOCK);
	r->ev = event_new(s->w->base, r->uffd, EV_READ | EV_PERSIST, fault_cb, r);
	if (!r->ev) {
		log_client(LOG_ERR, s->pid, r->id,
			   "client %d: cannot watch restored region %016" PRIx64,
			   (int)s->pid, r->id);
		return;
	}
	event_add(r->ev, NULL);
	if (ioctl(r->uffd, UFFDIO_WAKE, &rg) < 0 && errno != ESRCH)
		log_client(LOG_WARNING, s->pid, r->id, "UFFDIO_WAKE: %s",
			   strerror(errno));
}

int session_attach(struct session *s, struct worker *w)
{
	s->w = w;
	s->ev = event_new(w->base, s->sock, EV_READ | EV_PERSIST, session_cb, s);
	if (!s->ev)
		return -ENOMEM;
	pthread_mutex_lock(&w->lock);
	TAILQ_INSERT_TAIL(&w->sessions, s, link);
	w->nsessions++;
	pthread_mutex_unlock(&w->lock);
	event_add(s->ev, NULL);
	if (limits_hello_arm(s) < 0)
		log_warn("cannot arm the HELLO deadline of a session");
	for (size_t i = 0; i < s->nregions; i++)
		attach_restored(s, s->regions[i]);
	return 0;
}

static void session_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	if (s->ev) /* a forked child's session has no socket */
		event_free(s->ev);
	free(s->regions);
	free(s);
}

void session_drop(struct session *s, const char *why)
{
	struct worker *w = s->w;
	struct daemon *d = w->d;
	static const struct timeval now = { 0, 0 };
	size_t n;

	if (s->dying)
		return;
	s->dying = 1;
	n = s->nregions;
	log_client(LOG_INFO, s->pid, 0,
		   "client %d (%s): session ended: %s; %zu region%s released",
		   (int)s->pid, s->comm, why, n, n == 1 ? "" : "s");
	/* A daemon that stops keeps its clients in the fd store for the
	 * next instance; a session that ends takes its descriptors out. */
	if (!__atomic_load_n(&d->stopping, __ATOMIC_RELAXED))
		fdstore_remove_session(s);
	pthread_mutex_lock(&w->lock);
	TAILQ_REMOVE(&w->sessions, s, link);
	w->nsessions--;
	pthread_mutex_unlock(&w->lock);
	/*
	 * Closing the last reference to each uffd wakes every thread still
	 * blocked in it and unregisters its ranges: the client goes on,
	 * served by the kernel.
	 */
	for (size_t i = 0; i < s->nregions; i++)
		region_free(s->regions[i]);
	s->nregions = 0;
	limits_session_end(s);
	events_session_end(s);
	if (s->ev)
		event_del(s->ev);
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	__atomic_sub_fetch(&d->clients, 1, __ATOMIC_RELAXED);
	/* Callers up the stack may still look at s->dying. */
	if (event_base_once(w->base, -1, EV_TIMEOUT, session_free_cb, s,
			    &now) < 0)
		log_err("cannot schedule freeing a session: leaking it");
}
