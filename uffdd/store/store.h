/* SPDX-License-Identifier: MIT */
/*
 * Image stores: where named, versioned images live (format.h).
 *
 *   file:DIR[,threads=N][,image_inflight=N]
 *   rados:POOL[,conf=PATH][,user=ID][,keyring=PATH][,timeout=S]
 *             [,inflight=N][,image_inflight=N]
 *
 * Reads are asynchronous and end on the caller's libevent loop: a
 * store_loop turns completions from the store's threads (librados'
 * callbacks, the file store's I/O threads) into callbacks on that loop,
 * through an eventfd.  No call below that takes a store_loop blocks;
 * every other call may block on the store and is for tools or for the
 * store's own metadata thread.
 *
 * Every byte read is checked against the header's CRC-32C before the
 * callback says it is there: a torn or corrupted object is an error
 * (-EBADMSG), never data.
 *
 * Reads in flight are bounded per host (per struct store: inflight=,
 * default 64 for rados, the I/O threads for file) and per image
 * (image_inflight=, default 32); the rest wait in a queue served round
 * robin between images.
 */
#ifndef UFFDD_STORE_H
#define UFFDD_STORE_H

#include "format.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct store_image;
struct store_loop;

/* 1 if this build has the rados: backend. */
int store_have_rados(void);

/* Open a store.  Blocks (rados: connects).  0 or -errno with err set. */
int store_open(const char *url, struct store **out, char *err, size_t errlen);
/* Every image closed, no request outstanding. */
void store_close(struct store *st);
const char *store_kind(const struct store *st); /* "file", "rados" */

struct store_stats {
	uint64_t reads;	      /* completed, successful */
	uint64_t read_bytes;  /* their bytes */
	uint64_t read_errors; /* store errors and timeouts */
	uint64_t bad_sums;    /* bytes that failed the checksum */
	uint32_t inflight;    /* now */
	uint32_t inflight_peak;
	uint32_t queued; /* now, waiting for a slot */
	uint32_t inflight_max;
	uint32_t image_inflight_max;
};
void store_get_stats(struct store *st, struct store_stats *s);

/* Completion delivery to one libevent loop.  Call both on its thread. */
struct store_loop *store_loop_new(struct event_base *base);
/* -EBUSY (and nothing freed) while requests of this loop are outstanding. */
int store_loop_free(struct store_loop *lp);

/* Anything else to run on the loop's thread, posted from any thread: the
 * loop calls p->deliver(p) once, in posting order.  Owned by the poster
 * until then. */
struct store_post {
	struct store_post *next;
	void (*deliver)(struct store_post *p);
};
void store_loop_post(struct store_loop *lp, struct store_post *p);
/* Deliver what is posted now, here (lp's loop no longer runs). */
void store_loop_drain(struct store_loop *lp);

/* Images ------------------------------------------------------------------ */

/* Open version (0: the latest) of name: reads its header.  Blocks.
 * -ENOENT if there is no such image or version. */
int store_image_open(struct store *st, const char *name, uint64_t version,
		     struct store_image **out, char *err, size_t errlen);
typedef void (*store_open_fn)(void *arg, int err, struct store_image *img,
			      const char *errmsg);
/* The same on the store's metadata thread, ending in cb on lp's loop. */
int store_image_open_async(struct store *st, struct store_loop *lp,
			   const char *name, uint64_t version, store_open_fn cb,
			   void *arg);
/* No read of img may be outstanding. */
void store_image_close(struct store_image *img);
const struct img_header *store_image_header(const struct store_image *img);
struct store *store_image_store(const struct store_image *img);

/*
 * Read len bytes at image offset off into buf, then call cb(arg, err) on
 * lp's loop: err 0, or -errno (-EBADMSG: checksum, -ETIMEDOUT, -EIO,
 * -ENOENT: a chunk is missing).  off is a multiple of IMG_BLOCK, the range
 * lies in one chunk and ends on a block boundary or at the image's end.
 * buf must stay valid until cb runs; cb runs exactly once.  Returns 0, or
 * -EINVAL (bad range: cb never runs).
 */
typedef void (*store_read_fn)(void *arg, int err);
int store_read(struct store_image *img, struct store_loop *lp, uint64_t off,
	       size_t len, void *buf, store_read_fn cb, void *arg);
/*
 * Read len bytes at off of another object of the image (obj: one of
 * format.h's names for it, e.g. its packed working set) into buf, through
 * the same queue and bounds as store_read, then cb on lp's loop.  The
 * bytes are NOT checked: the caller checks them.  -EIO: the object is
 * shorter than off + len; -ENOENT: there is none.
 */
int store_read_obj(struct store_image *img, struct store_loop *lp,
		   const char *obj, uint64_t off, size_t len, void *buf,
		   store_read_fn cb, void *arg);
/* The same, blocking, for tools.  Any range inside the image. */
int store_read_sync(struct store_image *img, uint64_t off, size_t len,
		    void *buf);

/* Read the whole image into dst (size bytes) with up to inflight reads
 * at a time (0: the store's per-image bound) on a private loop; every
 * byte checked.  Blocks: for tools and benchmarks. */
int store_read_all(struct store_image *img, void *dst, unsigned inflight);

/* Writing (the operator's tool; blocking) ---------------------------------- */

/*
 * Put the bytes of fd (a regular file, from its start) as name@version
 * (version 0: one more than the latest) with chunk_size (0: default).
 * -EEXIST if that version exists: versions are immutable.
 */
int store_put(struct store *st, const char *name, uint64_t version,
	      uint32_t chunk_size, int fd, uint64_t *version_out, char *err,
	      size_t errlen);
/* Remove a version (header first, then chunks and trace). */
int store_remove(struct store *st, const char *name, uint64_t version,
		 char *err, size_t errlen);
/* Every image version with a readable header, in no order.  each returns
 * non-zero to stop.  Blocks; lists the whole pool or directory. */
int store_list(struct store *st,
	       int (*each)(void *arg, const struct img_header *h), void *arg,
	       char *err, size_t errlen);
/* The latest version of name, 0 if there is none.  0 or -errno. */
int store_latest(struct store *st, const char *name, uint64_t *version);

/* The working-set trace of an image version: one small object, opaque
 * here (the image cache defines it).  get: malloc'ed *buf, -ENOENT if
 * none was recorded. */
int store_trace_put(struct store *st, const char *name, uint64_t version,
		    const void *buf, size_t len);
int store_trace_get(struct store *st, const char *name, uint64_t version,
		    void **buf, size_t *len);
typedef void (*store_trace_fn)(void *arg, int err, void *buf, size_t len);
/* On the metadata thread, ending on lp's loop.  get: cb owns buf.
 * put: the store copies buf; cb gets err only (buf NULL). */
int store_trace_get_async(struct store *st, struct store_loop *lp,
			  const char *name, uint64_t version, store_trace_fn cb,
			  void *arg);
/* Any object by its format.h name, blocking (tools, tests, the metadata
 * thread).  get: -EFBIG above max. */
int store_obj_get(struct store *st, const char *obj, size_t max, void **buf,
		  size_t *len);
int store_obj_put(struct store *st, const char *obj, const void *buf,
		  size_t len);
/* work(arg) on the store's metadata thread (it may block on the store),
 * then done(arg, what work returned) on lp's loop. */
int store_call_async(struct store *st, struct store_loop *lp,
		     int (*work)(void *arg), void (*done)(void *arg, int err),
		     void *arg);
int store_trace_put_async(struct store *st, struct store_loop *lp,
			  const char *name, uint64_t version, const void *buf,
			  size_t len, store_trace_fn cb, void *arg);

#endif
