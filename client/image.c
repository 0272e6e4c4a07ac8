/* SPDX-License-Identifier: MIT */
/*
 * libuffdclient: mapping a named image from the host's cache, and keeping
 * its bytes right when the daemon goes away.
 *
 * The daemon hands over the cache's memfd read-only and a bitmap of the
 * pages it has filled.  The mapping is registered MISSING|MINOR with a
 * uffd the library keeps a copy of.  While the daemon serves, that copy is
 * idle.  When the daemon's socket hangs up (crash, SIGKILL, stop), a
 * keeper thread takes the uffd over: threads the dead daemon had read
 * faults from are woken to fault again, and every fault is answered here:
 * a page the bitmap marks is mapped from the cache (UFFDIO_CONTINUE), any
 * other page gets SIGBUS (UFFDIO_POISON).  The client has no store access
 * and the page cache may hold a page filled halfway: without the keeper,
 * the kernel would show it, or zeros.  Before Linux 6.6 (no POISON) such
 * a fault waits.  Issue 12's general takeover can absorb this: the keeper
 * is the image case of "serve or poison in-process".
 */
#include "client_int.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define EVENTS                                                                 \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |                  \
	 UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)
#define MAX_MAPS 64

struct uffd_image_map {
	void *addr;
	size_t len, page_size;
	const uint64_t *bitmap;
	size_t bitmap_len;
	int uffd, fd, bitmap_fd;
};

struct uffd_keeper {
	pthread_t thread;
	pthread_mutex_t lock;
	int stop_fd; /* eventfd: the client disconnects */
	int sock;
	int taken_over;
	struct uffd_image_map *maps[MAX_MAPS];
	int n;
	uint64_t served, poisoned; /* after a takeover (atomic) */
};

static int page_ok(const struct uffd_image_map *m, uint64_t addr)
{
	uint64_t p = (addr - (uintptr_t)m->addr) / m->page_size;

	if (p / 64 * 8 >= m->bitmap_len)
		return 0;
	return (__atomic_load_n(&m->bitmap[p / 64], __ATOMIC_ACQUIRE) >>
		(p % 64)) &
	       1;
}

static struct uffd_image_map *map_of(struct uffd_keeper *k, int uffd)
{
	for (int i = 0; i < k->n; i++)
		if (k->maps[i]->uffd == uffd)
			return k->maps[i];
	return NULL;
}

/* One fault on m, answered from the cache or refused. */
static void serve(struct uffd_keeper *k, struct uffd_image_map *m,
		  uint64_t addr)
{
	struct uffdio_continue c = { .range = { addr, m->page_size } };
	struct uffdio_poison p = { .range = { addr, m->page_size } };

	/* Counted before the answer: the woken thread may read the counts
	 * at once. */
	if (page_ok(m, addr)) {
		__atomic_add_fetch(&k->served, 1, __ATOMIC_SEQ_CST);
		if (ioctl(m->uffd, UFFDIO_CONTINUE, &c) < 0 &&
		    errno == EEXIST) {
			struct uffdio_range r = c.range;

			ioctl(m->uffd, UFFDIO_WAKE, &r);
		}
		return;
	}
	/* Not filled, or filled halfway when the daemon died: never shown.
	 * Without POISON (before 6.6) the thread waits. */
	__atomic_add_fetch(&k->poisoned, 1, __ATOMIC_SEQ_CST);
	if (ioctl(m->uffd, UFFDIO_POISON, &p) < 0 && errno != EEXIST)
		__atomic_sub_fetch(&k->poisoned, 1, __ATOMIC_SEQ_CST);
}

static void drain(struct uffd_keeper *k, struct uffd_image_map *m)
{
	struct uffd_msg msg[16];

	for (;;) {
		ssize_t n = read(m->uffd, msg, sizeof(msg));

		if (n <= 0)
			return;
		for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++) {
			uint64_t a = msg[i].arg.pagefault.address;

			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				continue; /* nothing of ours to follow */
			serve(k, m, a & ~((uint64_t)m->page_size - 1));
		}
	}
}

/* The daemon is gone: its unanswered faults fault again, here. */
static void take_over(struct uffd_keeper *k)
{
	k->taken_over = 1;
	for (int i = 0; i < k->n; i++) {
		struct uffdio_range r = { (uintptr_t)k->maps[i]->addr,
					  k->maps[i]->len };

		ioctl(k->maps[i]->uffd, UFFDIO_WAKE, &r);
	}
}

