/* SPDX-License-Identifier: MIT */
/*
 * populate:PATH[@OFFSET] -- lazy restore of a memory image.  Before a page
 * is mapped the first time, its bytes are read from PATH (starting at
 * OFFSET for the region's first byte) into the page cache through the
 * daemon's own MAP_SHARED mapping of the client's memfd; then CONTINUE.
 * Pages never touched are never read.
 *
 * Safety: the file is read with pread straight into the mapping, so a page
 * that cannot be had (a memfd cut short, no free hugepage) makes pread fail
 * with EFAULT instead of killing the daemon with SIGBUS; and the memfd must
 * carry F_SEAL_SHRINK, so the client cannot truncate it under the mapping.
 * A missing or short file refuses the region at registration.
 */
#include "policy_populate.h"
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct populate {
	char path[PATH_MAX];
	uint64_t file_off;
	int fd;
	char *map; /* the memfd from base, map_len bytes */
	uint64_t map_len;
	uint64_t base; /* memfd offset of map[0] */
	uint32_t psz;
	uint64_t npages;
	uint8_t *filled; /* one bit per page */
	/* counters (atomic) */
	uint64_t pages_populated, bytes_read, read_errors;
};

static int pop_create(void *state, const char *args, char *err, size_t errlen)
{
	struct populate *p = state;
	const char *at = args ? strrchr(args, '@') : NULL;

	p->fd = -1;
	if (at && strchr(at, '/'))
		at = NULL; /* an '@' inside the path, such as vm@1/ */
	if (policy_path_arg(&policy_ops_populate, args,
			    at	   ? (size_t)(at - args)
			    : args ? strlen(args)
				   : 0,
			    p->path, sizeof(p->path), err, errlen) < 0)
		return -EINVAL;
	if (at && policy_parse_u64(at + 1, &p->file_off) < 0) {
		snprintf(err, errlen,
			 "populate: bad offset \"%s\" (usage: "
			 "populate:PATH[@OFFSET], OFFSET in bytes, K/M/G "
			 "suffixes allowed)",
			 at + 1);
		return -EINVAL;
	}
	return 0;
}

static void pop_destroy(void *state)
{
	struct populate *p = state;

	if (p->map)
		policy_unmap(p->map, p->map_len);
	if (p->fd >= 0)
		close(p->fd);
	free(p->filled);
}

static int pop_attach(void *state, struct policy_region *r, char *err,
		      size_t errlen)
{
	struct populate *p = state;
	struct stat st;
	int seals;

	if (p->map) {
		/* Another mapping of the same memory: a fork copy or a piece.
		 */
		if (r->offset < p->base ||
		    r->offset + r->len > p->base + p->map_len) {
			snprintf(err, errlen,
				 "populate: region outside the "
				 "populated memory");
			return -EINVAL;
		}
		return 0;
	}
	seals = fcntl(r->memfd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		snprintf(err, errlen,
			 "populate needs the memfd sealed with F_SEAL_SHRINK "
			 "(uffd_region_alloc's are)");
		return -EPERM;
	}
	p->fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (p->fd < 0) {
		int e = errno;

		snprintf(err, errlen, "populate: cannot open %s: %s", p->path,
			 strerror(e));
		return -e;
	}
	if (fstat(p->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "populate: %s is not a regular file",
			 p->path);
		goto fail;
	}
	if ((uint64_t)st.st_size < p->file_off ||
	    (uint64_t)st.st_size - p->file_off < r->len) {
		/* The numbers first: the client's copy of the message is
		 * short, and it knows the path. */
		snprintf(err, errlen,
			 "populate: image holds %llu bytes, region needs %llu "
			 "from offset %llu (%s)",
			 (unsigned long long)st.st_size,
			 (unsigned long long)r->len,
			 (unsigned long long)p->file_off, p->path);
		goto fail;
	}
	p->psz = r->page_size;
	p->npages = r->len / r->page_size;
	p->filled = calloc(p->npages / 8 + 1, 1);
	if (!p->filled) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	p->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      r->memfd, (off_t)r->offset);
	if (p->map == MAP_FAILED) {
		int e = errno;

		p->map = NULL;
		snprintf(err, errlen, "populate: cannot map the memfd: %s",
			 strerror(e));
		free(p->filled);
		p->filled = NULL;
		close(p->fd);
		p->fd = -1;
		return -e;
	}
	p->map_len = r->len;
	p->base = r->offset;
	return 0;
fail:
	close(p->fd);
	p->fd = -1;
	return -EINVAL;
}

static int is_filled(const struct populate *p, uint64_t idx)
{
	return p->filled[idx / 8] & (1u << (idx % 8));
}

/*
 * Read pages [idx, idx + n) of the image, none of them filled yet, with one
 * pread (more only if the kernel returns short).  A page is marked filled
 * once all its bytes are in; on an error the pages read completely before
 * it stay filled.  0, or -errno for the page that could not be read.
 */
static int read_run(struct populate *p, struct policy_region *r, uint64_t idx,
		    uint64_t n)
{
	uint64_t len = n * p->psz, done = 0, marked = 0;
	int rc = 0;

	if (!len) /* nothing to read (and psz is never 0 once attached) */
		return 0;
	while (done < len) {
		ssize_t got =
		    pread(p->fd, p->map + idx * p->psz + done, len - done,
			  (off_t)(p->file_off + idx * p->psz + done));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got < 0 ? -errno : -EIO;
			CNT_ADD(p->read_errors, 1);
			policy_log(r, LOG_WARNING,
				   "client %d region %s: populate from %s at "
				   "%llu: %s",
				   (int)policy_pid(r), r->name, p->path,
				   (unsigned long long)(p->file_off +
							idx * p->psz + done),
				   got < 0 ? strerror(-rc)
					   : "file is shorter now");
			break;
		}
		done += (uint64_t)got;
		CNT_ADD(p->bytes_read, (uint64_t)got);
	}
	for (; marked < done / p->psz; marked++)
		p->filled[(idx + marked) / 8] |=
		    (uint8_t)(1u << ((idx + marked) % 8));
	CNT_ADD(p->pages_populated, marked);
	return rc;
}

