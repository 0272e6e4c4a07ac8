/* SPDX-License-Identifier: MIT */
/* Helpers for the userfaultfd ABI tests; see kt.h. */
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static int uffd_create(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	/*
	 * vm.unprivileged_userfaultfd=0 refuses non-root callers unless they
	 * only want user-mode faults (5.11+): the tests touch memory from user
	 * mode only, so that is enough.
	 */
	if (fd < 0 && errno == EPERM)
		fd = (int)syscall(SYS_userfaultfd,
				  O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	return fd;
}

int kt_uffd_open(uint64_t features, uint64_t *got_features,
		 uint64_t *got_ioctls)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = uffd_create();

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	if (got_features)
		*got_features = api.features;
	if (got_ioctls)
		*got_ioctls = api.ioctls;
	return fd;
}

int kt_register(int uffd, void *addr, size_t len, uint64_t mode,
		uint64_t *ioctls)
{
	struct uffdio_register r = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = mode,
	};
	int ret = ioctl(uffd, UFFDIO_REGISTER, &r);

	if (ioctls)
		*ioctls = ret == 0 ? r.ioctls : 0;
	return ret;
}

int kt_unregister(int uffd, void *addr, size_t len)
{
	struct uffdio_range r = { .start = (uintptr_t)addr, .len = len };

	return ioctl(uffd, UFFDIO_UNREGISTER, &r);
}

int kt_continue(int uffd, void *addr, size_t len, uint64_t mode,
		int64_t *mapped)
{
	struct uffdio_continue c = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = mode,
		/* A value the kernel never writes: shows whether it wrote at
		   all. */
		.mapped = INT64_MIN,
	};
	int ret = ioctl(uffd, UFFDIO_CONTINUE, &c);

	if (mapped)
		*mapped = c.mapped;
	return ret;
}

int kt_read_fault(int uffd, int timeout_ms, struct uffd_msg *msg)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };

	for (;;) {
		int n = poll(&pfd, 1, timeout_ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (read(uffd, msg, sizeof(*msg)) == (ssize_t)sizeof(*msg))
			return msg->event == UFFD_EVENT_PAGEFAULT ? 0 : -1;
		if (errno != EAGAIN)
			return -1;
	}
}

int kt_memfd(enum t_kind kind, size_t pages, size_t *psize)
{
	size_t ps = kind == T_HUGETLB ? t_huge_page_size()
				      : (size_t)sysconf(_SC_PAGESIZE);
	int fd =
	    memfd_create(kind == T_HUGETLB ? "kt-hugetlb" : "kt-shmem",
			 MFD_CLOEXEC | (kind == T_HUGETLB ? MFD_HUGETLB : 0));

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)(pages * ps)) < 0) {
		close(fd);
		return -1;
	}
	*psize = ps;
	return fd;
}

void kt_fill(uint8_t *p, size_t page, size_t psize)
{
	for (size_t i = 0; i < psize; i++)
		p[i] = kt_pattern(page, i);
}

bool kt_verify(const uint8_t *p, size_t page, size_t psize)
{
	for (size_t i = 0; i < psize; i++)
		if (p[i] != kt_pattern(page, i))
			return false;
	return true;
}

static void *toucher(void *arg)
{
	struct kt_toucher *t = arg;

	__atomic_store_n(&t->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	if (t->write)
		*t->addr = t->value;
	else
		t->value = *t->addr;
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

void kt_touch_start(struct kt_toucher *t, void *addr, bool write)
{
	t->addr = addr;
	t->write = write;
	t->done = 0;
	t->tid = 0;
	if (pthread_create(&t->thread, NULL, toucher, t) != 0) {
		perror("pthread_create");
		exit(1);
	}
}

bool kt_touch_join(struct kt_toucher *t, int timeout_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int waited = 0; !__atomic_load_n(&t->done, __ATOMIC_ACQUIRE);
	     waited += 10) {
		if (waited >= timeout_ms)
			return false;
		nanosleep(&ts, NULL);
	}
	pthread_join(t->thread, NULL);
	return true;
}

bool kt_touch_blocked(struct kt_toucher *t, int timeout_ms)
{
	uint64_t until = t_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int tid;

	do {
		tid = __atomic_load_n(&t->tid, __ATOMIC_ACQUIRE);
		if (tid && t_uffd_blocked((int)getpid(), tid))
			return true;
		usleep(1000);
	} while (t_now_ns() < until);
	return false;
}

bool kt_vmflags(const void *addr, char *buf, size_t len)
{
	char line[512];
	bool in = false;
	uintptr_t a = (uintptr_t)addr;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(buf, len, "%s", line + 8);
			buf[strcspn(buf, "\n")] = 0;
			fclose(f);
			return true;
		}
	}
	fclose(f);
	return false;
}

bool kt_vmflag_has(const void *addr, const char *flag)
{
	char flags[256], *tok, *save;

	if (!kt_vmflags(addr, flags, sizeof(flags)))
		return false;
	for (tok = strtok_r(flags, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save))
		if (!strcmp(tok, flag))
			return true;
	return false;
}
