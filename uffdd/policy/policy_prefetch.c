/* SPDX-License-Identifier: MIT */
/*
 * prefetch:FILE -- warm restore.  Reads a trace written by record:FILE (FILE
 * is "#N", the client's descriptor, read with pread so that its offset is
 * left alone; or a path of the configuration's) and,
 * as soon as the region is registered, makes ready (the other stages' fill:
 * populate reads the image) and maps the recorded pages in that order, in
 * the background: a bounded step per turn of the region's worker loop
 * (POLICY_TURN_NS), so that faults on other pages are still served on
 * demand in between.  A workload that touches mostly its recorded working
 * set sees few faults.  The trace is read as the prefetch goes, a window
 * ahead of it: its header is checked at registration, and however long it
 * is, no turn parses more than its share of the step.
 */
#include "policy.h"
#include "policy_populate.h"
#include "trace.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_BYTES (4ull << 20) /* filled and mapped per loop turn */
/*
 * Once the reads are advised a fill mostly copies from the page cache, so a
 * turn may fill more (fewer turns, fewer faults of a workload that keeps up
 * with the prefetch), but stops after TURN_NS: faults on other pages wait
 * for the end of the turn.
 */
#define CHUNK_ADVISED (16ull << 20)
#define TURN_NS	      POLICY_TURN_NS
/*
 * Read-ahead: the image ranges of the trace are handed to the kernel
 * (populate_advise, POSIX_FADV_WILLNEED) ahead of the fills, so that the
 * disk has many reads in flight and a fill's pread finds the page cache
 * warm instead of waiting for one 4 KiB read at a time.  Kept at most
 * ADVISE_AHEAD bytes ahead of the fills (the advice submits the reads and
 * can block while the disk queue is full), and at most ADVISE_TURN_NS of a
 * loop turn.  Runs of ADVISE_SEQ bytes or more are not advised: their one
 * large pread gets the kernel's own sequential read-ahead, and advising them
 * too was measured slower (the advice blocks the worker on the disk queue).
 */
#define ADVISE_AHEAD	(64ull << 20)
#define ADVISE_SEQ	(4ull << 20)
#define ADVISE_TURN_NS	(POLICY_TURN_NS / 4)
#define PARSE_TURN_NS	(POLICY_TURN_NS / 4)
#define MAX_TRACE_PAGES (1u << 28)

/* The trace file, read with pread (the descriptor's offset is the
 * client's too) a window at a time, through the trace reader. */
struct lines {
	int fd;
	off_t at; /* file offset of buf[len] */
	char buf[65536];
	size_t pos, len;
	int eof;
	struct trace_reader tr;
};

static void lines_close(struct lines *l)
{
	if (!l)
		return;
	close(l->fd);
	free(l);
}

struct prefetch {
	char file[PATH_MAX]; /* "#N" or a configured path */
	struct lines *f; /* the trace, read a window ahead; NULL at its end */
	uint64_t *pages; /* the window: entries [next, n) still to prefetch */
	size_t n, next, cap;
	size_t adv;	 /* trace entries below this were advised */
	uint64_t parsed; /* entries read from the trace (atomic) */
	void *pop;	 /* the populate stage's state, if there is one */
	int pop_looked;
	struct policy_region *home; /* the region prefetched into */
	struct event *ev;
	uint64_t t0;
	/* counters (atomic) */
	uint64_t done, mapped, skipped, ignored;
	int finished;
};

static int pf_create(void *state, const char *args, char *err, size_t errlen)
{
	struct prefetch *p = state;

	return policy_file_arg(&policy_ops_prefetch, args,
			       args ? strlen(args) : 0, p->file,
			       sizeof(p->file), err, errlen);
}

static void pf_destroy(void *state)
{
	struct prefetch *p = state;

	if (p->ev)
		event_free(p->ev);
	lines_close(p->f);
	free(p->pages);
}

/* The next item of the trace: TRACE_PAGE (*idx), TRACE_HEADER, TRACE_MORE
 * at its end, or -errno (why set). */
static int next_item(struct lines *l, uint64_t *idx, char *why, size_t len)
{
	for (;;) {
		int rc =
		    trace_read(&l->tr, l->buf, l->len, &l->pos, idx, why, len);
		ssize_t got;

		if (rc != TRACE_MORE)
			return rc;
		if (l->eof)
			return trace_read_end(&l->tr, idx, why, len);
		got = pread(l->fd, l->buf, sizeof(l->buf), l->at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(why, len, "reading it: %s", strerror(errno));
			return -errno;
		}
		l->eof = got == 0;
		l->at += got;
		l->len = (size_t)got;
		l->pos = 0;
	}
}

