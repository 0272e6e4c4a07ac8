/* SPDX-License-Identifier: MIT */
/*
 * record:FILE -- write the order in which pages are first touched (a
 * working-set trace) to FILE, for prefetch:FILE to replay.  FILE is "#N",
 * a file the client opened for writing and passed, which must be empty:
 * the daemon writes through the descriptor and never truncates what the
 * client did not (after a restart it goes on at the end of what an earlier
 * instance wrote); or a path of the configuration's.  The format is
 * trace.h's (docs/policies.md): a header, then the page indices in the
 * region (byte offset / page size) in first-touch order.
 * The file is written through a buffer; it is complete once the region
 * ends (unregistered, or its client gone).
 */
#include "policy.h"
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct record {
	char file[PATH_MAX]; /* "#N" or a configured path */
	int fd;
	uint64_t off; /* where the next bytes go */
	uint64_t npages;
	uint8_t *seen;
	char buf[8192];
	size_t blen;
	uint64_t recorded, write_errors; /* atomic */
};

static int rec_create(void *state, const char *args, char *err, size_t errlen)
{
	struct record *p = state;

	p->fd = -1;
	return policy_file_arg(&policy_ops_record, args,
			       args ? strlen(args) : 0, p->file,
			       sizeof(p->file), err, errlen);
}

static void flush(struct record *p)
{
	size_t off = 0;

	/* pwrite at our own offset: the client shares the descriptor's. */
	while (p->fd >= 0 && off < p->blen) {
		ssize_t n =
		    pwrite(p->fd, p->buf + off, p->blen - off, (off_t)p->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			CNT_ADD(p->write_errors, 1);
			policy_log(NULL, LOG_WARNING, "record: writing %s: %s",
				   p->file,
				   n < 0 ? strerror(errno) : "short write");
			break;
		}
		off += (size_t)n;
		p->off += (uint64_t)n;
	}
	p->blen = 0;
}

static void rec_destroy(void *state)
{
	struct record *p = state;

	flush(p);
	if (p->fd >= 0)
		close(p->fd);
	free(p->seen);
}

/*
 * The trace file: empty (a new trace starts), or, for a region rebuilt
 * after a restart, the earlier instance's trace to go on with.  0 or -errno.
 */
static int open_trace(struct record *p, const struct policy_region *r,
		      char *err, size_t errlen)
{
	struct stat st;
	char why[200];

	p->fd =
	    policy_open_file(r, p->file, POLICY_FILE_WRITE, why, sizeof(why));
	if (p->fd < 0) {
		snprintf(err, errlen, "record: trace %s: %s", p->file, why);
		return p->fd;
	}
	if (fstat(p->fd, &st) < 0)
		st.st_size = 0;
	if (st.st_size > 0 && !r->restored) {
		snprintf(err, errlen,
			 "record: trace %s holds %lld bytes: the daemon "
			 "truncates nothing; pass an empty file (opened with "
			 "O_TRUNC, as the library does)",
			 p->file, (long long)st.st_size);
		close(p->fd);
		p->fd = -1;
		return -EEXIST;
	}
	p->off = (uint64_t)st.st_size;
	return 0;
}

static int rec_attach(void *state, struct policy_region *r, char *err,
		      size_t errlen)
{
	struct record *p = state;
	int rc;

	if (p->fd >= 0)
		return 0; /* a fork copy or a piece: same trace */
	if ((rc = open_trace(p, r, err, errlen)) < 0)
		return rc;
	p->npages = r->len / r->page_size;
	p->seen = calloc(p->npages / 8 + 1, 1);
	if (!p->seen) {
		close(p->fd);
		p->fd = -1;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (p->off) /* going on after a restart: the header is there */
		return 0;
	p->blen = trace_header(p->buf, sizeof(p->buf), r->page_size, p->npages);
	flush(p);
	return 0;
}

static void rec_detach(void *state, struct policy_region *r)
{
	(void)r;
	flush(state);
}

static enum policy_verdict rec_fault(void *state, struct policy_region *r,
				     uint64_t addr, uint32_t tid,
				     struct map_range *out)
{
	struct record *p = state;
	uint64_t idx;

	(void)tid;
	(void)out;
	if (!p->seen)
		return POLICY_MAP;
	idx = policy_page(r, addr);
	if (idx >= p->npages || (p->seen[idx / 8] & (1u << (idx % 8))))
		return POLICY_MAP;
	p->seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
	if (p->blen > sizeof(p->buf) - TRACE_ENTRY_MAX)
		flush(p);
	p->blen += trace_entry(p->buf + p->blen, sizeof(p->buf) - p->blen, idx);
	CNT_ADD(p->recorded, 1);
	return POLICY_MAP;
}

static void rec_status(void *state, struct json_object *o)
{
	struct record *p = state;

	json_object_object_add(o, "record_file",
			       json_object_new_string(p->file));
	policy_json_count(o, "pages_recorded", &p->recorded);
	policy_json_count(o, "record_write_errors", &p->write_errors);
}

const struct policy_ops policy_ops_record = {
	.name = "record",
	.usage = "record:FILE",
	.phase = PHASE_OBSERVE,
	.flags = POLICY_F_FILE,
	.state_size = sizeof(struct record),
	.file_path = offsetof(struct record, file),
	.create = rec_create,
	.destroy = rec_destroy,
	.attach = rec_attach,
	.detach = rec_detach,
	.fault = rec_fault,
	.status = rec_status,
};
