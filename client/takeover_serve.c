/* SPDX-License-Identifier: MIT */
/*
 * The takeover's answers (takeover.c says when): each fault on a region
 * whose contents the daemon made is answered as the region's page-state
 * file says, once the daemon has gone: filled from the image this process
 * opened, held until published, or refused with SIGBUS; never zeros.  Runs
 * under t->lock, on the takeover thread or (a publish) the application's.
 */
#include "takeover_int.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64 /* fault messages per read */

uint64_t tk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bit(const struct uffd_region *r, uint64_t off, uint64_t i)
{
	const uint8_t *m = (const uint8_t *)r->pages + off;

	return (__atomic_load_n(&m[i / 8], __ATOMIC_ACQUIRE) >> (i % 8)) & 1;
}

void tk_set_bit(struct uffd_region *r, uint64_t off, uint64_t i)
{
	uint8_t *m = (uint8_t *)r->pages + off;

	__atomic_or_fetch(&m[i / 8], (uint8_t)(1u << (i % 8)),
			  __ATOMIC_RELEASE);
}

/* Pages: the ioctls ------------------------------------------------------- */

static void wake(int uffd, uint64_t addr, uint64_t len)
{
	struct uffdio_range rg = { .start = addr, .len = len };

	ioctl(uffd, UFFDIO_WAKE, &rg);
}

/*
 * SIGBUS for the thread(s) on the page.  A kernel without UFFDIO_POISON
 * cannot refuse a minor fault: the thread then waits (it is never woken),
 * which is still no wrong byte.
 */
static void poison(struct takeover *t, int uffd, uint64_t addr, uint64_t psz)
{
	struct uffdio_poison p = { .range = { .start = addr, .len = psz } };

	/* Counted first: the thread, once answered, may read the count. */
	__atomic_add_fetch(&t->refused, 1, __ATOMIC_RELEASE);
	if (ioctl(uffd, UFFDIO_POISON, &p) < 0 && errno == EEXIST)
		wake(uffd, addr, psz);
}

/* Map the page; -ESRCH when the uffd's process is gone. */
static int map_page(struct takeover *t, int uffd, uint64_t addr, uint64_t psz)
{
	struct uffdio_continue c = { .range = { .start = addr, .len = psz } };

	__atomic_add_fetch(&t->mapped, 1, __ATOMIC_RELEASE);
	if (ioctl(uffd, t->cont_req, &c) == 0)
		return 0;
	if (errno == ESRCH)
		return -ESRCH;
	/* Mapped already (another thread), or the mm is changing (an event
	 * is queued for us): the thread faults again if it must. */
	wake(uffd, addr, psz);
	return 0;
}

/* The memfd, writable, without faults: where pages are filled (an
 * adopted region has no fill mapping of the library's: make one). */
static char *fill_map(struct uffd_region *r)
{
	if (r->fill)
		return r->fill;
	if (!r->tk_fill) {
		void *m = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, r->memfd, r->offset);

		if (m == MAP_FAILED)
			return NULL;
		r->tk_fill = m;
	}
	return r->tk_fill;
}

