/* SPDX-License-Identifier: MIT */
/*
 * Learned-set boards (proto/uffdd_proto.h): the daemon writes, per region
 * of this process, the pages its forked children touch in their first
 * moments.  The parent maps the board read-only when REGISTERED brings it;
 * a child inherits the mapping and, before it registers its copy of the
 * region, maps those pages itself with MADV_POPULATE_READ.  Its page
 * tables for the region are empty after fork and nothing is registered on
 * it yet, so the kernel serves them from the page cache: no daemon round
 * trip and no UFFDIO_CONTINUE per page.  The daemon sends a board only
 * for a policy under which any cached page is right (learn over continue,
 * around, eager, record): never for one that makes or holds pages.
 *
 * Async-signal-safe, like the rest of the fork path: the stack and
 * syscalls only.
 */
#include "preload.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* PIDFD_SELF_THREAD (Linux 6.15): the calling thread, so its memory,
 * without a pidfd of our own (tried first; EBADF before 6.15). */
#define PL_PIDFD_SELF (-10000)

/* Ranges handed to the kernel in one process_madvise call. */
#define BATCH 128

void pl_board_forget(struct pl_region *e)
{
	if (e->board)
		(void)syscall(SYS_munmap, e->board, e->board_len);
	e->board = NULL;
	e->board_len = 0;
}

void pl_board_adopt(struct pl_region *e, int fd)
{
	const struct uffdd_board_hdr *h;
	struct stat st;

	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(*h))
		return;
	/* Not through our own interposer (nor the program's). */
	h = (const void *)syscall(SYS_mmap, NULL, (size_t)st.st_size, PROT_READ,
				  MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return;
	if (h->magic != UFFDD_BOARD_MAGIC ||
	    h->version != UFFDD_BOARD_VERSION || h->hdr_size != sizeof(*h) ||
	    h->max_runs > ((size_t)st.st_size - sizeof(*h)) /
			      sizeof(struct uffdd_board_run) ||
	    h->page_size != e->page_size) {
		(void)syscall(SYS_munmap, h, (size_t)st.st_size);
		return;
	}
	pl_board_forget(e);
	e->board = h;
	e->board_len = (size_t)st.st_size;
}

struct batch {
	struct iovec iov[BATCH];
	int n;
	int pidfd;	 /* -1: not opened yet; -2: process_madvise unusable;
			    PL_PIDFD_SELF */
	int no_populate; /* MADV_POPULATE_READ unknown (before 5.14) */
	uint64_t bytes;
};

/* Populate what the batch holds: one call, or one madvise per range on a
 * kernel whose process_madvise refuses it (before 6.13). */
static void flush(struct batch *b)
{
	ssize_t done = -1;
	size_t left;
	int i = 0;

	if (!b->n)
		return;
	if (b->pidfd == -1) /* this process, without a descriptor (6.15) */
		b->pidfd = PL_PIDFD_SELF;
	if (b->pidfd == PL_PIDFD_SELF || b->pidfd >= 0) {
		done = syscall(SYS_process_madvise, b->pidfd, b->iov,
			       (size_t)b->n, MADV_POPULATE_READ, 0);
		if (done < 0 && errno == EBADF && b->pidfd == PL_PIDFD_SELF) {
			b->pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
			if (b->pidfd < 0)
				b->pidfd = -2;
			else
				done = syscall(SYS_process_madvise, b->pidfd,
					       b->iov, (size_t)b->n,
					       MADV_POPULATE_READ, 0);
		}
		/* Before 6.13 process_madvise takes no POPULATE_READ. */
		if (done < 0 &&
		    (errno == EINVAL || errno == ENOSYS || errno == EPERM)) {
			if (b->pidfd >= 0)
				close(b->pidfd);
			b->pidfd = -2;
		}
	}
	/* The ranges after a short count, or all of them: one by one. */
	left = done > 0 ? (size_t)done : 0;
	for (; i < b->n && left >= b->iov[i].iov_len; i++)
		left -= b->iov[i].iov_len;
	if (done < 0 || i < b->n)
		for (; i < b->n && !b->no_populate; i++)
			if (syscall(SYS_madvise, b->iov[i].iov_base,
				    b->iov[i].iov_len,
				    MADV_POPULATE_READ) < 0 &&
			    errno == EINVAL)
				b->no_populate = 1;
	for (int k = 0; k < b->n; k++)
		b->bytes += b->iov[k].iov_len;
	b->n = 0;
}

