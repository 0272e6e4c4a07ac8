/* SPDX-License-Identifier: MIT */
/*
 * The fault path: drain a region's uffd, ask the policy, install mappings.
 * Runs on the region's worker only; it takes no lock and allocates nothing.
 */
#include "fault.h"
#include "log.h"
#include "policy.h"
#include "region.h"
#include "session.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FAULT_BATCH 64
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
			  uint64_t len, uint64_t *mapped, int *raced);

static int continue_pages(struct region *r, int uffd, uint64_t start,
			  uint64_t len, uint64_t *mapped, int *raced)
{
	int rc = 0;

	for (uint64_t a = start; a < start + len; a += r->page_size) {
		int e = continue_range(r, uffd, a, r->page_size, mapped, raced);

		if (e == -ESRCH)
			return e;
		if (e < 0)
			rc = e;
	}
	return rc;
}

static int continue_range(struct region *r, int uffd, uint64_t start,
			  uint64_t len, uint64_t *mapped, int *raced)
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
						      mapped, raced);
			/* Another thread's fault mapped it first. */
			(*raced)++;
			wake(uffd, start, len);
			return 0;
		case EAGAIN:
			if (tries < EAGAIN_RETRIES && len)
				continue;
			wake(uffd, start, len);
			return -EAGAIN;
		case ESRCH:
			return -ESRCH;
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

static void other_event(struct region *r, const struct uffd_msg *m)
{
	/* A fork event hands us a uffd for the child: never leak it. */
	if (m->event == UFFD_EVENT_FORK) {
		close((int)m->arg.fork.ufd);
		log_client(LOG_NOTICE, r->s->pid, r->id,
			   "client %d forked; its child is not served",
			   (int)r->s->pid);
		return;
	}
	log_client(LOG_DEBUG, r->s->pid, r->id, "uffd event %u ignored",
		   m->event);
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

		if (m->event != UFFD_EVENT_PAGEFAULT) {
			other_event(home, m);
			continue;
		}
		addr = m->arg.pagefault.address;
		r = home;
		if (addr < r->start || addr - r->start >= r->len)
			r = region_find(s, addr);
		if (!r) {
			stray_fault(s, uffd, addr, home->page_size);
			continue;
		}
		addr &= ~((uint64_t)r->page_size - 1);
		CNT_ADD(r->st.faults, 1);
		CNT_ADD(ws->faults, 1);
		switch (r->pol->ops->fault(r->pol->state, r, addr, &mr)) {
		case POLICY_MAP:
			break;
		case POLICY_HOLD:
			continue;
		case POLICY_DENY:
		default:
			/* Policies that deny resolve the fault themselves. */
			continue;
		}
		/* Two threads on one page, or adjacent pages: one ioctl. */
		if (np && p[np - 1].start + p[np - 1].len >= mr.start &&
		    p[np - 1].start <= mr.start && owner[np - 1] == r) {
			uint64_t end = mr.start + mr.len;

			if (end > p[np - 1].start + p[np - 1].len)
				p[np - 1].len = end - p[np - 1].start;
			p[np - 1].faults++;
			continue;
		}
		p[np] = (struct pending){ mr.start, mr.len, 1 };
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
				    &raced);
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

	(void)what;
	for (;;) {
		ssize_t n = read(fd, msgs, sizeof(msgs));
		uint64_t t0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
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
		if ((size_t)n < sizeof(msgs))
			return;
	}
}
