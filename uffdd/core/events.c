/* SPDX-License-Identifier: MIT */
/*
 * Lifecycle events of a client's uffds.
 *
 * fork:   the kernel hands us a new uffd for the child's copy of the
 *         ranges registered on the parent's uffd.  The child becomes a
 *         session of its own (no socket) on the parent's worker; its
 *         regions share the parent's policy instances, since they map the
 *         same memfd.  One fork produces one event per parent uffd (one per
 *         registration), in a row: they are gathered into one child session
 *         ("forming").  The child's pid is not in the event: it is found
 *         among the parent's children (the one mapping the region), or from
 *         the first fault's thread id, then watched with a pidfd.
 * remap:  mremap moved [from, from+len) to `to`: the regions follow (split
 *         first when only part of one moves).
 * unmap:  munmap: the regions inside are dropped, those across an edge are
 *         split (shrunk).
 * remove: MADV_REMOVE / MADV_DONTNEED: the range stays registered (a later
 *         touch of a page still in the page cache is a minor fault again);
 *         only counted.
 */
#include "events.h"
#include "fault.h"
#include "fdstore.h"
#include "bounds.h"
#include "log.h"
#include "policy/policy.h"
#include "region.h"
#include "session.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FIND_PID_TRIES 200 /* every 10 ms: 2 s */

static uint64_t new_id(void)
{
	uint64_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = now_ns() * 0x9e3779b97f4a7c15ULL;
	return id;
}

static void retire_free_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	region_free(arg);
}

void region_retire(struct region *r, const char *why)
{
	static const struct timeval now = { 0, 0 };
	struct session *s = r->s;

	if (r->dead)
		return;
	log_client(LOG_INFO, s->pid, r->id,
		   "client %d: region %016" PRIx64 " \"%s\" %#" PRIx64
		   "+%" PRIu64 " dropped: %s",
		   (int)s->pid, r->id, r->name, r->start, r->len, why);
	fdstore_remove_region(r);
	pthread_mutex_lock(&s->w->lock);
	region_remove(s, r);
	pthread_mutex_unlock(&s->w->lock);
	s->bytes -= r->len;
	r->dead = 1;
	if (r->ev)
		event_del(r->ev);
	policy_release(r->pol, r);
	r->pol = NULL;
	if (event_base_once(s->w->base, -1, EV_TIMEOUT, retire_free_cb, r,
			    &now) < 0)
		log_err("cannot schedule freeing a region: leaking it");
}

/*
 * A region like src for session dst over [start, start+len) at memfd
 * offset, serving uffd (taken over, closed on failure).  Not inserted.
 */
static struct region *region_clone(struct region *src, struct session *dst,
				   int uffd, uint64_t start, uint64_t len,
				   uint64_t offset)
{
	struct region *nr = calloc(1, sizeof(*nr));
	char err[200];

	if (!nr) {
		close(uffd);
		return NULL;
	}
	limits_region_made(); /* region_free counts it out */
	nr->uffd = uffd;
	nr->memfd = fcntl(src->memfd, F_DUPFD_CLOEXEC, 0);
	nr->id = new_id();
	nr->s = dst;
	nr->start = start;
	nr->len = len;
	nr->offset = offset;
	nr->page_size = src->page_size;
	nr->kind = src->kind;
	nr->uffd_features = src->uffd_features;
	nr->ctx = src->ctx;
	nr->parent_ctx = src->parent_ctx;
	snprintf(nr->name, sizeof(nr->name), "%s", src->name);
	fcntl(uffd, F_SETFL, fcntl(uffd, F_GETFL) | O_NONBLOCK);
	nr->pol = src->pol;
	if (nr->memfd < 0 || policy_attach(nr->pol, nr, err, sizeof(err)) < 0) {
		if (nr->memfd >= 0)
			log_client(LOG_WARNING, dst->pid, nr->id,
				   "region %s: policy %s: %s", nr->name,
				   nr->pol->spec, err);
		nr->pol = NULL;
		region_free(nr);
		return NULL;
	}
	nr->ev = event_new(dst->w->base, uffd, EV_READ | EV_PERSIST, fault_cb,
			   nr);
	if (!nr->ev) {
		region_free(nr);
		return NULL;
	}
	return nr;
}

