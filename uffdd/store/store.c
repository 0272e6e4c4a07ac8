/* SPDX-License-Identifier: MIT */
/*
 * The generic store: URLs, images, and the read path with its bounds.
 *
 * A read waits in its image's queue until both its image and the host have
 * a slot; images with waiting reads sit on a ring served round robin, so
 * one image's prefetch of thousands of chunks cannot keep another image's
 * fault waiting behind all of it.  Slots are taken under st->lock and the
 * backend is called outside it; a finished read frees its slots and starts
 * the next ones from whatever thread it finished on.
 */
#include "crc32c.h"
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_priv.h"

int store_have_rados(void)
{
#ifdef UFFDD_HAVE_RADOS
	return 1;
#else
	return 0;
#endif
}

static int opt_int(const char *v, int lo, int hi, int *out)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < lo || n > hi)
		return -EINVAL;
	*out = (int)n;
	return 0;
}

static int opt_str(char *dst, size_t size, const char *v)
{
	if (!*v || strlen(v) >= size)
		return -EINVAL;
	strcpy(dst, v);
	return 0;
}

static int parse_opt(struct store_opts *o, char *kv)
{
	char *v = strchr(kv, '=');

	if (!v)
		return -EINVAL;
	*v++ = 0;
	if (!strcmp(kv, "conf"))
		return opt_str(o->conf, sizeof(o->conf), v);
	if (!strcmp(kv, "user"))
		return opt_str(o->user, sizeof(o->user), v);
	if (!strcmp(kv, "keyring"))
		return opt_str(o->keyring, sizeof(o->keyring), v);
	if (!strcmp(kv, "timeout"))
		return opt_int(v, 1, 3600, &o->timeout);
	if (!strcmp(kv, "threads"))
		return opt_int(v, 1, 64, &o->threads);
	if (!strcmp(kv, "inflight"))
		return opt_int(v, 1, 1024, &o->inflight);
	if (!strcmp(kv, "image_inflight"))
		return opt_int(v, 1, 1024, &o->image_inflight);
	return -EINVAL;
}

/* "kind:loc,key=value,..." */
static int parse_url(const char *url, const struct store_ops **ops,
		     struct store_opts *o, char *err, size_t errlen)
{
	char buf[3 * PATH_MAX + 256], *save = NULL, *tok;
	const char *colon = strchr(url, ':');

	memset(o, 0, sizeof(*o));
	o->timeout = 30;
	o->threads = 4;
	o->image_inflight = 32;
	if (!colon || strlen(url) >= sizeof(buf)) {
		snprintf(err, errlen, "store \"%s\": not kind:location", url);
		return -EINVAL;
	}
	if (!strncmp(url, "file:", 5)) {
		*ops = &store_file_ops;
	} else if (!strncmp(url, "rados:", 6)) {
#ifdef UFFDD_HAVE_RADOS
		*ops = &store_rados_ops;
#else
		snprintf(err, errlen,
			 "store \"%s\": this build has no rados backend "
			 "(librados-dev was not installed when it was built)",
			 url);
		return -EPROTONOSUPPORT;
#endif
	} else {
		snprintf(err, errlen, "store \"%s\": unknown kind", url);
		return -EINVAL;
	}
	strcpy(buf, colon + 1);
	tok = strtok_r(buf, ",", &save);
	if (!tok || opt_str(o->loc, sizeof(o->loc), tok)) {
		snprintf(err, errlen, "store \"%s\": no location", url);
		return -EINVAL;
	}
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (parse_opt(o, tok)) {
			snprintf(err, errlen, "store \"%s\": bad option \"%s\"",
				 url, tok);
			return -EINVAL;
		}
	}
	return 0;
}

int store_open(const char *url, struct store **out, char *err, size_t errlen)
{
	struct store *st;
	struct store_opts o;
	const struct store_ops *ops;
	int rc = parse_url(url, &ops, &o, err, errlen);

	if (rc)
		return rc;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->ops = ops;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->meta_cv, NULL);
	TAILQ_INIT(&st->ring);
	TAILQ_INIT(&st->jobs);
	st->inflight_max = o.inflight ? o.inflight : ops->default_inflight;
	st->image_inflight_max = o.image_inflight;
	rc = ops->open(st, &o, err, errlen);
	if (rc) {
		pthread_cond_destroy(&st->meta_cv);
		pthread_mutex_destroy(&st->lock);
		free(st);
		return rc;
	}
	if (!st->inflight_max)
		st->inflight_max = 1;
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	store_meta_stop(st);
	st->ops->close(st);
	pthread_cond_destroy(&st->meta_cv);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

const char *store_kind(const struct store *st)
{
	return st->ops->kind;
}

void store_set_backend(struct store *st, void *be)
{
	st->be = be;
}