static void *keeper_main(void *arg)
{
	struct uffd_keeper *k = arg;

	for (;;) {
		struct pollfd p[MAX_MAPS + 2];
		int n = 0, rc;

		pthread_mutex_lock(&k->lock);
		p[n++] = (struct pollfd){ .fd = k->stop_fd, .events = POLLIN };
		if (!k->taken_over) {
			/* Only the hang-up: the replies are the caller's. */
			p[n++] = (struct pollfd){ .fd = k->sock,
						  .events = POLLRDHUP };
		} else {
			for (int i = 0; i < k->n; i++)
				p[n++] =
				    (struct pollfd){ .fd = k->maps[i]->uffd,
						     .events = POLLIN };
		}
		pthread_mutex_unlock(&k->lock);
		rc = poll(p, (nfds_t)n, 1000);
		if (rc < 0 && errno != EINTR)
			return NULL;
		if (p[0].revents)
			return NULL;
		pthread_mutex_lock(&k->lock);
		if (!k->taken_over && n > 1 &&
		    (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)))
			take_over(k);
		else if (k->taken_over)
			for (int i = 1; i < n; i++) {
				struct uffd_image_map *m;

				if (!(p[i].revents & POLLIN))
					continue;
				m = map_of(k, p[i].fd);
				if (m)
					drain(k, m);
			}
		pthread_mutex_unlock(&k->lock);
	}
}

static struct uffd_keeper *keeper_of(struct uffd_client *c)
{
	struct uffd_keeper *k = c->keeper;

	if (k)
		return k;
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	k->sock = c->sock;
	k->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (k->stop_fd < 0 ||
	    pthread_create(&k->thread, NULL, keeper_main, k) != 0) {
		if (k->stop_fd >= 0)
			close(k->stop_fd);
		pthread_mutex_destroy(&k->lock);
		free(k);
		return NULL;
	}
	c->keeper = k;
	return k;
}

void image_client_gone(struct uffd_client *c)
{
	struct uffd_keeper *k = c->keeper;
	uint64_t one = 1;

	if (!k)
		return;
	if (write(k->stop_fd, &one, sizeof(one)) < 0)
		abort(); /* an eventfd write cannot fail here */
	pthread_join(k->thread, NULL);
	close(k->stop_fd);
	pthread_mutex_destroy(&k->lock);
	free(k);
	c->keeper = NULL;
}

void image_region_release(struct uffd_region *r)
{
	struct uffd_image_map *m = r->image;
	struct uffd_keeper *k = r->c ? r->c->keeper : NULL;

	if (k) {
		pthread_mutex_lock(&k->lock);
		for (int i = 0; i < k->n; i++)
			if (k->maps[i] == m)
				k->maps[i] = k->maps[--k->n];
		pthread_mutex_unlock(&k->lock);
	}
	munmap(m->addr, m->len);
	munmap((void *)m->bitmap, m->bitmap_len);
	close(m->uffd);
	close(m->fd);
	close(m->bitmap_fd);
	free(m);
	r->image = NULL;
}

/* "name" or "name@version" into the request.  0 or -EINVAL. */
static int parse_ref(const char *ref, struct uffdd_image_open *io)
{
	const char *at = strchr(ref, '@');
	size_t n = at ? (size_t)(at - ref) : strlen(ref);
	char *end;

	if (!n || n >= sizeof(io->name))
		return -EINVAL;
	memcpy(io->name, ref, n);
	if (at) {
		errno = 0;
		io->version = strtoull(at + 1, &end, 10);
		if (errno || !at[1] || *end || !io->version)
			return -EINVAL;
	}
	return 0;
}

static int open_image(struct uffd_client *c, const char *ref, unsigned flags,
		      struct uffdd_msg *m)
{
	struct uffdd_image_open io;
	int rc;

	memset(&io, 0, sizeof(io));
	if (parse_ref(ref, &io) < 0)
		return fail(EINVAL, "\"%s\" is not NAME or NAME@VERSION", ref);
	if (flags & UFFD_IMAGE_HUGETLB)
		io.flags |= UFFDD_IMAGE_HUGETLB;
	if (flags & UFFD_IMAGE_RECORD)
		io.flags |= UFFDD_IMAGE_RECORD;
	rc = request(c, UFFDD_IMAGE_OPEN, &io, sizeof(io), NULL, 0, m);
	if (rc < 0)
		return rc;
	if (m->hdr.type != UFFDD_IMAGE) {
		uffdd_msg_close_fds(m);
		return fail(EPROTO, "uffdd answered IMAGE_OPEN with %s",
			    uffdd_type_name(m->hdr.type));
	}
	return 0;
}

/* The mapping the client asked for, and the bitmap beside it. */
static int map_image(const struct uffdd_image *im, unsigned flags,
		     struct uffd_image_map *m)
{
	int huge = flags & UFFD_IMAGE_HUGETLB;
	int mf = MAP_PRIVATE;
	/* Read-only is PROT_READ on a private mapping: the kernel registers
	 * no userfaultfd on a mapping that may never be written
	 * (!VM_MAYWRITE), which every shared mapping of the sealed,
	 * read-only cache is. */
	int prot =
	    (flags & UFFD_IMAGE_SHARED) ? PROT_READ : PROT_READ | PROT_WRITE;

