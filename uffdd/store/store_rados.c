/* SPDX-License-Identifier: MIT */
/*
 * rados:POOL — objects in a Ceph pool, through librados.
 *
 * Reads are rados_aio_read; librados calls back on its finisher thread,
 * which checks the bytes and posts them to the owning loop (store.c).  The
 * next queued read is started from that callback too: rados_aio_read only
 * queues the op, and the objecter's own throttles are raised above our
 * bounds so that it never waits there.  Every op has a timeout (timeout=,
 * default 30 s): a stopped OSD ends each read in -ETIMEDOUT instead of
 * holding a slot for ever.
 *
 * librados is loaded when a rados: store is first opened (dlopen), not
 * linked: the daemon and the tools then need it only on hosts that use
 * Ceph, and a host without it gets a message instead of a daemon that
 * does not start.
 */
#include "store_int.h"

#ifdef UFFDD_HAVE_RADOS

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <rados/librados.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RADOS_FUNCS(X)                                                         \
	X(aio_create_completion2)                                              \
	X(aio_get_return_value)                                                \
	X(aio_read)                                                            \
	X(aio_release)                                                         \
	X(conf_read_file)                                                      \
	X(conf_set)                                                            \
	X(connect)                                                             \
	X(create)                                                              \
	X(ioctx_create)                                                        \
	X(ioctx_destroy)                                                       \
	X(nobjects_list_close)                                                 \
	X(nobjects_list_next)                                                  \
	X(nobjects_list_open)                                                  \
	X(read)                                                                \
	X(remove)                                                              \
	X(shutdown)                                                            \
	X(stat)                                                                \
	X(write)                                                               \
	X(write_full)

