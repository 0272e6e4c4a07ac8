/* SPDX-License-Identifier: MIT */
/*
 * Taking over from a daemon that has gone (proto/PROTOCOL.md, "Taking
 * over").  For a region whose contents the daemon makes (populate, gate),
 * the kernel would map whatever the page cache holds - zeros for a page
 * never filled - once the daemon's uffd is gone.  So the client keeps its
 * own reference to that uffd, and a thread of its own watches the
 * connection: when the daemon hangs up (killed, stopped, or it dropped us),
 * the thread reads the faults itself and answers as the region's page-state
 * file says: a page is filled from the image this process opened and
 * mapped, held until it is published (uffd_region_publish then resolves it
 * here), or refused with SIGBUS (UFFDIO_POISON) when it cannot be made
 * right.  Never zeros.
 *
 * While the daemon lives, the thread only polls the socket for a hang-up:
 * it reads no fault and costs no fault any time.  Under systemd the fd store
 * keeps the connection open across a restart, so there is no hang-up and the
 * restarted daemon resumes.
 *
 * Everything the thread touches is under t->lock; a region is unlinked
 * under it before it is freed, so the thread never sees a freed one.
 */
#include "client_int.h"
#include "probe.h"
#include "spec.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEGS 16  /* pieces of a region moved or cut by mremap/munmap */
#define MAX_POLL 256 /* uffds served at once */
#define BATCH	 64  /* fault messages per read */
#define NEVER	 UINT64_MAX

/* A piece of a region's pages [first, first + len/psz) now at start. */
struct seg {
	uint64_t start, len, first;
};

/* A uffd to serve: a region's own, or a forked child's copy of it. */
struct handle {
	int uffd;
	int child; /* ours to close */
	struct uffd_region *r;
	int nseg;
	struct seg seg[MAX_SEGS];
	struct handle *next;
};

/* A fault held for a gate: until published, or its deadline. */
struct held {
	struct handle *h;
	uint64_t addr, page, due;
};

struct takeover {
	pthread_t thread;
	int evfd;	      /* wakes the thread: a change, or stop */
	int sock;	      /* watched for the daemon's hang-up */
	pthread_mutex_t lock; /* everything below */
	struct uffd_region *regions;
	struct handle *handles;
	struct held *held;
	size_t nheld, cap;
	int serving;	    /* the daemon is gone: the faults are ours */
	uint64_t rewake[2]; /* when to wake every range again (or 0) */
	int hangup;	    /* the application closed the socket */
	int stop;	    /* end the thread */
	unsigned long cont_req;
	struct uffd_client *c;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void kick(struct takeover *t)
{
	uint64_t one = 1;

