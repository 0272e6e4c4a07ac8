/* SPDX-License-Identifier: MIT */
/*
 * Mode 2: the best userfaultfd itself allows.  The range is registered for
 * MINOR faults on a uffd of this process, and one dedicated handler thread
 * poll()s, read()s every queued message and answers each with
 * UFFDIO_CONTINUE of the faulting page.  Options place the handler on the
 * faulting thread's CPU or the other one, and let it spin for a while
 * before it sleeps again (which saves the wake-up on its side).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "uffd_uapi.h"

static unsigned long continue_req = UFFDIO_CONTINUE;

static int uffd_open(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0)
		return fd;
	/* Not privileged for the syscall: a uffd from the device works too. */
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

	if (dev < 0)
		return -errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		fd = -errno;
	close(dev);
	return fd;
}

static uint64_t kind_feature(enum bench_kind kind)
{
	return kind == KIND_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
				    : UFFD_FEATURE_MINOR_SHMEM;
}

/* A uffd with the API handshake done, or -errno. */
static int uffd_ready(enum bench_kind kind)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = kind_feature(kind) };
	int fd = uffd_open();

	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

int inproc_supported(enum bench_kind kind, char *why, size_t whylen)
{
	int fd = uffd_ready(kind);

	if (fd < 0) {
		snprintf(why, whylen, "userfaultfd with %s minor faults: %s",
			 kind_name(kind), strerror(-fd));
		return 0;
	}
	close(fd);
	return 1;
}

struct handler {
	int uffd, stopfd;
	size_t page_size;
	const struct inproc_opts *o;
	int64_t faults;
	uint64_t cpu_ns;
	int err;
};

static int serve(struct handler *h, const struct uffd_msg *msg, ssize_t n)
{
	for (ssize_t i = 0; i < n; i++) {
		struct uffdio_continue c;

		if (msg[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		memset(&c, 0, sizeof(c));
		c.range.start = msg[i].arg.pagefault.address &
				~(uint64_t)(h->page_size - 1);
		c.range.len = h->page_size;
		h->faults++;
		while (ioctl(h->uffd, continue_req, &c) < 0) {
			/* Another thread's fault got there first: done. */
			if (errno == EEXIST)
				break;
			if (errno == EAGAIN && c.mapped <= 0) {
				c.mapped = 0;
				continue;
			}
			/* A 5.13-era kernel knows only the _IOR request number.
			 */
			if (errno == ENOTTY &&
			    continue_req == UFFDIO_CONTINUE) {
				continue_req = UFFDIO_CONTINUE_OLD;
				continue;
			}
			return -errno;
		}
	}
	return 0;
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	struct uffd_msg msg[64];
	uint64_t cpu0;

	if (h->o->handler_cpu >= 0)
		pin_self(h->o->handler_cpu);
	cpu0 = thread_cpu_ns();
	for (;;) {
		ssize_t n = -1;

		if (h->o->spin_us) {
			uint64_t until = now_ns() + h->o->spin_us * 1000ull;

			/*
			 * Yielding lets a faulting thread that shares this CPU
			 * run as soon as it is woken, instead of waiting for
			 * the spin budget to run out.
			 */
			for (;;) {
				n = read(h->uffd, msg, sizeof(msg));
				if (n >= 0 || errno != EAGAIN ||
				    now_ns() >= until)
					break;
				if (h->o->spin_yield)
					sched_yield();
			}
		}
		if (n < 0) {
			struct pollfd p[2] = { { h->uffd, POLLIN, 0 },
					       { h->stopfd, POLLIN, 0 } };

			if (poll(p, 2, -1) < 0 && errno != EINTR) {
				h->err = -errno;
				break;
			}
			if (p[1].revents)
				break;
			n = read(h->uffd, msg, sizeof(msg));
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			h->err = -errno;
			break;
		}
		h->err = serve(h, msg, n / (ssize_t)sizeof(msg[0]));
		if (h->err)
			break;
	}
	h->cpu_ns = thread_cpu_ns() - cpu0;
	if (h->err) {
		/* Closing the last reference wakes the blocked touchers. */
		close(h->uffd);
		h->uffd = -1;
	}
	return NULL;
}

void inproc_round(struct bench_mem *m, const struct inproc_opts *o,
		  struct round_result *r)
{
	struct uffdio_register reg;
	struct handler h = { .page_size = m->page_size, .o = o };
	struct touch_job job;
	pthread_t tid;
	char *p;
	int err;

	h.uffd = uffd_ready(m->kind);
	if (h.uffd < 0) {
		r->status = MODE_UNAVAILABLE;
		snprintf(r->why, sizeof(r->why), "userfaultfd: %s",
			 strerror(-h.uffd));
		return;
	}
	h.stopfd = eventfd(0, EFD_CLOEXEC);
	p = mem_map_fresh(m);
	if (!p || h.stopfd < 0)
		die("mmap/eventfd: %s", strerror(errno));
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)p;
	reg.range.len = m->size;
	reg.mode = UFFDIO_REGISTER_MODE_MINOR;
	if (ioctl(h.uffd, UFFDIO_REGISTER, &reg) < 0) {
		r->status = MODE_UNAVAILABLE;
		snprintf(r->why, sizeof(r->why), "UFFDIO_REGISTER minor: %s",
			 strerror(errno));
		goto out;
	}
	if (!(reg.ioctls & ((__u64)1 << _UFFDIO_CONTINUE))) {
		r->status = MODE_UNAVAILABLE;
		snprintf(r->why, sizeof(r->why),
			 "UFFDIO_CONTINUE not offered on this range");
		goto out;
	}
	err = pthread_create(&tid, NULL, handler_main, &h);
	if (err)
		die("pthread_create: %s", strerror(err));

	memset(&job, 0, sizeof(job));
	job.base = p;
	job.page_size = m->page_size;
	job.pages = m->pages;
	job.threads = o->threads;
	job.cpu = o->toucher_cpu;
	job.access = o->access;
	job.lat = r->lat;
	touch_run(&job);

	eventfd_write(h.stopfd, 1);
	pthread_join(tid, NULL);
	r->wall_ns = job.wall_ns;
	r->nlat = m->pages;
	r->pages = m->pages;
	r->faults = h.faults;
	if (bench_verbose)
		note("inproc: handler saw %lld faults, the touching threads "
		     "took %ld",
		     (long long)h.faults, job.faults);
	r->handler_cpu_ns = (int64_t)h.cpu_ns;
	if (h.err) {
		r->status = MODE_FAILED;
		snprintf(r->why, sizeof(r->why), "handler: %s",
			 strerror(-h.err));
	} else {
		r->status = MODE_OK;
	}
out:
	munmap(p, m->size);
	close(h.stopfd);
	if (h.uffd >= 0)
		close(h.uffd);
}