/* Page i's bytes from the image we opened; 0, or -1 if it cannot be. */
static int fill(struct uffd_region *r, uint64_t i)
{
	const struct uffdd_pages_hdr *h = r->pages;
	uint64_t psz = r->page_size, done = 0;
	int img = h->image_file < r->nfiles ? r->files[h->image_file] : -1;
	char *map = img >= 0 && !r->pages_ro ? fill_map(r) : NULL;

	if (!map)
		return -1; /* not an image of ours: it cannot be made here */
	while (done < psz) {
		ssize_t n = pread(img, map + i * psz + done, psz - done,
				  (off_t)(h->image_offset + i * psz + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (uint64_t)n;
	}
	tk_set_bit(r, h->filled_off, i);
	return 0;
}

/* Let the fault on page i at addr through h: its bytes first. */
static int resolve(struct takeover *t, struct handle *h, uint64_t addr,
		   uint64_t i)
{
	struct uffd_region *r = h->r;
	uint32_t flags = __atomic_load_n(&r->pages->flags, __ATOMIC_ACQUIRE);

	/* An image's page the daemon never filled: the store is not ours to
	 * read, so it cannot be made here. */
	if ((flags & (UFFDD_PAGES_POPULATE | UFFDD_PAGES_IMAGE)) &&
	    !bit(r, r->pages->filled_off, i) &&
	    ((flags & UFFDD_PAGES_IMAGE) || fill(r, i) < 0)) {
		poison(t, h->uffd, addr, r->page_size);
		return 0;
	}
	return map_page(t, h->uffd, addr, r->page_size);
}

/* Faults ------------------------------------------------------------------- */

/* The page index of addr in h's region, or -1 if no piece holds it. */
static int64_t page_of(const struct handle *h, uint64_t addr)
{
	for (int k = 0; k < h->nseg; k++)
		if (addr >= h->seg[k].start &&
		    addr - h->seg[k].start < h->seg[k].len)
			return (int64_t)(h->seg[k].first +
					 (addr - h->seg[k].start) /
					     h->r->page_size);
	return -1;
}

static void hold(struct takeover *t, struct handle *h, uint64_t addr,
		 uint64_t i)
{
	uint32_t ms = h->r->pages->gate_timeout_ms;

	for (size_t k = 0; k < t->nheld; k++)
		if (t->held[k].h == h && t->held[k].addr == addr)
			return; /* woken and faulted again: still held */
	if (t->nheld == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct held *n = realloc(t->held, cap * sizeof(*n));

		if (!n) { /* it waits in the kernel, unwoken */
			return;
		}
		t->held = n;
		t->cap = cap;
	}
	t->held[t->nheld++] = (struct held){
		h, addr, i, ms ? tk_now_ns() + (uint64_t)ms * 1000000ull : NEVER
	};
}

static int on_fault(struct takeover *t, struct handle *h, uint64_t addr)
{
	struct uffd_region *r = h->r;
	uint32_t flags = __atomic_load_n(&r->pages->flags, __ATOMIC_ACQUIRE);
	int64_t i;

	addr &= ~((uint64_t)r->page_size - 1);
	i = page_of(h, addr);
	if (i < 0 || (uint64_t)i >= r->pages->npages ||
	    (flags & UFFDD_PAGES_DENY)) {
		poison(t, h->uffd, addr, r->page_size);
		return 0;
	}
	if ((flags & UFFDD_PAGES_GATE) &&
	    !bit(r, r->pages->published_off, (uint64_t)i)) {
		hold(t, h, addr, (uint64_t)i);
		return 0;
	}
	return resolve(t, h, addr, (uint64_t)i);
}

/* Cut h's pieces at addr (one becomes two). */
static void cut(struct handle *h, uint64_t addr)
{
	for (int k = 0; k < h->nseg; k++) {
		struct seg *s = &h->seg[k];

		if (addr <= s->start || addr >= s->start + s->len ||
		    h->nseg == MAX_SEGS)
			continue;
		memmove(s + 2, s + 1, sizeof(*s) * (size_t)(h->nseg - k - 1));
		s[1] = (struct seg){ addr, s->start + s->len - addr,
				     s->first +
					 (addr - s->start) / h->r->page_size };
		s->len = addr - s->start;
		h->nseg++;
		return;
	}
}

/* mremap moved [from, from+len) to `to`; munmap (to == 0) dropped it. */
static void moved(struct handle *h, uint64_t from, uint64_t len, uint64_t to,
		  int gone)
{
	cut(h, from);
	cut(h, from + len);
	for (int k = 0; k < h->nseg;) {
		struct seg *s = &h->seg[k];

		if (s->start >= from && s->start + s->len <= from + len) {
			if (gone) {
				memmove(s, s + 1,
					sizeof(*s) * (size_t)(h->nseg - k - 1));
				h->nseg--;
				continue;
			}
			s->start = s->start - from + to;
		}
		k++;
	}
}

/* One message read from h's uffd. */
static int on_msg(struct takeover *t, struct handle *h,
		  const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		return on_fault(t, h, m->arg.pagefault.address);
	case UFFD_EVENT_FORK:
		/* The child's copy of the range: served like ours. */
		tk_add_handle(t, (int)m->arg.fork.ufd, h->r, h);
		return 0;
	case UFFD_EVENT_REMAP:
		moved(h, m->arg.remap.from, m->arg.remap.len, m->arg.remap.to,
		      0);
		return 0;
	case UFFD_EVENT_UNMAP:
		moved(h, m->arg.remove.start,
		      m->arg.remove.end - m->arg.remove.start, 0, 1);
		return 0;
	default: /* REMOVE: the range stays; nothing to do */
		return 0;
	}
}

/* Read and answer what h's uffd holds; -ESRCH if its process is gone. */
int tk_drain(struct takeover *t, struct handle *h)
{
	struct uffd_msg msgs[BATCH];

	for (;;) {
		ssize_t n = read(h->uffd, msgs, sizeof(msgs));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		for (size_t k = 0; k < (size_t)n / sizeof(msgs[0]); k++)
			if (on_msg(t, h, &msgs[k]) == -ESRCH)
				return -ESRCH;
		if ((size_t)n < sizeof(msgs))
			return 0;
	}
}

/* Handles -------------------------------------------------------------------
 */

void tk_add_handle(struct takeover *t, int uffd, struct uffd_region *r,
		   const struct handle *like)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h) {
		if (like)
			close(uffd); /* the child is served by the kernel */
		return;
	}
	fcntl(uffd, F_SETFL, fcntl(uffd, F_GETFL) | O_NONBLOCK);
	h->uffd = uffd;
	h->child = like != NULL;
	h->r = r;
	if (like) {
		h->nseg = like->nseg;
		memcpy(h->seg, like->seg, sizeof(h->seg));
	} else {
		h->nseg = 1;
		h->seg[0] = (struct seg){ (uintptr_t)r->addr, r->size, 0 };
	}
	h->next = t->handles;
	t->handles = h;
}

/* Forget h (and the faults it holds). */
void tk_drop_handle(struct takeover *t, struct handle *h)
{
	for (struct handle **p = &t->handles; *p; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	for (size_t k = 0; k < t->nheld;)
		if (t->held[k].h == h)
			t->held[k] = t->held[--t->nheld];
		else
			k++;
	if (h->child)
		close(h->uffd);
	free(h);
}

/* Gate faults published since, or past their deadline, let go. */
void tk_let_go(struct takeover *t)
{
	uint64_t now = tk_now_ns();

	for (size_t k = 0; k < t->nheld;) {
		struct held e = t->held[k];
		struct uffd_region *r = e.h->r;
		int pub = bit(r, r->pages->published_off, e.page);

		if (!pub && e.due > now) {
			k++;
			continue;
		}
		t->held[k] = t->held[--t->nheld];
		if (!pub && (r->pages->flags & UFFDD_PAGES_GATE_DENY))
			poison(t, e.h->uffd, e.addr, r->page_size);
		else
			resolve(t, e.h, e.addr, e.page);
	}
}

/* A fault the daemon read but never answered is queued nowhere: wake
 * every range so that such threads fault again, to us. */
void tk_wake_all(struct takeover *t)
{
	for (struct handle *h = t->handles; h; h = h->next)
		for (int k = 0; k < h->nseg; k++)
			wake(h->uffd, h->seg[k].start, h->seg[k].len);
}