/*
 * Fill the pages of [addr, addr + len) of r once each, in order, a run of
 * consecutive unfilled pages with one read.  Stops at the first page that
 * cannot be filled: *stop (if given) is its address (addr + len when all
 * are filled).  0, or -errno.
 */
static int fill_range(struct populate *p, struct policy_region *r,
		      uint64_t addr, uint64_t len, uint64_t *stop)
{
	uint64_t m = addr - r->start + r->offset, first, end, idx;
	int rc = 0;

	if (stop)
		*stop = addr + len;
	if (!p->map || !len)
		return 0; /* never attached: nothing to fill from */
	if (m < p->base || m - p->base >= p->map_len) {
		if (stop)
			*stop = addr;
		return -ERANGE;
	}
	first = (m - p->base) / p->psz;
	end = first + len / p->psz;
	if (end > p->npages) { /* the tail is outside: fill up to it */
		end = p->npages;
		rc = -ERANGE;
	}
	for (idx = first; idx < end;) {
		uint64_t k = 0;
		int e;

		if (is_filled(p, idx)) {
			idx++;
			continue;
		}
		while (idx + k < end && !is_filled(p, idx + k))
			k++;
		e = read_run(p, r, idx, k);
		if (e < 0) {
			uint64_t at = idx;

			while (at < idx + k && is_filled(p, at))
				at++;
			if (stop)
				*stop = addr + (at - first) * p->psz;
			return e;
		}
		idx += k;
	}
	if (rc < 0 && stop)
		*stop = addr + (end - first) * p->psz;
	return rc;
}

static enum policy_verdict pop_fault(void *state, struct policy_region *r,
				     uint64_t addr, uint32_t tid,
				     struct map_range *out)
{
	struct populate *p = state;
	uint64_t psz = r->page_size, end = out->start + out->len;
	uint64_t from = out->start, stop, lo, hi;

	(void)tid;
	if (!p->map)
		return POLICY_MAP; /* never attached: nothing to fill from */
	/*
	 * The whole window with one read per run of unfilled pages.  A page
	 * that cannot be read below the faulting one: go on after it, so the
	 * faulting page and its neighbours are still tried.
	 */
	while (fill_range(p, r, from, end - from, &stop) < 0 && stop < addr)
		from = stop + psz;
	/* The faulting page must have its bytes, or the thread would read
	 * zeros that were never in the image. */
	if (!is_filled(p, (addr - r->start + r->offset - p->base) / psz))
		return POLICY_DENY;
	/* Its window: keep the run of filled pages around it. */
	lo = addr;
	hi = addr + psz;
	while (lo > out->start &&
	       is_filled(p, (lo - psz - r->start + r->offset - p->base) / psz))
		lo -= psz;
	while (hi < end &&
	       is_filled(p, (hi - r->start + r->offset - p->base) / psz))
		hi += psz;
	out->start = lo;
	out->len = hi - lo;
	return POLICY_MAP;
}

static int pop_prepare(void *state, struct policy_region *r, uint64_t start,
		       uint64_t len)
{
	return fill_range(state, r, start, len, NULL);
}

/*
 * Ask the kernel to read [addr, addr + len) of r's image into the page
 * cache in the background (prefetch calls it ahead of its fills, so their
 * preads find the cache warm and the disk sees many reads at once instead
 * of one).  Pages already filled at either end are left out.  0 or -errno.
 */
int populate_advise(void *state, struct policy_region *r, uint64_t addr,
		    uint64_t len)
{
	struct populate *p = state;
	uint64_t m = addr - r->start + r->offset, first, end;

	if (!p->map || !len || m < p->base || m - p->base >= p->map_len)
		return 0;
	first = (m - p->base) / p->psz;
	end = first + len / p->psz;
	if (end > p->npages)
		end = p->npages;
	while (first < end && is_filled(p, first))
		first++;
	while (end > first && is_filled(p, end - 1))
		end--;
	if (first == end)
		return 0;
	return -posix_fadvise(p->fd, (off_t)(p->file_off + first * p->psz),
			      (off_t)((end - first) * p->psz),
			      POSIX_FADV_WILLNEED);
}

static void pop_status(void *state, struct json_object *o)
{
	struct populate *p = state;

	json_object_object_add(o, "populate_file",
			       json_object_new_string(p->path));
	policy_json_count(o, "pages_populated", &p->pages_populated);
	policy_json_count(o, "bytes_read", &p->bytes_read);
	policy_json_count(o, "read_errors", &p->read_errors);
}

const struct policy_ops policy_ops_populate = {
	.name = "populate",
	.usage = "populate:PATH[@OFFSET]",
	.phase = PHASE_CONTENT,
	.unresolved = POLICY_UNRESOLVED_DENY,
	.flags = POLICY_F_FILE,
	.state_size = sizeof(struct populate),
	.file_path = offsetof(struct populate, path),
	.create = pop_create,
	.destroy = pop_destroy,
	.attach = pop_attach,
	.fault = pop_fault,
	.prepare = pop_prepare,
	.status = pop_status,
};
