/* SPDX-License-Identifier: MIT */
/*
 * Minor faults and UFFDIO_CONTINUE, on shmem and on hugetlbfs.
 *
 * One memfd of 8 pages, mapped twice: A is the "producer" mapping that puts
 * pages in the page cache, B is registered MINOR.  Page layout:
 *   0      minor fault on read, CONTINUE, bytes checked; CONTINUE again: EEXIST
 *   1..4   touched in a row: every page must fault (no fault-around)
 *   5,6,7  5 and 6 populated, 7 a hole: CONTINUE 5..7 maps 2 pages, EAGAIN;
 *          CONTINUE 7 alone: EFAULT
 *   7      then populated: write fault, CONTINUE with DONTWAKE, the thread
 *          stays blocked until UFFDIO_WAKE
 * and a MAP_PRIVATE mapping C of pages 0 and 1: CONTINUE maps the file page
 * read-only, a write copies it and leaves the file alone.
 */
#include "kt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES	   8
#define TIMEOUT_MS 10000

/* Serves one expected fault at @want; returns false (after reporting) if none
 * came. */
static void expect_fault(int uffd, const char *kind, void *want, size_t ps,
			 bool write)
{
	struct uffd_msg msg;
	uintptr_t got;

	if (kt_read_fault(uffd, TIMEOUT_MS, &msg) != 0) {
		t_check(false, "%s: a minor fault message arrives", kind);
		t_bail("a thread is blocked in a fault nobody resolves");
	}
	got = (uintptr_t)msg.arg.pagefault.address & ~(uintptr_t)(ps - 1);
	t_check(got == (uintptr_t)want,
		"%s: fault address %#lx is the touched page %p", kind,
		(unsigned long)msg.arg.pagefault.address, want);
	t_check(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR,
		"%s: fault flags %#llx have UFFD_PAGEFAULT_FLAG_MINOR", kind,
		(unsigned long long)msg.arg.pagefault.flags);
	t_check(!!(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) ==
		    write,
		"%s: UFFD_PAGEFAULT_FLAG_WRITE is %s", kind,
		write ? "set" : "clear");
}

