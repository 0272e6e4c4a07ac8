/* SPDX-License-Identifier: MIT */
/*
 * The fault path: drain a region's uffd, ask the policy, install mappings.
 * Runs on the region's worker only; it takes no lock and allocates nothing.
 */
#include "fault.h"
#include "events.h"
#include "bounds.h"
#include "log.h"
#include "policy/policy.h"
#include "region.h"
#include "session.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FAULT_BATCH 64
#define FAULT_ROUNDS 16
#define EAGAIN_RETRIES 16

static unsigned long continue_req = UFFDIO_CONTINUE;

void fault_init(const struct uffd_caps *caps)
{
	if (caps->continue_ok)
		continue_req = caps->continue_req;
}

struct pending {
	uint64_t start, len;
	int faults; /* fault messages this range answers */
	int soft;   /* pages beyond the faulting ones: absent or mapped is fine */
};

static void wake(int uffd, uint64_t start, uint64_t len)
{
	struct uffdio_range r = { .start = start, .len = len };

	if (ioctl(uffd, UFFDIO_WAKE, &r) < 0 && errno != ESRCH)
		log_debug("UFFDIO_WAKE %#llx+%llu: %s",
			  (unsigned long long)start, (unsigned long long)len,
			  strerror(errno));
}

/*
 * CONTINUE [start, start+len) page by page after an EEXIST, since the
 * kernel stops at the first mapped page and says nothing of the rest.
 */
static int continue_range(struct region *r, int uffd, uint64_t start,
			  uint64_t len, uint64_t *mapped, int *raced, int soft);

static int continue_pages(struct region *r, int uffd, uint64_t start,
			  uint64_t len, uint64_t *mapped, int *raced, int soft)
{
	int rc = 0;

	for (uint64_t a = start; a < start + len; a += r->page_size) {
		int e = continue_range(r, uffd, a, r->page_size, mapped, raced,
				       soft);

		if (e == -ESRCH)
			return e;
		if (e < 0)
			rc = e;
	}
	return rc;
}

static int continue_range(struct region *r, int uffd, uint64_t start,
			  uint64_t len, uint64_t *mapped, int *raced, int soft)
{
	for (int tries = 0;; tries++) {
		struct uffdio_continue c = {
			.range = { .start = start, .len = len },
		};
		int e;

		if (ioctl(uffd, continue_req, &c) == 0) {
			*mapped += len;
			return 0;
		}
		e = errno;
		if (c.mapped > 0) {
			*mapped += (uint64_t)c.mapped;
			start += (uint64_t)c.mapped;
			len -= (uint64_t)c.mapped;
		}
		switch (e) {
		case EEXIST:
			if (len > r->page_size)
				return continue_pages(r, uffd, start, len,
						      mapped, raced, soft);
			/* Another thread's fault mapped it first (or, in a
			 * window, an earlier window did). */
			if (!soft)
				(*raced)++;
			wake(uffd, start, len);
			return 0;
		case EAGAIN:
			/*
			 * Part done, the rest absent or racing: try the rest.
			 * Nothing done: the mm is changing (a remove, remap
			 * or fork event is queued for us).  Retrying before
			 * that event is read cannot succeed; wake the thread
			 * instead, so that it faults again after the event.
			 */
			if (c.mapped > 0 && tries < EAGAIN_RETRIES && len)
				continue;
			wake(uffd, start, len);
			return c.mapped > 0 ? -EAGAIN : 0;
		case ESRCH:
			return -ESRCH;
		case EFAULT:
			/* A window may hold pages that are not in the page
			 * cache: map the others one by one. */
			if (soft && len > r->page_size)
				return continue_pages(r, uffd, start, len,
						      mapped, raced, soft);
			wake(uffd, start, len);
			return soft ? 0 : -e;
		default:
			/*
			 * EFAULT: the page left the page cache (hole punched);
			 * woken, the thread faults again as a missing fault,
			 * which the kernel serves itself.
			 */
			wake(uffd, start, len);
			return -e;
		}
	}
}

/*
 * A fault outside every region of the session: the client registered more
 * than it told us about, or unregistered a region and faults were queued.
 * Give the page back to the kernel rather than leave the thread hanging.
 */
