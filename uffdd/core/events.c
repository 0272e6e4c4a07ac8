/* SPDX-License-Identifier: MIT */
/*
 * Lifecycle events of a client's uffds, but fork (events_fork.c).
 *
 * remap:  mremap moved [from, from+len) to `to`: the regions follow (split
 *         first when only part of one moves).
 * unmap:  munmap: the regions inside are dropped, those across an edge are
 *         split (shrunk).
 * remove: MADV_REMOVE / MADV_DONTNEED: the range stays registered (a later
 *         touch of a page still in the page cache is a minor fault again);
 *         only counted.
 *
 * An event is counted once the regions show it, so that a status that
 * sees the count sees the regions as they are after it.
 */
#include "events.h"
#include "log.h"
#include "session.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>

#define MAX_PIECES 64

/*
 * Cut the region across addr in two; the upper piece is a new region.  A
 * piece the uid's share of regions cannot hold is given back to the kernel
 * (unregistered) rather than left served by a region that no longer
 * covers it.
 */
static int split_at(struct session *s, uint64_t addr)
{
	struct region *q = region_find(&s->regions, addr), *up;
	struct uffdio_range rg;
	char err[200];
	uint64_t cut;
	int rc;

	if (!q || q->v.start == addr)
		return 0;
	cut = addr - q->v.start;
	up = region_clone(q, s, fcntl(q->uffd, F_DUPFD_CLOEXEC, 0), addr,
			  q->v.len - cut, q->v.offset + cut, err, sizeof(err));
	if (!up) {
		log_client(LOG_WARNING, &s->who, q->v.id, "region %s: %s",
			   q->name, err);
		return -ENOMEM;
	}
	rg.start = addr;
	rg.len = q->v.len - cut;
	session_shrink_region(s, q, cut);
	rc = session_add_live(s, up);
	if (rc < 0 && ioctl(q->uffd, UFFDIO_UNREGISTER, &rg) < 0)
		log_client(LOG_WARNING, &s->who, q->v.id,
			   "region %s: unregistering %#llx+%llu: %s", q->name,
			   (unsigned long long)rg.start,
			   (unsigned long long)rg.len, strerror(errno));
	return rc;
}

/* Regions of s wholly inside [start, end), into out (at most max). */
static size_t inside(struct session *s, uint64_t start, uint64_t end,
		     struct region **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < s->regions.n && n < max; i++) {
		struct region *q = s->regions.v[i];

		if (q->v.start >= start && q->v.start + q->v.len <= end)
			out[n++] = q;
	}
	return n;
}

static void on_unmap(struct region *home, uint64_t start, uint64_t end)
{
	struct session *s = home->s;
	uint64_t psz = home->v.page_size;
	struct region *gone[MAX_PIECES];
	size_t n;

	start &= ~(psz - 1);
	end = (end + psz - 1) & ~(psz - 1);
	if (split_at(s, start) < 0 || split_at(s, end) < 0)
		log_client(LOG_WARNING, &s->who, home->v.id,
			   "client %d: cannot split a region at munmap",
			   (int)s->who.pid);
	n = inside(s, start, end, gone, MAX_PIECES);
	for (size_t i = 0; i < n; i++)
		session_retire(gone[i], "unmapped by the client");
	CNT_ADD(s->events.unmap, 1);
}

/* Put the pieces that moved back in the table at their new start. */
static void moved(struct session *s, struct region **mv, size_t n,
		  uint64_t from, uint64_t to)
{
	for (size_t i = 0; i < n; i++) {
		struct region *q = mv[i];
		int rc;

		worker_lock(s->w);
		q->v.start = q->v.start - from + to;
		rc = region_insert(&s->regions, q);
		worker_unlock(s->w);
		if (rc < 0) {
			/* Not in the table any more: retire just frees it. */
			session_retire(q, "moved onto another region");
			continue;
		}
		log_client(LOG_INFO, &s->who, q->v.id,
			   "client %d: region %s moved %#" PRIx64
			   " -> %#" PRIx64 " (%" PRIu64 " bytes)",
			   (int)s->who.pid, q->name, q->v.start - to + from,
			   q->v.start, q->v.len);
	}
}

static void on_remap(struct region *home, uint64_t from, uint64_t to,
		     uint64_t len)
{
	struct session *s = home->s;
	struct region *mv[MAX_PIECES], *gone[MAX_PIECES];
	size_t n, ng;

	if (split_at(s, from) < 0 || split_at(s, from + len) < 0)
		log_client(LOG_WARNING, &s->who, home->v.id,
			   "client %d: cannot split a region at mremap",
			   (int)s->who.pid);
	n = inside(s, from, from + len, mv, MAX_PIECES);
	worker_lock(s->w);
	for (size_t i = 0; i < n; i++)
		region_remove(&s->regions, mv[i]);
	worker_unlock(s->w);
	/* Whatever was registered at the target is gone (MREMAP_FIXED). */
	split_at(s, to);
	split_at(s, to + len);
	ng = inside(s, to, to + len, gone, MAX_PIECES);
	for (size_t i = 0; i < ng; i++)
		session_retire(gone[i], "replaced by mremap");
	moved(s, mv, n, from, to);
	CNT_ADD(s->events.remap, 1);
}

void events_handle(struct region *home, const struct uffd_msg *m)
{
	struct session *s = home->s;

	switch (m->event) {
	case UFFD_EVENT_FORK:
		events_fork(home, (int)m->arg.fork.ufd);
		break;
	case UFFD_EVENT_REMAP:
		on_remap(home, m->arg.remap.from, m->arg.remap.to,
			 m->arg.remap.len);
		break;
	case UFFD_EVENT_UNMAP:
		on_unmap(home, m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_REMOVE:
		CNT_ADD(s->events.remove, 1);
		log_client(LOG_DEBUG, &s->who, home->v.id,
			   "client %d: %#llx-%#llx removed (madvise)",
			   (int)s->who.pid,
			   (unsigned long long)m->arg.remove.start,
			   (unsigned long long)m->arg.remove.end);
		break;
	default:
		log_client(LOG_DEBUG, &s->who, home->v.id,
			   "uffd event %u ignored", m->event);
		break;
	}
}