static int insert_live(struct session *s, struct region *r)
{
	int rc;

	pthread_mutex_lock(&s->w->lock);
	rc = region_insert(s, r);
	pthread_mutex_unlock(&s->w->lock);
	if (rc < 0) {
		log_client(LOG_WARNING, s->pid, r->id,
			   "client %d: region %s %#" PRIx64 "+%" PRIu64
			   " cannot be placed: %s",
			   (int)s->pid, r->name, r->start, r->len,
			   strerror(-rc));
		region_free(r);
		return rc;
	}
	s->bytes += r->len;
	event_add(r->ev, NULL);
	return 0;
}

/* Cut the region across addr in two; the upper piece is a new region. */
static int split_at(struct session *s, uint64_t addr)
{
	struct region *q = region_find(s, addr), *up;
	uint64_t cut;

	if (!q || q->start == addr)
		return 0;
	cut = addr - q->start;
	up = region_clone(q, s, fcntl(q->uffd, F_DUPFD_CLOEXEC, 0), addr,
			  q->len - cut, q->offset + cut);
	if (!up)
		return -ENOMEM;
	pthread_mutex_lock(&s->w->lock);
	q->len = cut;
	pthread_mutex_unlock(&s->w->lock);
	s->bytes -= up->len;
	return insert_live(s, up);
}

/* Regions of s wholly inside [start, end), into out (at most max). */
static size_t inside(struct session *s, uint64_t start, uint64_t end,
		     struct region **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nregions && n < max; i++) {
		struct region *q = s->regions[i];

		if (q->start >= start && q->start + q->len <= end)
			out[n++] = q;
	}
	return n;
}

#define MAX_PIECES 64

static void on_unmap(struct region *home, uint64_t start, uint64_t end)
{
	struct session *s = home->s;
	struct region *gone[MAX_PIECES];
	size_t n;

	CNT_ADD(s->ev_unmap, 1);
	start &= ~((uint64_t)home->page_size - 1);
	end = (end + home->page_size - 1) & ~((uint64_t)home->page_size - 1);
	if (split_at(s, start) < 0 || split_at(s, end) < 0)
		log_client(LOG_WARNING, s->pid, home->id,
			   "client %d: cannot split a region at munmap",
			   (int)s->pid);
	n = inside(s, start, end, gone, MAX_PIECES);
	for (size_t i = 0; i < n; i++)
		region_retire(gone[i], "unmapped by the client");
}

static void on_remap(struct region *home, uint64_t from, uint64_t to,
		     uint64_t len)
{
	struct session *s = home->s;
	struct region *mv[MAX_PIECES], *gone[MAX_PIECES];
	size_t n, ng;

	CNT_ADD(s->ev_remap, 1);
	if (split_at(s, from) < 0 || split_at(s, from + len) < 0)
		log_client(LOG_WARNING, s->pid, home->id,
			   "client %d: cannot split a region at mremap",
			   (int)s->pid);
	n = inside(s, from, from + len, mv, MAX_PIECES);
	pthread_mutex_lock(&s->w->lock);
	for (size_t i = 0; i < n; i++)
		region_remove(s, mv[i]);
	pthread_mutex_unlock(&s->w->lock);
	/* Whatever was registered at the target is gone (MREMAP_FIXED). */
	split_at(s, to);
	split_at(s, to + len);
	ng = inside(s, to, to + len, gone, MAX_PIECES);
	for (size_t i = 0; i < ng; i++)
		region_retire(gone[i], "replaced by mremap");
	for (size_t i = 0; i < n; i++) {
		struct region *q = mv[i];
		int rc;

		pthread_mutex_lock(&s->w->lock);
		q->start = q->start - from + to;
		rc = region_insert(s, q);
		pthread_mutex_unlock(&s->w->lock);
		if (rc < 0) {
			/* Not in the table any more: retire just frees it. */
			region_retire(q, "moved onto another region");
			continue;
		}
		log_client(LOG_INFO, s->pid, q->id,
			   "client %d: region %s moved %#" PRIx64 " -> %#" PRIx64
			   " (%" PRIu64 " bytes)",
			   (int)s->pid, q->name, q->start - to + from, q->start,
			   q->len);
	}
}

/* Child sessions ------------------------------------------------------------ */

static struct session *session_by_id(struct worker *w, uint64_t id)
{
	struct session *c;

	TAILQ_FOREACH(c, &w->sessions, link)
		if (c->id == id && !c->dying)
			return c;
	return NULL;
}

static void child_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *c = arg;

	(void)fd;
	(void)what;
	session_drop(c, "process has exited");
}

static int pid_claimed(struct worker *w, pid_t pid)
{
	struct session *o;

	TAILQ_FOREACH(o, &w->sessions, link)
		if (o->child && o->pid_known && o->pid == pid && !o->dying)
			return 1;
	return 0;
}

