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
#include "probe.h"
#include "spec.h"
#include "takeover_int.h"
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

#define MAX_POLL 256 /* uffds served at once */

static void kick(struct takeover *t)
{
	uint64_t one = 1;

	if (write(t->evfd, &one, sizeof(one)) < 0) {
		/* the counter is full: the thread is awake anyway */
	}
}

/* The thread ------------------------------------------------------------- */

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
	tk_wake_all(t);
	/* When we hung up ourselves, the daemon may still read a fault or
	 * two before it drops us: wake again once it surely has. */
	t->rewake[0] = tk_now_ns() + 100000000ull;
	t->rewake[1] = tk_now_ns() + 1000000000ull;
}

/* ms until the first held fault (or a wake-up) is due, -1 if none is. */
static int next_due(const struct takeover *t)
{
	uint64_t first = NEVER, now = tk_now_ns();

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
			if (h && tk_drain(t, h) == -ESRCH && h->child)
				tk_drop_handle(t, h);
		}
	for (int k = 0; k < 2; k++)
		if (t->rewake[k] && t->rewake[k] <= tk_now_ns()) {
			t->rewake[k] = 0;
			tk_wake_all(t);
		}
	tk_let_go(t);
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

/*
 * The page-state file, mapped and checked against r; 0 or -errno.  A
 * region's own file is ours to write once we serve; an image's is shared
 * by every client of the image and comes read-only (sealed against
 * writes): we only read its filled bits.
 */
static int map_pages(struct uffd_region *r, int fd)
{
	const struct uffdd_pages_hdr *h;
	uint64_t n = r->size / r->page_size, need = (n + 7) / 8;
	int ro = (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY;
	struct stat st;
	void *m;

	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < sizeof(*h) + 2 * need)
		return -EPROTO;
	m = mmap(NULL, (size_t)st.st_size,
		 ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	h = m;
	if (h->magic != UFFDD_PAGES_MAGIC ||
	    h->version != UFFDD_PAGES_VERSION || h->npages != n ||
	    h->filled_off > (uint64_t)st.st_size - need ||
	    h->published_off > (uint64_t)st.st_size - need ||
	    ro != !!(h->flags & UFFDD_PAGES_IMAGE)) {
		munmap(m, (size_t)st.st_size);
		return -EPROTO;
	}
	r->pages = m;
	r->pages_len = (size_t)st.st_size;
	r->pages_ro = ro;
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
	tk_add_handle(t, r->uffd, r, NULL);
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
				tk_drop_handle(t, h);
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

	if (!t || !r->pages || r->pages_ro)
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
		tk_set_bit(r, r->pages->published_off, i);
	tk_let_go(t); /* here and now: the held threads go on */
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

int takeover_stats(const struct uffd_client *c, uint64_t *mapped,
		   uint64_t *refused)
{
	struct takeover *t = c->tk;

	*mapped = t ? __atomic_load_n(&t->mapped, __ATOMIC_ACQUIRE) : 0;
	*refused = t ? __atomic_load_n(&t->refused, __ATOMIC_ACQUIRE) : 0;
	return t ? takeover_serving((struct uffd_client *)c) : 0;
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
		tk_drop_handle(t, t->handles);
	free(t->held);
	close(t->evfd);
	pthread_mutex_destroy(&t->lock);
	free(t);
	c->tk = NULL;
}
