/* SPDX-License-Identifier: MIT */
/*
 * libuffdpreload: LD_PRELOAD'ed by uffd-run.  Large shared anonymous
 * mappings (MAP_SHARED|MAP_ANONYMOUS, with or without MAP_HUGETLB) become
 * memfd mappings of the same kind, with every page in the page cache,
 * registered for minor faults and handed to uffdd.  munmap, mremap and
 * MAP_FIXED over them are followed; everything else goes straight to the
 * kernel.  No thread and no signal handler is added to the program.
 *
 * Configuration comes from the environment (uffd-run sets it):
 *   UFFDD_SOCKET          the daemon's socket
 *   UFFD_RUN_MIN_SIZE     bytes; smaller mappings are left alone
 *   UFFD_RUN_HUGE_ONLY    1: only MAP_HUGETLB mappings
 *   UFFD_RUN_POLICY       policy for every region ("" = daemon's default)
 *   UFFD_RUN_USER_ONLY_OK 1: serve even with a user-mode-only uffd
 *   UFFD_RUN_VERBOSE      1: one line on stderr per hand-off
 *   UFFD_RUN_DISABLE      1: pass everything through
 */
#include "preload.h"
#include "uffd/client.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define EXPORT		 __attribute__((visibility("default")))
#define DEFAULT_MIN_SIZE (2u << 20)

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#define MAP_HUGE_MASK  0x3f
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

struct pl_config pl_cfg;
static int inited;

