/* SPDX-License-Identifier: MIT */
/*
 * An image's working-set trace: the order in which a program first touched
 * its pages, recorded on one host and stored beside the image for every
 * host to prefetch in that order.  The text format of record:PATH
 * (docs/policies.md), so a trace can be read by either:
 *
 *     uffdd-trace 1
 *     page_size 4096
 *     pages 262144
 *     17
 *     ...
 */
#ifndef UFFDD_IMAGE_TRACE_H
#define UFFDD_IMAGE_TRACE_H

#include <stddef.h>
#include <stdint.h>

struct trace_rec {
	uint32_t page_size;
	uint64_t npages;
	uint8_t *seen; /* a bit per page */
	uint64_t *order;
	uint64_t n, cap;
};

/* A recorder for npages pages of page_size bytes.  0 or -ENOMEM. */
int trace_rec_init(struct trace_rec *t, uint64_t npages, uint32_t page_size);
void trace_rec_free(struct trace_rec *t);
/* Page idx was touched: 1 if for the first time, else 0. */
int trace_rec_touch(struct trace_rec *t, uint64_t idx);
/* The trace as text, malloc'ed.  0 or -ENOMEM. */
int trace_rec_encode(const struct trace_rec *t, char **buf, size_t *len);

/* Parse a trace into byte offsets in first-touch order (malloc'ed; those
 * at or beyond limit are dropped).  0 or -EBADMSG / -ENOMEM. */
int trace_parse(const char *buf, size_t len, uint64_t limit, uint64_t **offs,
		uint64_t *n);

#endif