static void set_pid(struct session *c, pid_t pid, const char *how)
{
	int fd;

	c->pid = pid;
	c->pid_known = 1;
	{
		/* Keep the parent's name when the child's /proc is hidden. */
		char comm[sizeof(c->comm)];

		session_read_comm(pid, comm, sizeof(comm));
		if (strcmp(comm, "?") != 0)
			memcpy(c->comm, comm, sizeof(comm));
	}
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		c->pidfd = fd;
		c->pidfd_ev = event_new(c->w->base, fd, EV_READ, child_exit_cb,
					c);
		if (c->pidfd_ev)
			event_add(c->pidfd_ev, NULL);
	}
	log_client(LOG_INFO, pid, 0,
		   "client %d: child %d of client %d followed (%s), %zu "
		   "region%s",
		   (int)pid, (int)pid, (int)c->parent_pid, how, c->nregions,
		   c->nregions == 1 ? "" : "s");
}

void events_learn_pid(struct session *s, uint32_t tid)
{
	char path[64], line[128];
	FILE *f;
	long tgid = 0;

	if (s->pid_known || !tid)
		return;
	snprintf(path, sizeof(path), "/proc/%u/status", tid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %ld", &tgid) == 1)
			break;
	fclose(f);
	if (tgid > 0 && !pid_claimed(s->w, (pid_t)tgid))
		set_pid(s, (pid_t)tgid, "from a fault");
}

/* Does pid map an address the child session serves? */
static int maps_region(pid_t pid, const struct session *c)
{
	char path[64], line[512], want[40];
	FILE *f;
	int found = 0;

	if (!c->nregions)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	snprintf(want, sizeof(want), "%" PRIx64 "-", c->regions[0]->start);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, want, strlen(want)) == 0;
	fclose(f);
	return found;
}

/* The newest unclaimed child of the parent that maps our region. */
static pid_t find_child(struct session *c)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	pid_t best = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)c->parent_pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char cp[400];
		FILE *f;
		long pid;

		if (e->d_name[0] == '.')
			continue;
		snprintf(cp, sizeof(cp), "/proc/%d/task/%s/children",
			 (int)c->parent_pid, e->d_name);
		f = fopen(cp, "re");
		if (!f)
			continue;
		while (fscanf(f, "%ld", &pid) == 1)
			if (pid > best && !pid_claimed(c->w, (pid_t)pid) &&
			    maps_region((pid_t)pid, c))
				best = (pid_t)pid;
		fclose(f);
	}
	closedir(d);
	return best;
}

/*
 * Is the mm behind a child's uffd still there?  A uffd holds no reference
 * that keeps a process's memory alive: once the child exits or execs, the
 * mm loses its last user and ioctls that need it fail with ENOMEM
 * (UNREGISTER) -- checked on 6.18.  The probe unregisters a page at 1 MiB,
 * where no served region ever is, so it changes nothing.
 */
static int mm_alive(const struct session *c)
{
	struct uffdio_range rg = { .start = 1ull << 20, .len = 4096 };

	if (!c->nregions)
		return 0;
	if (ioctl(c->regions[0]->uffd, UFFDIO_UNREGISTER, &rg) < 0 &&
	    (errno == ENOMEM || errno == ESRCH))
		return 0;
	return 1;
}

/*
 * A child session's housekeeping: find its pid (every 10 ms for 2 s),
 * and end it when its memory has gone (the child exec'd or exited before
 * its pid was known; a known pid is watched with a pidfd as well).
 */
static void find_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *c = arg;
	struct timeval fast = { 0, 10000 }, slow = { 1, 0 };
	pid_t pid;

	(void)fd;
	(void)what;
	if (c->dying)
		return;
	if (!mm_alive(c)) {
		session_drop(c, "its memory has gone (exit or exec)");
		return;
	}
	if (!c->pid_known) {
		pid = find_child(c);
		if (pid > 0)
			set_pid(c, pid, "among its parent's children");
		else if (c->find_tries + 1 == FIND_PID_TRIES)
			log_client(LOG_NOTICE, c->parent_pid, 0,
				   "a child of client %d is served but its "
				   "pid is not known yet", (int)c->parent_pid);
	}
	c->find_tries++;
	event_add(c->find_ev, c->find_tries < FIND_PID_TRIES ? &fast : &slow);
}

static struct session *child_new(struct session *p)
{
	struct session *c = calloc(1, sizeof(*c));
	struct timeval tv = { 0, 0 };

