/* SPDX-License-Identifier: MIT */
/* Between the generic store (store.c) and its backends. */
#ifndef UFFDD_STORE_INT_H
#define UFFDD_STORE_INT_H

#include "have_rados.h"
#include "store.h"

#include <limits.h>
#include <pthread.h>
#include <sys/queue.h>

struct store_opts {
	char loc[PATH_MAX]; /* DIR or POOL */
	char conf[PATH_MAX];
	char user[64];
	char keyring[PATH_MAX];
	int timeout;  /* seconds, rados ops */
	int threads;  /* file: I/O threads */
	int inflight; /* host-wide reads in flight, 0: backend default */
	int image_inflight;
};

/* A request of lp is outstanding until its callback: hold when it is made,
 * release in its deliver (both on lp's thread). */
void store_loop_hold(struct store_loop *lp);
void store_loop_release(struct store_loop *lp);

struct store_req {
	TAILQ_ENTRY(store_req) q;
	struct store_post done;
	struct store_image *img;
	struct store_loop *lp;
	char obj[IMG_OBJ_MAX];
	uint64_t off;	  /* in the image */
	uint64_t obj_off; /* in the chunk object */
	size_t len;
	void *buf;
	store_read_fn cb;
	void *arg;
	int err;
	int raw;  /* not the image's bytes: no check against its header */
	void *be; /* the backend's, for the request's life */
};

/*
 * Backends.  Every call but submit may block.  Object names come from
 * format.h (no '/', no leading '.').  get/read: -ENOENT for a missing
 * object; read: -EIO when the object is shorter than off + len.
 */
struct store_ops {
	const char *kind;
	int (*open)(struct store *st, const struct store_opts *o, char *err,
		    size_t errlen);
	void (*close)(struct store *st);
	int (*get)(struct store *st, const char *obj, size_t max, void **buf,
		   size_t *len);
	int (*read)(struct store *st, const char *obj, uint64_t off, size_t len,
		    void *buf);
	int (*put)(struct store *st, const char *obj, const void *buf,
		   size_t len);
	int (*remove)(struct store *st, const char *obj);
	int (*list)(struct store *st, int (*each)(void *arg, const char *obj),
		    void *arg);
	/* Start an asynchronous read of r; 0 and later store_req_done() from
	 * any thread, or -errno now (nothing started). */
	int (*submit)(struct store_req *r);
	int default_inflight; /* 0: the I/O threads decide (threads=) */
};

extern const struct store_ops store_file_ops;
#ifdef UFFDD_HAVE_RADOS
extern const struct store_ops store_rados_ops;
#endif

/* The backend's state, set by its open. */
void store_set_backend(struct store *st, void *be);
void *store_backend(const struct store *st);
/* A backend that decides its own bound (file: its threads). */
void store_set_inflight(struct store *st, int n);

/* From any thread: the read of r ended (err 0 or -errno). */
void store_req_done(struct store_req *r, int err);

/* len bytes at off of a file, all of them: 0, or -errno (-EIO: it shrank
 * under us). */
int store_pread_full(int fd, void *buf, size_t len, uint64_t off);

#endif