static void stray_fault(struct session *s, int uffd, uint64_t addr,
			uint64_t psz)
{
	struct uffdio_range rg = { .start = addr & ~(psz - 1), .len = psz };

	log_client(LOG_WARNING, s->pid, 0,
		   "client %d: fault at %#llx outside its regions; "
		   "unregistering that page",
		   (int)s->pid, (unsigned long long)addr);
	if (ioctl(uffd, UFFDIO_UNREGISTER, &rg) < 0)
		wake(uffd, rg.start, rg.len);
	CNT_ADD(s->w->st.errors, 1);
}

long fault_map(struct region *r, uint64_t start, uint64_t len, int soft)
{
	struct worker_stats *ws = &r->s->w->st;
	uint64_t mapped = 0;
	int raced = 0, rc;

	if (r->dead || r->uffd < 0)
		return -ESRCH;
	rc = continue_range(r, r->uffd, start, len, &mapped, &raced, soft);
	CNT_ADD(r->st.pages_mapped, mapped / r->page_size);
	CNT_ADD(ws->pages_mapped, mapped / r->page_size);
	if (rc < 0 && rc != -ESRCH) {
		CNT_ADD(r->st.errors, 1);
		CNT_ADD(ws->errors, 1);
	}
	return rc < 0 ? rc : (long)(mapped / r->page_size);
}

int fault_deny(struct region *r, uint64_t addr, uint32_t tid)
{
	struct uffdio_poison p = {
		.range = { .start = addr & ~((uint64_t)r->page_size - 1),
			   .len = r->page_size },
	};
	int e = 0;

	CNT_ADD(r->st.denied, 1);
	if (ioctl(r->uffd, UFFDIO_POISON, &p) < 0 && errno != EEXIST) {
		e = errno;
		/* Without a poison marker the thread would fault forever:
		 * let the kernel serve that page instead. */
		struct uffdio_range rg = p.range;

		if (ioctl(r->uffd, UFFDIO_UNREGISTER, &rg) < 0)
			wake(r->uffd, rg.start, rg.len);
		CNT_ADD(r->st.errors, 1);
	}
	log_client(LOG_NOTICE, r->s->pid, r->id,
		   "client %d tid %u region %s: access at %#llx denied%s%s",
		   (int)r->s->pid, tid, r->name, (unsigned long long)addr,
		   e ? ": UFFDIO_POISON failed: " : " (SIGBUS)",
		   e ? strerror(e) : "");
	return e ? -e : 0;
}

