/* SPDX-License-Identifier: MIT */
#include "fault.h"
#include "bounds.h"
#include "clock.h"
#include "daemon.h"
#include "events.h"
#include "fdcheck.h"
#include "hold.h"
#include "log.h"
#include "session.h"
#include "uffd_uapi.h"
#include "unresolved.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FAULT_BATCH    64
#define FAULT_ROUNDS   16
#define EAGAIN_RETRIES 16

static unsigned long continue_req = UFFDIO_CONTINUE;

void fault_init(const struct uffd_caps *caps)
{
	if (caps->continue_ok)
		continue_req = caps->continue_req;
}

/* A polite busy-wait step, on every architecture. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static void wake(int uffd, uint64_t start, uint64_t len)
{
	struct uffdio_range r = { .start = start, .len = len };

	if (ioctl(uffd, UFFDIO_WAKE, &r) < 0 && errno != ESRCH)
		log_debug("UFFDIO_WAKE %#llx+%llu: %s",
			  (unsigned long long)start, (unsigned long long)len,
			  strerror(errno));
}

/* What a CONTINUE achieved: bytes mapped, faults another thread won,
 * and the page it failed at. */
struct outcome {
	uint64_t mapped;
	int raced;
	uint64_t fail_at;
};

static int continue_range(const struct region *r, int uffd, uint64_t start,
			  uint64_t len, struct outcome *o, int soft);

/*
 * CONTINUE [start, start+len) page by page after an EEXIST, since the
 * kernel stops at the first mapped page and says nothing of the rest.
 */
static int continue_pages(const struct region *r, int uffd, uint64_t start,
			  uint64_t len, struct outcome *o, int soft)
{
	int rc = 0;

	for (uint64_t a = start; a < start + len; a += r->v.page_size) {
		int e = continue_range(r, uffd, a, r->v.page_size, o, soft);

		if (e == -ESRCH)
			return e;
		if (e < 0)
			rc = e;
	}
	return rc;
}

/* After a CONTINUE failed with e on [start, start+len): 1 to try the rest
 * again, else the range's result. */
static int after_error(const struct region *r, int uffd, int e, uint64_t start,
		       uint64_t len, int done_some, int tries,
		       struct outcome *o, int soft, int *rc)
{
	uint64_t psz = r->v.page_size;

	switch (e) {
	case EEXIST:
		if (len > psz) {
			*rc = continue_pages(r, uffd, start, len, o, soft);
			return 0;
		}
		/* Another thread's fault mapped it first (or, in a window,
		 * an earlier window did). */
		if (!soft)
			o->raced++;
		wake(uffd, start, len);
		*rc = 0;
		return 0;
	case EAGAIN:
		/*
		 * Part done, the rest absent or racing: try the rest.
		 * Nothing done: the mm is changing (a remove, remap or fork
		 * event is queued for us).  Retrying before that event is
		 * read cannot succeed; wake the thread instead, so that it
		 * faults again after the event.
		 */
		if (done_some && tries < EAGAIN_RETRIES && len)
			return 1;
		wake(uffd, start, len);
		*rc = done_some ? -EAGAIN : 0;
		return 0;
	case ESRCH:
		*rc = -ESRCH;
		return 0;
	case EFAULT:
		/* A window may hold pages that are not in the page cache:
		 * map the others one by one. */
		if (soft && len > psz) {
			*rc = continue_pages(r, uffd, start, len, o, soft);
			return 0;
		}
		wake(uffd, start, len);
		o->fail_at = start;
		*rc = soft ? 0 : -e;
		return 0;
	default:
		/*
		 * The page left the page cache (hole punched); woken, the
		 * thread faults again as a missing fault, which the kernel
		 * serves itself.
		 */
		wake(uffd, start, len);
		o->fail_at = start;
		*rc = -e;
		return 0;
	}
}

static int continue_range(const struct region *r, int uffd, uint64_t start,
			  uint64_t len, struct outcome *o, int soft)
{
	for (int tries = 0;; tries++) {
		/* Mapped ahead, nobody waits on these pages: a thread that
		 * faulted on one meanwhile is woken when its message is read
		 * (EEXIST below), so skip the wake-up scan. */
		struct uffdio_continue c = {
			.range = { .start = start, .len = len },
			.mode = (soft & FAULT_AHEAD)
				    ? UFFDIO_CONTINUE_MODE_DONTWAKE
				    : 0,
		};
		int e, rc = 0;

		if (ioctl(uffd, continue_req, &c) == 0) {
			o->mapped += len;
			return 0;
		}
		e = errno;
		if (c.mapped > 0) {
			o->mapped += (uint64_t)c.mapped;
			start += (uint64_t)c.mapped;
			len -= (uint64_t)c.mapped;
		}
		/*
		 * A soft range whose first page is mapped already (by a fault,
		 * or an earlier window): step over that page and map the rest
		 * as a range again, rather than page by page.
		 */
		if (e == EEXIST && soft && len > r->v.page_size) {
			if (!(soft & FAULT_AHEAD))
				wake(uffd, start, r->v.page_size);
			start += r->v.page_size;
			len -= r->v.page_size;
			tries =
			    -1; /* progress: the EAGAIN budget starts anew */
			continue;
		}
		if (!after_error(r, uffd, e, start, len, c.mapped > 0, tries, o,
				 soft, &rc))
			return rc;
	}
}