void *store_backend(const struct store *st)
{
	return st->be;
}

void store_set_inflight(struct store *st, int n)
{
	st->inflight_max = (uint32_t)n;
}

void store_get_stats(struct store *st, struct store_stats *s)
{
	pthread_mutex_lock(&st->lock);
	*s = st->stats;
	s->inflight = st->inflight;
	s->queued = st->queued;
	s->inflight_max = st->inflight_max;
	s->image_inflight_max = st->image_inflight_max;
	pthread_mutex_unlock(&st->lock);
}

/* Images ------------------------------------------------------------------ */

int store_image_open(struct store *st, const char *name, uint64_t version,
		     struct store_image **out, char *err, size_t errlen)
{
	char obj[IMG_OBJ_MAX];
	struct store_image *img;
	void *buf;
	size_t len;
	int rc;

	if (!img_name_valid(name)) {
		snprintf(err, errlen, "bad image name \"%s\"", name);
		return -EINVAL;
	}
	if (!version) {
		rc = store_latest(st, name, &version);
		if (!rc && !version)
			rc = -ENOENT;
		if (rc) {
			snprintf(err, errlen, "image %s: %s", name,
				 strerror(-rc));
			return rc;
		}
	}
	img_obj_header(obj, name, version);
	rc = st->ops->get(st, obj, IMG_HEADER_MAX, &buf, &len);
	if (rc) {
		snprintf(err, errlen, "image %s@%llu: %s", name,
			 (unsigned long long)version, strerror(-rc));
		return rc;
	}
	img = calloc(1, sizeof(*img));
	if (!img) {
		free(buf);
		return -ENOMEM;
	}
	rc = img_header_decode(buf, len, &img->h, err, errlen);
	free(buf);
	if (!rc && (strcmp(img->h.name, name) || img->h.version != version)) {
		snprintf(err, errlen, "image %s@%llu: its header names %s@%llu",
			 name, (unsigned long long)version, img->h.name,
			 (unsigned long long)img->h.version);
		rc = -EBADMSG;
	}
	if (rc) {
		img_header_free(&img->h);
		free(img);
		return rc;
	}
	img->st = st;
	TAILQ_INIT(&img->queue);
	*out = img;
	return 0;
}

void store_image_close(struct store_image *img)
{
	if (!img)
		return;
	img_header_free(&img->h);
	free(img);
}

const struct img_header *store_image_header(const struct store_image *img)
{
	return &img->h;
}

struct store *store_image_store(const struct store_image *img)
{
	return img->st;
}

/* Reads ------------------------------------------------------------------- */

static int range_ok(const struct img_header *h, uint64_t off, size_t len)
{
	uint64_t end = off + len;

	if (!len || off % IMG_BLOCK || off >= h->size || end > h->size ||
	    end < off)
		return 0;
	if (off / h->chunk_size != (end - 1) / h->chunk_size)
		return 0;
	return end == h->size || end % IMG_BLOCK == 0;
}

/* Every block of [off, off + len) against the header. */
static int verify(const struct img_header *h, uint64_t off, size_t len,
		  const void *buf)
{
	const unsigned char *p = buf;

	for (uint64_t b = off; b < off + len; b += IMG_BLOCK) {
		size_t n = b + IMG_BLOCK <= h->size ? IMG_BLOCK : h->size - b;

		if (crc32c(0, p + (b - off), n) != h->crc[b / IMG_BLOCK])
			return -EBADMSG;
	}
	return 0;
}

/* The next read that may start, with its slots taken; under st->lock. */
static struct store_req *pick(struct store *st)
{
	struct store_image *img;

	if (st->inflight >= st->inflight_max)
		return NULL;
	TAILQ_FOREACH (img, &st->ring, ring_link) {
		struct store_req *r;

		if (img->inflight >= st->image_inflight_max)
			continue;
		r = TAILQ_FIRST(&img->queue);
		TAILQ_REMOVE(&img->queue, r, q);
		TAILQ_REMOVE(&st->ring, img, ring_link);
		if (TAILQ_EMPTY(&img->queue))
			img->on_ring = 0;
		else
			TAILQ_INSERT_TAIL(&st->ring, img, ring_link);
		img->inflight++;
		st->inflight++;
		st->queued--;
		if (img->inflight > img->inflight_peak)
			img->inflight_peak = img->inflight;
		if (st->inflight > st->stats.inflight_peak)
			st->stats.inflight_peak = st->inflight;
		return r;
	}
	return NULL;
}

static void deliver(struct store_post *d)
{
	struct store_req *r =
	    (struct store_req *)((char *)d - offsetof(struct store_req, done));

	store_loop_release(r->lp);
	r->cb(r->arg, r->err);
	free(r);
}

