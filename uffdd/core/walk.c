/* SPDX-License-Identifier: MIT */
#include "walk.h"
#include "clock.h"
#include "fault.h"
#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Pages one CONTINUE may map: ~1024 4 KiB pages take ~0.7 ms here, so a
 * step never takes the turn much past its budget. */
#define STEP_PAGES 512

/*
 * A private open file description of r's memfd, for SEEK_DATA: seeking
 * the one the client passed would move the client's own file offset.
 * -1 when it cannot be had (the walk then steps page by page).
 */
static int probe(struct region *r)
{
	char path[64];

	if (r->probe_fd == -1) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", r->v.memfd);
		r->probe_fd =
		    open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (r->probe_fd < 0)
			r->probe_fd = -2; /* do not try again */
	}
	return r->probe_fd;
}

/* The first address at or after addr whose page has contents (end if
 * none).  Pages a file system cannot tell about count as having them. */
static uint64_t next_data(struct region *r, uint64_t addr, uint64_t end)
{
	int fd = probe(r);
	off_t at = (off_t)(addr - r->v.start + r->v.offset), d;

	if (fd < 0)
		return addr;
	d = lseek(fd, at, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO ? end : addr;
	if ((uint64_t)d - r->v.offset >= end - r->v.start)
		return end;
	return (r->v.start + ((uint64_t)d - r->v.offset)) &
	       ~((uint64_t)r->v.page_size - 1);
}

long walk_map(struct region *r, uint64_t *pos, uint64_t end, uint64_t budget_ns)
{
	uint64_t psz = r->v.page_size, until = now_ns() + budget_ns;
	uint64_t step = STEP_PAGES * psz, done = 0;

	while (*pos < end && !r->dead) {
		uint64_t len = end - *pos < step ? end - *pos : step, got;
		int e = fault_continue_once(r, *pos, len, &got);

		done += got;
		*pos += got;
		switch (e) {
		case 0:
			break;
		case ESRCH:
			return -ESRCH;
		case EFAULT: {
			/* A hole: on to the next page with contents. */
			uint64_t next = next_data(r, *pos, end);

			*pos = next > *pos ? next : *pos + psz;
			break;
		}
		case EAGAIN:
			if (got)
				break;
			/* The mm is changing (an event is queued): later. */
			return (long)(done / psz);
		default:
			/* Mapped already (EEXIST), or anything else this page
			 * cannot be: the next one. */
			*pos += psz;
			break;
		}
		if (now_ns() >= until)
			break;
	}
	if (*pos >= end) {
		*pos = end;
		walk_done(r);
	}
	return r->dead ? -ESRCH : (long)(done / psz);
}

void walk_done(struct region *r)
{
	if (r->probe_fd >= 0)
		close(r->probe_fd);
	r->probe_fd = -1;
}
