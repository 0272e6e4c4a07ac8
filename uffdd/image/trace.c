/* SPDX-License-Identifier: MIT */
/* Working-set traces in memory: recording and parsing (trace.h). */
#include "trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int trace_rec_init(struct trace_rec *t, uint64_t npages, uint32_t page_size)
{
	memset(t, 0, sizeof(*t));
	t->seen = calloc((npages + 7) / 8, 1);
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
	size_t cap = 96 + 21 * (size_t)t->n, n;
	char *p = malloc(cap);

	if (!p)
		return -ENOMEM;
	n = (size_t)snprintf(p, cap,
			     "uffdd-trace 1\npage_size %u\npages %" PRIu64 "\n",
			     t->page_size, t->npages);
	for (uint64_t i = 0; i < t->n; i++)
		n += (size_t)snprintf(p + n, cap - n, "%" PRIu64 "\n",
				      t->order[i]);
	*buf = p;
	*len = n;
	return 0;
}

/* One line "prefix N\n" at *p; 0 or -1. */
static int header_line(const char **p, const char *end, const char *prefix,
		       uint64_t *v)
{
	size_t n = strlen(prefix);
	char *e;

	if ((size_t)(end - *p) <= n || memcmp(*p, prefix, n))
		return -1;
	*v = strtoull(*p + n, &e, 10);
	if (e == *p + n || e >= end || *e != '\n')
		return -1;
	*p = e + 1;
	return 0;
}

int trace_parse(const char *buf, size_t len, uint64_t limit, uint64_t **offs,
		uint64_t *n)
{
	const char *p = buf, *end = buf + len;
	uint64_t version, psz, npages, cap = 0;
	uint64_t *o = NULL;

	*offs = NULL;
	*n = 0;
	if (header_line(&p, end, "uffdd-trace ", &version) || version != 1 ||
	    header_line(&p, end, "page_size ", &psz) || !psz ||
	    (psz & (psz - 1)) || header_line(&p, end, "pages ", &npages))
		return -EBADMSG;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char num[24], *e;
		uint64_t idx;

		if (!nl || nl == p || (size_t)(nl - p) >= sizeof(num)) {
			free(o);
			return -EBADMSG;
		}
		memcpy(num, p, (size_t)(nl - p));
		num[nl - p] = 0;
		idx = strtoull(num, &e, 10);
		if (*e) {
			free(o);
			return -EBADMSG;
		}
		p = nl + 1;
		if (idx >= npages || idx > limit / psz || idx * psz >= limit)
			continue;
		if (*n == cap) {
			uint64_t *no;

			cap = cap ? 2 * cap : 1024;
			no = realloc(o, cap * sizeof(*o));
			if (!no) {
				free(o);
				return -ENOMEM;
			}
			o = no;
		}
		o[(*n)++] = idx * psz;
	}
	*offs = o;
	return 0;
}
