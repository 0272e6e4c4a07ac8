/* SPDX-License-Identifier: MIT */
#include "bounds.h"
#include "daemon.h"
#include "fdcheck.h"
#include "log.h"
#include "safecopy.h"
#include "session.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define RESUME_CHECK_MS 50

struct limits_stats limits_st;
static unsigned live_regions;

#define STAT_INC(f) __atomic_add_fetch(&limits_st.f, 1, __ATOMIC_RELAXED)

void throttle_log(struct throttle *t, int prio, const char *fmt, ...)
{
	uint64_t now = now_ns();
	char msg[512];
	va_list ap;

	if (t->last_ns && now - t->last_ns < 1000000000ull) {
		t->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t->suppressed)
		log_msg(prio, "%s (and %u more like it in the last second)",
			msg, t->suppressed);
	else
		log_msg(prio, "%s", msg);
	t->suppressed = 0;
	t->last_ns = now;
}

static unsigned cfg_word(struct daemon *d, const unsigned *field)
{
	unsigned v;

	pthread_rwlock_rdlock(&d->cfg_lock);
	v = *field;
	pthread_rwlock_unlock(&d->cfg_lock);
	return v;
}

int limits_msg_allow(struct session *s)
{
	struct daemon *d = s->w->d;
	unsigned rate = cfg_word(d, &d->cfg.max_msg_rate);
	uint64_t now = now_ns();

	/* Refill: rate tokens a second, at most one second's worth. */
	if (!s->rl_ns) {
		s->rl_tokens = rate;
	} else {
		double add = (double)(now - s->rl_ns) * rate / 1e9;

		s->rl_tokens = s->rl_tokens + add > rate ? rate
							 : s->rl_tokens + add;
	}
	s->rl_ns = now;
	if (s->rl_tokens >= 1) {
		s->rl_tokens -= 1;
		return 1;
	}
	STAT_INC(rate_limited);
	log_client(LOG_WARNING, s->pid, 0,
		   "client %d (%s, uid %u): more than %u messages a second "
		   "(limits.messages_per_second); disconnected",
		   (int)s->pid, s->comm, (unsigned)s->uid, rate);
	uffdd_send_error(s->sock, 0, 0, EBUSY,
			 "more than %u messages a second "
			 "(limits.messages_per_second)",
			 rate);
	session_drop(s, "message rate limit");
	return 0;
}

static void hello_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct daemon *d = s->w->d;
	unsigned ms = cfg_word(d, &d->cfg.hello_timeout_ms);

	(void)fd;
	(void)what;
	if (s->hello_done || s->dying)
		return;
	STAT_INC(hello_timeouts);
	log_client(LOG_NOTICE, s->pid, 0,
		   "client %d (%s, uid %u): no HELLO within %u ms "
		   "(limits.hello_timeout_ms); disconnected",
		   (int)s->pid, s->comm, (unsigned)s->uid, ms);
	uffdd_send_error(s->sock, 0, UFFDD_HELLO, ETIMEDOUT,
			 "no HELLO within %u ms", ms);
	session_drop(s, "no HELLO in time");
}

int limits_hello_arm(struct session *s)
{
	struct daemon *d = s->w->d;
	unsigned ms;
	struct timeval tv;

	/* Sessions that never had a socket of their own, or that said
	 * HELLO to an earlier instance (fd store), have nothing to say. */
	if (s->hello_done || s->sock < 0 || s->child || s->restored)
		return 0;
	ms = cfg_word(d, &d->cfg.hello_timeout_ms);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	s->hello_ev = evtimer_new(s->w->base, hello_cb, s);
	if (!s->hello_ev)
		return -ENOMEM;
	return evtimer_add(s->hello_ev, &tv);
}

void limits_session_end(struct session *s)
{
	if (s->hello_ev) {
		event_free(s->hello_ev);
		s->hello_ev = NULL;
	}
}

/* Faults read from the uffd but not yet answered: the kernel's count. */
static int held_now(int fd, unsigned *held)
{
	unsigned long pending, total;

	if (fd_uffd_counts(fd, &pending, &total) < 0)
		return -1;
	*held = total > pending ? (unsigned)(total - pending) : 0;
	return 0;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct region *r = arg;
	struct daemon *d = r->s->w->d;
	unsigned lim = cfg_word(d, &d->cfg.max_pending_faults);
	struct timeval tv = { 0, RESUME_CHECK_MS * 1000 };

	(void)fd;
	(void)what;
	if (r->dead || r->s->dying || !r->paused)
		return;
	if (held_now(r->uffd, &r->held_est) == 0 && r->held_est < lim) {
		r->paused = 0;
		log_client(LOG_INFO, r->s->pid, r->id,
			   "client %d region %s: %u faults held, reading its "
			   "uffd again",
			   (int)r->s->pid, r->name, r->held_est);
		event_add(r->ev, NULL);
		return;
	}
	evtimer_add(r->resume_ev, &tv);
}

