/* SPDX-License-Identifier: MIT */
/*
 * record:PATH -- write the order in which pages are first touched (a
 * working-set trace) to PATH, for prefetch:PATH to replay.  The format
 * (docs/policies.md) is text, one item per line:
 *
 *     uffdd-trace 1
 *     page_size 4096
 *     pages 16384
 *     17
 *     18
 *     ...
 *
 * where each number after the header is a page index in the region
 * (its byte offset divided by the page size), in first-touch order.
 * The file is written through a buffer; it is complete once the region
 * ends (unregistered, or its client gone).
 */
#include "policy.h"

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
	char path[PATH_MAX];
	int fd;
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
	return policy_path_arg(&policy_ops_record, args,
			       args ? strlen(args) : 0, p->path,
			       sizeof(p->path), err, errlen);
}

static void flush(struct record *p)
{
	size_t off = 0;

	while (p->fd >= 0 && off < p->blen) {
		ssize_t n = write(p->fd, p->buf + off, p->blen - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			CNT_ADD(p->write_errors, 1);
			policy_log(NULL, LOG_WARNING, "record: writing %s: %s",
				   p->path,
				   n < 0 ? strerror(errno) : "short write");
			break;
		}
		off += (size_t)n;
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

static int rec_attach(void *state, struct policy_region *r, char *err,
		      size_t errlen)
{
	struct record *p = state;
	struct stat st;
	int e;

	if (p->fd >= 0)
		return 0; /* a fork copy or a piece: same trace */
	/* O_NOFOLLOW: never write through a link someone planted. */
	p->fd = open(p->path,
		     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
			 O_NOCTTY,
		     0644);
	if (p->fd < 0) {
		e = errno;
		snprintf(err, errlen, "record: cannot create %s: %s", p->path,
			 strerror(e));
		return -e;
	}
	if (fstat(p->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "record: %s is not a regular file",
			 p->path);
		close(p->fd);
		p->fd = -1;
		return -EINVAL;
	}
	p->npages = r->len / r->page_size;
	p->seen = calloc(p->npages / 8 + 1, 1);
	if (!p->seen) {
		close(p->fd);
		p->fd = -1;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->blen = (size_t)snprintf(p->buf, sizeof(p->buf),
				   "uffdd-trace 1\npage_size %u\npages %llu\n",
				   r->page_size, (unsigned long long)p->npages);
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
	if (p->blen > sizeof(p->buf) - 32)
		flush(p);
	p->blen += (size_t)snprintf(p->buf + p->blen, sizeof(p->buf) - p->blen,
				    "%llu\n", (unsigned long long)idx);
	CNT_ADD(p->recorded, 1);
	return POLICY_MAP;
}

static void rec_status(void *state, struct json_object *o)
{
	struct record *p = state;

	json_object_object_add(o, "record_file",
			       json_object_new_string(p->path));
	policy_json_count(o, "pages_recorded", &p->recorded);
	policy_json_count(o, "record_write_errors", &p->write_errors);
}

const struct policy_ops policy_ops_record = {
	.name = "record",
	.usage = "record:PATH",
	.phase = PHASE_OBSERVE,
	.flags = POLICY_F_FILE,
	.state_size = sizeof(struct record),
	.file_path = offsetof(struct record, path),
	.create = rec_create,
	.destroy = rec_destroy,
	.attach = rec_attach,
	.detach = rec_detach,
	.fault = rec_fault,
	.status = rec_status,
};