	/* A private hugetlb mapping reserves a huge page per page for its
	 * copies at mmap time unless MAP_NORESERVE: N clients of an image
	 * would need N times its pages free.  Without the reserve a write
	 * that finds no free huge page gets SIGBUS (docs/images.md). */
	if (huge && mf == MAP_PRIVATE && !(flags & UFFD_IMAGE_RESERVE))
		mf |= MAP_NORESERVE;
	m->len = im->map_len;
	m->page_size = im->page_size;
	m->addr = mmap(NULL, m->len, prot, mf, m->fd, 0);
	if (m->addr == MAP_FAILED)
		return fail(errno, "mmap of the image (%zu bytes%s): %s",
			    m->len,
			    huge && !(mf & MAP_NORESERVE)
				? ", reserving huge pages for copies"
				: "",
			    strerror(errno));
	m->bitmap_len = im->bitmap_len;
	m->bitmap =
	    mmap(NULL, m->bitmap_len, PROT_READ, MAP_SHARED, m->bitmap_fd, 0);
	if (m->bitmap == MAP_FAILED) {
		munmap(m->addr, m->len);
		return fail(errno, "mmap of the image's bitmap: %s",
			    strerror(errno));
	}
	return 0;
}

static int hand_over(struct uffd_client *c, struct uffd_region *r,
		     const char *ref, unsigned flags)
{
	struct uffd_image_map *m = r->image;
	const struct uffd_raw_region rr = {
		.start = (uintptr_t)m->addr,
		.length = m->len,
		.page_size = (uint32_t)m->page_size,
		.kind = (flags & UFFD_IMAGE_HUGETLB) ? UFFDD_KIND_HUGETLB
						     : UFFDD_KIND_SHMEM,
		.memfd = m->fd,
		.name = ref,
		.policy = (flags & UFFD_IMAGE_RECORD) ? "image:record" : "",
		.events = getenv("UFFD_CLIENT_NO_EVENTS") ? 0 : EVENTS,
		.mode =
		    UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR,
	};

	if (strlen(ref) >= UFFDD_REGION_NAME_LEN)
		return fail(ENAMETOOLONG, "image name longer than %d bytes",
			    UFFDD_REGION_NAME_LEN - 1);
	return register_region(c, r, &rr, &m->uffd);
}

API int uffd_image_map(struct uffd_client *c, const char *ref, unsigned flags,
		       struct uffd_region **out)
{
	struct uffd_region *r = calloc(1, sizeof(*r));
	struct uffd_image_map *m = calloc(1, sizeof(*m));
	struct uffd_keeper *k;
	struct uffdd_msg reply = { 0 };
	int rc;

	*out = NULL;
	if (!r || !m) {
		free(r);
		free(m);
		return fail(ENOMEM, "out of memory");
	}
	m->uffd = m->fd = m->bitmap_fd = -1;
	r->c = c;
	r->image = m;
	pthread_mutex_lock(&c->lock);
	rc = open_image(c, ref, flags, &reply);
	if (rc == 0) {
		m->fd = reply.fds[0];
		m->bitmap_fd = reply.fds[1];
		rc = map_image(&reply.u.image, flags, m);
	}
	if (rc == 0) {
		r->addr = m->addr;
		r->size = m->len;
		r->page_size = m->page_size;
		r->memfd = m->fd;
		rc = hand_over(c, r, ref, flags);
		if (rc < 0) {
			munmap(m->addr, m->len);
			munmap((void *)m->bitmap, m->bitmap_len);
		}
	}
	pthread_mutex_unlock(&c->lock);
	k = rc == 0 ? keeper_of(c) : NULL;
	if (rc == 0 && !k)
		rc = fail(ENOMEM, "cannot start the image keeper thread");
	if (rc == 0) {
		pthread_mutex_lock(&k->lock);
		if (k->n < MAX_MAPS)
			k->maps[k->n++] = m;
		else
			rc = fail(EMFILE, "more than %d images mapped",
				  MAX_MAPS);
		pthread_mutex_unlock(&k->lock);
	}
	if (rc < 0) {
		if (r->id)
			uffd_region_release(r); /* unregisters, unmaps */
		else {
			if (m->uffd >= 0)
				close(m->uffd);
			if (m->fd >= 0)
				close(m->fd);
			if (m->bitmap_fd >= 0)
				close(m->bitmap_fd);
			free(m);
			free(r);
		}
		return rc;
	}
	*out = r;
	return 0;
}

API int uffd_image_keeper_stats(const struct uffd_client *c, uint64_t *served,
				uint64_t *poisoned)
{
	const struct uffd_keeper *k = c->keeper;

	*served = k ? __atomic_load_n(&k->served, __ATOMIC_RELAXED) : 0;
	*poisoned = k ? __atomic_load_n(&k->poisoned, __ATOMIC_RELAXED) : 0;
	return k && k->taken_over;
}