	if (!c)
		return NULL;
	c->id = new_id();
	c->w = p->w;
	c->sock = -1;
	c->pidfd = -1;
	c->child = 1;
	c->parent_pid = p->pid;
	c->parent_session = p->id;
	c->uid = p->uid;
	c->gid = p->gid;
	c->hello_done = 1;
	c->granted = 0;
	c->uffd_mode = p->uffd_mode;
	c->since = time(NULL);
	memcpy(c->comm, p->comm, sizeof(c->comm));
	memcpy(c->name, p->name, sizeof(c->name));
	memcpy(c->exe, p->exe, sizeof(c->exe));
	memcpy(c->unit, p->unit, sizeof(c->unit));
	c->find_ev = event_new(p->w->base, -1, 0, find_cb, c);
	pthread_mutex_lock(&p->w->lock);
	TAILQ_INSERT_TAIL(&p->w->sessions, c, link);
	p->w->nsessions++;
	pthread_mutex_unlock(&p->w->lock);
	__atomic_add_fetch(&p->w->d->clients, 1, __ATOMIC_RELAXED);
	if (c->find_ev)
		event_add(c->find_ev, &tv);
	return c;
}

void events_session_end(struct session *s)
{
	if (s->find_ev) {
		event_free(s->find_ev);
		s->find_ev = NULL;
	}
	if (s->pidfd_ev) {
		event_free(s->pidfd_ev);
		s->pidfd_ev = NULL;
	}
	if (s->pidfd >= 0) {
		close(s->pidfd);
		s->pidfd = -1;
	}
}

static int has_copy_of(const struct session *c, uint64_t ctx)
{
	for (size_t i = 0; i < c->nregions; i++)
		if (c->regions[i]->parent_ctx == ctx)
			return 1;
	return 0;
}

static void on_fork(struct region *home, int ufd)
{
	struct session *p = home->s, *c = NULL;
	struct region *src[MAX_PIECES];
	size_t n = 0, done = 0;
	uint64_t ctx = new_id();

	CNT_ADD(p->ev_fork, 1);
	if (p->forming)
		c = session_by_id(p->w, p->forming);
	if (c && (c->pid_known || has_copy_of(c, home->ctx)))
		c = NULL;
	if (!c)
		c = child_new(p);
	if (!c) {
		log_client(LOG_ERR, p->pid, home->id,
			   "client %d forked; out of memory: the child is "
			   "served by the kernel", (int)p->pid);
		close(ufd);
		return;
	}
	p->forming = c->id;
	for (size_t i = 0; i < p->nregions && n < MAX_PIECES; i++)
		if (p->regions[i]->ctx == home->ctx)
			src[n++] = p->regions[i];
	for (size_t i = 0; i < n; i++) {
		struct region *nr;

		nr = region_clone(src[i], c, fcntl(ufd, F_DUPFD_CLOEXEC, 0),
				  src[i]->start, src[i]->len, src[i]->offset);
		if (!nr)
			continue;
		nr->ctx = ctx;
		nr->parent_ctx = home->ctx;
		if (insert_live(c, nr) == 0)
			done++;
	}
	/* The regions hold dups; without any, the child's range is
	 * unregistered when this last reference goes. */
	close(ufd);
	log_client(LOG_INFO, p->pid, home->id,
		   "client %d forked: child session %016" PRIx64
		   " serves %zu region%s",
		   (int)p->pid, c->id, done, done == 1 ? "" : "s");
	if (!c->nregions)
		session_drop(c, "nothing of the parent's to serve");
}

void events_handle(struct region *home, const struct uffd_msg *m)
{
	struct session *s = home->s;

	switch (m->event) {
	case UFFD_EVENT_FORK:
		on_fork(home, (int)m->arg.fork.ufd);
		break;
	case UFFD_EVENT_REMAP:
		on_remap(home, m->arg.remap.from, m->arg.remap.to,
			 m->arg.remap.len);
		break;
	case UFFD_EVENT_UNMAP:
		on_unmap(home, m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_REMOVE:
		CNT_ADD(s->ev_remove, 1);
		log_client(LOG_DEBUG, s->pid, home->id,
			   "client %d: %#llx-%#llx removed (madvise)",
			   (int)s->pid,
			   (unsigned long long)m->arg.remove.start,
			   (unsigned long long)m->arg.remove.end);
		break;
	default:
		log_client(LOG_DEBUG, s->pid, home->id,
			   "uffd event %u ignored", m->event);
		break;
	}
}