/* Count what a CONTINUE did into r's and its worker's stats. */
static void count(struct region *r, const struct outcome *o, int rc)
{
	struct worker_stats *ws = worker_stats(r->s->w);
	uint64_t pages = o->mapped / r->v.page_size;

	CNT_ADD(r->st.pages_mapped, pages);
	CNT_ADD(ws->pages_mapped, pages);
	if (o->raced) {
		CNT_ADD(r->st.races, (uint64_t)o->raced);
		CNT_ADD(ws->races, (uint64_t)o->raced);
	}
	if (rc < 0 && rc != -ESRCH) {
		CNT_ADD(r->st.errors, 1);
		CNT_ADD(ws->errors, 1);
	}
}

long fault_map(struct region *r, uint64_t start, uint64_t len, int soft)
{
	struct outcome o = { 0 };
	int rc;

	if (r->dead || r->uffd < 0)
		return -ESRCH;
	rc = continue_range(r, r->uffd, start, len, &o, soft);
	o.raced = 0; /* mapping ahead of a fault races with nobody */
	count(r, &o, rc);
	return rc < 0 ? rc : (long)(o.mapped / r->v.page_size);
}

void fault_wake(struct region *r, uint64_t start, uint64_t len)
{
	if (r->uffd >= 0)
		wake(r->uffd, start, len);
}

int fault_continue_once(struct region *r, uint64_t start, uint64_t len,
			uint64_t *mapped)
{
	struct uffdio_continue c = { .range = { .start = start, .len = len } };
	struct outcome o = { 0 };
	int e = 0;

	if (ioctl(r->uffd, continue_req, &c) < 0)
		e = errno;
	o.mapped = e ? (c.mapped > 0 ? (uint64_t)c.mapped : 0) : len;
	count(r, &o, 0);
	*mapped = o.mapped;
	return e;
}

int fault_deny(struct region *r, uint64_t addr, uint32_t tid)
{
	struct uffdio_poison p = {
		.range = { .start = addr & ~((uint64_t)r->v.page_size - 1),
			   .len = r->v.page_size },
	};
	char more[64] = "";
	uint64_t now;
	int e = 0;

	CNT_ADD(r->st.denied, 1);
	if (ioctl(r->uffd, UFFDIO_POISON, &p) < 0 && errno != EEXIST) {
		e = errno;
		CNT_ADD(r->st.errors, 1);
		/* The mm is changing (an event is queued): the thread faults
		 * again once it has been read. */
		if (e == EAGAIN) {
			wake(r->uffd, p.range.start, p.range.len);
			return -e;
		}
		/*
		 * Without a poison marker the thread would fault for ever: the
		 * region goes back to the kernel instead; but not one whose
		 * bytes the daemon makes (its client takes over): the kernel
		 * would show pages nobody filled.  That thread waits, and its
		 * policy may try again (an image asks the store again).
		 */
		if (r->v.client_takes_over)
			return -e;
		snprintf(more, sizeof(more), "UFFDIO_POISON: %s", strerror(e));
		unresolved_release(r, more);
		return -e;
	}
	/* A flood of refused accesses is counted (status: denied), and
	 * said a line a second per region, not a line per access. */
	now = now_ns();
	if (r->st.deny_logged_ns &&
	    now - r->st.deny_logged_ns < 1000000000ull) {
		r->st.deny_unlogged++;
		return 0;
	}
	if (r->st.deny_unlogged)
		snprintf(more, sizeof(more),
			 "; %" PRIu64 " more denied since the last line",
			 r->st.deny_unlogged);
	r->st.deny_unlogged = 0;
	r->st.deny_logged_ns = now;
	log_client(LOG_NOTICE, &r->s->who, r->v.id,
		   "client %d tid %u region %s: access at %#llx denied "
		   "(SIGBUS)%s",
		   (int)r->s->who.pid, tid, r->name, (unsigned long long)addr,
		   more);
	return 0;
}

/* Batches -------------------------------------------------------------------
 */

