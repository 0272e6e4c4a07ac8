/* SPDX-License-Identifier: MIT */
/*
 * Registration side of the minor-fault ABI: what UFFDIO_API claims, which
 * memory accepts MINOR, which ioctls a range gets, the request number, and
 * that the minor flag goes away everywhere a registration is dropped
 * (unregister, close, fork without EVENT_FORK, mremap without EVENT_REMAP).
 */
#include "kt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONTINUE_BIT ((uint64_t)1 << _UFFDIO_CONTINUE)

static uint64_t feature_of(enum t_kind k)
{
	return k == T_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
			      : UFFD_FEATURE_MINOR_SHMEM;
}

/* Nothing to read on the uffd: the kernel served the access itself. */
static bool quiet(int uffd)
{
	struct uffd_msg msg;

	return kt_read_fault(uffd, 100, &msg) != 0;
}

static void test_features(enum t_kind k, const void *arg)
{
	uint64_t f = t_kernel_features(), got = 0, ioctls = 0;
	uint64_t want =
	    f & (UFFD_FEATURE_MINOR_HUGETLBFS | UFFD_FEATURE_MINOR_SHMEM);
	int fd = kt_uffd_open(want | UFFD_FEATURE_THREAD_ID, &got, &ioctls);

	(void)k;
	(void)arg;
	t_check(fd >= 0,
		"UFFDIO_API accepts the minor features it advertises (%#llx)",
		(unsigned long long)want);
	t_check(
	    got == f,
	    "UFFDIO_API reports the same features when asked for some (%#llx)",
	    (unsigned long long)got);
	t_check(
	    (ioctls & ((1ULL << _UFFDIO_REGISTER) |
		       (1ULL << _UFFDIO_UNREGISTER) | (1ULL << _UFFDIO_API))) ==
		((1ULL << _UFFDIO_REGISTER) | (1ULL << _UFFDIO_UNREGISTER) |
		 (1ULL << _UFFDIO_API)),
	    "UFFDIO_API ioctls %#llx", (unsigned long long)ioctls);
	if (fd >= 0)
		close(fd);
	/* Features must be a subset of what is known: an unknown bit is
	 * refused. */
	fd = kt_uffd_open(1ULL << 62, NULL, NULL);
	t_check(fd < 0 && errno == EINVAL,
		"UFFDIO_API refuses an unknown feature bit");
	if (fd >= 0)
		close(fd);
}

static void test_anon(enum t_kind k, const void *arg)
{
	long ps = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = kt_uffd_open(0, NULL, NULL);
	int ret;

	(void)k;
	(void)arg;
	errno = 0;
	ret = kt_register(uffd, p, 4 * ps, UFFDIO_REGISTER_MODE_MINOR, NULL);
	t_check(ret == -1 && errno == EINVAL,
		"MINOR on anonymous private memory -> EINVAL (errno %d)",
		errno);
	ret = kt_register(uffd, p, 4 * ps, UFFDIO_REGISTER_MODE_MISSING, NULL);
	t_check(ret == 0, "MISSING on the same anonymous memory still works");
	close(uffd);
	munmap(p, 4 * ps);
}

/*
 * Per kind: claimed == works, ioctls, request number, and the flag's
 * lifetime.  B is the registered mapping, A puts pages in the page cache.
 */