static void test_shared(enum t_kind k, const void *arg)
{
	const char *kind = t_kind_name(k);
	size_t ps;
	int fd = kt_memfd(k, PAGES, &ps);
	size_t len = PAGES * ps;
	uint64_t ioctls = 0;
	int64_t mapped;
	struct kt_toucher t;
	uint8_t *A, *B;
	int uffd, ret;

	(void)arg;
	if (fd < 0) {
		t_check(false, "%s: memfd of %d pages: %s", kind, PAGES,
			strerror(errno));
		return;
	}
	A = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	B = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (A == MAP_FAILED || B == MAP_FAILED) {
		t_check(false, "%s: mmap: %s", kind, strerror(errno));
		return;
	}
	for (size_t p = 0; p < PAGES - 1; p++) /* page 7 stays a hole */
		kt_fill(A + p * ps, p, ps);

	uffd = kt_uffd_open(k == T_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
					   : UFFD_FEATURE_MINOR_SHMEM,
			    NULL, NULL);
	if (!t_check(uffd >= 0, "%s: UFFDIO_API with the MINOR feature", kind))
		return;
	ret = kt_register(uffd, B, len, UFFDIO_REGISTER_MODE_MINOR, &ioctls);
	if (!t_check(ret == 0, "%s: UFFDIO_REGISTER_MODE_MINOR (%s)", kind,
		     ret ? strerror(errno) : "ok"))
		return;
	t_check(ioctls & ((uint64_t)1 << _UFFDIO_CONTINUE),
		"%s: range ioctls %#llx offer CONTINUE", kind,
		(unsigned long long)ioctls);

	/* Page 0: read fault, CONTINUE, bytes; then EEXIST. */
	kt_touch_start(&t, B + 123, false);
	expect_fault(uffd, kind, B, ps, false);
	t_check(kt_touch_blocked(&t, TIMEOUT_MS) && !t.done,
		"%s: the faulting thread waits for the handler", kind);
	ret = kt_continue(uffd, B, ps, 0, &mapped);
	t_check(ret == 0 && mapped == (int64_t)ps,
		"%s: CONTINUE page 0 -> %d, mapped %lld", kind, ret,
		(long long)mapped);
	t_check(kt_touch_join(&t, TIMEOUT_MS),
		"%s: CONTINUE wakes the faulting thread", kind);
	t_check(t.value == kt_pattern(0, 123) && kt_verify(B, 0, ps),
		"%s: page 0 reads the page cache's bytes through B", kind);
	errno = 0;
	ret = kt_continue(uffd, B, ps, 0, &mapped);
	t_check(
	    ret == -1 && errno == EEXIST && mapped == -EEXIST,
	    "%s: CONTINUE on a mapped page -> EEXIST (errno %d, mapped %lld)",
	    kind, errno, (long long)mapped);

	/* Pages 1..4: no fault-around, every page is its own fault. */
	{
		int faults = 0;

		for (size_t p = 1; p <= 4; p++) {
			kt_touch_start(&t, B + p * ps, false);
			struct uffd_msg msg;

			if (kt_read_fault(uffd, TIMEOUT_MS, &msg) != 0)
				break;
			faults++;
			kt_continue(uffd, B + p * ps, ps, 0, NULL);
			kt_touch_join(&t, TIMEOUT_MS);
		}
		t_check(faults == 4,
			"%s: 4 neighbouring pages -> %d minor faults", kind,
			faults);
		bool ok = true;

		for (size_t p = 1; p <= 4; p++)
			ok = ok && kt_verify(B + p * ps, p, ps);
		t_check(ok, "%s: pages 1..4 read the page cache's bytes", kind);
	}

	/* Pages 5..7: partial CONTINUE, then EFAULT on the hole. */
	errno = 0;
	ret = kt_continue(uffd, B + 5 * ps, 3 * ps, 0, &mapped);
	t_check(ret == -1 && errno == EAGAIN && mapped == (int64_t)(2 * ps),
		"%s: CONTINUE over 2 present pages and a hole -> EAGAIN, "
		"mapped %lld",
		kind, (long long)mapped);
	t_check(kt_verify(B + 5 * ps, 5, ps) && kt_verify(B + 6 * ps, 6, ps),
		"%s: pages 5 and 6 mapped by the partial CONTINUE", kind);
	errno = 0;
	ret = kt_continue(uffd, B + 7 * ps, ps, 0, &mapped);
	t_check(ret == -1 && errno == EFAULT && mapped == -EFAULT,
		"%s: CONTINUE on a page not in the page cache -> EFAULT (errno "
		"%d, mapped %lld)",
		kind, errno, (long long)mapped);

	/* Page 7: populate, write fault, DONTWAKE, then UFFDIO_WAKE. */
	kt_fill(A + 7 * ps, 7, ps);
	t.value = 0xA5; /* what the thread writes: set before it starts */
	kt_touch_start(&t, B + 7 * ps + 5, true);
	expect_fault(uffd, kind, B + 7 * ps, ps, true);
	ret = kt_continue(uffd, B + 7 * ps, ps, UFFDIO_CONTINUE_MODE_DONTWAKE,
			  &mapped);
	t_check(ret == 0 && mapped == (int64_t)ps,
		"%s: CONTINUE DONTWAKE -> %d, mapped %lld", kind, ret,
		(long long)mapped);
	/* A wake would have been issued inside the ioctl: seen asleep after
	 * it returned, the thread was not woken. */
	t_check(kt_touch_blocked(&t, TIMEOUT_MS) &&
		    !__atomic_load_n(&t.done, __ATOMIC_ACQUIRE),
		"%s: DONTWAKE leaves the faulting thread asleep", kind);
	{
		struct uffdio_range r = { .start = (uintptr_t)(B + 7 * ps),
					  .len = ps };

		ret = ioctl(uffd, UFFDIO_WAKE, &r);
	}
	t_check(ret == 0 && kt_touch_join(&t, TIMEOUT_MS),
		"%s: UFFDIO_WAKE wakes it", kind);
	t_check(A[7 * ps + 5] == 0xA5,
		"%s: the write through B reached the file", kind);

	{
		struct uffd_msg msg;

		t_check(kt_read_fault(uffd, 100, &msg) != 0,
			"%s: no stray messages left", kind);
	}
	close(uffd);
	munmap(B, len);

	/* MAP_PRIVATE: the file page is mapped read-only, a write copies it. */
	{
		uint8_t *C = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE, fd, 0);

		if (!t_check(C != MAP_FAILED, "%s: MAP_PRIVATE mapping (%s)",
			     kind, C == MAP_FAILED ? strerror(errno) : "ok"))
			goto out;
		uffd =
		    kt_uffd_open(k == T_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
						: UFFD_FEATURE_MINOR_SHMEM,
				 NULL, NULL);
		ret = kt_register(uffd, C, 2 * ps, UFFDIO_REGISTER_MODE_MINOR,
				  NULL);
		if (!t_check(ret == 0,
			     "%s: MINOR on a private mapping is accepted (%s)",
			     kind, ret ? strerror(errno) : "ok"))
			goto out;
		/* read first, then write */
		kt_touch_start(&t, C + 9, false);
		expect_fault(uffd, kind, C, ps, false);
		ret = kt_continue(uffd, C, ps, 0, &mapped);
		t_check(ret == 0 && kt_touch_join(&t, TIMEOUT_MS) &&
			    t.value == kt_pattern(0, 9),
			"%s: private: CONTINUE maps the page cache page", kind);
		C[9] = 0x5A;
		t_check(C[9] == 0x5A && A[9] == kt_pattern(0, 9) &&
			    kt_verify(A, 0, ps),
			"%s: private: a write after CONTINUE copies, the file "
			"is unchanged",
			kind);
		/* write first */
		t.value = 0x6B;
		kt_touch_start(&t, C + ps + 9, true);
		expect_fault(uffd, kind, C + ps, ps, true);
		ret = kt_continue(uffd, C + ps, ps, 0, &mapped);
		t_check(ret == 0 && kt_touch_join(&t, TIMEOUT_MS),
			"%s: private: write fault resolved by CONTINUE", kind);
		t_check(C[ps + 9] == 0x6B && A[ps + 9] == kt_pattern(1, 9) &&
			    kt_verify(A + ps, 1, ps),
			"%s: private: the write landed in a private copy, the "
			"file is unchanged",
			kind);
		close(uffd);
		munmap(C, 2 * ps);
	}
out:
	munmap(A, len);
	close(fd);
}

static const struct t_case cases[] = {
	{ .name = "minor",
	  .title = "minor faults, CONTINUE (EEXIST, EAGAIN, EFAULT), DONTWAKE, "
		   "MAP_PRIVATE",
	  .fn = test_shared,
	  .kinds = T_KINDS,
	  .hugepages = PAGES + 2, /* the file and the private copies */
	  .needs = T_NEED_MINOR },
};

static int setup(void)
{
	/* A hang is a failure, not a stuck CI job. */
	alarm(60);
	return 0;
}

int main(int argc, char **argv)
{
	const struct t_suite s = { "abi-minor", T_CASES(cases), setup, NULL,
				   NULL };

	return t_main(argc, argv, &s);
}