static void add(struct batch *b, uintptr_t a, size_t len)
{
	if (b->n &&
	    (uintptr_t)b->iov[b->n - 1].iov_base + b->iov[b->n - 1].iov_len ==
		a) {
		b->iov[b->n - 1].iov_len += len;
		return;
	}
	if (b->n == BATCH)
		flush(b);
	b->iov[b->n].iov_base = (void *)a;
	b->iov[b->n].iov_len = len;
	b->n++;
}

/*
 * Pages [first, first+count) of the memfd, as e maps them; a probe leaves
 * the pages the board's rule holds for it.
 */
static void add_run(struct batch *b, const struct pl_region *e, uint64_t first,
		    uint64_t count, int probe, uint32_t slices, pid_t me)
{
	uint64_t psz = e->page_size, lo = (uint64_t)e->offset / psz,
		 hi = lo + e->len / psz, end = first + count;

	if (first < lo)
		first = lo;
	if (end > hi)
		end = hi;
	for (uint64_t p = first; p < end;) {
		uint64_t q = p;

		if (probe) { /* the next page the probe leaves, or end */
			while (q < end &&
			       !uffdd_board_held(q, (uint64_t)me, slices))
				q++;
		} else {
			q = end;
		}
		if (q > p)
			add(b, e->addr + (uintptr_t)((p - lo) * psz),
			    (size_t)((q - p) * psz));
		p = q + (q < end);
	}
}

int pl_board_map(const struct pl_region *e, int *pidfd, uint64_t *bytes)
{
	const struct uffdd_board_hdr *h = e->board;
	const struct uffdd_board_run *run;
	struct batch b = { .pidfd = *pidfd };
	uint32_t seq, every, slices, teach;
	uint64_t n;
	pid_t me = getpid();
	int probe;

	if (!h)
		return PL_BOARD_NONE;
	seq = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE);
	n = __atomic_load_n(&h->nruns, __ATOMIC_RELAXED);
	every = h->probe_every;
	slices = h->probe_slices;
	teach = h->teach_every;
	if ((seq & 1) || !n || n > h->max_runs)
		return PL_BOARD_NONE;
	run = (const struct uffdd_board_run *)(const void *)((const char *)h +
							     h->hdr_size);
	probe = every && uffdd_board_mix((uint64_t)me) % every == 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t first =
			     __atomic_load_n(&run[i].first, __ATOMIC_RELAXED),
			 count =
			     __atomic_load_n(&run[i].count, __ATOMIC_RELAXED);

		if (count > e->len / e->page_size)
			break; /* torn by a rewrite */
		add_run(&b, e, first, count, probe, slices, me);
	}
	flush(&b);
	*pidfd = b.pidfd;
	if (b.no_populate)
		return PL_BOARD_NONE; /* the daemon maps the set instead */
	*bytes += b.bytes;
	/*
	 * Said to the daemon even if the board was rewritten meanwhile (a
	 * run torn there is still pages of the cache, right for this
	 * policy): it must not map a plan of its own over ours, nor hold
	 * for a probe pages we mapped.  It rewrites only when the set
	 * changes, which a settled lineage rarely does.  A probe always
	 * registers: the pages it left are for the daemon to see.
	 */
	if (teach > 1 && !probe && uffdd_board_mix((uint64_t)me) % teach != 0)
		return PL_BOARD_ALONE;
	return PL_BOARD_MAPPED;
}