/* Raw system calls: never our own interposers, never the allocator. ------ */
static void *pl_sys_mmap(void *addr, size_t len, int prot, int flags, int fd,
			 off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static int pl_sys_munmap(void *addr, size_t len)
{
	return (int)syscall(SYS_munmap, addr, len);
}

static void *pl_sys_mremap(void *old, size_t olen, size_t nlen, int flags,
			   void *new_addr)
{
	return (void *)syscall(SYS_mremap, old, olen, nlen, flags, new_addr);
}

void pl_lock(sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, saved);
	while (__atomic_exchange_n(&pl.lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

void pl_unlock(const sigset_t *saved)
{
	__atomic_store_n(&pl.lock, 0, __ATOMIC_RELEASE);
	sigprocmask(SIG_SETMASK, saved, NULL);
}

/* Configuration ------------------------------------------------------------ */

static int env_flag(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

static void copy_env(char *dst, size_t len, const char *name, const char *dflt)
{
	const char *v = getenv(name);

	if (!v || !*v)
		v = dflt;
	if (strlen(v) >= len) {
		pl_cfg.disabled = 1; /* a truncated path or policy is wrong */
		v = "";
	}
	strcpy(dst, v);
}

static void init(void)
{
	extern char *program_invocation_short_name;
	const char *v;

	if (inited)
		return;
	inited = 1;
	pl.pid = getpid();
	pl_cfg.min_size = DEFAULT_MIN_SIZE;
	v = getenv("UFFD_RUN_MIN_SIZE");
	if (v && *v) {
		char *end;
		unsigned long long n = strtoull(v, &end, 10);

		if (*end == '\0')
			pl_cfg.min_size = (size_t)n;
	}
	pl_cfg.huge_only = env_flag("UFFD_RUN_HUGE_ONLY");
	pl_cfg.allow_user_only = env_flag("UFFD_RUN_USER_ONLY_OK");
	pl_cfg.verbose = env_flag("UFFD_RUN_VERBOSE");
	pl_cfg.disabled = env_flag("UFFD_RUN_DISABLE");
	copy_env(pl_cfg.policy, sizeof(pl_cfg.policy), "UFFD_RUN_POLICY", "");
	/* uffd-run refuses these; set by hand, they serve nothing. */
	if (uffd_raw_spec_has_file(pl_cfg.policy))
		pl_cfg.disabled = 1;
	copy_env(pl_cfg.socket, sizeof(pl_cfg.socket), "UFFDD_SOCKET",
		 UFFD_CLIENT_DEFAULT_SOCKET);
	strncpy(pl_cfg.comm, program_invocation_short_name,
		sizeof(pl_cfg.comm) - 1);
	pl_fork_init();
}

__attribute__((constructor)) static void preload_init(void)
{
	init();
}

/* The interposers ---------------------------------------------------------- */

static int wanted(size_t len, int flags)
{
	int type = flags & MAP_TYPE;

	if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE)
		return 0;
	/* MAP_NORESERVE asks for sparse memory: filling it would not do. */
	if (!(flags & MAP_ANONYMOUS) || (flags & MAP_NORESERVE))
		return 0;
	if (!len || len < pl_cfg.min_size)
		return 0;
	if (pl_cfg.huge_only && !(flags & MAP_HUGETLB))
		return 0;
	if (pl_cfg.disabled || pl.refused)
		return 0;
	/*
	 * Every page is allocated up front: a shmem mapping larger than half
	 * of RAM is more likely a sparse reservation than a working set, and
	 * filling it could summon the OOM killer.  (hugetlb fails cleanly.)
	 */
	if (!(flags & MAP_HUGETLB)) {
		struct sysinfo si;

		if (sysinfo(&si) == 0 &&
		    len > (size_t)si.totalram * si.mem_unit / 2)
			return 0;
	}
	return 1;
}

/*
 * A memfd standing in for the shared anonymous memory the program asked
 * for: same kind and page size, zero-filled like MAP_ANONYMOUS, every page
 * allocated now (minor faults need the page cache populated), sealed so
 * that its size never changes under the daemon.
 */
static int make_memfd(size_t len, int flags, size_t *rlen, uint32_t *psz,
		      ino_t *ino)
{
	unsigned mfd = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	struct stat st;
	char name[40] = "uffd-run:";
	int fd;

	if (flags & MAP_HUGETLB)
		mfd |= MFD_HUGETLB |
		       ((unsigned)flags & (MAP_HUGE_MASK << MAP_HUGE_SHIFT));
	strncat(name, pl_cfg.comm, sizeof(name) - strlen(name) - 1);
	fd = memfd_create(name, mfd);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		goto fail;
	*psz = (uint32_t)st.st_blksize;
	*ino = st.st_ino;
	*rlen = (len + *psz - 1) & ~((size_t)*psz - 1);
	if (ftruncate(fd, (off_t)*rlen) < 0 ||
	    fallocate(fd, 0, 0, (off_t)*rlen) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		goto fail;
	return fd;
fail : {
	int err = errno;

	close(fd);
	return -err;
}
}

static void *serve_mmap(void *addr, size_t len, int prot, int flags, int fd,
			off_t off)
{
	struct pl_region *e;
	sigset_t saved;
	size_t rlen = 0;
	uint32_t psz = 0;
	ino_t ino = 0;
	void *p;
	int mfd;

	pl_lock(&saved);
	if (pl_connect() < 0)
		goto passthrough;
	mfd = make_memfd(len, flags, &rlen, &psz, &ino);
	if (mfd < 0) /* e.g. too few free hugepages: the kernel decides */
		goto passthrough;
	p = pl_sys_mmap(addr, rlen, prot,
			flags & ~(MAP_ANONYMOUS | MAP_HUGETLB |
				  (MAP_HUGE_MASK << MAP_HUGE_SHIFT)),
			mfd, 0);
	if (p == MAP_FAILED) {
		close(mfd);
		goto passthrough;
	}
	if (flags & MAP_FIXED)
		pl_cut((uintptr_t)p, rlen); /* what was there is gone */
	e = pl_region_new();
	if (!e) {
		close(mfd); /* the mapping stays, unserved */
		goto out;
	}
	e->addr = (uintptr_t)p;
	e->len = rlen;
	e->memfd = mfd;
	e->memfd_ino = ino;
	e->kind = (flags & MAP_HUGETLB) ? UFFDD_KIND_HUGETLB : UFFDD_KIND_SHMEM;
	e->page_size = psz;
	e->serial = ++pl.next_serial;
	e->creator = getpid();
	if (pl_region_register(e, 1) < 0)
		pl_region_drop(e); /* refused: plain memfd memory */
out:
	pl_unlock(&saved);
	return p;
passthrough:
	pl_unlock(&saved);
	return pl_sys_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	sigset_t saved;
	void *p;
	int err;

	if (!inited)
		init();
	if (wanted(len, flags))
		return serve_mmap(addr, len, prot, flags, fd, off);
	if (!(flags & MAP_FIXED) ||
	    !__atomic_load_n(&pl.nlive, __ATOMIC_RELAXED) ||
	    !pl_overlaps((uintptr_t)addr, len))
		return pl_sys_mmap(addr, len, prot, flags, fd, off);
	/* Something else mapped over a served range. */
	pl_lock(&saved);
	p = pl_sys_mmap(addr, len, prot, flags, fd, off);
	err = errno;
	if (p != MAP_FAILED)
		pl_cut((uintptr_t)p, len);
	pl_unlock(&saved);
	errno = err;
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

EXPORT int munmap(void *addr, size_t len)
{
	sigset_t saved;
	int rc, err;

	if (!__atomic_load_n(&pl.nlive, __ATOMIC_RELAXED) ||
	    !pl_overlaps((uintptr_t)addr, len))
		return pl_sys_munmap(addr, len);
	pl_lock(&saved);
	rc = pl_sys_munmap(addr, len);
	err = errno;
	if (rc == 0) {
		size_t pg = (size_t)sysconf(_SC_PAGESIZE);

		pl_cut((uintptr_t)addr, (len + pg - 1) & ~(pg - 1));
	}
	pl_unlock(&saved);
	errno = err;
	return rc;
}

/* [a, b) minus [c, d): up to two intervals appended to out. */
static int subtract(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d,
		    uintptr_t out[][2], int n)
{
	if (d <= a || c >= b) {
		out[n][0] = a;
		out[n++][1] = b;
		return n;
	}
	if (a < c) {
		out[n][0] = a;
		out[n++][1] = c;
	}
	if (d < b) {
		out[n][0] = d;
		out[n++][1] = b;
	}
	return n;
}

/*
 * mremap of a served range: the kernel moves the registration with the
 * mapping, to an address the daemon does not know, so unregister first,
 * remap, then register what is mapped afterwards: the old range's
 * leftovers and the new range (as far as the memfd reaches: beyond its
 * end the program gets SIGBUS, exactly as with shared anonymous memory).
 */
static void *follow_mremap(struct pl_region *e, void *old, size_t olen,
			   size_t nlen, int flags, void *new_addr)
{
	uintptr_t keep[4][2], tmp[4][2];
	struct pl_region t = *e;
	struct stat st;
	int nkeep, ntmp = 0, err;
	uintptr_t o = (uintptr_t)old, p;
	off_t off = e->offset + (off_t)(o - e->addr);
	void *r;

	pl_region_unregister(e, 1);
	r = pl_sys_mremap(old, olen, nlen, flags, new_addr);
	err = errno;
	if (r == MAP_FAILED) {
		(void)pl_region_register(e, 1);
		errno = err;
		return r;
	}
	p = (uintptr_t)r;
	e->state = PL_MOVING; /* not for pl_cut below: handled here */
	/* What is left of the old mapping... */
	if (olen == 0 || (flags & MREMAP_DONTUNMAP))
		ntmp = subtract(t.addr, t.addr + t.len, 0, 0, tmp, 0);
	else
		ntmp = subtract(t.addr, t.addr + t.len, o, o + olen, tmp, 0);
	/* ...less whatever the new mapping now covers. */
	nkeep = 0;
	for (int i = 0; i < ntmp; i++)
		nkeep =
		    subtract(tmp[i][0], tmp[i][1], p, p + nlen, keep, nkeep);
	pl_cut(p, nlen); /* other served ranges a MREMAP_FIXED replaced */
	for (int i = 0; i < nkeep; i++)
		pl_region_piece(&t, keep[i][0], keep[i][1] - keep[i][0],
				t.offset + (off_t)(keep[i][0] - t.addr));
	if (fstat(t.memfd, &st) == 0 && st.st_size > off) {
		size_t avail = (size_t)(st.st_size - off);

		pl_region_piece(&t, p, nlen < avail ? nlen : avail, off);
	}
	pl_region_drop(e);
	errno = err;
	return r;
}

EXPORT void *mremap(void *old, size_t olen, size_t nlen, int flags, ...)
{
	struct pl_region *e;
	void *new_addr = NULL, *r;
	sigset_t saved;

	if (flags & MREMAP_FIXED) {
		va_list ap;

		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (!__atomic_load_n(&pl.nlive, __ATOMIC_RELAXED))
		return pl_sys_mremap(old, olen, nlen, flags, new_addr);
	pl_lock(&saved);
	e = pl_find((uintptr_t)old, olen ? olen : 1);
	if (e)
		r = follow_mremap(e, old, olen, nlen, flags, new_addr);
	else if ((flags & MREMAP_FIXED) &&
		 pl_overlaps((uintptr_t)new_addr, nlen)) {
		r = pl_sys_mremap(old, olen, nlen, flags, new_addr);
		if (r != MAP_FAILED) {
			int err = errno;

			pl_cut((uintptr_t)r, nlen);
			errno = err;
		}
	} else {
		r = pl_sys_mremap(old, olen, nlen, flags, new_addr);
	}
	{
		int err = errno;

		pl_unlock(&saved);
		errno = err;
	}
	return r;
}
