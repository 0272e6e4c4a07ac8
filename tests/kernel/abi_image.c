// SPDX-License-Identifier: MIT
/*
 * What the image cache relies on, on shmem and on hugetlbfs.
 *
 * The daemon owns a memfd: its fill mapping F (shared, writable) exists
 * before the memfd is sealed SHRINK|GROW|FUTURE_WRITE.  A client maps a
 * read-only reopen of it MAP_PRIVATE and registers MISSING|MINOR:
 *   0  not in the page cache: a read is a MISSING fault (no MINOR flag);
 *      fill through F, then CONTINUE resolves it with the image's bytes
 *   1  already in the page cache: a MINOR fault, CONTINUE
 *   2  not cached, written first: MISSING|WRITE; fill, CONTINUE, the write
 *      lands in the client's private copy, F still reads the image
 *   3  not cached, refused: UFFDIO_POISON, the thread gets SIGBUS (6.6+)
 * and the seals: no shared writable mapping of either descriptor, F still
 * writes; hugetlb: MAP_PRIVATE reserves a huge page per page at mmap time,
 * MAP_NORESERVE does not.
 */
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define PAGES	   8
#define TIMEOUT_MS 10000

static long meminfo(const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int image_memfd(enum t_kind k, size_t *ps)
{
	int fd =
	    memfd_create("kt-image", MFD_CLOEXEC | MFD_ALLOW_SEALING |
					 (k == T_HUGETLB ? MFD_HUGETLB : 0));

	*ps =
	    k == T_HUGETLB ? t_huge_page_size() : (size_t)sysconf(_SC_PAGESIZE);
	if (fd >= 0 && ftruncate(fd, (off_t)(PAGES * *ps)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool fault_at(int uffd, const char *kind, const char *what, void *want,
		     size_t ps, bool minor, bool write)
{
	struct uffd_msg msg;
	uintptr_t got;
	uint64_t fl;

	if (kt_read_fault(uffd, TIMEOUT_MS, &msg) != 0)
		return t_check(false, "%s: %s: a fault message arrives", kind,
			       what);
	got = (uintptr_t)msg.arg.pagefault.address & ~(uintptr_t)(ps - 1);
	fl = msg.arg.pagefault.flags;
	t_check(got == (uintptr_t)want, "%s: %s: at the touched page", kind,
		what);
	t_check(!!(fl & UFFD_PAGEFAULT_FLAG_MINOR) == minor,
		"%s: %s: %s fault (flags %#llx)", kind, what,
		minor ? "a MINOR" : "a MISSING", (unsigned long long)fl);
	return t_check(!!(fl & UFFD_PAGEFAULT_FLAG_WRITE) == write,
		       "%s: %s: WRITE flag %s", kind, what,
		       write ? "set" : "clear");
}

static __thread sigjmp_buf bus_jmp;
static __thread volatile int bus_armed;
static volatile int bus_hits;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	if (!bus_armed)
		abort();
	__atomic_add_fetch(&bus_hits, 1, __ATOMIC_SEQ_CST);
	siglongjmp(bus_jmp, 1);
}

struct bus_toucher {
	pthread_t thread;
	volatile uint8_t *addr;
	volatile int done, bused;
};

static void *bus_touch(void *arg)
{
	struct bus_toucher *t = arg;

	bus_armed = 1;
	if (sigsetjmp(bus_jmp, 1) == 0)
		(void)*t->addr;
	else
		t->bused = 1;
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_poison(int uffd, const char *kind, uint8_t *C, size_t ps)
{
	struct uffdio_poison p = { .range = { (uintptr_t)(C + 3 * ps), ps } };
	struct bus_toucher t = { .addr = C + 3 * ps };
	struct sigaction sa = { .sa_sigaction = on_bus,
				.sa_flags = SA_SIGINFO };

	if (!(t_kernel_features() & UFFD_FEATURE_POISON)) {
		t_note("%s: no UFFD_FEATURE_POISON before Linux 6.6: an image "
		       "fault "
		       "that cannot be served waits instead of SIGBUS",
		       kind);
		return;
	}
	sigaction(SIGBUS, &sa, NULL);
	pthread_create(&t.thread, NULL, bus_touch, &t);
	if (!fault_at(uffd, kind, "page 3", C + 3 * ps, ps, false, false))
		return;
	t_check(ioctl(uffd, UFFDIO_POISON, &p) == 0 && p.updated == (int64_t)ps,
		"%s: UFFDIO_POISON of page 3", kind);
	for (int i = 0;
	     i < TIMEOUT_MS / 10 && !__atomic_load_n(&t.done, __ATOMIC_ACQUIRE);
	     i++)
		usleep(10000);
	if (!t_check(t.done, "%s: the poisoned reader returns", kind))
		return;
	pthread_join(t.thread, NULL);
	t_check(t.bused, "%s: the poisoned reader got SIGBUS, not bytes", kind);
}

static void test_seals(const char *kind, int fd, int ro, size_t ps)
{
	void *m;

	m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	t_check(m == MAP_FAILED && errno == EPERM,
		"%s: FUTURE_WRITE: no new shared writable mapping (%s)", kind,
		m == MAP_FAILED ? strerror(errno) : "mapped");
	if (m != MAP_FAILED)
		munmap(m, ps);
	m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	t_check(
	    m == MAP_FAILED && errno == EACCES,
	    "%s: the read-only descriptor maps no shared writable view (%s)",
	    kind, m == MAP_FAILED ? strerror(errno) : "mapped");
	if (m != MAP_FAILED)
		munmap(m, ps);
	t_check(ftruncate(fd, (off_t)ps) < 0 && errno == EPERM,
		"%s: SHRINK: the cache cannot be truncated under its clients",
		kind);
}

/* hugetlb: what a private mapping of PAGES huge pages reserves. */
static void test_reserve(int ro, size_t ps)
{
	long r0 = meminfo("HugePages_Rsvd"), r1, r2;
	void *m =
	    mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);

	r1 = meminfo("HugePages_Rsvd");
	if (m != MAP_FAILED)
		munmap(m, PAGES * ps);
	m = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_NORESERVE, ro, 0);
	r2 = meminfo("HugePages_Rsvd");
	if (m != MAP_FAILED)
		munmap(m, PAGES * ps);
	t_check(r1 - r0 == PAGES,
		"hugetlb: MAP_PRIVATE reserves %ld huge pages for CoW",
		r1 - r0);
	t_check(r2 == r0,
		"hugetlb: MAP_PRIVATE|MAP_NORESERVE reserves none (%ld)",
		r2 - r0);
}

static void test_kind(enum t_kind k, const void *arg)
{
	const char *kind = t_kind_name(k);
	size_t ps;
	int fd, ro, uffd;
	uint8_t *F, *C;
	char path[64];
	struct kt_toucher t;
	int64_t mapped;

	(void)arg;
	fd = image_memfd(k, &ps);
	if (!t_check(fd >= 0, "%s: sealable memfd", kind))
		return;
	F = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!t_check(F != MAP_FAILED, "%s: fill mapping", kind))
		return;
	t_check(fcntl(fd, F_ADD_SEALS,
		      F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE) == 0,
		"%s: seal SHRINK|GROW|FUTURE_WRITE", kind);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	t_check(ro >= 0, "%s: read-only reopen", kind);
	test_seals(kind, fd, ro, ps);
	if (k == T_HUGETLB)
		test_reserve(ro, ps);
	C = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | (k == T_HUGETLB ? MAP_NORESERVE : 0), ro, 0);
	uffd = kt_uffd_open(k == T_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
					   : UFFD_FEATURE_MINOR_SHMEM,
			    NULL, NULL);
	if (!t_check(C != MAP_FAILED && uffd >= 0,
		     "%s: client mapping and uffd", kind))
		return;
	if (!t_check(kt_register(uffd, C, PAGES * ps,
				 UFFDIO_REGISTER_MODE_MISSING |
				     UFFDIO_REGISTER_MODE_MINOR,
				 NULL) == 0,
		     "%s: MAP_PRIVATE registered MISSING|MINOR", kind))
		return;

	/* 0: missing, filled, continued. */
	kt_touch_start(&t, C, false);
	if (fault_at(uffd, kind, "page 0", C, ps, false, false)) {
		kt_fill(F, 0, ps);
		t_check(kt_continue(uffd, C, ps, 0, &mapped) == 0 &&
			    mapped == (int64_t)ps,
			"%s: CONTINUE after filling resolves a MISSING fault",
			kind);
		t_check(kt_touch_join(&t, TIMEOUT_MS),
			"%s: page 0 reader returns", kind);
		t_check(kt_verify(C, 0, ps),
			"%s: page 0 shows the image's bytes", kind);
	}
	/* 1: cached: minor. */
	kt_fill(F + ps, 1, ps);
	kt_touch_start(&t, C + ps, false);
	if (fault_at(uffd, kind, "page 1", C + ps, ps, true, false)) {
		t_check(kt_continue(uffd, C + ps, ps, 0, &mapped) == 0,
			"%s: CONTINUE page 1", kind);
		t_check(kt_touch_join(&t, TIMEOUT_MS),
			"%s: page 1 reader returns", kind);
		t_check(kt_verify(C + ps, 1, ps),
			"%s: page 1 shows the image's bytes", kind);
	}
	/* 2: written first. */
	kt_touch_start(&t, C + 2 * ps, true);
	if (fault_at(uffd, kind, "page 2", C + 2 * ps, ps, false, true)) {
		kt_fill(F + 2 * ps, 2, ps);
		t_check(kt_continue(uffd, C + 2 * ps, ps, 0, &mapped) == 0,
			"%s: CONTINUE page 2", kind);
		t_check(kt_touch_join(&t, TIMEOUT_MS),
			"%s: page 2 writer returns", kind);
		t_check(C[2 * ps] == t.value,
			"%s: the writer sees its own byte", kind);
		t_check(kt_verify(F + 2 * ps, 2, ps),
			"%s: the cache still holds the image", kind);
	}
	test_poison(uffd, kind, C, ps);
	close(uffd);
	munmap(C, PAGES * ps);
	munmap(F, PAGES * ps);
	close(ro);
	close(fd);
}

static const struct t_case cases[] = {
	{ .name = "image",
	  .title =
	      "a sealed memfd mapped MAP_PRIVATE, registered MISSING|MINOR: "
	      "fill then CONTINUE, copy-on-write, POISON, reservations",
	  .fn = test_kind,
	  .kinds = T_KINDS,
	  .hugepages = 2 * PAGES + 2, /* the cache, private copies, rsvd */
	  .needs = T_NEED_MINOR },
};

static int setup(void)
{
	alarm(60); /* a hang is a failure, not a stuck CI job */
	return 0;
}

int main(int argc, char **argv)
{
	const struct t_suite s = { "abi-image", T_CASES(cases), setup, NULL,
				   NULL };

	return t_main(argc, argv, &s);
}
