/* SPDX-License-Identifier: MIT */
/*
 * The image cache without the daemon around it: real memfds, a real store
 * (a file: directory, or $UFFD_TEST_STORE: the Ceph of make check-ceph),
 * real threads each with its own loop asking for blocks at once.
 */
#include "harness.h"
#include "image/cache.h"
#include "image/image_int.h"
#include "policy/trace.h"
#include "store/pack.h"
#include "store/store_priv.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static char url[4096], file_dir[256];
static struct event_base *base;

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* Put name (size bytes, pattern seed) into the store; its bytes in *copy. */
static int put(const char *name, size_t size, uint32_t chunk, unsigned seed,
	       unsigned char **copy)
{
	char path[] = "/tmp/uffdd-imgc.XXXXXX", err[512];
	unsigned char *p = malloc(size);
	int fd = mkstemp(path), rc;
	struct store *st;
	uint64_t v;

	pattern(p, size, seed);
	if (fd < 0 || write(fd, p, size) != (ssize_t)size)
		abort();
	unlink(path);
	rc = store_open(url, &st, err, sizeof(err));
	CHECK(rc == 0, "store %s: %s", url, err);
	if (!rc) {
		rc = store_put(st, name, 0, chunk, fd, &v, err, sizeof(err));
		CHECK(rc == 0, "put: %s", err);
		store_close(st);
	}
	close(fd);
	*copy = p;
	return rc;
}

static void drop(const char *name)
{
	char err[512];
	struct store *st;

	if (store_open(url, &st, err, sizeof(err)))
		return;
	store_remove(st, name, 1, err, sizeof(err));
	store_close(st);
}