/* The trace's header; 0 or -EINVAL (err set). */
static int header(struct lines *l, const struct prefetch *p,
		  const struct policy_region *r, char *err, size_t errlen)
{
	char why[120] = "its header is cut short";
	uint64_t idx;

	if (next_item(l, &idx, why, sizeof(why)) != TRACE_HEADER) {
		snprintf(err, errlen,
			 "prefetch: %s is not a uffdd trace (version %d): %s; "
			 "see docs/policies.md",
			 p->file, TRACE_VERSION, why);
		return -EINVAL;
	}
	if (l->tr.page_size != r->page_size) {
		snprintf(err, errlen,
			 "prefetch: %s was recorded with %u-byte pages, the "
			 "region has %u-byte pages",
			 p->file, l->tr.page_size, r->page_size);
		return -EINVAL;
	}
	return 0;
}

/* Open the trace and check its header (at registration: a wrong file is
 * a clear error then).  The entries are read as the prefetch goes. */
static int load_header(struct prefetch *p, const struct policy_region *r,
		       char *err, size_t errlen)
{
	struct lines *l = calloc(1, sizeof(*l));
	char why[200];
	int rc;

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l->fd =
	    policy_open_file(r, p->file, POLICY_FILE_READ, why, sizeof(why));
	if (l->fd < 0) {
		rc = l->fd;
		snprintf(err, errlen, "prefetch: trace %s: %s", p->file, why);
		free(l);
		return rc;
	}
	rc = header(l, p, r, err, errlen);
	if (rc < 0) {
		lines_close(l);
		return rc;
	}
	p->f = l;
	return 0;
}

/* Room for one more entry in the window, moving what is left of it to
 * the front first.  0 or -ENOMEM. */
static int window_room(struct prefetch *p)
{
	uint64_t *np;
	size_t cap;

	if (p->next && (p->n == p->cap || p->next >= p->n / 2)) {
		memmove(p->pages, p->pages + p->next,
			(p->n - p->next) * sizeof(*p->pages));
		p->adv = p->adv > p->next ? p->adv - p->next : 0;
		p->n -= p->next;
		p->next = 0;
	}
	if (p->n < p->cap)
		return 0;
	cap = p->cap ? p->cap * 2 : 1024;
	np = realloc(p->pages, cap * sizeof(*np));
	if (!np)
		return -ENOMEM;
	p->pages = np;
	p->cap = cap;
	return 0;
}

/* The end of the trace, or a stop in it (logged unless at its end). */
static void trace_end(struct prefetch *p, const struct policy_region *r,
		      const char *why)
{
	if (why)
		policy_log(r, LOG_WARNING,
			   "prefetch: %s: %s; prefetching what came before",
			   p->file, why);
	lines_close(p->f);
	p->f = NULL;
}

/*
 * Read entries until `ahead` are waiting or the clock passes until; every
 * page index inside the region is kept, in order.
 */
static void parse_more(struct prefetch *p, const struct policy_region *r,
		       size_t ahead, uint64_t until)
{
	while (p->f && p->n - p->next < ahead) {
		char why[120];
		uint64_t idx;
		int got = next_item(p->f, &idx, why, sizeof(why));

		if (got != TRACE_PAGE) {
			trace_end(p, r, got < 0 ? why : NULL);
			return;
		}
		if (CNT_LD(p->parsed) >= MAX_TRACE_PAGES) {
			trace_end(p, r, "trace too long");
			return;
		}
		CNT_ADD(p->parsed, 1);
		if (idx >= r->len / r->page_size) {
			p->ignored++; /* beyond this region: bounds */
			continue;
		}
		if (window_room(p) < 0) {
			trace_end(p, r, "out of memory");
			return;
		}
		p->pages[p->n++] = idx;
		if ((p->f->tr.lineno & 63) == 0 && policy_now_ns() > until)
			return;
	}
}

static void find_populate(const struct policy_ops *ops, void *state, void *arg)
{
	struct prefetch *p = arg;

	if (ops == &policy_ops_populate)
		p->pop = state;
}

/* The number of trace entries from i (below end) that are consecutive
 * pages, at most max_bytes of them (at least one). */
static size_t run_at(const struct prefetch *p, size_t i, size_t end,
		     uint64_t psz, uint64_t max_bytes)
{
	size_t k = 1;

	while (i + k < end && p->pages[i + k] == p->pages[i] + k &&
	       (k + 1) * psz <= max_bytes)
		k++;
	return k;
}

/* Advise the image ranges of the trace entries ahead of the fills. */
static void advise_ahead(struct prefetch *p, struct policy_region *r)
{
	uint64_t psz = r->page_size, t_end = policy_now_ns() + ADVISE_TURN_NS;

	if (p->adv < p->next)
		p->adv = p->next;
	while (p->adv < p->n && (p->adv - p->next) * psz < ADVISE_AHEAD) {
		uint64_t first = p->pages[p->adv], addr;
		size_t k = run_at(p, p->adv, p->n, psz, ADVISE_SEQ);

		if (k * psz >= ADVISE_SEQ) {
			p->adv += k;
			continue;
		}
		addr = policy_addr(r, first);
		if (!addr || !policy_addr(r, first + k - 1)) {
			k = 1; /* moved or cut away: page by page */
			addr = policy_addr(r, first);
		}
		if (addr)
			populate_advise(p->pop, r, addr, k * psz);
		p->adv += k;
		if (policy_now_ns() > t_end)
			break;
	}
}

