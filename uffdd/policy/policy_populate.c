/* SPDX-License-Identifier: MIT */
/*
 * populate:FILE[@OFFSET] -- lazy restore of a memory image.  Before a page
 * is mapped the first time, its bytes are read from FILE (starting at
 * OFFSET for the region's first byte) into the page cache through the
 * daemon's own MAP_SHARED mapping of the client's memfd; then CONTINUE.
 * Pages never touched are never read.  FILE is "#N", the image the client
 * opened and passed, or a path of the configuration's.
 *
 * Which pages are filled is kept in the region's page-state file, so that
 * a restarted daemon never reads a page again (the client may have written
 * it since) and a client that takes over knows what is left to fill.
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
	char file[PATH_MAX]; /* "#N" or a configured path */
	uint64_t file_off;
	int fd;
	char *map; /* the memfd from base, map_len bytes */
	uint64_t map_len;
	uint64_t base; /* memfd offset of map[0] */
	uint32_t psz;
	uint64_t npages;
	uint8_t *filled; /* one bit per page: the page-state file's, or own */
	int own_bits;
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
	if (policy_file_arg(&policy_ops_populate, args,
			    at	   ? (size_t)(at - args)
			    : args ? strlen(args)
				   : 0,
			    p->file, sizeof(p->file), err, errlen) < 0)
		return -EINVAL;
	if (at && policy_parse_u64(at + 1, &p->file_off) < 0) {
		snprintf(err, errlen,
			 "populate: bad offset \"%s\" (usage: "
			 "populate:FILE[@OFFSET], OFFSET in bytes, K/M/G "
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
	if (p->own_bits)
		free(p->filled);
}

/* The bits saying which pages are filled: the page-state file's (which
 * survive a restart and tell a client taking over), else our own. */
static int take_bits(struct populate *p, const struct policy_region *r,
		     char *err, size_t errlen)
{
	p->psz = r->page_size;
	p->npages = r->len / r->page_size;
	if (r->pages && r->pages->filled && r->pages->npages >= p->npages) {
		p->filled = r->pages->filled;
		return 0;
	}
	p->filled = calloc(p->npages / 8 + 1, 1);
	if (!p->filled) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->own_bits = 1;
	return 0;
}

/* The image, open and long enough for r; 0 or -errno (err set). */
static int open_image(struct populate *p, const struct policy_region *r,
		      char *err, size_t errlen)
{
	struct stat st = { 0 };
	char why[200];

	p->fd =
	    policy_open_file(r, p->file, POLICY_FILE_READ, why, sizeof(why));
	if (p->fd < 0) {
		snprintf(err, errlen, "populate: image %s: %s", p->file, why);
		return p->fd;
	}
	if (fstat(p->fd, &st) == 0 && (uint64_t)st.st_size >= p->file_off &&
	    (uint64_t)st.st_size - p->file_off >= r->len)
		return 0;
	/* The numbers first: the client's copy of the message is short. */
	snprintf(err, errlen,
		 "populate: image holds %llu bytes, region needs %llu from "
		 "offset %llu (%s)",
		 (unsigned long long)st.st_size, (unsigned long long)r->len,
		 (unsigned long long)p->file_off, p->file);
	close(p->fd);
	p->fd = -1;
	return -EINVAL;
}

static int pop_attach(void *state, struct policy_region *r, char *err,
		      size_t errlen)
{
	struct populate *p = state;
	int seals, rc;

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
	if ((rc = open_image(p, r, err, errlen)) < 0)
		return rc;
	if ((rc = take_bits(p, r, err, errlen)) < 0)
		goto fail;
	p->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      r->memfd, (off_t)r->offset);
	if (p->map == MAP_FAILED) {
		rc = -errno;
		p->map = NULL;
		snprintf(err, errlen, "populate: cannot map the memfd: %s",
			 strerror(-rc));
		goto fail;
	}
	p->map_len = r->len;
	p->base = r->offset;
	return 0;
fail:
	if (p->own_bits)
		free(p->filled);
	p->filled = NULL;
	p->own_bits = 0;
	close(p->fd);
	p->fd = -1;
	return rc;
}

static int is_filled(const struct populate *p, uint64_t idx)
{
	return policy_page_bit(p->filled, idx);
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
				   (int)policy_pid(r), r->name, p->file,
				   (unsigned long long)(p->file_off +
							idx * p->psz + done),
				   got < 0 ? strerror(-rc)
					   : "file is shorter now");
			break;
		}
		done += (uint64_t)got;
		CNT_ADD(p->bytes_read, (uint64_t)got);
	}
	/* Only once its bytes are all in: a client taking over refills a
	 * page whose bit is clear, and maps one whose bit is set. */
	for (; marked < done / p->psz; marked++)
		policy_page_bit_set(p->filled, idx + marked);
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
	if (!len)
		return 0;
	if (!p->map) { /* never attached: nothing can be filled */
		if (stop)
			*stop = addr;
		return -ENOENT;
	}
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
	/* Never attached (a restored region whose image is gone): no page
	 * can get its bytes, and a page must never show zeros instead. */
	if (!p->map)
		return POLICY_DENY;
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
			       json_object_new_string(p->file));
	policy_json_count(o, "pages_populated", &p->pages_populated);
	policy_json_count(o, "bytes_read", &p->bytes_read);
	policy_json_count(o, "read_errors", &p->read_errors);
}

static void pop_takeover(void *state, struct policy_takeover *t)
{
	struct populate *p = state;

	t->flags |= POLICY_TAKE_POPULATE;
	t->image_offset = p->file_off;
	t->image_file = policy_file_index(p->file);
}

const struct policy_ops policy_ops_populate = {
	.name = "populate",
	.usage = "populate:FILE[@OFFSET]",
	.phase = PHASE_CONTENT,
	.unresolved = POLICY_UNRESOLVED_DENY,
	.flags = POLICY_F_FILE | POLICY_F_CONTENT,
	.state_size = sizeof(struct populate),
	.file_path = offsetof(struct populate, file),
	.create = pop_create,
	.destroy = pop_destroy,
	.attach = pop_attach,
	.fault = pop_fault,
	.prepare = pop_prepare,
	.status = pop_status,
	.takeover = pop_takeover,
};