/* A range to CONTINUE and the faults it answers. */
struct pending {
	struct region *r; /* whose range */
	uint64_t start, len;
	int faults; /* fault messages this range answers */
	int soft; /* pages beyond the faulting ones: absent or mapped is fine */
};

struct batch {
	struct pending p[FAULT_BATCH];
	int n;
};

/* The region that serves addr: home, or another of its session. */
static struct region *serving(struct region *home, uint64_t addr)
{
	if (!home->dead && addr >= home->v.start &&
	    addr - home->v.start < home->v.len)
		return home;
	return region_find(&home->s->regions, addr);
}

/* Ask r's policy about the fault at addr: 1 with *mr to map, 0 if the
 * policy holds or refuses it. */
static int decide(struct region *r, uint64_t addr, uint32_t tid,
		  struct map_range *mr)
{
	mr->start = addr;
	mr->len = r->v.page_size;
	switch (policy_fault(&r->v, addr, tid, mr)) {
	case POLICY_MAP:
		break;
	case POLICY_HOLD:
		hold_more(r); /* limits.pending_faults */
		return 0;
	case POLICY_DENY:
	default:
		fault_deny(r, addr, tid);
		return 0;
	}
	/* A stage must keep the faulting page inside its range. */
	if (mr->start > addr || mr->start + mr->len < addr + r->v.page_size ||
	    mr->start < r->v.start ||
	    mr->start + mr->len > r->v.start + r->v.len) {
		mr->start = addr;
		mr->len = r->v.page_size;
	}
	return 1;
}

/* Two threads on one page, or adjacent pages of one region: one ioctl. */
static void batch_add(struct batch *b, struct region *r,
		      const struct map_range *mr)
{
	struct pending *last = b->n ? &b->p[b->n - 1] : NULL;
	int soft = mr->len != r->v.page_size;

	if (last && last->r == r && last->start + last->len >= mr->start &&
	    last->start <= mr->start) {
		uint64_t end = mr->start + mr->len;

		if (end > last->start + last->len)
			last->len = end - last->start;
		last->faults++;
		last->soft |= soft;
		return;
	}
	b->p[b->n++] = (struct pending){ r, mr->start, mr->len, 1, soft };
}

/* Insertion sort by address: batches are small and usually sorted. */
static void batch_sort(struct batch *b)
{
	for (int i = 1; i < b->n; i++) {
		struct pending t = b->p[i];
		int j = i;

		while (j > 0 && b->p[j - 1].start > t.start) {
			b->p[j] = b->p[j - 1];
			j--;
		}
		b->p[j] = t;
	}
}

/* CONTINUE every range of b; -ESRCH when the client's mm is gone. */
static int batch_map(struct batch *b, struct session *s, int uffd, uint64_t t0)
{
	for (int i = 0; i < b->n; i++) {
		struct pending *p = &b->p[i];
		struct region *r = p->r;
		struct outcome o = { 0 };
		uint64_t t1;
		int rc;

		if (r->dead) /* given back to the kernel earlier in the batch */
			continue;
		rc = continue_range(r, uffd, p->start, p->len, &o, p->soft);

		if (rc == -ESRCH)
			return rc;
		t1 = now_ns();
		count(r, &o, rc);
		for (int k = 0; k < p->faults; k++) {
			histo_add(&r->lat, t1 - t0);
			histo_add(&worker_stats(r->s->w)->lat, t1 - t0);
		}
		/* The thread was woken; without a rule it would fault on the
		 * same page again (EAGAIN: it will, once the event is read). */
		if (rc < 0 && rc != -EAGAIN)
			unresolved_fault(r, o.fail_at, 0,
					 rc == -EFAULT ? UNRESOLVED_NO_PAGE
						       : UNRESOLVED_ERROR,
					 -rc);
		if (s->dying) /* the rule ended it: its regions are gone */
			return 0;
	}
	return 0;
}

/*
 * Is this fault one r's policy can answer: a minor fault, or a missing
 * one when a stage makes missing pages?  (A write-protect fault never.)
 */
static int minor_for(const struct region *r, uint64_t flags)
{
	if (flags & UFFD_PAGEFAULT_FLAG_MINOR)
		return 1;
	return !(flags & UFFD_PAGEFAULT_FLAG_WP) &&
	       policy_takes_missing(r->v.pol);
}