	if (write(t->evfd, &one, sizeof(one)) < 0) {
		/* the counter is full: the thread is awake anyway */
	}
}

static int bit(const struct uffd_region *r, uint64_t off, uint64_t i)
{
	const uint8_t *m = (const uint8_t *)r->pages + off;

	return (__atomic_load_n(&m[i / 8], __ATOMIC_ACQUIRE) >> (i % 8)) & 1;
}

static void set_bit(struct uffd_region *r, uint64_t off, uint64_t i)
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
static void poison(int uffd, uint64_t addr, uint64_t psz)
{
	struct uffdio_poison p = { .range = { .start = addr, .len = psz } };

	if (ioctl(uffd, UFFDIO_POISON, &p) < 0 && errno == EEXIST)
		wake(uffd, addr, psz);
}

/* Map the page; -ESRCH when the uffd's process is gone. */
static int map_page(struct takeover *t, int uffd, uint64_t addr, uint64_t psz)
{
	struct uffdio_continue c = { .range = { .start = addr, .len = psz } };

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
	char *map = fill_map(r);
	int img = h->image_file < r->nfiles ? r->files[h->image_file] : -1;

	if (img < 0 || !map)
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
	set_bit(r, h->filled_off, i);
	return 0;
}

/* Let the fault on page i at addr through h: its bytes first. */
static int resolve(struct takeover *t, struct handle *h, uint64_t addr,
		   uint64_t i)
{
	struct uffd_region *r = h->r;
	uint32_t flags = __atomic_load_n(&r->pages->flags, __ATOMIC_ACQUIRE);

	if ((flags & UFFDD_PAGES_POPULATE) &&
	    !bit(r, r->pages->filled_off, i) && fill(r, i) < 0) {
		poison(h->uffd, addr, r->page_size);
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
	t->held[t->nheld++] =
	    (struct held){ h, addr, i,
			   ms ? now_ns() + (uint64_t)ms * 1000000ull : NEVER };
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
		poison(h->uffd, addr, r->page_size);
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

static void add_handle(struct takeover *t, int uffd, struct uffd_region *r,
		       const struct handle *like);

/* One message read from h's uffd. */
static int on_msg(struct takeover *t, struct handle *h,
		  const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		return on_fault(t, h, m->arg.pagefault.address);
	case UFFD_EVENT_FORK:
		/* The child's copy of the range: served like ours. */
		add_handle(t, (int)m->arg.fork.ufd, h->r, h);
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
static int drain(struct takeover *t, struct handle *h)
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

static void add_handle(struct takeover *t, int uffd, struct uffd_region *r,
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
static void drop_handle(struct takeover *t, struct handle *h)
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

/* The thread -----------------------------------------------------------------
 */

/* Gate faults published since, or past their deadline, let go. */
static void let_go(struct takeover *t)
{
	uint64_t now = now_ns();

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
			poison(e.h->uffd, e.addr, r->page_size);
		else
			resolve(t, e.h, e.addr, e.page);
	}
}

/* A fault the daemon read but never answered is queued nowhere: wake
 * every range so that such threads fault again, to us. */
static void wake_all(struct takeover *t)
{
	for (struct handle *h = t->handles; h; h = h->next)
		for (int k = 0; k < h->nseg; k++)
			wake(h->uffd, h->seg[k].start, h->seg[k].len);
}

/* The daemon is gone: its faults are ours from now on. */
static void begin_serving(struct takeover *t)
{
	struct uffd_caps caps;

	if (t->serving)
		return;
	t->serving = 1;
	__atomic_store_n(&t->c->dead, 1, __ATOMIC_RELEASE);
	t->cont_req = UFFDIO_CONTINUE;
	if (uffd_probe(&caps) == 0 && caps.continue_ok)
		t->cont_req = caps.continue_req;
	wake_all(t);
	/* When we hung up ourselves, the daemon may still read a fault or
	 * two before it drops us: wake again once it surely has. */
	t->rewake[0] = now_ns() + 100000000ull;
	t->rewake[1] = now_ns() + 1000000000ull;
}

/* ms until the first held fault (or a wake-up) is due, -1 if none is. */
static int next_due(const struct takeover *t)
{
	uint64_t first = NEVER, now = now_ns();

	for (size_t k = 0; k < t->nheld; k++)
		if (t->held[k].due < first)
			first = t->held[k].due;
	for (int k = 0; k < 2; k++)
		if (t->rewake[k] && t->rewake[k] < first)
			first = t->rewake[k];
	if (first == NEVER)
		return -1;
	return first <= now ? 0 : (int)((first - now) / 1000000ull + 1);
}

/* Poll what there is to poll now; the number of entries in p. */
static int poll_set(struct takeover *t, struct pollfd *p, struct handle **hs,
		    int *timeout)
{
	int n = 1;

	p[0] = (struct pollfd){ .fd = t->evfd, .events = POLLIN };
	*timeout = -1;
	if (!t->serving) {
		/* events 0: only a hang-up or an error wakes us. */
		if (!t->hangup)
			p[n++] = (struct pollfd){ .fd = t->sock, .events = 0 };
		return n;
	}
	for (struct handle *h = t->handles; h && n < MAX_POLL; h = h->next) {
		hs[n] = h;
		p[n++] = (struct pollfd){ .fd = h->uffd, .events = POLLIN };
	}
	*timeout = next_due(t);
	return n;
}

/*
 * After a poll: what it said, under the lock.  served: the poll set was
 * built to serve (uffds in it), not to watch (the socket in it); a publish
 * may have begun serving meanwhile.
 */
static void round_done(struct takeover *t, struct pollfd *p, struct handle **hs,
		       int n, int served)
{
	uint64_t v;

	if (p[0].revents & POLLIN)
		(void)!read(t->evfd, &v, sizeof(v));
	if (!served && (t->hangup || (n > 1 && p[1].revents)))
		begin_serving(t);
	else if (served)
		for (int k = 1; k < n; k++) {
			struct handle *h;

			if (!(p[k].revents & (POLLIN | POLLERR)))
				continue;
			/* Dropped meanwhile (its region released)? */
			for (h = t->handles; h && h != hs[k]; h = h->next)
				;
			if (h && drain(t, h) == -ESRCH && h->child)
				drop_handle(t, h);
		}
	for (int k = 0; k < 2; k++)
		if (t->rewake[k] && t->rewake[k] <= now_ns()) {
			t->rewake[k] = 0;
			wake_all(t);
		}
	let_go(t);
}

static void *run(void *arg)
{
	struct takeover *t = arg;
	struct pollfd p[MAX_POLL];
	struct handle *hs[MAX_POLL] = { NULL };
	int n, timeout, served;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		served = t->serving;
		n = poll_set(t, p, hs, &timeout);
		pthread_mutex_unlock(&t->lock);
		if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
			usleep(1000); /* ENOMEM: try again, not spin */
		pthread_mutex_lock(&t->lock);
		round_done(t, p, hs, n, served);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* The API to client.c
 * ---------------------------------------------------------- */

static struct takeover *start(struct uffd_client *c)
{
	struct takeover *t = calloc(1, sizeof(*t));
	sigset_t all, old;
	int rc;

	if (!t)
		return NULL;
	t->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->sock = c->sock;
	t->c = c;
	pthread_mutex_init(&t->lock, NULL);
	/* The application's signals are not for this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = t->evfd < 0 ? -1 : pthread_create(&t->thread, NULL, run, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		if (t->evfd >= 0)
			close(t->evfd);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return NULL;
	}
	return t;
}

/* The page-state file, mapped and checked against r; 0 or -errno. */
static int map_pages(struct uffd_region *r, int fd)
{
	const struct uffdd_pages_hdr *h;
	uint64_t n = r->size / r->page_size, need = (n + 7) / 8;
	struct stat st;
	void *m;

	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < sizeof(*h) + 2 * need)
		return -EPROTO;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	h = m;
	if (h->magic != UFFDD_PAGES_MAGIC ||
	    h->version != UFFDD_PAGES_VERSION || h->npages != n ||
	    h->filled_off > (uint64_t)st.st_size - need ||
	    h->published_off > (uint64_t)st.st_size - need) {
		munmap(m, (size_t)st.st_size);
		return -EPROTO;
	}
	r->pages = m;
	r->pages_len = (size_t)st.st_size;
	return 0;
}

int takeover_keep(struct uffd_client *c, struct uffd_region *r, int pages_fd,
		  int uffd, struct spec_files *files)
{
	struct takeover *t = c->tk ? c->tk : (c->tk = start(c));
	int rc = map_pages(r, pages_fd);

	if (rc < 0)
		return client_fail(-rc, "uffdd's page-state file: %s",
				   rc == -EPROTO ? "not one for this region"
						 : strerror(-rc));
	if (!t) {
		munmap(r->pages, r->pages_len);
		r->pages = NULL;
		return client_fail(ENOMEM,
				   "cannot start the thread that takes over "
				   "from uffdd");
	}
	r->uffd = uffd;
	memcpy(r->files, files->fd, sizeof(int) * (size_t)files->n);
	r->nfiles = files->n;
	files->n = 0;
	pthread_mutex_lock(&t->lock);
	add_handle(t, r->uffd, r, NULL);
	r->tk_next = t->regions;
	t->regions = r;
	pthread_mutex_unlock(&t->lock);
	kick(t);
	return 0;
}

void takeover_drop(struct uffd_region *r)
{
	struct takeover *t = r->c ? r->c->tk : NULL;

	if (!r->pages)
		return;
	if (t) {
		pthread_mutex_lock(&t->lock);
		for (struct uffd_region **p = &t->regions; *p;
		     p = &(*p)->tk_next)
			if (*p == r) {
				*p = r->tk_next;
				break;
			}
		for (struct handle *h = t->handles, *next; h; h = next) {
			next = h->next;
			if (h->r == r)
				drop_handle(t, h);
		}
		pthread_mutex_unlock(&t->lock);
		kick(t);
	}
	close(r->uffd);
	r->uffd = -1;
	for (int i = 0; i < r->nfiles; i++)
		close(r->files[i]);
	r->nfiles = 0;
	munmap(r->pages, r->pages_len);
	r->pages = NULL;
	if (r->tk_fill)
		munmap(r->tk_fill, r->size);
	r->tk_fill = NULL;
}

int takeover_serving(struct uffd_client *c)
{
	int on;

	if (!c->tk)
		return 0;
	pthread_mutex_lock(&c->tk->lock);
	on = c->tk->serving;
	pthread_mutex_unlock(&c->tk->lock);
	return on;
}

int takeover_publish(struct uffd_region *r, size_t offset, size_t length)
{
	struct takeover *t = r->c->tk;
	uint64_t psz = r->page_size;

	struct pollfd p = { .fd = r->c->sock, .events = 0 };

	if (!t || !r->pages)
		return -EOPNOTSUPP;
	if (offset % psz || length % psz)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	/* The daemon may have gone an instant before the thread saw it; but
	 * while it is there, its faults are not ours to answer. */
	if (!t->serving && !t->hangup && !(poll(&p, 1, 0) == 1 && p.revents)) {
		pthread_mutex_unlock(&t->lock);
		return -ECONNRESET;
	}
	begin_serving(t);
	for (uint64_t i = offset / psz; i < (offset + length) / psz; i++)
		set_bit(r, r->pages->published_off, i);
	let_go(t); /* here and now: the held threads go on */
	pthread_mutex_unlock(&t->lock);
	return 0;
}

void takeover_disconnect(struct uffd_client *c)
{
	struct takeover *t = c->tk;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->hangup = 1;
	pthread_mutex_unlock(&t->lock);
	kick(t);
}

void takeover_stop(struct uffd_client *c)
{
	struct takeover *t = c->tk;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = 1;
	pthread_mutex_unlock(&t->lock);
	kick(t);
	pthread_join(t->thread, NULL);
	while (t->handles)
		drop_handle(t, t->handles);
	free(t->held);
	close(t->evfd);
	pthread_mutex_destroy(&t->lock);
	free(t);
	c->tk = NULL;
}