static void pf_turn(evutil_socket_t fd, short what, void *arg)
{
	struct prefetch *p = arg;
	struct policy_region *r = p->home;
	uint64_t budget = CHUNK_BYTES, t_end = policy_now_ns() + TURN_NS;
	size_t lim;
	static const struct timeval now = { 0, 0 };

	(void)fd;
	(void)what;
	if (r && !p->pop_looked) {
		p->pop_looked = 1;
		policy_each(r->pol, find_populate, p);
	}
	/* The trace a window ahead: as far as the advice and the fills of
	 * this turn can reach. */
	if (r)
		parse_more(
		    p, r,
		    (size_t)((ADVISE_AHEAD + CHUNK_ADVISED) / r->page_size) + 1,
		    policy_now_ns() + PARSE_TURN_NS);
	if (r && p->pop) {
		advise_ahead(p, r);
		budget = CHUNK_ADVISED;
	}
	/* The fills may pass the advice (a slow disk holds the advice back
	 * in its turns): those pages are then read at once, with the
	 * kernel's own read-ahead. */
	lim = p->n;
	while (r && p->next < lim && budget > 0) {
		uint64_t first = p->pages[p->next], addr;
		/* A run of consecutive pages is one fill (one pread) and one
		 * ioctl. */
		size_t k = run_at(p, p->next, lim, r->page_size, budget);
		long got;

		addr = policy_addr(r, first);
		if (!addr || !policy_addr(r, first + k - 1)) {
			k = 1; /* moved or cut away: page by page */
			addr = policy_addr(r, first);
		}
		p->next += k;
		budget =
		    budget > k * r->page_size ? budget - k * r->page_size : 0;
		CNT_ADD(p->done, k);
		if (!addr || policy_prepare(r, addr, k * r->page_size) < 0) {
			CNT_ADD(p->skipped, k);
			continue;
		}
		got = policy_map(r, addr, k * r->page_size, 1);
		if (got == -ESRCH) {
			p->home = NULL;
			break;
		}
		if (got > 0)
			CNT_ADD(p->mapped, (uint64_t)got);
		if (got < (long)k)
			CNT_ADD(p->skipped, k - (uint64_t)(got > 0 ? got : 0));
		if (policy_now_ns() > t_end)
			break;
	}
	if (p->home && (p->next < p->n || p->f)) {
		event_add(p->ev, &now);
		return;
	}
	if (!p->finished) {
		p->finished = 1;
		policy_log(NULL, LOG_INFO,
			   "prefetch from %s: %" PRIu64 " of %" PRIu64
			   " pages mapped in %.1f ms",
			   p->file, CNT_LD(p->mapped), CNT_LD(p->parsed),
			   (double)(policy_now_ns() - p->t0) / 1e6);
	}
}

static int pf_attach(void *state, struct policy_region *r, char *err,
		     size_t errlen)
{
	struct prefetch *p = state;
	static const struct timeval now = { 0, 0 };
	int rc;

	if (p->ev)
		return 0; /* a fork copy or a piece: prefetch the first only */
	rc = load_header(p, r, err, errlen);
	if (rc < 0)
		return rc;
	p->ev = event_new(policy_loop(r), -1, 0, pf_turn, p);
	if (!p->ev) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->home = r;
	p->t0 = policy_now_ns();
	event_add(p->ev, &now);
	return 0;
}

static void pf_detach(void *state, struct policy_region *r)
{
	struct prefetch *p = state;

	if (p->home == r) {
		p->home = NULL;
		if (p->ev)
			event_del(p->ev);
	}
}

static void pf_status(void *state, struct json_object *o)
{
	struct prefetch *p = state;

	json_object_object_add(o, "prefetch_file",
			       json_object_new_string(p->file));
	policy_json_count(o, "prefetch_total", &p->parsed);
	policy_json_count(o, "prefetch_done", &p->done);
	policy_json_count(o, "prefetch_mapped", &p->mapped);
	policy_json_count(o, "prefetch_skipped", &p->skipped);
	json_object_object_add(o, "prefetch_ignored",
			       json_object_new_int64((int64_t)p->ignored));
}

const struct policy_ops policy_ops_prefetch = {
	.name = "prefetch",
	.usage = "prefetch:FILE",
	.phase = PHASE_BASE,
	.flags = POLICY_F_FILE,
	.state_size = sizeof(struct prefetch),
	.file_path = offsetof(struct prefetch, file),
	.create = pf_create,
	.destroy = pf_destroy,
	.attach = pf_attach,
	.detach = pf_detach,
	.status = pf_status,
};
