/* SPDX-License-Identifier: MIT */
/*
 * fork: the kernel hands us a new uffd for the child's copy of the ranges
 * registered on the parent's uffd.  The child becomes a session of its own
 * (no socket) on the parent's worker; its regions share the parent's
 * policy instances, since they map the same memfd.  One fork produces one
 * event per parent uffd (one per registration), in a row: they are
 * gathered into one child session ("forming").  The child's pid is not in
 * the event: it is found among the parent's children (the one mapping the
 * region), or from the first fault's thread id, then watched with a pidfd.
 */
#include "daemon.h"
#include "events.h"
#include "log.h"
#include "session.h"
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FIND_PID_TRIES 200 /* every 10 ms: 2 s */
#define MAX_PIECES     64

static void child_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_drop(arg, "process has exited");
}

struct claim {
	pid_t pid;
	int claimed;
};

static void claimed_by(struct session *o, void *arg)
{
	struct claim *c = arg;

	if (o->child && o->who.pid_known && o->who.pid == c->pid && !o->dying)
		c->claimed = 1;
}

/* Is pid already the pid of a child session of w? */
static int pid_claimed(struct worker *w, pid_t pid)
{
	struct claim c = { .pid = pid };

	sessions_each(w, claimed_by, &c);
	return c.claimed;
}

static void set_pid(struct session *c, pid_t pid, const char *how)
{
	char comm[sizeof(c->who.comm)];
	int fd;

	c->who.pid = pid;
	c->who.pid_known = 1;
	/* Keep the parent's name when the child's /proc is hidden. */
	peer_comm(pid, comm, sizeof(comm));
	if (strcmp(comm, "?") != 0)
		memcpy(c->who.comm, comm, sizeof(comm));
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	c->who.self_id = peer_pid_id(pid);
	if (fd >= 0) {
		c->child->pidfd = fd;
		c->child->pidfd_ev =
		    event_new(worker_base(c->w), fd, EV_READ, child_exit_cb, c);
		if (c->child->pidfd_ev)
			event_add(c->child->pidfd_ev, NULL);
	}
	log_client(LOG_INFO, &c->who, 0,
		   "client %d: child %d of client %d followed (%s), %zu "
		   "region%s",
		   (int)pid, (int)pid, (int)c->who.parent_pid, how,
		   c->regions.n, c->regions.n == 1 ? "" : "s");
}

void events_learn_pid(struct session *s, uint32_t tid)
{
	char path[64], line[128];
	FILE *f;
	long tgid = 0;

	if (s->who.pid_known || !tid)
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

	if (!c->regions.n)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	snprintf(want, sizeof(want), "%" PRIx64 "-", c->regions.v[0]->v.start);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, want, strlen(want)) == 0;
	fclose(f);
	return found;
}

/* The newest unclaimed child in one task's children file. */
static pid_t newest_in(const char *children, struct session *c, pid_t best)
{
	FILE *f = fopen(children, "re");
	long pid;

	if (!f)
		return best;
	while (fscanf(f, "%ld", &pid) == 1)
		if (pid > best && !pid_claimed(c->w, (pid_t)pid) &&
		    maps_region((pid_t)pid, c))
			best = (pid_t)pid;
	fclose(f);
	return best;
}

/* The newest unclaimed child of the parent that maps our region. */
static pid_t find_child(struct session *c)
{
	char path[64], cp[400];
	struct dirent *e;
	pid_t best = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)c->who.parent_pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(cp, sizeof(cp), "/proc/%d/task/%s/children",
			 (int)c->who.parent_pid, e->d_name);
		best = newest_in(cp, c, best);
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

	if (!c->regions.n)
		return 0;
	if (ioctl(c->regions.v[0]->uffd, UFFDIO_UNREGISTER, &rg) < 0 &&
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
	if (!c->who.pid_known) {
		pid = find_child(c);
		if (pid > 0)
			set_pid(c, pid, "among its parent's children");
		else if (c->child->find_tries + 1 == FIND_PID_TRIES)
			log_client(LOG_NOTICE, &c->who, 0,
				   "a child of client %d is served but its "
				   "pid is not known yet",
				   (int)c->who.parent_pid);
	}
	c->child->find_tries++;
	event_add(c->child->find_ev,
		  c->child->find_tries < FIND_PID_TRIES ? &fast : &slow);
}

