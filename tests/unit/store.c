/* SPDX-License-Identifier: MIT */
/*
 * The image store, against a real store: a file: directory by default
 * (make check), or $UFFD_TEST_STORE (make check-ceph: a real Ceph cluster
 * started by tests/ceph/cluster.sh, whose directory is $UFFD_CEPH_DIR).
 * Image names carry this process's pid: a cluster can be shared.
 */
#include "store/store.h"
#include "harness.h"
#include "store/crc32c.h"
#include "store/store_priv.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char url[4096];
static char file_dir[256]; /* the file: store's directory, or "" */
static int is_rados;
static struct event_base *base;
static struct store_loop *lp;

static void fill_random(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* A temporary file of n pattern bytes; returns its fd (read-only). */
static int temp_image(size_t n, unsigned seed, unsigned char **copy)
{
	char path[] = "/tmp/uffdd-img.XXXXXX";
	unsigned char *p = malloc(n);
	int fd = mkstemp(path);

	fill_random(p, n, seed);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		abort();
	unlink(path);
	if (copy)
		*copy = p;
	else
		free(p);
	return fd;
}

static void uname_(char *out, const char *what)
{
	snprintf(out, IMG_NAME_MAX + 1, "t%d-%s", (int)getpid(), what);
}

static struct store *open_url(const char *extra)
{
	char u[4200], err[512];
	struct store *st = NULL;
	int rc;

	snprintf(u, sizeof(u), "%s%s", url, extra ? extra : "");
	rc = store_open(u, &st, err, sizeof(err));
	CHECK(rc == 0, "store_open(%s): %s", u, err);
	return rc ? NULL : st;
}

static uint64_t put_image(struct store *st, const char *name, size_t size,
			  uint32_t chunk, unsigned seed, unsigned char **copy)
{
	char err[512];
	uint64_t v = 0;
	int fd = temp_image(size, seed, copy);
	int rc = store_put(st, name, 0, chunk, fd, &v, err, sizeof(err));

	close(fd);
	CHECK(rc == 0, "put %s: %s", name, err);
	return v;
}

/* Run the loop until *done or ms pass. */
static int run_until(const int *done, int ms)
{
	uint64_t end = t_now_ns() + (uint64_t)ms * 1000000ull;

	while (!*done && t_now_ns() < end) {
		struct timeval tv = { 0, 20000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return *done;
}

static void t_crc(void)
{
	unsigned char buf[4096 + 8];

	CHECK_EQ(crc32c(0, "123456789", 9), 0xe3069283u);
	CHECK_EQ(crc32c_sw(0, "123456789", 9), 0xe3069283u);
	fill_random(buf, sizeof(buf), 7);
	for (size_t a = 0; a < 8; a++)
		for (size_t n = 0; n < 200; n += 13)
			CHECK_EQ(crc32c(0, buf + a, n),
				 crc32c_sw(0, buf + a, n));
	CHECK_EQ(crc32c(crc32c(0, buf, 100), buf + 100, 900),
		 crc32c(0, buf, 1000));
}

static void t_format(void)
{
	struct img_header h = { .version = 3,
				.size = 200000,
				.chunk_size = 131072,
				.block_size = IMG_BLOCK,
				.nblocks = 4 };
	uint32_t crc[4] = { 1, 2, 3, 4 };
	char name[IMG_NAME_MAX + 1], err[128], obj[IMG_OBJ_MAX];
	struct img_header d;
	unsigned char *buf;
	size_t len;
	uint64_t v;
	int caught = 0;

	strcpy(h.name, "web.v2_x-1");
	h.crc = crc;
	CHECK_EQ(img_header_encode(&h, (void **)&buf, &len), 0);
	CHECK_EQ(img_header_decode(buf, len, &d, err, sizeof(err)), 0);
	CHECK(!strcmp(d.name, h.name) && d.version == 3 && d.size == 200000 &&
		  d.chunk_size == 131072 && d.nblocks == 4 && d.crc[3] == 4,
	      "decoded differs");
	img_header_free(&d);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x40;
		if (img_header_decode(buf, len, &d, err, sizeof(err)) ==
		    -EBADMSG)
			caught++;
		img_header_free(&d);
		buf[i] ^= 0x40;
	}
	CHECK_EQ(caught, len);
	CHECK_EQ(img_header_decode(buf, len - 1, &d, err, sizeof(err)),
		 -EBADMSG);
	free(buf);
	h.nblocks = 3; /* does not match the size */
	CHECK_EQ(img_header_encode(&h, (void **)&buf, &len), -EINVAL);

	CHECK(img_name_valid("a") && img_name_valid("Base-image.2_x"), "ok");
	CHECK(!img_name_valid("") && !img_name_valid(".x") &&
		  !img_name_valid("a/b") && !img_name_valid("a@1") &&
		  !img_name_valid("-x") && !img_name_valid("a b"),
	      "bad names accepted");
	CHECK_EQ(img_parse_ref("db@12", name, &v), 0);
	CHECK(!strcmp(name, "db") && v == 12, "ref %s %" PRIu64, name, v);
	CHECK_EQ(img_parse_ref("db", name, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(img_parse_ref("db@0", name, &v), -EINVAL);
	CHECK_EQ(img_parse_ref("db@", name, &v), -EINVAL);
	CHECK_EQ(img_parse_ref("db@1x", name, &v), -EINVAL);
	CHECK_EQ(img_parse_ref("../x@1", name, &v), -EINVAL);
	img_obj_header(obj, "db", 12);
	CHECK_EQ(img_obj_is_header(obj, name, &v), 0);
	CHECK(v == 12 && !strcmp(obj, "db@12.hdr"), "%s", obj);
	img_obj_chunk(obj, "db", 12, 0x1f);
	CHECK(!strcmp(obj, "db@12.0000001f"), "%s", obj);
	CHECK_EQ(img_obj_is_header(obj, name, &v), -EINVAL);
	CHECK_EQ(img_geometry_valid(1, 65536), 0);
	CHECK_EQ(img_geometry_valid(1, 65536 * 3), -EINVAL);
	CHECK_EQ(img_geometry_valid(1, 32768), -EINVAL);
	CHECK_EQ(img_geometry_valid(0, 65536), -EINVAL);
}

static void t_urls(void)
{
	char err[512] = "";
	struct store *st;

	CHECK_EQ(store_open("nfs:/x", &st, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "unknown kind"), "%s", err);
	CHECK_EQ(store_open("file:/nonexistent/uffdd", &st, err, sizeof(err)),
		 -ENOENT);
	CHECK(strstr(err, "/nonexistent/uffdd"), "%s", err);
	CHECK_EQ(store_open("file:/tmp,threads=0", &st, err, sizeof(err)),
		 -EINVAL);
	CHECK_EQ(store_open("file:/tmp,color=red", &st, err, sizeof(err)),
		 -EINVAL);
	CHECK(strstr(err, "color=red"), "%s", err);
	if (!store_have_rados()) {
		CHECK_EQ(store_open("rados:p", &st, err, sizeof(err)),
			 -EPROTONOSUPPORT);
		CHECK(strstr(err, "no rados backend"), "%s", err);
	} else {
		CHECK_EQ(store_open("rados:p,timeout=x", &st, err, sizeof(err)),
			 -EINVAL);
	}
}

static int count_versions(struct store *st, const char *name);

static void t_versions(void)
{
	char name[IMG_NAME_MAX + 1], err[512];
	struct store *st = open_url(NULL);
	struct store_image *img;
	uint64_t v;
	int fd;

	if (!st)
		goto out;
	uname_(name, "ver");
	CHECK_EQ(put_image(st, name, 100000, 65536, 1, NULL), 1);
	CHECK_EQ(put_image(st, name, 300000, 131072, 2, NULL), 2);
	fd = temp_image(1000, 3, NULL);
	CHECK_EQ(store_put(st, name, 2, 0, fd, &v, err, sizeof(err)), -EEXIST);
	CHECK(strstr(err, "immutable"), "%s", err);
	CHECK_EQ(store_put(st, name, 5, 0, fd, &v, err, sizeof(err)), 0);
	CHECK_EQ(v, 5);
	CHECK_EQ(store_put(st, name, 0, 65536 * 3, fd, &v, err, sizeof(err)),
		 -EINVAL);
	close(fd);
	CHECK_EQ(store_latest(st, name, &v), 0);
	CHECK_EQ(v, 5);
	CHECK_EQ(count_versions(st, name), 3);
	CHECK_EQ(store_image_open(st, name, 0, &img, err, sizeof(err)), 0);
	CHECK_EQ(store_image_header(img)->version, 5);
	CHECK_EQ(store_image_header(img)->size, 1000);
	store_image_close(img);
	CHECK_EQ(store_image_open(st, name, 2, &img, err, sizeof(err)), 0);
	CHECK_EQ(store_image_header(img)->size, 300000);
	CHECK_EQ(store_image_header(img)->chunk_size, 131072);
	store_image_close(img);
	CHECK_EQ(store_image_open(st, name, 4, &img, err, sizeof(err)),
		 -ENOENT);
	/* Removing the latest moves the pointer back. */
	CHECK_EQ(store_remove(st, name, 5, err, sizeof(err)), 0);
	CHECK_EQ(store_latest(st, name, &v), 0);
	CHECK_EQ(v, 2);
	CHECK_EQ(store_remove(st, name, 1, err, sizeof(err)), 0);
	CHECK_EQ(store_remove(st, name, 2, err, sizeof(err)), 0);
	CHECK_EQ(store_latest(st, name, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(count_versions(st, name), 0);
	CHECK_EQ(store_image_open(st, name, 0, &img, err, sizeof(err)),
		 -ENOENT);
	CHECK_EQ(store_remove(st, name, 2, err, sizeof(err)), -ENOENT);
out:
	store_close(st);
}

struct count_ctx {
	const char *name;
	int n;
};

static int count_one(void *arg, const struct img_header *h)
{
	struct count_ctx *c = arg;

	c->n += !strcmp(h->name, c->name);
	return 0;
}

static int count_versions(struct store *st, const char *name)
{
	struct count_ctx c = { name, 0 };
	char err[256];

	CHECK_EQ(store_list(st, count_one, &c, err, sizeof(err)), 0);
	return c.n;
}

/* Reads ------------------------------------------------------------------- */

struct rd {
	int done, err, order;
	pthread_t thread;
};
static int completions;

static void on_rd(void *arg, int err)
{
	struct rd *r = arg;

	r->done = 1;
	r->err = err;
	r->order = ++completions;
	r->thread = pthread_self();
}

static int all_done(struct rd *r, int n, int ms)
{
	uint64_t end = t_now_ns() + (uint64_t)ms * 1000000ull;
	int left;

	do {
		int any = 0;

		left = 0;
		for (int i = 0; i < n; i++)
			left += !r[i].done;
		if (!left)
			break;
		run_until(&any, 20);
	} while (t_now_ns() < end);
	return left == 0;
}

static void t_reads(void)
{
	char name[IMG_NAME_MAX + 1], err[512];
	struct store *st = open_url(NULL);
	struct store_image *img = NULL;
	struct store_stats s0, s1;
	const size_t size = 1300000; /* 19 full blocks and a short one */
	unsigned char *copy, *dst = malloc(size);
	uint32_t nb = (size + IMG_BLOCK - 1) / IMG_BLOCK;
	struct rd *r = calloc(nb, sizeof(*r));
	uint32_t order[64];
	int same = 1, on_loop = 1;

	if (!st)
		goto out;
	uname_(name, "rd");
	put_image(st, name, size, 262144, 11, &copy);
	CHECK_EQ(store_image_open(st, name, 0, &img, err, sizeof(err)), 0);
	if (!img)
		goto out;
	CHECK_EQ(store_image_header(img)->nblocks, nb);
	for (uint32_t i = 0; i < nb; i++)
		order[i] = (i * 7) % nb; /* nb = 20: 7 is coprime */
	store_get_stats(st, &s0);
	for (uint32_t k = 0; k < nb; k++) {
		uint64_t off = (uint64_t)order[k] * IMG_BLOCK;
		size_t len = off + IMG_BLOCK <= size ? IMG_BLOCK : size - off;

		CHECK_EQ(store_read(img, lp, off, len, dst + off, on_rd,
				    &r[order[k]]),
			 0);
	}
	CHECK(all_done(r, (int)nb, 10000), "reads did not end");
	for (uint32_t i = 0; i < nb; i++) {
		CHECK_EQ(r[i].err, 0);
		on_loop &= pthread_equal(r[i].thread, pthread_self());
	}
	CHECK(on_loop, "a callback ran off the loop's thread");
	same = !memcmp(dst, copy, size);
	CHECK(same, "bytes differ");
	store_get_stats(st, &s1);
	CHECK_EQ(s1.reads - s0.reads, nb);
	CHECK_EQ(s1.read_bytes - s0.read_bytes, size);
	CHECK_EQ(s1.read_errors + s1.bad_sums, 0);
	CHECK_EQ(s1.inflight + s1.queued, 0);
	/* A whole chunk at once, and the blocking read across chunks. */
	memset(dst, 0, size);
	memset(r, 0, sizeof(*r));
	CHECK_EQ(store_read(img, lp, 262144, 262144, dst, on_rd, r), 0);
	CHECK(all_done(r, 1, 10000) && r->err == 0, "chunk read %d", r->err);
	CHECK(!memcmp(dst, copy + 262144, 262144), "chunk bytes differ");
	CHECK_EQ(store_read_sync(img, 1000, 700000, dst), 0);
	CHECK(!memcmp(dst, copy + 1000, 700000), "sync bytes differ");
	CHECK_EQ(store_read_sync(img, size - 5, 5, dst), 0);
	CHECK(!memcmp(dst, copy + size - 5, 5), "tail bytes differ");
	/* Ranges the contract refuses, without a callback. */
	CHECK_EQ(store_read(img, lp, 100, IMG_BLOCK, dst, on_rd, r), -EINVAL);
	CHECK_EQ(store_read(img, lp, 196608, 131072, dst, on_rd, r), -EINVAL);
	CHECK_EQ(store_read(img, lp, 0, 1000, dst, on_rd, r), -EINVAL);
	CHECK_EQ(store_read(img, lp, size - 20, 20, dst, on_rd, r), -EINVAL);
	CHECK_EQ(store_read(img, lp, 0, 0, dst, on_rd, r), -EINVAL);
	CHECK_EQ(store_read_sync(img, size - 5, 6, dst), -EINVAL);
	CHECK_EQ(store_remove(st, name, 1, err, sizeof(err)), 0);
out:
	store_image_close(img);
	store_close(st);
	free(r);
	free(dst);
	free(copy);
}

static void t_bounds(void)
{
	char a[IMG_NAME_MAX + 1], b[IMG_NAME_MAX + 1], err[512];
	struct store *st = open_url(",inflight=3,image_inflight=2");
	struct store_image *ia = NULL, *ib = NULL;
	enum { N = 40 };
	struct rd *ra = calloc(N, sizeof(*ra)), *rb = calloc(N, sizeof(*rb));
	unsigned char *dst = malloc(2 * N * IMG_BLOCK);
	struct store_stats s;

	if (!st)
		goto out;
	uname_(a, "bnda");
	uname_(b, "bndb");
	put_image(st, a, N * IMG_BLOCK, 65536, 21, NULL);
	put_image(st, b, N * IMG_BLOCK, 65536, 22, NULL);
	CHECK_EQ(store_image_open(st, a, 0, &ia, err, sizeof(err)), 0);
	CHECK_EQ(store_image_open(st, b, 0, &ib, err, sizeof(err)), 0);
	if (!ia || !ib)
		goto out;
	for (int i = 0; i < N; i++) {
		store_read(ia, lp, (uint64_t)i * IMG_BLOCK, IMG_BLOCK,
			   dst + (size_t)i * IMG_BLOCK, on_rd, &ra[i]);
		store_read(ib, lp, (uint64_t)i * IMG_BLOCK, IMG_BLOCK,
			   dst + (size_t)(N + i) * IMG_BLOCK, on_rd, &rb[i]);
	}
	store_get_stats(st, &s);
	CHECK(s.inflight <= 3 && s.inflight + s.queued <= 2 * N, "%u %u",
	      s.inflight, s.queued);
	CHECK(all_done(ra, N, 20000) && all_done(rb, N, 20000), "not done");
	store_get_stats(st, &s);
	CHECK(s.inflight_peak >= 1 && s.inflight_peak <= 3, "host peak %u",
	      s.inflight_peak);
	CHECK(ia->inflight_peak >= 1 && ia->inflight_peak <= 2, "a peak %u",
	      ia->inflight_peak);
	CHECK(ib->inflight_peak >= 1 && ib->inflight_peak <= 2, "b peak %u",
	      ib->inflight_peak);
	CHECK_EQ(s.inflight + s.queued, 0);
	store_image_close(ia);
	store_image_close(ib);
	ia = ib = NULL;
	store_close(st);

	/* One slot: a later image's read waits behind at most one more of
	 * the busy image's, not behind all 40. */
	st = open_url(",inflight=1,image_inflight=1");
	if (!st)
		goto out;
	CHECK_EQ(store_image_open(st, a, 0, &ia, err, sizeof(err)), 0);
	CHECK_EQ(store_image_open(st, b, 0, &ib, err, sizeof(err)), 0);
	if (!ia || !ib)
		goto out;
	memset(ra, 0, N * sizeof(*ra));
	memset(rb, 0, sizeof(*rb));
	completions = 0;
	/* The host's slot closed while a's 40 are queued: otherwise the I/O
	 * threads finish some of them before b's read is even asked for
	 * (seen under a sanitizer on a loaded machine). */
	store_set_inflight(st, 0);
	for (int i = 0; i < N; i++)
		store_read(ia, lp, (uint64_t)i * IMG_BLOCK, IMG_BLOCK,
			   dst + (size_t)i * IMG_BLOCK, on_rd, &ra[i]);
	store_set_inflight(st, 1);
	/* This read starts the queue: a's first, then b's (round robin). */
	store_read(ib, lp, 0, IMG_BLOCK, dst + N * IMG_BLOCK, on_rd, rb);
	CHECK(all_done(ra, N, 20000) && all_done(rb, 1, 20000), "not done");
	CHECK(rb->order <= 2, "b's read finished %dth of %d", rb->order, N + 1);
	store_get_stats(st, &s);
	CHECK_EQ(s.inflight_peak, 1);
out:
	store_image_close(ia);
	store_image_close(ib);
	if (st) {
		store_remove(st, a, 1, err, sizeof(err));
		store_remove(st, b, 1, err, sizeof(err));
	}
	store_close(st);
	free(ra);
	free(rb);
	free(dst);
}

/* Overwrite a chunk object behind the store's back. */
static int poke_chunk(struct store *st, const char *name, uint64_t idx,
		      const void *buf, size_t len)
{
	char obj[IMG_OBJ_MAX];

	img_obj_chunk(obj, name, 1, idx);
	return st->ops->put(st, obj, buf, len);
}

static void t_corrupt(void)
{
	char name[IMG_NAME_MAX + 1], err[512], obj[IMG_OBJ_MAX];
	struct store *st = open_url(NULL);
	struct store_image *img = NULL;
	unsigned char *copy = NULL, *dst = malloc(4 * 131072);
	struct store_stats s0, s1;
	struct rd r[4] = { 0 };

	if (!st)
		goto out;
	uname_(name, "bad");
	put_image(st, name, 4 * 131072, 131072, 31, &copy);
	CHECK_EQ(store_image_open(st, name, 0, &img, err, sizeof(err)), 0);
	if (!img)
		goto out;
	store_get_stats(st, &s0);
	/* One bit of chunk 1's second block. */
	copy[131072 + 65536 + 100] ^= 1;
	CHECK_EQ(poke_chunk(st, name, 1, copy + 131072, 131072), 0);
	CHECK_EQ(store_read(img, lp, 131072 + 65536, 65536, dst, on_rd, &r[0]),
		 0);
	CHECK_EQ(store_read(img, lp, 131072, 65536, dst + 65536, on_rd, &r[1]),
		 0);
	/* Chunk 2 short, chunk 3 gone. */
	CHECK_EQ(poke_chunk(st, name, 2, copy + 2 * 131072, 1000), 0);
	img_obj_chunk(obj, name, 1, 3);
	CHECK_EQ(st->ops->remove(st, obj), 0);
	CHECK_EQ(store_read(img, lp, 2 * 131072, 131072, dst, on_rd, &r[2]), 0);
	CHECK_EQ(store_read(img, lp, 3 * 131072, 65536, dst, on_rd, &r[3]), 0);
	CHECK(all_done(r, 4, 10000), "not done");
	CHECK_EQ(r[0].err, -EBADMSG);
	CHECK_EQ(r[1].err, 0); /* the good block beside it */
	CHECK(!memcmp(dst + 65536, copy + 131072, 65536), "good block");
	CHECK_EQ(r[2].err, -EIO);
	CHECK_EQ(r[3].err, -ENOENT);
	store_get_stats(st, &s1);
	CHECK_EQ(s1.bad_sums - s0.bad_sums, 1);
	CHECK_EQ(s1.read_errors - s0.read_errors, 2);
	CHECK_EQ(s1.reads - s0.reads, 1);
	CHECK_EQ(store_read_sync(img, 131072, 200000, dst), -EBADMSG);
	CHECK_EQ(store_read_sync(img, 0, 131072, dst), 0);
	CHECK_EQ(store_read_all(img, dst, 1), -EBADMSG); /* chunk 1 first */
	/* A changed header is refused whole. */
	img_obj_header(obj, name, 1);
	CHECK_EQ(st->ops->put(st, obj, "UFFDIMG1xxxxxxxxxxxxxxxx", 24), 0);
	store_image_close(img);
	img = NULL;
	CHECK_EQ(store_image_open(st, name, 1, &img, err, sizeof(err)),
		 -EBADMSG);
	CHECK(strstr(err, "bad image header"), "%s", err);
	img_obj_latest(obj, name);
	st->ops->remove(st, obj);
	img_obj_header(obj, name, 1);
	st->ops->remove(st, obj);
	for (int i = 0; i < 3; i++) {
		img_obj_chunk(obj, name, 1, (uint64_t)i);
		st->ops->remove(st, obj);
	}
out:
	store_image_close(img);
	store_close(st);
	free(copy);
	free(dst);
}

struct tr {
	int done, err;
	void *buf;
	size_t len;
	struct store_image *img;
};

static void on_trace(void *arg, int err, void *buf, size_t len)
{
	struct tr *t = arg;

	t->done = 1;
	t->err = err;
	t->buf = buf;
	t->len = len;
}

static void on_open(void *arg, int err, struct store_image *img,
		    const char *msg)
{
	struct tr *t = arg;

	(void)msg;
	t->done = 1;
	t->err = err;
	t->img = img;
}

static void t_meta(void)
{
	char name[IMG_NAME_MAX + 1], err[512];
	struct store *st = open_url(NULL);
	unsigned char trace[5000];
	struct tr t = { 0 };
	void *buf = NULL;
	size_t len = 0;

	if (!st)
		goto out;
	uname_(name, "meta");
	put_image(st, name, 70000, 65536, 41, NULL);
	put_image(st, name, 80000, 65536, 42, NULL);
	CHECK_EQ(store_image_open_async(st, lp, name, 0, on_open, &t), 0);
	CHECK(run_until(&t.done, 10000), "open did not end");
	CHECK_EQ(t.err, 0);
	if (t.img)
		CHECK_EQ(store_image_header(t.img)->size, 80000);
	store_image_close(t.img);
	memset(&t, 0, sizeof(t));
	CHECK_EQ(store_image_open_async(st, lp, name, 1, on_open, &t), 0);
	CHECK(run_until(&t.done, 10000) && t.err == 0, "open v1 %d", t.err);
	if (t.img)
		CHECK_EQ(store_image_header(t.img)->size, 70000);
	store_image_close(t.img);
	memset(&t, 0, sizeof(t));
	CHECK_EQ(store_image_open_async(st, lp, name, 9, on_open, &t), 0);
	CHECK(run_until(&t.done, 10000), "open v9 did not end");
	CHECK_EQ(t.err, -ENOENT);
	CHECK(t.img == NULL, "an image for a missing version");
	CHECK_EQ(store_image_open_async(st, lp, "../etc", 0, on_open, &t),
		 -EINVAL);

	CHECK_EQ(store_trace_get(st, name, 2, &buf, &len), -ENOENT);
	fill_random(trace, sizeof(trace), 5);
	CHECK_EQ(store_trace_put(st, name, 2, trace, sizeof(trace)), 0);
	CHECK_EQ(store_trace_get(st, name, 2, &buf, &len), 0);
	CHECK(len == sizeof(trace) && !memcmp(buf, trace, len), "trace");
	free(buf);
	memset(&t, 0, sizeof(t));
	trace[0] ^= 0xff;
	CHECK_EQ(store_trace_put_async(st, lp, name, 1, trace, sizeof(trace),
				       on_trace, &t),
		 0);
	trace[0] ^= 0xff; /* the store copied it */
	CHECK(run_until(&t.done, 10000) && t.err == 0, "put %d", t.err);
	memset(&t, 0, sizeof(t));
	CHECK_EQ(store_trace_get_async(st, lp, name, 1, on_trace, &t), 0);
	CHECK(run_until(&t.done, 10000) && t.err == 0, "get %d", t.err);
	CHECK(t.len == sizeof(trace) && t.buf &&
		  ((unsigned char *)t.buf)[0] == (trace[0] ^ 0xff) &&
		  !memcmp((char *)t.buf + 1, trace + 1, t.len - 1),
	      "async trace");
	free(t.buf);
	CHECK_EQ(store_remove(st, name, 1, err, sizeof(err)), 0);
	CHECK_EQ(store_remove(st, name, 2, err, sizeof(err)), 0);
	CHECK_EQ(store_trace_get(st, name, 2, &buf, &len), -ENOENT);
out:
	store_close(st);
}

/* file: only.  Objects that are not plain files never block a reader. */
static void t_file_traps(void)
{
	char name[IMG_NAME_MAX + 1], err[512], obj[IMG_OBJ_MAX], p[600];
	struct store *st;
	struct store_image *img = NULL;
	unsigned char *dst = malloc(131072);
	struct rd r[2] = { 0 };

	if (!file_dir[0]) {
		t_skip("not a file: store");
		free(dst);
		return;
	}
	st = open_url(NULL);
	if (!st)
		goto out;
	uname_(name, "trap");
	put_image(st, name, 2 * 65536, 65536, 51, NULL);
	CHECK_EQ(store_image_open(st, name, 0, &img, err, sizeof(err)), 0);
	img_obj_chunk(obj, name, 1, 0);
	snprintf(p, sizeof(p), "%s/%s", file_dir, obj);
	unlink(p);
	CHECK_EQ(mkfifo(p, 0644), 0);
	img_obj_chunk(obj, name, 1, 1);
	snprintf(p, sizeof(p), "%s/%s", file_dir, obj);
	unlink(p);
	CHECK_EQ(symlink("/etc/passwd", p), 0);
	if (img) {
		CHECK_EQ(store_read(img, lp, 0, 65536, dst, on_rd, &r[0]), 0);
		CHECK_EQ(store_read(img, lp, 65536, 65536, dst, on_rd, &r[1]),
			 0);
		CHECK(all_done(r, 2, 5000), "a read blocked");
		CHECK_EQ(r[0].err, -EINVAL);
		CHECK_EQ(r[1].err, -ELOOP);
	}
	CHECK_EQ(store_remove(st, name, 1, err, sizeof(err)), 0);
out:
	store_image_close(img);
	store_close(st);
	free(dst);
}

static int run_tool(const char *out, const char *a1, const char *a2,
		    const char *a3, const char *a4)
{
	const char *argv[] = {
		t_bin("uffd-image"), "--store", url, a1, a2, a3, a4, NULL
	};

	return t_run(out, argv);
}

static int file_has(const char *path, const char *needle)
{
	char buf[4096] = "";
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return strstr(buf, needle) != NULL;
}

static void t_tool(void)
{
	char name[IMG_NAME_MAX + 1], src[] = "/tmp/uffdd-tool.XXXXXX";
	char out[64], got[80], ref[IMG_NAME_MAX + 8];
	unsigned char *copy, *back = malloc(300000);
	int fd, tfd;

	uname_(name, "tool");
	snprintf(out, sizeof(out), "/tmp/uffdd-tool-out.%d", (int)getpid());
	snprintf(got, sizeof(got), "/tmp/uffdd-tool-got.%d", (int)getpid());
	fd = temp_image(300000, 61, &copy);
	tfd = mkstemp(src);
	CHECK(tfd >= 0 && write(tfd, copy, 300000) == 300000, "temp");
	close(tfd);
	close(fd);
	CHECK_EQ(run_tool(out, "put", name, src, "--chunk=128K"), 0);
	snprintf(ref, sizeof(ref), "%s@1", name);
	CHECK(file_has(out, ref), "put said something else");
	CHECK_EQ(run_tool(out, "put", name, src, "--version=1"), 1);
	CHECK_EQ(run_tool(out, "ls", name, NULL, NULL), 0);
	CHECK(file_has(out, "size 300000\tchunk 131072\tchunks 3"), "ls");
	{
		const char *argv[] = { t_bin("uffd-image"),
				       "--store",
				       url,
				       "--json",
				       "stat",
				       ref,
				       NULL };

		CHECK_EQ(t_run(out, argv), 0);
		CHECK(file_has(out, "\"size\":300000,\"chunk_size\":131072"),
		      "stat --json");
	}
	CHECK_EQ(run_tool(out, "get", name, got, NULL), 0);
	fd = open(got, O_RDONLY);
	CHECK(fd >= 0 && read(fd, back, 300000) == 300000 &&
		  !memcmp(back, copy, 300000),
	      "get: bytes differ");
	if (fd >= 0)
		close(fd);
	CHECK_EQ(run_tool(out, "verify", ref, NULL, NULL), 0);
	CHECK_EQ(run_tool(out, "rm", name, NULL, NULL), 0);
	CHECK_EQ(run_tool(out, "stat", name, NULL, NULL), 1);
	CHECK_EQ(run_tool(out, "rm", name, NULL, NULL), 1);
	unlink(src);
	unlink(out);
	unlink(got);
	free(copy);
	free(back);
}

/* rados only: what the OSD itself counts, and a stopped OSD. */
static int osd_reads(uint64_t *ops, uint64_t *bytes)
{
	char cmd[512];
	FILE *f;
	unsigned long long o = 0, b = 0;
	int n;

	snprintf(cmd, sizeof(cmd), "sh tests/ceph/cluster.sh reads %s",
		 getenv("UFFD_CEPH_DIR"));
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fscanf(f, "%llu %llu", &o, &b);
	pclose(f);
	*ops = o;
	*bytes = b;
	return n == 2 ? 0 : -1;
}

static void t_osd_counters(void)
{
	char name[IMG_NAME_MAX + 1], err[512];
	struct store *st;
	struct store_image *img = NULL;
	const size_t size = 40u << 20;
	unsigned char *copy = NULL, *dst = malloc(size);
	uint64_t o0, b0, o1, b1;

	if (!is_rados || !getenv("UFFD_CEPH_DIR")) {
		t_skip("not a rados: store of tests/ceph/cluster.sh");
		free(dst);
		return;
	}
	st = open_url(NULL);
	if (!st)
		goto out;
	uname_(name, "osd");
	put_image(st, name, size, 0, 71, &copy);
	CHECK_EQ(store_image_open(st, name, 0, &img, err, sizeof(err)), 0);
	if (!img)
		goto out;
	CHECK_EQ(osd_reads(&o0, &b0), 0);
	CHECK_EQ(store_read_all(img, dst, 8), 0);
	CHECK_EQ(osd_reads(&o1, &b1), 0);
	CHECK(!memcmp(dst, copy, size), "bytes differ");
	CHECK_EQ(b1 - b0, size);
	CHECK_EQ(o1 - o0, size / IMG_CHUNK_DEFAULT);
	CHECK_EQ(store_remove(st, name, 1, err, sizeof(err)), 0);
out:
	store_image_close(img);
	store_close(st);
	free(copy);
	free(dst);
}

static void osd_signal(const char *what)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "sh tests/ceph/cluster.sh %s %s", what,
		 getenv("UFFD_CEPH_DIR"));
	CHECK_EQ(system(cmd), 0);
}

static void t_osd_stopped(void)
{
	char name[IMG_NAME_MAX + 1], err[512];
	struct store *st = NULL;
	struct store_image *img = NULL;
	unsigned char *dst = malloc(65536);
	struct rd r = { 0 };
	uint64_t t0, ms;

	if (!is_rados || !getenv("UFFD_CEPH_DIR")) {
		t_skip("not a rados: store of tests/ceph/cluster.sh");
		free(dst);
		return;
	}
	st = open_url(",timeout=3");
	if (!st)
		goto out;
	uname_(name, "stop");
	put_image(st, name, 65536, 65536, 81, NULL);
	CHECK_EQ(store_image_open(st, name, 0, &img, err, sizeof(err)), 0);
	if (!img)
		goto out;
	osd_signal("osd-stop");
	t0 = t_now_ns();
	CHECK_EQ(store_read(img, lp, 0, 65536, dst, on_rd, &r), 0);
	all_done(&r, 1, 20000);
	ms = (t_now_ns() - t0) / 1000000;
	osd_signal("osd-cont");
	CHECK(r.done, "no end after 20 s");
	CHECK_EQ(r.err, -ETIMEDOUT);
	CHECK(ms >= 2900 && ms < 10000, "ended after %" PRIu64 " ms", ms);
	/* And the store works again once the OSD is back. */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(store_read(img, lp, 0, 65536, dst, on_rd, &r), 0);
	CHECK(all_done(&r, 1, 30000) && r.err == 0, "after: %d", r.err);
	CHECK_EQ(store_remove(st, name, 1, err, sizeof(err)), 0);
out:
	store_image_close(img);
	store_close(st);
	free(dst);
}

static int setup(void)
{
	const char *u = getenv("UFFD_TEST_STORE");

	if (u && *u) {
		snprintf(url, sizeof(url), "%s", u);
	} else {
		snprintf(file_dir, sizeof(file_dir),
			 "/tmp/uffdd-store-test.XXXXXX");
		if (!mkdtemp(file_dir))
			return -1;
		snprintf(url, sizeof(url), "file:%s", file_dir);
	}
	is_rados = !strncmp(url, "rados:", 6);
	t_note("store %s", url);
	if (is_rados && !store_have_rados()) {
		t_note("built without librados: cannot test %s", url);
		return -1;
	}
	base = event_base_new();
	lp = store_loop_new(base);
	return base && lp ? 0 : -1;
}

static void teardown(void)
{
	CHECK_EQ(store_loop_free(lp), 0);
	event_base_free(base);
	if (file_dir[0]) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", file_dir);
		CHECK_EQ(system(cmd), 0);
	}
}

static const struct t_case cases[] = {
	{ .name = "crc32c",
	  .title = "known vector; the instruction equals the table at every "
		   "alignment",
	  .run = t_crc },
	{ .name = "format",
	  .title = "header round trip; any changed byte is refused",
	  .run = t_format },
	{ .name = "urls",
	  .title = "bad URLs refused with a reason; rados: says if built",
	  .run = t_urls },
	{ .name = "versions",
	  .title = "put: versions, latest, immutable, remove, list",
	  .run = t_versions },
	{ .name = "reads",
	  .title = "async reads: every block, any order, checked, on the loop",
	  .run = t_reads },
	{ .name = "bounds",
	  .title = "reads in flight bounded per host and image, round robin",
	  .run = t_bounds },
	{ .name = "corrupt",
	  .title = "a changed, short or missing chunk is an error, never data",
	  .run = t_corrupt },
	{ .name = "meta",
	  .title = "metadata: async open, traces (sync and async)",
	  .run = t_meta },
	{ .name = "file-traps",
	  .title = "file: a FIFO or a symlink as a chunk is an error, at once",
	  .run = t_file_traps },
	{ .name = "tool",
	  .title = "uffd-image: put, ls, stat, get, verify, rm",
	  .run = t_tool },
	{ .name = "osd-counters",
	  .title = "rados: the OSD served each chunk exactly once",
	  .run = t_osd_counters },
	{ .name = "osd-stopped",
	  .title = "rados: a stopped OSD ends a read in -ETIMEDOUT at timeout=",
	  .run = t_osd_stopped },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "store", T_CASES(cases), setup,
				   "every loop request ended", teardown };

	return t_main(argc, argv, &s);
}