/* Returns -ESRCH when the client's mm is gone (session must go). */
static int resolve_batch(struct region *home, int uffd,
			 const struct uffd_msg *msgs, int n, uint64_t t0)
{
	struct session *s = home->s;
	struct worker_stats *ws = worker_stats(s->w);
	struct batch b = { .n = 0 };

	for (int i = 0; i < n; i++) {
		const struct uffd_msg *m = &msgs[i];
		uint32_t tid = m->arg.pagefault.feat.ptid;
		struct map_range mr;
		struct region *r;
		uint64_t addr;

		if (m->event != UFFD_EVENT_PAGEFAULT) {
			events_handle(home, m);
			if (s->dying)
				return 0;
			continue;
		}
		addr = m->arg.pagefault.address;
		r = serving(home, addr);
		if (!r) {
			unresolved_stray(s, uffd, addr, home->v.page_size);
			if (s->dying)
				return 0;
			continue;
		}
		addr &= ~((uint64_t)r->v.page_size - 1);
		CNT_ADD(r->st.faults, 1);
		CNT_ADD(ws->faults, 1);
		if (!s->who.pid_known)
			events_learn_pid(s, tid);
		if (!minor_for(r, m->arg.pagefault.flags))
			unresolved_fault(r, addr, tid,
					 m->arg.pagefault.flags &
						 UFFD_PAGEFAULT_FLAG_WP
					     ? UNRESOLVED_WP
					     : UNRESOLVED_MISSING,
					 0);
		else if (decide(r, addr, tid, &mr))
			batch_add(&b, r, &mr);
		/* A rule may have ended the session, and its regions. */
		if (s->dying)
			return 0;
	}
	batch_sort(&b);
	return batch_map(&b, s, uffd, t0);
}

/* The event callback ------------------------------------------------------- */

/*
 * One batch from r's uffd: 1 to read on, 0 when this wake-up is done (the
 * uffd drained, paused, or the region or session gone).
 */
static int one_round(struct region *r, int fd, uint64_t spin_ns,
		     uint64_t *spin_until)
{
	struct session *s = r->s;
	struct uffd_msg msgs[FAULT_BATCH];
	int want = hold_budget(r, FAULT_BATCH);
	ssize_t n;

	if (want <= 0)
		return 0; /* paused: limits.pending_faults */
	n = read(fd, msgs, sizeof(msgs[0]) * (size_t)want);
	if (n < 0) {
		if (errno == EINTR)
			return 1;
		if (errno == EAGAIN && *spin_until && now_ns() < *spin_until) {
			cpu_relax();
			return 2; /* not a round */
		}
		if (errno != EAGAIN) {
			log_client(LOG_ERR, &s->who, r->v.id,
				   "client %d: reading its uffd: %s",
				   (int)s->who.pid, strerror(errno));
			session_drop(s, "uffd read failed");
		}
		return 0;
	}
	CNT_ADD(worker_stats(s->w)->wakeups, 1);
	if (resolve_batch(r, fd, msgs, (int)(n / sizeof(msgs[0])), now_ns()) ==
	    -ESRCH) {
		session_drop(s, "process has exited");
		return 0;
	}
	/* An event may have ended the region or the session (s is freed
	 * later than its regions: test it first). */
	if (s->dying || r->dead)
		return 0;
	if (*spin_until) {
		*spin_until = now_ns() + spin_ns;
		return 1;
	}
	return (size_t)n == sizeof(msgs[0]) * (size_t)want;
}

static void fault_cb(evutil_socket_t fd, short what, void *arg)
{
	struct region *r = arg;
	struct daemon *d = worker_daemon(r->s->w);
	/* Low-latency mode: poll a while before sleeping, so that the next
	 * fault of a sequential toucher needs no wake-up of this thread. */
	uint64_t spin_ns = (uint64_t)CNT_LD(d->conf.cfg.work.spin_us) * 1000;
	uint64_t now = now_ns(), spin_until = spin_ns ? now + spin_ns : 0;
	uint64_t turn_end = now + POLICY_TURN_NS;

	(void)what;
	/*
	 * At most FAULT_ROUNDS batches and POLICY_TURN_NS per wake-up: a
	 * fault storm in one client must not starve the other sessions of
	 * this worker (the event is level-triggered, so the rest is read on
	 * the next turn), and neither may spinning.
	 */
	for (int round = 0; round < FAULT_ROUNDS; round++) {
		int more = one_round(r, (int)fd, spin_ns, &spin_until);

		if (!more || now_ns() >= turn_end)
			return;
		if (more == 2)
			round--; /* spinning on an empty uffd */
	}
}

void fault_nonblock(int uffd)
{
	int fl = fcntl(uffd, F_GETFL);

	/* Clients make theirs non-blocking already: no second call then. */
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(uffd, F_SETFL, fl | O_NONBLOCK);
}

int fault_watch(struct region *r, struct event_base *base)
{
	/* The fault path must never block on a uffd read. */
	fault_nonblock(r->uffd);
	r->ev = event_new(base, r->uffd, EV_READ | EV_PERSIST, fault_cb, r);
	return r->ev ? 0 : -ENOMEM;
}