static void test_kind(enum t_kind k, const void *arg)
{
	const char *kind = t_kind_name(k);
	uint64_t f = t_kernel_features();
	size_t ps;
	int fd = kt_memfd(k, 4, &ps);
	size_t len = 4 * ps;
	uint64_t ioctls = 0;
	uint8_t *A, *B;
	int uffd, ret;

	(void)arg;
	if (!t_check(fd >= 0, "%s: memfd", kind))
		return;
	A = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	B = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	for (size_t p = 0; p < 4; p++)
		kt_fill(A + p * ps, p, ps);

	uffd = kt_uffd_open(0, NULL, NULL);
	errno = 0;
	ret = kt_register(uffd, B, len, UFFDIO_REGISTER_MODE_MINOR, &ioctls);
	if (!(f & feature_of(k))) {
		/* Not claimed: must not work either. */
		t_check(ret == -1 && errno == EINVAL,
			"%s: feature not advertised and MINOR registration "
			"refused (errno %d)",
			kind, errno);
		goto out;
	}
	if (!t_check(ret == 0,
		     "%s: feature advertised and MINOR registration works (%s)",
		     kind, ret ? strerror(errno) : "ok"))
		goto out;
	t_check((ioctls & CONTINUE_BIT) && (ioctls & (1ULL << _UFFDIO_WAKE)),
		"%s: MINOR range offers CONTINUE and WAKE (%#llx)", kind,
		(unsigned long long)ioctls);
	t_check(kt_vmflag_has(B, "ui"),
		"%s: smaps VmFlags shows 'ui' for the MINOR range", kind);

	/* The request number is mainline's _IOWR; the 5.13 _IOR one is not
	 * answered. */
	{
		struct uffdio_continue c = { .range = { (uintptr_t)B, ps },
					     .mapped = 0 };

		errno = 0;
		ret = ioctl(uffd, UFFDIO_CONTINUE_OLD, &c);
		t_check(ret == -1 && errno == EINVAL,
			"%s: the old _IOR request number %#lx is refused "
			"(errno %d)",
			kind, (unsigned long)UFFDIO_CONTINUE_OLD, errno);
		errno = 0;
		ret = kt_continue(uffd, B, ps, 1ULL << 40, NULL);
		t_check(ret == -1 && errno == EINVAL,
			"%s: CONTINUE with an unknown mode -> EINVAL", kind);
		/* 0xc020aa07 works: one page, mapped */
		ret = kt_continue(uffd, B, ps, 0, NULL);
		t_check(ret == 0 && UFFDIO_CONTINUE == 0xc020aa07UL,
			"%s: UFFDIO_CONTINUE = %#lx answers", kind,
			(unsigned long)UFFDIO_CONTINUE);
	}

	/* fork without EVENT_FORK: the child's copy is not registered. */
	{
		pid_t pid = fork();

		if (pid == 0) {
			alarm(10); /* a registered range would hang the touch */
			bool ok = !kt_vmflag_has(B + ps, "ui") &&
				  kt_verify(B + ps, 1, ps);

			_exit(ok ? 0 : 1);
		}
		int st = 0;

		waitpid(pid, &st, 0);
		t_check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			"%s: forked child: no 'ui', touches served by the "
			"kernel (status %#x)",
			kind, st);
		t_check(quiet(uffd),
			"%s: the child's touches reached no handler", kind);
		t_check(kt_vmflag_has(B, "ui"),
			"%s: the parent's range is still MINOR", kind);
	}

	/* unregister: flag gone, page 1 served by the kernel. */
	ret = kt_unregister(uffd, B, len);
	t_check(ret == 0 && !kt_vmflag_has(B, "ui"),
		"%s: unregister removes 'ui'", kind);
	alarm(10);
	t_check(kt_verify(B + ps, 1, ps) && quiet(uffd),
		"%s: after unregister the kernel serves the fault itself",
		kind);
	alarm(60); /* back to the whole-test watchdog */
	errno = 0;
	ret = kt_continue(uffd, B + 2 * ps, ps, 0, NULL);
	t_check(ret == -1 && errno == ENOENT,
		"%s: CONTINUE on an unregistered range -> ENOENT", kind);

	/* mremap without EVENT_REMAP: the moved range is not registered. */
	ret = kt_register(uffd, B, len, UFFDIO_REGISTER_MODE_MINOR, NULL);
	{
		uint8_t *dst =
		    mmap(NULL, len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		uint8_t *moved =
		    mremap(B, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);

		if (moved == MAP_FAILED && errno == EINVAL && k == T_HUGETLB) {
			/* Before 5.16 hugetlb mappings cannot be moved at all.
			 */
			/* One check this kernel cannot run; the case goes on.
			 */
			t_note("%s: skipped: this kernel cannot mremap hugetlb "
			       "mappings",
			       kind);
			munmap(dst, len);
		} else {
			t_check(ret == 0 && moved == dst &&
				    !kt_vmflag_has(moved, "ui"),
				"%s: mremap drops the MINOR registration",
				kind);
			alarm(10);
			t_check(moved != MAP_FAILED &&
				    kt_verify(moved + 3 * ps, 3, ps) &&
				    quiet(uffd),
				"%s: the moved range is served by the kernel",
				kind);
			alarm(60); /* back to the whole-test watchdog */
			if (moved != MAP_FAILED)
				B = moved;
			else
				kt_unregister(uffd, B, len);
		}
	}

	/* close: the last reference drops every registration. */
	ret = kt_register(uffd, B, len, UFFDIO_REGISTER_MODE_MINOR, NULL);
	t_check(ret == 0 && kt_vmflag_has(B, "ui"), "%s: registered again",
		kind);
	close(uffd);
	uffd = -1;
	t_check(!kt_vmflag_has(B, "ui"), "%s: closing the uffd removes 'ui'",
		kind);
	/* MISSING ranges do not offer CONTINUE */
	uffd = kt_uffd_open(0, NULL, NULL);
	ret = kt_register(uffd, B, len, UFFDIO_REGISTER_MODE_MISSING, &ioctls);
	t_check(ret == 0 && !(ioctls & CONTINUE_BIT) && !kt_vmflag_has(B, "ui"),
		"%s: a MISSING range does not offer CONTINUE (%#llx)", kind,
		(unsigned long long)ioctls);
out:
	if (uffd >= 0)
		close(uffd);
	munmap(A, len);
	munmap(B, len);
	close(fd);
}

static const struct t_case cases[] = {
	{ .name = "api",
	  .title = "UFFDIO_API: the minor features it advertises, its ioctls, "
		   "unknown bits",
	  .fn = test_features,
	  .needs = T_NEED_MINOR },
	{ .name = "anon",
	  .title = "MINOR is refused on anonymous memory, MISSING is not",
	  .fn = test_anon,
	  .needs = T_NEED_MINOR },
	{ .name = "register",
	  .title = "advertised == works, range ioctls, request number, the "
		   "flag's lifetime "
		   "(unregister, close, fork, mremap)",
	  .fn = test_kind,
	  .kinds = T_KINDS,
	  .hugepages = 4,
	  .needs = T_NEED_MINOR | T_ANY_FEATURE },
};

static int setup(void)
{
	uint64_t f = t_kernel_features();

	alarm(60);
	fprintf(
	    stderr,
	    "# UFFDIO_API features %#llx: MINOR_HUGETLBFS %s, MINOR_SHMEM %s\n",
	    (unsigned long long)f,
	    f & UFFD_FEATURE_MINOR_HUGETLBFS ? "yes" : "no",
	    f & UFFD_FEATURE_MINOR_SHMEM ? "yes" : "no");
	return 0;
}

int main(int argc, char **argv)
{
	const struct t_suite s = { "abi-register", T_CASES(cases), setup, NULL,
				   NULL };

	return t_main(argc, argv, &s);
}