static void run_until(const int *done, int ms)
{
	uint64_t end = t_now_ns() + (uint64_t)ms * 1000000ull;

	while (!__atomic_load_n(done, __ATOMIC_ACQUIRE) && t_now_ns() < end) {
		struct timeval tv = { 0, 20000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

struct opened {
	int done, err, fd;
	char msg[256];
	struct image_info info;
};

static void on_open(void *arg, int err, const char *msg,
		    const struct image_info *info, int fd)
{
	struct opened *o = arg;

	o->err = err;
	snprintf(o->msg, sizeof(o->msg), "%s", msg);
	if (info)
		o->info = *info;
	o->fd = fd;
	o->done = 1;
}

static int open_img(struct image_cache *c, const char *name, int huge,
		    struct opened *o)
{
	memset(o, 0, sizeof(*o));
	CHECK_EQ(image_open(c, base, name, 0, huge, on_open, o), 0);
	run_until(&o->done, 20000);
	CHECK(o->done, "no answer to open");
	return o->done ? o->err : -ETIMEDOUT;
}

static struct image_cache *start(uint32_t fetch, uint32_t keep_ms)
{
	struct image_conf conf;
	struct image_cache *c = NULL;
	char err[256];

	image_conf_default(&conf);
	snprintf(conf.store, sizeof(conf.store), "%s", url);
	conf.fetch_size = fetch;
	conf.keep_ms = keep_ms;
	CHECK(image_cache_start(&conf, &c, err, sizeof(err)) == 0, "%s", err);
	return c;
}

static uint64_t jget(json_object *st, const char *name, const char *key)
{
	json_object *a = json_object_object_get(st, "images");

	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		json_object *o = json_object_array_get_idx(a, i);

		if (!strcmp(json_object_get_string(
				json_object_object_get(o, "name")),
			    name))
			return (uint64_t)json_object_get_int64(
			    json_object_object_get(o, key));
	}
	return (uint64_t)-1;
}

static uint64_t stat_of(struct image_cache *c, const char *name,
			const char *key)
{
	json_object *st = image_cache_status(c);
	uint64_t v = jget(st, name, key);

	json_object_put(st);
	return v;
}

/* Askers' loops: freed once the cache that holds their inboxes stops. */
static struct event_base *bases[64];
static int nbases;
static pthread_mutex_t bases_lock = PTHREAD_MUTEX_INITIALIZER;

static void stop_cache(struct image_cache *c)
{
	image_cache_stop(c);
	while (nbases)
		event_base_free(bases[--nbases]);
}

static void t_open(void)
{
	char name[80];
	struct image_cache *c = start(256 << 10, 60000);
	struct opened o, o2;
	unsigned char *copy = NULL;
	struct image *img;
	void *m;
	int other;

	snprintf(name, sizeof(name), "c%d-open", (int)getpid());
	if (!c || put(name, 3000000, 1 << 20, 1, &copy))
		goto out;
	CHECK_EQ(open_img(c, name, 0, &o), 0);
	CHECK_EQ(o.info.version, 1);
	CHECK_EQ(o.info.size, 3000000);
	CHECK_EQ(o.info.page_size, 4096);
	CHECK_EQ(o.info.map_len, 3002368); /* 733 pages */
	CHECK_EQ(o.info.fetch_size, 256 << 10);
	CHECK_EQ(fcntl(o.fd, F_GET_SEALS),
		 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE);
	CHECK_EQ(fcntl(o.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, o.fd, 0);
	CHECK(m == MAP_FAILED, "a client mapped the cache shared writable");
	CHECK(ftruncate(o.fd, 0) < 0, "a client truncated the cache");
	CHECK_EQ(open_img(c, name, 0, &o2), 0);
	CHECK_EQ(o2.info.id, o.info.id); /* the same entry */
	img = image_match(c, o2.fd);
	CHECK(img != NULL, "a reopened descriptor matches its entry");
	if (img) {
		/* The page-state file every region of the image is handed:
		 * nobody but the cache's own mapping writes it. */
		int pfd = image_pages_fd(img);
		const struct uffdd_pages_hdr *h;

		CHECK(pfd >= 0, "image_pages_fd: %d", pfd);
		CHECK(fcntl(pfd, F_GET_SEALS) & F_SEAL_FUTURE_WRITE,
		      "the page-state file is not sealed against writes");
		m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, pfd,
			 0);
		CHECK(m == MAP_FAILED, "the page-state file mapped writable");
		h = mmap(NULL, 4096, PROT_READ, MAP_SHARED, pfd, 0);
		CHECK(h != MAP_FAILED, "the page-state file: %s",
		      strerror(errno));
		if (h != MAP_FAILED) {
			CHECK_EQ(h->magic, UFFDD_PAGES_MAGIC);
			CHECK_EQ(h->flags, UFFDD_PAGES_IMAGE);
			CHECK_EQ(h->npages, 733);
			CHECK_EQ(h->page_size, 4096);
			munmap((void *)h, 4096);
		}
		close(pfd);
	}
	CHECK_EQ(stat_of(c, name, "clients"), 1);
	other = memfd_create("x", 0);
	CHECK(image_match(c, other) == NULL, "a stranger's memfd matched");
	close(other);
	if (img)
		image_unref(img);
	CHECK_EQ(stat_of(c, name, "clients"), 0);
	close(o.fd);
	close(o2.fd);
	memset(&o, 0, sizeof(o));
	CHECK_EQ(open_img(c, "nosuch-image", 0, &o), -ENOENT);
	CHECK(strstr(o.msg, "nosuch-image"), "%s", o.msg);
	CHECK_EQ(image_open(c, base, "../x", 0, 0, on_open, &o), -EINVAL);
out:
	stop_cache(c);
	drop(name);
	free(copy);
}

/* Many threads, each its own loop, all asking for the same block. */
struct asker {
	pthread_t t;
	struct image *img;
	uint64_t off;
	int done, err;
};

static void asked(void *arg, int err)
{
	struct asker *a = arg;

	a->err = err;
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
}

static void *ask_main(void *arg)
{
	struct asker *a = arg;
	struct event_base *b = event_base_new();
	uint64_t end = t_now_ns() + 20000000000ull;

	pthread_mutex_lock(&bases_lock);
	bases[nbases++] = b;
	pthread_mutex_unlock(&bases_lock);

	if (image_want(a->img, b, a->off, asked, a)) {
		a->err = -1;
		a->done = 1;
	}
	while (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE) &&
	       t_now_ns() < end) {
		struct timeval tv = { 0, 20000 };

		event_base_loopexit(b, &tv);
		event_base_dispatch(b);
	}
	return NULL;
}

static void t_single_flight(void)
{
	enum { N = 30 };
	char name[80];
	struct image_cache *c = start(256 << 10, 60000);
	struct asker a[N];
	struct store_stats s0, s1;
	struct opened o;
	unsigned char *copy = NULL, *m = MAP_FAILED;
	struct image *img = NULL;
	uint64_t start_, len;
	int all = 1, ok = 1;

	snprintf(name, sizeof(name), "c%d-flight", (int)getpid());
	if (!c || put(name, 3000000, 1 << 20, 2, &copy))
		goto out;
	if (open_img(c, name, 0, &o))
		goto out;
	img = image_match(c, o.fd);
	m = mmap(NULL, o.info.map_len, PROT_READ, MAP_PRIVATE, o.fd, 0);
	store_get_stats(c->st, &s0);
	image_block(img, 700000, &start_, &len);
	CHECK_EQ(start_, 524288);
	CHECK_EQ(len, 262144);
	CHECK(!image_page_ok(img, 700000), "ok before any fetch");
	for (int i = 0; i < N; i++) {
		a[i] = (struct asker){ .img = img, .off = 600000 + i * 4096 };
		pthread_create(&a[i].t, NULL, ask_main, &a[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(a[i].t, NULL);
		all &= a[i].done && a[i].err == 0;
	}
	CHECK(all, "every asker heard 0");
	store_get_stats(c->st, &s1);
	CHECK_EQ(s1.reads - s0.reads, 1);
	CHECK_EQ(s1.read_bytes - s0.read_bytes, 262144);
	CHECK_EQ(stat_of(c, name, "bytes_fetched"), 262144);
	CHECK_EQ(stat_of(c, name, "pages_cached"), 64);
	for (uint64_t off = 0; off < o.info.map_len; off += 4096)
		ok &=
		    image_page_ok(img, off) == (off >= 524288 && off < 786432);
	CHECK(ok, "the bitmap marks exactly the block");
	CHECK(!memcmp(m + 524288, copy + 524288, 262144), "the block's bytes");
	/* The tail block ends at the image's end, not the page's. */
	memset(a, 0, sizeof(a[0]));
	a[0].img = img;
	a[0].off = 2999000;
	store_get_stats(c->st, &s0);
	pthread_create(&a[0].t, NULL, ask_main, &a[0]);
	pthread_join(a[0].t, NULL);
	CHECK(a[0].done && a[0].err == 0, "tail block %d", a[0].err);
	store_get_stats(c->st, &s1);
	CHECK_EQ(s1.reads - s0.reads, 1);
	CHECK_EQ(s1.read_bytes - s0.read_bytes, 3000000 - 2883584);
	CHECK(!memcmp(m + 2883584, copy + 2883584, 3000000 - 2883584),
	      "tail bytes");
	CHECK_EQ(m[3000000], 0); /* past the image: zero, by definition */
	CHECK_EQ(stat_of(c, name, "bytes_fetched"), 262144 + 3000000 - 2883584);
	CHECK_EQ(stat_of(c, name, "fetches"), 2);
	close(o.fd);
out:
	if (m != MAP_FAILED)
		munmap(m, o.info.map_len);
	if (img)
		image_unref(img);
	stop_cache(c);
	drop(name);
	free(copy);
}

static int want_once(struct image *img, uint64_t off)
{
	struct asker a = { .img = img, .off = off };

	pthread_create(&a.t, NULL, ask_main, &a);
	pthread_join(a.t, NULL);
	return a.done ? a.err : -ETIMEDOUT;
}

static void t_chunks_errors(void)
{
	char name[80], obj[IMG_OBJ_MAX], err[256];
	struct image_cache *c = start(256 << 10, 60000);
	struct store_stats s0, s1;
	struct opened o;
	unsigned char *copy = NULL, *m = MAP_FAILED;
	struct image *img = NULL;
	struct store *st = NULL;

	snprintf(name, sizeof(name), "c%d-chunks", (int)getpid());
	if (!c || put(name, 1 << 20, 65536, 3, &copy))
		goto out;
	if (open_img(c, name, 0, &o))
		goto out;
	img = image_match(c, o.fd);
	m = mmap(NULL, o.info.map_len, PROT_READ, MAP_PRIVATE, o.fd, 0);
	store_get_stats(c->st, &s0);
	CHECK_EQ(want_once(img, 0), 0);
	store_get_stats(c->st, &s1);
	CHECK_EQ(s1.reads - s0.reads, 4);
	CHECK(!memcmp(m, copy, 262144), "bytes of block 0");
	/* Block 1's second chunk changed behind the store's back. */
	CHECK_EQ(store_open(url, &st, err, sizeof(err)), 0);
	copy[5 * 65536 + 7] ^= 0x10;
	img_obj_chunk(obj, name, 1, 5);
	if (st)
		CHECK_EQ(st->ops->put(st, obj, copy + 5 * 65536, 65536), 0);
	CHECK_EQ(want_once(img, 262144), -EBADMSG);
	CHECK_EQ(stat_of(c, name, "fetch_errors"), 1);
	/* Asked again at once: the error, without another read. */
	store_get_stats(c->st, &s0);
	CHECK_EQ(want_once(img, 270000), -EBADMSG);
	store_get_stats(c->st, &s1);
	CHECK_EQ(s1.reads + s1.bad_sums - s0.reads - s0.bad_sums, 0);
	CHECK_EQ(stat_of(c, name, "fetch_errors"), 1);
	usleep(1100000); /* IMAGE_RETRY_NS: then the store is asked again */
	CHECK(!image_page_ok(img, 262144) && !image_page_ok(img, 5 * 65536),
	      "a failed block has no page ok");
	CHECK_EQ(stat_of(c, name, "bytes_fetched"), 262144);
	copy[5 * 65536 + 7] ^= 0x10;
	if (st)
		CHECK_EQ(st->ops->put(st, obj, copy + 5 * 65536, 65536), 0);
	CHECK_EQ(want_once(img, 300000), 0);
	CHECK(image_page_ok(img, 262144), "ok after the retry");
	CHECK(!memcmp(m + 262144, copy + 262144, 262144), "bytes of block 1");
	CHECK_EQ(stat_of(c, name, "bytes_fetched"), 524288);
	close(o.fd);
out:
	store_close(st);
	if (m != MAP_FAILED)
		munmap(m, o.info.map_len);
	if (img)
		image_unref(img);
	stop_cache(c);
	drop(name);
	free(copy);
}

static int wait_stat(struct image_cache *c, const char *name, const char *key,
		     uint64_t want, int ms)
{
	uint64_t end = t_now_ns() + (uint64_t)ms * 1000000ull, v;

	while ((v = stat_of(c, name, key)) != want && t_now_ns() < end)
		usleep(10000);
	return v == want;
}

static void t_trace(void)
{
	char name[80];
	struct image_cache *c = start(65536, 60000);
	struct trace_rec tr;
	struct opened o;
	unsigned char *copy = NULL;
	struct image *img = NULL;
	char *buf;
	size_t len;

	snprintf(name, sizeof(name), "c%d-trace", (int)getpid());
	if (!c || put(name, 2 << 20, 1 << 20, 4, &copy))
		goto out;
	if (open_img(c, name, 0, &o))
		goto out;
	img = image_match(c, o.fd);
	CHECK_EQ(stat_of(c, name, "prefetched"), 0);
	/* Pages in three blocks (2, 9, 30), two pages in block 9. */
	CHECK_EQ(trace_rec_init(&tr, 512, 4096), 0);
	trace_rec_touch(&tr, 40);
	trace_rec_touch(&tr, 150);
	trace_rec_touch(&tr, 151);
	trace_rec_touch(&tr, 40);
	trace_rec_touch(&tr, 490);
	CHECK_EQ(tr.n, 4);
	CHECK_EQ(trace_rec_encode(&tr, &buf, &len), 0);
	trace_rec_free(&tr);
	image_trace_store(img, buf, len);
	free(buf);
	image_unref(img);
	close(o.fd);
	stop_cache(c); /* waits for the trace to be stored */

	c = start(65536, 60000); /* another host */
	if (!c || open_img(c, name, 0, &o))
		goto out;
	CHECK(wait_stat(c, name, "pages_cached", 48, 10000),
	      "the trace's three blocks were fetched");
	CHECK_EQ(stat_of(c, name, "prefetched"), 3);
	CHECK_EQ(stat_of(c, name, "bytes_fetched"), 3 * 65536);
	img = image_match(c, o.fd);
	CHECK(img && image_page_ok(img, 40 * 4096) &&
		  image_page_ok(img, 490 * 4096) && !image_page_ok(img, 0),
	      "the trace's pages and no other");
	if (img)
		image_unref(img);
	close(o.fd);
out:
	stop_cache(c);
	drop(name);
	free(copy);
}

/* The trace of t_packed: pages in three 64 KiB blocks (2, 9, 30). */
static const uint64_t pk_pages[] = { 40, 150, 151, 490 };

static void pk_record(struct image *img)
{
	struct trace_rec tr;
	char *buf;
	size_t len;

	CHECK_EQ(trace_rec_init(&tr, 512, 4096), 0);
	for (size_t i = 0; i < 4; i++)
		trace_rec_touch(&tr, pk_pages[i]);
	trace_rec_touch(&tr, 40);
	CHECK_EQ(trace_rec_encode(&tr, &buf, &len), 0);
	trace_rec_free(&tr);
	image_trace_store(img, buf, len);
	free(buf);
}

/* The pages' bytes as the entry's read-only descriptor shows them. */
static int pk_bytes_ok(int fd, const unsigned char *copy, uint64_t from,
		       uint64_t n)
{
	unsigned char *m = mmap(NULL, 2 << 20, PROT_READ, MAP_SHARED, fd, 0);
	int ok;

	if (m == MAP_FAILED)
		return 0;
	ok = !memcmp(m + from * 4096, copy + from * 4096, n * 4096);
	munmap(m, 2 << 20);
	return ok;
}

static struct store *pk_store(void)
{
	struct store *st = NULL;
	char err[512];

	CHECK(store_open(url, &st, err, sizeof(err)) == 0, "%s", err);
	return st;
}

/* A host opens the image while its packed object is broken: counted,
 * ignored, the trace's blocks fetched, the bytes right. */
static void pk_broken(const char *name, const unsigned char *copy,
		      const char *how)
{
	struct image_cache *c = start(65536, 60000);
	struct opened o;

	if (!c || open_img(c, name, 0, &o))
		goto out;
	CHECK(wait_stat(c, name, "pages_cached", 48, 10000),
	      "%s: the trace's blocks were fetched", how);
	CHECK(wait_stat(c, name, "packed_errors", 1, 5000), "%s: counted once",
	      how);
	CHECK_EQ(stat_of(c, name, "packed_pages"), 0);
	CHECK_EQ(stat_of(c, name, "prefetched"), 3);
	CHECK_EQ(stat_of(c, name, "fetches"), 3);
	for (size_t i = 0; i < 4; i++)
		CHECK(pk_bytes_ok(o.fd, copy, pk_pages[i], 1), "%s: page %zu",
		      how, (size_t)pk_pages[i]);
	close(o.fd);
out:
	stop_cache(c);
}

static void t_packed(void)
{
	char name[80], obj[IMG_OBJ_MAX];
	struct image_cache *c = start(65536, 60000);
	struct opened o;
	unsigned char *copy = NULL, *pk = NULL;
	struct image *img = NULL;
	struct pack_header h;
	struct store *st = NULL;
	uint64_t want_len = pack_length(4096, 4);
	size_t len = 0;
	void *buf = NULL;
	char err[256];

	snprintf(name, sizeof(name), "c%d-packed", (int)getpid());
	img_obj_pack(obj, name, 1, 4096);
	if (!c || put(name, 2 << 20, 1 << 20, 9, &copy))
		goto out;
	if (open_img(c, name, 0, &o))
		goto out;
	img = image_match(c, o.fd);
	/* The recording host holds the pages it touched. */
	for (size_t i = 0; img && i < 4; i++)
		CHECK_EQ(want_once(img, pk_pages[i] * 4096), 0);
	if (img) {
		pk_record(img);
		image_unref(img);
	}
	close(o.fd);
	stop_cache(c); /* waits for the trace and the packed object */
	c = NULL;

	/* The object: its exact length and header. */
	if (!(st = pk_store()))
		goto out;
	CHECK_EQ(store_obj_get(st, obj, IMG_PACK_MAX, &buf, &len), 0);
	CHECK_EQ(len, want_len);
	if (!buf || len != want_len)
		goto out;
	pk = buf;
	CHECK_EQ(pack_header_decode(pk, len, name, 1, 2 << 20, 4096, &h, err,
				    sizeof(err)),
		 0);
	CHECK_EQ(h.count, 4);
	CHECK(
	    !memcmp(pk + pack_data_off(4) + 3 * 4096, copy + 490 * 4096, 4096),
	    "the last packed page is page 490's bytes");

	/* Another host: the packed pages fill the cache, no block fetched. */
	c = start(65536, 60000);
	if (!c || open_img(c, name, 0, &o))
		goto out;
	CHECK(wait_stat(c, name, "packed_pages", 4, 10000),
	      "the four pages came from the packed object");
	CHECK_EQ(stat_of(c, name, "pages_cached"), 4);
	CHECK_EQ(stat_of(c, name, "packed_bytes"), want_len);
	CHECK_EQ(stat_of(c, name, "packed_blocks"), 3);
	CHECK_EQ(stat_of(c, name, "packed_errors"), 0);
	CHECK_EQ(stat_of(c, name, "fetches"), 0);
	CHECK_EQ(stat_of(c, name, "prefetched"), 0);
	CHECK_EQ(stat_of(c, name, "bytes_fetched"), 0);
	img = image_match(c, o.fd);
	CHECK(img && image_page_ok(img, 40 * 4096) &&
		  image_page_ok(img, 151 * 4096) &&
		  !image_page_ok(img, 41 * 4096),
	      "the packed pages and no other");
	for (size_t i = 0; i < 4; i++)
		CHECK(pk_bytes_ok(o.fd, copy, pk_pages[i], 1), "page %zu",
		      (size_t)pk_pages[i]);
	/* A fault beside a packed page: its block's holes are fetched. */
	if (img) {
		CHECK_EQ(want_once(img, 41 * 4096), 0);
		CHECK_EQ(stat_of(c, name, "pages_cached"), 4 + 15);
		CHECK_EQ(stat_of(c, name, "fetches"), 1);
		CHECK(pk_bytes_ok(o.fd, copy, 32, 16), "block 2's bytes");
		image_unref(img);
	}
	close(o.fd);
	stop_cache(c);
	c = NULL;

	/* A byte of a page flipped. */
	pk[pack_data_off(4) + 2 * 4096 + 7] ^= 1;
	CHECK_EQ(store_obj_put(st, obj, pk, len), 0);
	pk_broken(name, copy, "a flipped byte");
	pk[pack_data_off(4) + 2 * 4096 + 7] ^= 1;
	/* Short: the last page cut. */
	CHECK_EQ(store_obj_put(st, obj, pk, len - 100), 0);
	pk_broken(name, copy, "truncated");
	/* A well-formed header for another version. */
	h.version = 2;
	pack_header_encode(&h, pk);
	CHECK_EQ(store_obj_put(st, obj, pk, len), 0);
	pk_broken(name, copy, "another version's header");
	/* Garbage where the header is. */
	memset(pk, 0x5a, PACK_HDR_LEN);
	CHECK_EQ(store_obj_put(st, obj, pk, len), 0);
	pk_broken(name, copy, "no header");
out:
	if (st)
		store_close(st);
	free(buf);
	stop_cache(c);
	drop(name);
	free(copy);
}

static void t_drop(void)
{
	char a[80], b[80];
	struct image_cache *c = start(65536, 1000);
	struct opened o;
	unsigned char *ca = NULL, *cb = NULL;
	struct image *img;

	snprintf(a, sizeof(a), "c%d-dropa", (int)getpid());
	snprintf(b, sizeof(b), "c%d-dropb", (int)getpid());
	if (!c || put(a, 65536, 65536, 5, &ca) || put(b, 65536, 65536, 6, &cb))
		goto out;
	CHECK_EQ(open_img(c, a, 0, &o), 0);
	img = image_match(c, o.fd); /* a is mapped */
	close(o.fd);
	CHECK_EQ(open_img(c, b, 0, &o), 0); /* b is not */
	close(o.fd);
	CHECK(wait_stat(c, b, "clients", (uint64_t)-1, 5000), "b was dropped");
	CHECK_EQ(stat_of(c, a, "clients"), 1);
	if (img)
		image_unref(img);
	CHECK(wait_stat(c, a, "clients", (uint64_t)-1, 5000),
	      "a was dropped once unmapped");
out:
	stop_cache(c);
	drop(a);
	drop(b);
	free(ca);
	free(cb);
}

static void t_hugetlb_kind(enum t_kind kind, const void *arg)
{
	char name[80];
	struct image_cache *c;
	struct opened o;
	unsigned char *copy = NULL, *m;
	struct image *img;

	(void)kind;
	(void)arg;
	if (t_huge_page_size() != 2u << 20) {
		t_skip("the test assumes 2 MiB huge pages");
		return;
	}
	c = start(1 << 20, 60000);
	snprintf(name, sizeof(name), "c%d-huge", (int)getpid());
	if (!c || put(name, 3 << 20, 1 << 20, 7, &copy))
		goto out;
	if (open_img(c, name, 1, &o))
		goto out;
	CHECK_EQ(o.info.page_size, 2 << 20);
	CHECK_EQ(o.info.fetch_size, 2 << 20);
	CHECK_EQ(o.info.map_len, 4 << 20);
	img = image_match(c, o.fd);
	m = mmap(NULL, 4 << 20, PROT_READ, MAP_PRIVATE | MAP_NORESERVE, o.fd,
		 0);
	CHECK(img && m != MAP_FAILED, "match and map");
	if (img && m != MAP_FAILED) {
		CHECK_EQ(want_once(img, 3 << 20), 0);
		CHECK(!memcmp(m + (2 << 20), copy + (2 << 20), 1 << 20),
		      "bytes of the second huge page");
		CHECK_EQ(stat_of(c, name, "bytes_fetched"), 1 << 20);
		munmap(m, 4 << 20);
	}
	if (img)
		image_unref(img);
	close(o.fd);
out:
	stop_cache(c);
	drop(name);
	free(copy);
}

static int setup(void)
{
	const char *u = getenv("UFFD_TEST_STORE");

	if (u && *u) {
		snprintf(url, sizeof(url), "%s", u);
	} else {
		snprintf(file_dir, sizeof(file_dir),
			 "/tmp/uffdd-cache-test.XXXXXX");
		if (!mkdtemp(file_dir))
			return -1;
		snprintf(url, sizeof(url), "file:%s", file_dir);
	}
	t_note("store %s", url);
	base = event_base_new();
	return base ? 0 : -1;
}

static void teardown(void)
{
	event_base_free(base);
	if (file_dir[0]) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", file_dir);
		CHECK_EQ(system(cmd), 0);
	}
}

static const struct t_case cases[] = {
	{ .name = "open",
	  .title = "one sealed, read-only entry per image and kind",
	  .run = t_open },
	{ .name = "single-flight",
	  .title = "30 threads want one block: one read",
	  .run = t_single_flight },
	{ .name = "chunks-errors",
	  .title = "a block over four chunks; a bad chunk: error, then a retry",
	  .run = t_chunks_errors },
	{ .name = "trace",
	  .title = "a stored trace is prefetched in order by the next host",
	  .run = t_trace },
	{ .name = "packed",
	  .title = "a recording writes the packed working set; the next host "
		   "fills from it; a broken one is ignored",
	  .run = t_packed },
	{ .name = "drop",
	  .title = "an image no client maps is dropped after keep_ms",
	  .run = t_drop },
	{ .name = "hugetlb",
	  .title = "one entry per kind, 2 MiB pages and fetches",
	  .kinds = T_HUGETLB,
	  .hugepages = 4,
	  .fn = t_hugetlb_kind },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "image-cache", T_CASES(cases), setup,
				   "the test store removed", teardown };

	return t_main(argc, argv, &s);
}