/*
 * A child session of p, on p's worker, its pid not known yet; NULL (why
 * set) when it cannot be made or p's uid has no room for another client.
 */
static struct session *child_new(struct session *p, char *why, size_t len)
{
	struct session *c = session_blank();
	struct timeval tv = { 0, 0 };

	snprintf(why, len, "out of memory");
	if (!c || !(c->child = calloc(1, sizeof(*c->child))) ||
	    !(c->share = share_get(p->who.uid))) {
		if (c)
			free(c->child);
		free(c);
		return NULL;
	}
	/* A fork is a client of the same uid: its share, or not followed. */
	c->admin = p->admin;
	if (session_count_in(c, 0, why, len) < 0) {
		share_put(c->share);
		free(c->child);
		free(c);
		return NULL;
	}
	c->child->pidfd = -1;
	c->child->parent_session = p->id;
	c->who = p->who;
	c->who.pid = 0; /* not known yet */
	c->who.pid_known = 0;
	c->who.parent_pid = p->who.pid;
	c->who.parent_id = p->who.self_id;
	c->who.parent_id_known = 1;
	c->who.self_id = 0; /* with its pid */
	c->proto.hello_done = 1;
	c->proto.uffd_mode = p->proto.uffd_mode;
	memcpy(c->proto.name, p->proto.name, sizeof(c->proto.name));
	c->child->find_ev = event_new(worker_base(p->w), -1, 0, find_cb, c);
	session_join(c, p->w);
	if (c->child->find_ev)
		event_add(c->child->find_ev, &tv);
	return c;
}

static int has_copy_of(const struct session *c, uint64_t ctx)
{
	for (size_t i = 0; i < c->regions.n; i++)
		if (c->regions.v[i]->parent_ctx == ctx)
			return 1;
	return 0;
}

/* The child session this fork event belongs to (new, or forming). */
static struct session *child_of_fork(struct session *p, uint64_t home_ctx,
				     char *why, size_t len)
{
	struct session *c =
	    p->events.forming ? session_find(p->w, p->events.forming) : NULL;

	if (c && (c->who.pid_known || has_copy_of(c, home_ctx)))
		c = NULL;
	return c ? c : child_new(p, why, len);
}

/* Copies of p's regions registered on home's uffd, for c on ufd. */
static size_t copy_regions(struct session *p, struct session *c,
			   struct region *home, int ufd)
{
	struct region *src[MAX_PIECES];
	uint64_t ctx = random_id();
	size_t n = 0, done = 0;
	char err[200];

	for (size_t i = 0; i < p->regions.n && n < MAX_PIECES; i++)
		if (p->regions.v[i]->ctx == home->ctx)
			src[n++] = p->regions.v[i];
	for (size_t i = 0; i < n; i++) {
		struct region *nr;

		nr = region_clone(src[i], c, fcntl(ufd, F_DUPFD_CLOEXEC, 0),
				  src[i]->v.start, src[i]->v.len,
				  src[i]->v.offset, err, sizeof(err));
		if (!nr) {
			log_client(LOG_WARNING, &c->who, src[i]->v.id,
				   "region %s: %s", src[i]->name, err);
			continue;
		}
		nr->ctx = ctx;
		nr->parent_ctx = home->ctx;
		if (session_add_live(c, nr) == 0)
			done++;
	}
	return done;
}

void events_fork(struct region *home, int ufd)
{
	char why[256];
	struct session *p = home->s,
		       *c = child_of_fork(p, home->ctx, why, sizeof(why));
	size_t done;

	if (!c) {
		log_client(LOG_WARNING, &p->who, home->v.id,
			   "client %d forked; the child is served by the "
			   "kernel: %s",
			   (int)p->who.pid, why);
		close(ufd);
		CNT_ADD(p->events.fork, 1);
		return;
	}
	p->events.forming = c->id;
	done = copy_regions(p, c, home, ufd);
	/* The regions hold dups; without any, the child's range is
	 * unregistered when this last reference goes. */
	close(ufd);
	log_client(LOG_INFO, &p->who, home->v.id,
		   "client %d forked: child session %016" PRIx64
		   " serves %zu region%s",
		   (int)p->who.pid, c->id, done, done == 1 ? "" : "s");
	if (!c->regions.n)
		session_drop(c, "nothing of the parent's to serve");
	CNT_ADD(p->events.fork, 1);
}