int limits_fault_budget(struct region *r, int fd, int batch)
{
	struct daemon *d;
	struct timeval tv = { 0, RESUME_CHECK_MS * 1000 };
	unsigned lim;

	d = r->s->w->d;
	lim = cfg_word(d, &d->cfg.max_pending_faults);
	/* The common case: a policy that holds nothing, or little. */
	if (r->held_est + (unsigned)batch <= lim)
		return batch;
	if (held_now(fd, &r->held_est) < 0)
		return batch; /* no fdinfo: cannot tell, do not stall */
	if (r->held_est < lim)
		return lim - r->held_est < (unsigned)batch
			       ? (int)(lim - r->held_est)
			       : batch;
	/*
	 * Full: leave further faults queued in the kernel, where they cost
	 * the client, not us.  The faulting threads were waiting anyway.
	 */
	if (!r->resume_ev)
		r->resume_ev = evtimer_new(r->s->w->base, resume_cb, r);
	if (!r->resume_ev)
		return 1; /* cannot pause safely: trickle */
	event_del(r->ev);
	r->paused = 1;
	evtimer_add(r->resume_ev, &tv);
	STAT_INC(fault_pauses);
	log_client(LOG_WARNING, r->s->pid, r->id,
		   "client %d region %s: %u faults held (limits.pending_faults "
		   "%u); not reading more until the policy lets some go",
		   (int)r->s->pid, r->name, r->held_est, lim);
	return 0;
}

void limits_region_end(struct region *r)
{
	if (r->resume_ev) {
		event_free(r->resume_ev);
		r->resume_ev = NULL;
	}
}

void limits_region_made(void)
{
	__atomic_add_fetch(&live_regions, 1, __ATOMIC_RELAXED);
}

void limits_region_freed(void)
{
	__atomic_sub_fetch(&live_regions, 1, __ATOMIC_RELAXED);
}

unsigned limits_regions(void)
{
	return __atomic_load_n(&live_regions, __ATOMIC_RELAXED);
}

void limits_check_nofile(const struct config *c)
{
	struct rlimit rl;
	uint64_t need = (uint64_t)c->max_clients + 2ull * c->max_regions +
			(uint64_t)c->max_control_conns + 64;

	/* Every client holds a socket, every region a uffd and a memfd. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < need)
		log_warn("RLIMIT_NOFILE is %llu but the limits allow %llu "
			 "descriptors (clients + 2 x regions + control); "
			 "lower limits.regions or raise LimitNOFILE=",
			 (unsigned long long)rl.rlim_cur,
			 (unsigned long long)need);
}

static json_object *num(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

void limits_status(struct daemon *d, json_object *lim, json_object *tot)
{
	const struct config *c = &d->cfg;

	json_object_object_add(lim, "clients_per_uid", num(c->max_clients_per_uid));
	json_object_object_add(lim, "regions", num(c->max_regions));
	json_object_object_add(lim, "messages_per_second", num(c->max_msg_rate));
	json_object_object_add(lim, "pending_faults", num(c->max_pending_faults));
	json_object_object_add(lim, "hello_timeout_ms", num(c->hello_timeout_ms));
	json_object_object_add(lim, "control_connections",
			       num(c->max_control_conns));
	json_object_object_add(tot, "denied_clients",
			       num(__atomic_load_n(&d->denied_clients,
						   __ATOMIC_RELAXED)));
	json_object_object_add(tot, "hello_timeouts",
			       num(__atomic_load_n(&limits_st.hello_timeouts,
						   __ATOMIC_RELAXED)));
	json_object_object_add(tot, "rate_limited",
			       num(__atomic_load_n(&limits_st.rate_limited,
						   __ATOMIC_RELAXED)));
	json_object_object_add(tot, "fault_pauses",
			       num(__atomic_load_n(&limits_st.fault_pauses,
						   __ATOMIC_RELAXED)));
	json_object_object_add(tot, "regions_refused",
			       num(__atomic_load_n(&limits_st.regions_refused,
						   __ATOMIC_RELAXED)));
	json_object_object_add(tot, "live_regions", num(limits_regions()));
	json_object_object_add(tot, "sigbus_recovered", num(safe_copy_faults()));
}

void limits_region_status(const struct region *r, json_object *o)
{
	json_object_object_add(o, "held", num(CNT_LD(r->held_est)));
	json_object_object_add(o, "paused",
			       json_object_new_boolean(CNT_LD(r->paused)));
}