/* Free r's slots and send it to its loop; from any thread. */
static void finish(struct store_req *r, int err)
{
	struct store *st = r->img->st;

	pthread_mutex_lock(&st->lock);
	r->img->inflight--;
	st->inflight--;
	if (err == -EBADMSG)
		st->stats.bad_sums++;
	else if (err)
		st->stats.read_errors++;
	else {
		st->stats.reads++;
		st->stats.read_bytes += r->len;
	}
	pthread_mutex_unlock(&st->lock);
	r->err = err;
	r->done.deliver = deliver;
	store_loop_post(r->lp, &r->done);
}

/* Start reads while slots are free.  A backend that fails a submit ends
 * that read here, in this loop, not by recursion. */
static void kick(struct store *st)
{
	for (;;) {
		struct store_req *r;
		int rc;

		pthread_mutex_lock(&st->lock);
		r = pick(st);
		pthread_mutex_unlock(&st->lock);
		if (!r)
			return;
		rc = st->ops->submit(r);
		if (rc)
			finish(r, rc);
	}
}

void store_req_done(struct store_req *r, int err)
{
	struct store *st = r->img->st;

	if (!err && !r->raw)
		err = verify(&r->img->h, r->off, r->len, r->buf);
	finish(r, err);
	kick(st);
}

static void enqueue(struct store_image *img, struct store_req *r)
{
	struct store *st = img->st;

	store_loop_hold(r->lp);
	pthread_mutex_lock(&st->lock);
	TAILQ_INSERT_TAIL(&img->queue, r, q);
	st->queued++;
	if (!img->on_ring) {
		img->on_ring = 1;
		TAILQ_INSERT_TAIL(&st->ring, img, ring_link);
	}
	pthread_mutex_unlock(&st->lock);
	kick(st);
}

/* A read request of len bytes at obj_off of an object, for cb on lp. */
static struct store_req *req_new(struct store_image *img, struct store_loop *lp,
				 uint64_t off, uint64_t obj_off, size_t len,
				 void *buf, store_read_fn cb, void *arg)
{
	struct store_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->img = img;
	r->lp = lp;
	r->off = off;
	r->obj_off = obj_off;
	r->len = len;
	r->buf = buf;
	r->cb = cb;
	r->arg = arg;
	return r;
}

int store_read(struct store_image *img, struct store_loop *lp, uint64_t off,
	       size_t len, void *buf, store_read_fn cb, void *arg)
{
	struct store_req *r;

	if (!range_ok(&img->h, off, len))
		return -EINVAL;
	r = req_new(img, lp, off, off % img->h.chunk_size, len, buf, cb, arg);
	if (!r)
		return -ENOMEM;
	img_obj_chunk(r->obj, img->h.name, img->h.version,
		      off / img->h.chunk_size);
	enqueue(img, r);
	return 0;
}

int store_read_obj(struct store_image *img, struct store_loop *lp,
		   const char *obj, uint64_t off, size_t len, void *buf,
		   store_read_fn cb, void *arg)
{
	struct store_req *r;

	if (!len || len > IMG_CHUNK_MAX || strlen(obj) >= IMG_OBJ_MAX)
		return -EINVAL;
	r = req_new(img, lp, off, off, len, buf, cb, arg);
	if (!r)
		return -ENOMEM;
	r->raw = 1;
	strcpy(r->obj, obj);
	enqueue(img, r);
	return 0;
}

int store_read_sync(struct store_image *img, uint64_t off, size_t len,
		    void *buf)
{
	const struct img_header *h = &img->h;
	struct store *st = img->st;
	unsigned char *p = buf;

	if (off > h->size || len > h->size - off)
		return -EINVAL;
	while (len) {
		/* Whole blocks around the wanted bytes, so that each can be
		 * checked; one chunk at a time. */
		uint64_t b0 = off / IMG_BLOCK * IMG_BLOCK;
		uint64_t cend = (off / h->chunk_size + 1) * h->chunk_size;
		uint64_t want_end = off + len < cend ? off + len : cend;
		uint64_t b1 =
		    (want_end + IMG_BLOCK - 1) / IMG_BLOCK * IMG_BLOCK;
		char obj[IMG_OBJ_MAX];
		unsigned char *tmp;
		int rc;

		if (b1 > h->size)
			b1 = h->size;
		tmp = malloc(b1 - b0);
		if (!tmp)
			return -ENOMEM;
		img_obj_chunk(obj, h->name, h->version, b0 / h->chunk_size);
		rc = st->ops->read(st, obj, b0 % h->chunk_size, b1 - b0, tmp);
		if (!rc)
			rc = verify(h, b0, b1 - b0, tmp);
		if (!rc)
			memcpy(p, tmp + (off - b0), want_end - off);
		free(tmp);
		if (rc)
			return rc;
		p += want_end - off;
		len -= want_end - off;
		off = want_end;
	}
	return 0;
}
