/* SPDX-License-Identifier: MIT */
#include "hold.h"
#include "bounds.h"
#include "daemon.h"
#include "fdcheck.h"
#include "log.h"
#include "session.h"
#include "worker.h"

#include <event2/event.h>

#define RESUME_CHECK_MS 50

/*
 * r holds n now.  The count is the core's estimate (a hold adds one, a
 * release the policy reports takes them off) until the kernel's own count
 * is read; the uid's share follows it either way.
 */
static void hold_set(struct region *r, unsigned n)
{
	unsigned was = r->hold.held_est;

	if (n > was)
		share_force(r->share, SHARE_HELD, n - was);
	else if (n < was)
		share_give(r->share, SHARE_HELD, was - n);
	__atomic_store_n(&r->hold.held_est, n, __ATOMIC_RELAXED);
}

void hold_more(struct region *r)
{
	hold_set(r, r->hold.held_est + 1);
}

void hold_done(struct region *r, unsigned n)
{
	hold_set(r, r->hold.held_est > n ? r->hold.held_est - n : 0);
}

void hold_forget(struct region *r)
{
	if (r->share)
		hold_set(r, 0);
}

/* Faults read from the uffd but not yet answered: the kernel's count. */
static int sync_kernel(struct region *r)
{
	unsigned long pending, total;

	if (fd_uffd_counts(r->uffd, &pending, &total) < 0)
		return -1;
	hold_set(r, total > pending ? (unsigned)(total - pending) : 0);
	return 0;
}

static unsigned pending_limit(struct region *r)
{
	struct daemon *d = worker_daemon(r->s->w);

	return daemon_cfg_word(d, &d->conf.cfg.limits.pending_faults);
}

/* Faults r may read now under both bounds (0: none). */
static int room(struct region *r, int batch)
{
	uint64_t share = share_room(r->share, SHARE_HELD, r->s->admin);
	int n = bounds_fault_budget(r->hold.held_est, pending_limit(r), batch);

	return share < (uint64_t)n ? (int)share : n;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct region *r = arg;
	struct timeval tv = { 0, RESUME_CHECK_MS * 1000 };

	(void)fd;
	(void)what;
	if (r->dead || r->s->dying || !r->hold.paused)
		return;
	if (sync_kernel(r) == 0 && room(r, 1) > 0) {
		r->hold.paused = 0;
		log_client(LOG_INFO, &r->s->who, r->v.id,
			   "client %d region %s: %u faults held, reading its "
			   "uffd again",
			   (int)r->s->who.pid, r->name, r->hold.held_est);
		event_add(r->ev, NULL);
		return;
	}
	evtimer_add(r->hold.resume_ev, &tv);
}

/* Stop reading r's uffd until its policy lets some held faults go. */
static int pause_reading(struct region *r)
{
	struct timeval tv = { 0, RESUME_CHECK_MS * 1000 };
	unsigned lim = pending_limit(r);

	/* Further faults stay queued in the kernel, where they cost the
	 * client, not us.  The faulting threads were waiting anyway. */
	if (!r->hold.resume_ev)
		r->hold.resume_ev =
		    evtimer_new(worker_base(r->s->w), resume_cb, r);
	if (!r->hold.resume_ev)
		return 1; /* cannot pause safely: trickle */
	event_del(r->ev);
	r->hold.paused = 1;
	evtimer_add(r->hold.resume_ev, &tv);
	bounds_count(BOUNDS_FAULT_PAUSE);
	if (r->hold.held_est >= lim)
		log_client(LOG_WARNING, &r->s->who, r->v.id,
			   "client %d region %s: %u faults held "
			   "(limits.pending_faults %u); not reading more "
			   "until the policy lets some go",
			   (int)r->s->who.pid, r->name, r->hold.held_est, lim);
	else
		log_client(LOG_WARNING, &r->s->who, r->v.id,
			   "client %d region %s: uid %u holds all the faults "
			   "it may (its share of limits.pending_faults_total); "
			   "not reading more until some go",
			   (int)r->s->who.pid, r->name,
			   (unsigned)r->s->who.uid);
	return 0;
}

int hold_budget(struct region *r, int batch)
{
	int n;

	/* The common case: a policy that holds nothing, or little. */
	n = room(r, batch);
	if (n == batch)
		return batch;
	if (sync_kernel(r) < 0)
		return batch; /* no fdinfo: cannot tell, do not stall */
	n = room(r, batch);
	return n ? n : pause_reading(r);
}
