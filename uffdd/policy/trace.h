/* SPDX-License-Identifier: MIT */
/*
 * The working-set trace: the order in which a program first touched the
 * pages of a region or an image.  One format (docs/policies.md), written by
 * record:FILE and by the image cache when a recording client's mapping
 * ends, read by prefetch:FILE and by the image cache of every host that
 * maps the image later:
 *
 *     uffdd-trace 1
 *     page_size 4096
 *     pages 262144
 *     17
 *     18
 *     ...
 *
 * Text, one item a line; each number after the header is a page index
 * (byte offset / page_size), in first-touch order.  This module writes and
 * reads it; nothing else parses a trace.
 */
#ifndef UFFDD_POLICY_TRACE_H
#define UFFDD_POLICY_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define TRACE_VERSION	 1
#define TRACE_LINE_MAX	 48   /* the longest line a reader takes */
#define TRACE_HEADER_MAX 96   /* bytes of the longest header */
#define TRACE_ENTRY_MAX	 22   /* bytes of the longest entry line */
#define TRACE_PAGE_MIN	 4096 /* no smaller page: bounds a reader's bitmap */

/* Writing ------------------------------------------------------------------ */

/* The header for npages pages of psz bytes into buf; its length. */
size_t trace_header(char *buf, size_t size, uint32_t psz, uint64_t npages);
/* One entry line; its length. */
size_t trace_entry(char *buf, size_t size, uint64_t idx);

/* A recording in memory: each page once, in the order first touched. */
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
/* The whole trace as text, malloc'ed.  0 or -ENOMEM. */
int trace_rec_encode(const struct trace_rec *t, char **buf, size_t *len);

/* Reading ------------------------------------------------------------------ */

/*
 * Incremental: the input comes in pieces of any size (a file read a window
 * at a time, or an object in one buffer).  A number is digits only (no
 * sign, no space), at most 20 of them; the header is exactly as above.
 */
struct trace_reader {
	unsigned hdr; /* header lines read (3: the header is done) */
	uint32_t page_size;
	uint64_t npages;
	uint64_t lineno;	   /* lines read, for errors */
	char part[TRACE_LINE_MAX]; /* a line cut by the end of a piece */
	size_t npart;
};

enum {
	TRACE_MORE = 0,	  /* the piece is used up: the next one, or the end */
	TRACE_PAGE = 1,	  /* *idx is the next page index */
	TRACE_HEADER = 2, /* the header is complete (page_size, npages) */
};

void trace_reader_init(struct trace_reader *t);
/* Read on from buf[*pos] (len bytes in all): TRACE_PAGE, TRACE_HEADER or
 * TRACE_MORE, or -EBADMSG for a line that is not a trace's (err set). */
int trace_read(struct trace_reader *t, const char *buf, size_t len, size_t *pos,
	       uint64_t *idx, char *err, size_t errlen);
/* The input ended: TRACE_PAGE for a last line without its newline,
 * TRACE_MORE (0) when all is read, -EBADMSG (err) for a header or a last
 * line cut short. */
int trace_read_end(struct trace_reader *t, uint64_t *idx, char *err,
		   size_t errlen);

/*
 * A whole trace in one buffer: its page size and the page indices whose
 * pages start below limit_bytes and lie below its header's page count, in
 * order, repeats dropped (malloc'ed into *idx, *n of them).  The bound is
 * in bytes because the trace's page size is only known from its header (a
 * trace recorded with 2 MiB pages read for 4 KiB ones, or the reverse).
 * 0, or -EBADMSG (err) / -ENOMEM.
 */
int trace_parse(const char *buf, size_t len, uint64_t limit_bytes,
		uint32_t *page_size, uint64_t **idx, uint64_t *n, char *err,
		size_t errlen);

#endif