/* librados' functions, with their own prototypes. */
static struct {
#define FIELD(f)                                                               \
	__typeof__(rados_##f) *f; /* NOLINT(bugprone-macro-parentheses) */
	RADOS_FUNCS(FIELD)
#undef FIELD
} L;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_err[256];

static void load(void)
{
	void *h = dlopen("librados.so.2", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(load_err, sizeof(load_err),
			 "cannot load librados (Debian: librados2): %s",
			 dlerror());
		return;
	}
#define SYM(f)                                                                 \
	if (!(L.f = (__typeof__(rados_##f) *)dlsym(h, "rados_" #f))) {         \
		snprintf(load_err, sizeof(load_err),                           \
			 "librados lacks rados_" #f);                          \
		return;                                                        \
	}
	RADOS_FUNCS(SYM)
#undef SYM
}

struct rstore {
	rados_t cluster;
	rados_ioctx_t io;
};

static struct rstore *R(struct store *st)
{
	return store_backend(st);
}

static int r_read(struct store *st, const char *obj, uint64_t off, size_t len,
		  void *buf)
{
	int n = L.read(R(st)->io, obj, buf, len, off);

	if (n < 0)
		return n;
	return (size_t)n == len ? 0 : -EIO;
}

static int r_get(struct store *st, const char *obj, size_t max, void **buf,
		 size_t *len)
{
	uint64_t size;
	time_t mtime;
	void *p;
	int rc = L.stat(R(st)->io, obj, &size, &mtime);

	if (rc < 0)
		return rc;
	if (size > max)
		return -EFBIG;
	p = malloc(size ? size : 1);
	if (!p)
		return -ENOMEM;
	rc = size ? r_read(st, obj, 0, size, p) : 0;
	if (rc) {
		free(p);
		return rc;
	}
	*buf = p;
	*len = size;
	return 0;
}

/* An OSD refuses one write above osd_max_write_size (90 MB by default):
 * a larger object (a packed working set) goes in pieces.  A reader of a
 * half-written one fails its checks, as for any torn object. */
#define RADOS_WRITE_MAX (32u << 20)

static int r_put(struct store *st, const char *obj, const void *buf, size_t len)
{
	const char *p = buf;
	size_t first = len < RADOS_WRITE_MAX ? len : RADOS_WRITE_MAX;
	int rc = L.write_full(R(st)->io, obj, p, first);

	for (size_t off = first; !rc && off < len; off += RADOS_WRITE_MAX) {
		size_t n =
		    len - off < RADOS_WRITE_MAX ? len - off : RADOS_WRITE_MAX;

		rc = L.write(R(st)->io, obj, p + off, n, off);
	}
	return rc;
}

static int r_remove(struct store *st, const char *obj)
{
	return L.remove(R(st)->io, obj);
}

static int r_list(struct store *st, int (*each)(void *arg, const char *obj),
		  void *arg)
{
	rados_list_ctx_t ctx;
	const char *entry;
	int rc = L.nobjects_list_open(R(st)->io, &ctx);

	if (rc < 0)
		return rc;
	while (!(rc = L.nobjects_list_next(ctx, &entry, NULL, NULL))) {
		rc = each(arg, entry);
		if (rc)
			break;
	}
	L.nobjects_list_close(ctx);
	return rc == -ENOENT ? 0 : rc;
}

static void on_complete(rados_completion_t c, void *arg)
{
	struct store_req *r = arg;
	int n = L.aio_get_return_value(c);

	L.aio_release(c);
	if (n >= 0 && (size_t)n != r->len)
		n = -EIO; /* a short chunk: the object is not the image's */
	store_req_done(r, n < 0 ? n : 0);
}

static int r_submit(struct store_req *r)
{
	struct rstore *rs = R(store_image_store(r->img));
	rados_completion_t c;
	int rc = L.aio_create_completion2(r, on_complete, &c);

	if (rc < 0)
		return rc;
	rc = L.aio_read(rs->io, r->obj, c, r->buf, r->len, r->obj_off);
	if (rc < 0) {
		L.aio_release(c);
		return rc;
	}
	return 0;
}

static int conf_set(rados_t c, const char *k, const char *v, char *err,
		    size_t errlen)
{
	int rc = L.conf_set(c, k, v);

	if (rc < 0)
		snprintf(err, errlen, "rados: %s = %s: %s", k, v,
			 strerror(-rc));
	return rc;
}

static int configure(rados_t c, const struct store_opts *o, char *err,
		     size_t errlen)
{
	char t[16];
	int rc = L.conf_read_file(c, o->conf[0] ? o->conf : NULL);

	if (rc < 0) {
		snprintf(err, errlen, "rados: conf %s: %s",
			 o->conf[0] ? o->conf : "(default search)",
			 strerror(-rc));
		return rc;
	}
	if (o->keyring[0] &&
	    (rc = conf_set(c, "keyring", o->keyring, err, errlen)))
		return rc;
	snprintf(t, sizeof(t), "%d", o->timeout);
	if ((rc = conf_set(c, "rados_osd_op_timeout", t, err, errlen)) ||
	    (rc = conf_set(c, "rados_mon_op_timeout", t, err, errlen)) ||
	    (rc = conf_set(c, "client_mount_timeout", t, err, errlen)))
		return rc;
	/* Our bounds (inflight= x 64 MiB at most) stay under these, so a
	 * submit from librados' callback thread never sleeps in them. */
	if ((rc = conf_set(c, "objecter_inflight_ops", "4096", err, errlen)) ||
	    (rc = conf_set(c, "objecter_inflight_op_bytes", "68719476736", err,
			   errlen)))
		return rc;
	return 0;
}

static int r_open(struct store *st, const struct store_opts *o, char *err,
		  size_t errlen)
{
	struct rstore *rs = calloc(1, sizeof(*rs));
	int rc;

	pthread_once(&load_once, load);
	if (load_err[0]) {
		snprintf(err, errlen, "rados: %s", load_err);
		free(rs);
		return -ELIBACC;
	}
	if (!rs)
		return -ENOMEM;
	rc = L.create(&rs->cluster, o->user[0] ? o->user : NULL);
	if (rc < 0) {
		snprintf(err, errlen, "rados: create: %s", strerror(-rc));
		free(rs);
		return rc;
	}
	rc = configure(rs->cluster, o, err, errlen);
	if (!rc) {
		rc = L.connect(rs->cluster);
		if (rc < 0)
			snprintf(err, errlen, "rados: connect: %s",
				 strerror(-rc));
	}
	if (!rc) {
		rc = L.ioctx_create(rs->cluster, o->loc, &rs->io);
		if (rc < 0)
			snprintf(err, errlen, "rados: pool %s: %s", o->loc,
				 strerror(-rc));
	}
	if (rc) {
		L.shutdown(rs->cluster);
		free(rs);
		return rc;
	}
	store_set_backend(st, rs);
	return 0;
}

static void r_close(struct store *st)
{
	struct rstore *rs = R(st);

	if (!rs)
		return;
	L.ioctx_destroy(rs->io);
	L.shutdown(rs->cluster);
	free(rs);
	store_set_backend(st, NULL);
}

const struct store_ops store_rados_ops = {
	.kind = "rados",
	.open = r_open,
	.close = r_close,
	.get = r_get,
	.read = r_read,
	.put = r_put,
	.remove = r_remove,
	.list = r_list,
	.submit = r_submit,
	.default_inflight = 64,
};

#else
/* Built without librados: store.c refuses rados: URLs and says why. */
typedef int store_rados_absent;
#endif