static int cmp_pending(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Insertion sort: batches are small and usually sorted already. */
static void sort_pending(struct pending *p, int n)
{
	for (int i = 1; i < n; i++) {
		struct pending t = p[i];
		int j = i;

		while (j > 0 && cmp_pending(&p[j - 1], &t) > 0) {
			p[j] = p[j - 1];
			j--;
		}
		p[j] = t;
	}
}

/* Returns -ESRCH when the client's mm is gone (session must go). */
static int resolve_batch(struct region *home, int uffd, struct uffd_msg *msgs,
			 int n, uint64_t t0)
{
	struct session *s = home->s;
	struct worker_stats *ws = &s->w->st;
	struct pending p[FAULT_BATCH];
	struct region *owner[FAULT_BATCH];
	int np = 0;

	for (int i = 0; i < n; i++) {
		struct uffd_msg *m = &msgs[i];
		struct region *r;
		struct map_range mr;
		uint64_t addr;
		int soft;

		if (m->event != UFFD_EVENT_PAGEFAULT) {
			events_handle(home, m);
			if (s->dying)
				return 0;
			continue;
		}
		addr = m->arg.pagefault.address;
		r = home;
		if (r->dead || addr < r->start || addr - r->start >= r->len)
			r = region_find(s, addr);
		if (!r) {
			stray_fault(s, uffd, addr, home->page_size);
			continue;
		}
		addr &= ~((uint64_t)r->page_size - 1);
		CNT_ADD(r->st.faults, 1);
		CNT_ADD(ws->faults, 1);
		if (!s->pid_known)
			events_learn_pid(s, m->arg.pagefault.feat.ptid);
		mr.start = addr;
		mr.len = r->page_size;
		/* No fault hook: the proposed range (this page) is mapped. */
		switch (!r->pol->ops->fault
				? POLICY_MAP
				: r->pol->ops->fault(r->pol->state, r, addr,
						     m->arg.pagefault.feat.ptid,
						     &mr)) {
		case POLICY_MAP:
			break;
		case POLICY_HOLD:
			home->held_est++; /* limits.pending_faults */
			continue;
		case POLICY_DENY:
		default:
			fault_deny(r, addr, m->arg.pagefault.feat.ptid);
			continue;
		}
		/* A stage must keep the faulting page inside its range. */
		if (mr.start > addr || mr.start + mr.len < addr + r->page_size ||
		    mr.start < r->start || mr.start + mr.len > r->start + r->len) {
			mr.start = addr;
			mr.len = r->page_size;
		}
		soft = mr.len != r->page_size;
		/* Two threads on one page, or adjacent pages: one ioctl. */
		if (np && p[np - 1].start + p[np - 1].len >= mr.start &&
		    p[np - 1].start <= mr.start && owner[np - 1] == r) {
			uint64_t end = mr.start + mr.len;

			if (end > p[np - 1].start + p[np - 1].len)
				p[np - 1].len = end - p[np - 1].start;
			p[np - 1].faults++;
			p[np - 1].soft |= soft;
			continue;
		}
		p[np] = (struct pending){ mr.start, mr.len, 1, soft };
		owner[np] = r;
		np++;
	}
	if (np > 1 && n > 1) {
		/* Sorting would separate p[] from owner[]: only when one
		 * region answers all, which is the common case. */
		int same = 1;

		for (int i = 1; i < np; i++)
			same &= owner[i] == owner[0];
		if (same)
			sort_pending(p, np);
	}

	for (int i = 0; i < np; i++) {
		struct region *r = owner[i];
		uint64_t mapped = 0, t1;
		int raced = 0, rc;

		rc = continue_range(r, uffd, p[i].start, p[i].len, &mapped,
				    &raced, p[i].soft);
		if (rc == -ESRCH)
			return rc;
		t1 = now_ns();
		CNT_ADD(r->st.pages_mapped, mapped / r->page_size);
		CNT_ADD(ws->pages_mapped, mapped / r->page_size);
		if (raced) {
			CNT_ADD(r->st.races, (uint64_t)raced);
			CNT_ADD(ws->races, (uint64_t)raced);
		}
		if (rc < 0) {
			CNT_ADD(r->st.errors, 1);
			CNT_ADD(ws->errors, 1);
			log_client(LOG_WARNING, s->pid, r->id,
				   "client %d region %s: CONTINUE %#llx+%llu: %s",
				   (int)s->pid, r->name,
				   (unsigned long long)p[i].start,
				   (unsigned long long)p[i].len, strerror(-rc));
		}
		for (int k = 0; k < p[i].faults; k++)
			histo_add(&r->lat, t1 - t0);
	}
	return 0;
}

void fault_cb(evutil_socket_t fd, short what, void *arg)
{
	struct region *r = arg;
	struct session *s = r->s;
	struct uffd_msg msgs[FAULT_BATCH];
	/* Low-latency mode: poll a while before sleeping, so that the next
	 * fault of a sequential toucher needs no wake-up of this thread. */
	uint64_t spin_ns = (uint64_t)CNT_LD(s->w->d->cfg.spin_us) * 1000;
	uint64_t spin_until = spin_ns ? now_ns() + spin_ns : 0;

	(void)what;
	/*
	 * At most FAULT_ROUNDS batches per wake-up: a fault storm in one
	 * client must not starve the other sessions of this worker (the
	 * event is level-triggered, so the rest is read on the next turn).
	 */
	for (int round = 0; round < FAULT_ROUNDS; round++) {
		int want = limits_fault_budget(r, (int)fd, FAULT_BATCH);
		ssize_t n;
		uint64_t t0;

		if (want <= 0)
			return; /* paused: limits.pending_faults */
		n = read(fd, msgs, sizeof(msgs[0]) * (size_t)want);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && spin_until && now_ns() < spin_until) {
				round--;
				__builtin_ia32_pause();
				continue;
			}
			if (errno == EAGAIN)
				return;
			log_client(LOG_ERR, s->pid, r->id,
				   "client %d: reading its uffd: %s", (int)s->pid,
				   strerror(errno));
			session_drop(s, "uffd read failed");
			return;
		}
		t0 = now_ns();
		CNT_ADD(s->w->st.wakeups, 1);
		if (resolve_batch(r, fd, msgs, (int)(n / sizeof(msgs[0])), t0) ==
		    -ESRCH) {
			session_drop(s, "process has exited");
			return;
		}
		/* An event may have ended the region or the session (s is
		 * freed later than its regions: test it first). */
		if (s->dying || r->dead)
			return;
		if (spin_until) {
			spin_until = now_ns() + spin_ns;
			continue;
		}
		if ((size_t)n < sizeof(msgs[0]) * (size_t)want)
			return;
	}
}
