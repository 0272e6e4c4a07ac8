/* SPDX-License-Identifier: MIT */
/* The working-set trace format: writing and reading it (trace.h). */
#include "trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writing ------------------------------------------------------------------ */

size_t trace_header(char *buf, size_t size, uint32_t psz, uint64_t npages)
{
	int n = snprintf(buf, size,
			 "uffdd-trace %d\npage_size %" PRIu32 "\npages %" PRIu64
			 "\n",
			 TRACE_VERSION, psz, npages);

	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

size_t trace_entry(char *buf, size_t size, uint64_t idx)
{
	int n = snprintf(buf, size, "%" PRIu64 "\n", idx);

	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

int trace_rec_init(struct trace_rec *t, uint64_t npages, uint32_t page_size)
{
	memset(t, 0, sizeof(*t));
	t->seen = calloc(npages / 8 + 1, 1);
	if (!t->seen)
		return -ENOMEM;
	t->npages = npages;
	t->page_size = page_size;
	return 0;
}

void trace_rec_free(struct trace_rec *t)
{
	free(t->seen);
	free(t->order);
	memset(t, 0, sizeof(*t));
}

int trace_rec_touch(struct trace_rec *t, uint64_t idx)
{
	if (idx >= t->npages || (t->seen[idx / 8] & (1u << (idx % 8))))
		return 0;
	if (t->n == t->cap) {
		uint64_t cap = t->cap ? 2 * t->cap : 1024;
		uint64_t *o = realloc(t->order, cap * sizeof(*o));

		if (!o)
			return 0; /* the trace stays shorter: it is a hint */
		t->order = o;
		t->cap = cap;
	}
	t->seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
	t->order[t->n++] = idx;
	return 1;
}

int trace_rec_encode(const struct trace_rec *t, char **buf, size_t *len)
{
	size_t cap = TRACE_HEADER_MAX + TRACE_ENTRY_MAX * (size_t)t->n, n;
	char *p = malloc(cap);

	if (!p)
		return -ENOMEM;
	n = trace_header(p, cap, t->page_size, t->npages);
	for (uint64_t i = 0; i < t->n; i++)
		n += trace_entry(p + n, cap - n, t->order[i]);
	*buf = p;
	*len = n;
	return 0;
}

/* Reading ------------------------------------------------------------------ */

void trace_reader_init(struct trace_reader *t)
{
	memset(t, 0, sizeof(*t));
}

/* Digits only, 1 to 20 of them, no overflow.  0 or -1. */
static int number(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (!n || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

static int bad(struct trace_reader *t, char *err, size_t errlen,
	       const char *what)
{
	snprintf(err, errlen, "line %" PRIu64 ": %s", t->lineno, what);
	return -EBADMSG;
}

/* One whole line (without its newline). */
static int line(struct trace_reader *t, const char *s, size_t n, uint64_t *idx,
		char *err, size_t errlen)
{
	static const char *const keys[] = { "uffdd-trace ", "page_size ",
					    "pages " };
	uint64_t v;

	t->lineno++;
	if (t->hdr < 3) {
		size_t k = strlen(keys[t->hdr]);

		if (n <= k || memcmp(s, keys[t->hdr], k) ||
		    number(s + k, n - k, &v) < 0)
			return bad(
			    t, err, errlen,
			    "not a uffdd trace header (docs/policies.md)");
		if (t->hdr == 0 && v != TRACE_VERSION)
			return bad(t, err, errlen,
				   "a trace version this uffdd does not read");
		if (t->hdr == 1 &&
		    (v < TRACE_PAGE_MIN || (v & (v - 1)) || v > UINT32_MAX))
			return bad(t, err, errlen,
				   "the page size is not a power of two of "
				   "4096 or more");
		if (t->hdr == 1)
			t->page_size = (uint32_t)v;
		if (t->hdr == 2)
			t->npages = v;
		return ++t->hdr == 3 ? TRACE_HEADER : TRACE_MORE;
	}
	if (number(s, n, idx) < 0)
		return bad(t, err, errlen, "not a page index");
	return TRACE_PAGE;
}

int trace_read(struct trace_reader *t, const char *buf, size_t len, size_t *pos,
	       uint64_t *idx, char *err, size_t errlen)
{
	while (*pos < len) {
		const char *s = buf + *pos;
		const char *nl = memchr(s, '\n', len - *pos);
		size_t n = nl ? (size_t)(nl - s) : len - *pos;
		int rc;

		if (t->npart + n >= sizeof(t->part)) {
			t->lineno++; /* the line the error is about */
			return bad(t, err, errlen, "a line too long");
		}
		if (!nl) { /* the rest comes with the next piece */
			memcpy(t->part + t->npart, s, n);
			t->npart += n;
			*pos = len;
			return TRACE_MORE;
		}
		*pos += n + 1;
		if (t->npart) {
			memcpy(t->part + t->npart, s, n);
			n += t->npart;
			s = t->part;
			t->npart = 0;
		}
		rc = line(t, s, n, idx, err, errlen);
		if (rc != TRACE_MORE)
			return rc;
	}
	return TRACE_MORE;
}

int trace_read_end(struct trace_reader *t, uint64_t *idx, char *err,
		   size_t errlen)
{
	int rc = TRACE_MORE;

	/* A writer stopped in the middle of its last line (a daemon killed
	 * while recording): a number is still a number. */
	if (t->npart) {
		size_t n = t->npart;

		t->npart = 0;
		rc = line(t, t->part, n, idx, err, errlen);
		if (rc == TRACE_HEADER)
			rc = TRACE_MORE;
	}
	if (rc >= 0 && t->hdr < 3)
		return bad(t, err, errlen, "the header is cut short");
	return rc;
}

static int add(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x)
{
	if (*n == *cap) {
		uint64_t c = *cap ? 2 * *cap : 1024;
		uint64_t *nv = realloc(*v, c * sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

int trace_parse(const char *buf, size_t len, uint64_t limit_bytes,
		uint32_t *page_size, uint64_t **idx, uint64_t *n, char *err,
		size_t errlen)
{
	struct trace_reader t;
	uint64_t *v = NULL, cnt = 0, cap = 0, x, limit_pages = 0;
	uint8_t *seen = NULL;
	size_t pos = 0;
	int rc;

	*idx = NULL;
	*n = 0;
	trace_reader_init(&t);
	for (;;) {
		rc = trace_read(&t, buf, len, &pos, &x, err, errlen);
		if (rc == TRACE_MORE)
			rc = trace_read_end(&t, &x, err, errlen);
		if (rc < 0 || rc == TRACE_MORE)
			break;
		if (rc == TRACE_HEADER) {
			/* No page at or past either bound is kept: the bits
			 * are as many as the smaller. */
			limit_pages = limit_bytes / t.page_size +
				      !!(limit_bytes % t.page_size);
			if (t.npages < limit_pages)
				limit_pages = t.npages;
			free(seen); /* one header a trace, but be sure */
			seen = calloc(limit_pages / 8 + 1, 1);
			if (!seen) {
				rc = -ENOMEM;
				break;
			}
			continue;
		}
		if (x >= limit_pages || (seen[x / 8] & (1u << (x % 8))))
			continue;
		seen[x / 8] |= (uint8_t)(1u << (x % 8));
		if ((rc = add(&v, &cnt, &cap, x)) < 0)
			break;
	}
	free(seen);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*page_size = t.page_size;
	*idx = v;
	*n = cnt;
	return 0;
}
