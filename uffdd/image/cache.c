/* SPDX-License-Identifier: MIT */
/*
 * The image cache: its thread, the registry of cached images, opening an
 * image for a client, matching a client's descriptor to its entry, and
 * dropping images no client maps (after keep_ms, or sooner when the cache
 * is over its budget, least recently used first).
 */
#include "core/log.h"
#include "core/pagestate.h"
#include "image_int.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TICK_MS 1000

void image_conf_default(struct image_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->fetch_size = 1u << 20;
	c->fault_timeout_ms = 10000;
	c->keep_ms = 600000;
	c->budget = 0;
	c->prefetch_inflight = 32;
}

const struct image_conf *image_cache_conf(const struct image_cache *c)
{
	return &c->conf;
}

/* Posting a function to the cache's thread ------------------------------- */

struct run {
	struct store_post post;
	void (*fn)(void *arg);
	void *arg;
};

static void run_deliver(struct store_post *p)
{
	struct run *r = (struct run *)p;

	r->fn(r->arg);
	free(r);
}

void image_cache_run(struct image_cache *c, void (*fn)(void *arg), void *arg)
{
	struct run *r = malloc(sizeof(*r));

	if (!r) {
		/* Nothing sensible is left: the caller's wait would never
		 * end.  Allocation of 40 bytes failing is the end anyway. */
		log_err("image cache: out of memory");
		abort();
	}
	r->post.deliver = run_deliver;
	r->fn = fn;
	r->arg = arg;
	store_loop_post(c->lp, &r->post);
}

struct image_inbox *image_inbox_of(struct image_cache *c,
				   struct event_base *base)
{
	struct image_inbox *in;

	pthread_mutex_lock(&c->lock);
	LIST_FOREACH(in, &c->inboxes, link)
	if (in->base == base)
		break;
	pthread_mutex_unlock(&c->lock);
	if (in)
		return in;
	/* Only base's own thread makes its inbox: no race for one base. */
	in = calloc(1, sizeof(*in));
	if (!in || !(in->lp = store_loop_new(base))) {
		free(in);
		return NULL;
	}
	in->base = base;
	pthread_mutex_lock(&c->lock);
	LIST_INSERT_HEAD(&c->inboxes, in, link);
	pthread_mutex_unlock(&c->lock);
	return in;
}

void image_cache_leave(struct image_cache *c, struct event_base *base)
{
	struct image_inbox *in;
	struct store_loop *lp = NULL;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	LIST_FOREACH(in, &c->inboxes, link)
	if (in->base == base) {
		lp = in->lp;
		in->lp = NULL; /* the cache's thread posts there no more */
		break;
	}
	pthread_mutex_unlock(&c->lock);
	if (!lp)
		return;
	store_loop_drain(lp);
	store_loop_free(lp);
}

/* Post p to in's loop, unless that loop has left: 0, or -1 (not sent). */
int image_inbox_post(struct image_cache *c, struct image_inbox *in,
		     struct store_post *p)
{
	int rc = -1;

	pthread_mutex_lock(&c->lock);
	if (in->lp) {
		store_loop_post(in->lp, p);
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Opening ------------------------------------------------------------------ */

struct open_job {
	struct store_post post;
	struct image_cache *c;
	struct image_inbox *to;
	char name[IMG_NAME_MAX + 1];
	uint64_t version;
	int hugetlb;
	image_open_fn cb;
	void *arg;
	int err;
	char msg[256]; /* as long as c->store_msg */
	struct image_info info;
	int fd;
	struct open_job *next;	    /* c->opening */
	struct open_job *followers; /* the same image, asked meanwhile */
};

static void open_deliver(struct store_post *p)
{
	struct open_job *j = (struct open_job *)p;

	j->cb(j->arg, j->err, j->msg, j->err ? NULL : &j->info, j->fd);
	free(j);
}

static void answer(struct open_job *j, int err)
{
	j->err = err;
	j->post.deliver = open_deliver;
	if (image_inbox_post(j->c, j->to, &j->post) < 0) {
		if (j->fd >= 0)
			close(j->fd);
		free(j); /* its loop is gone */
	}
}

static struct image *find(struct image_cache *c, const char *name,
			  uint64_t version, int hugetlb)
{
	struct image *img;

	LIST_FOREACH(img, &c->images, link)
	if (!img->dropping && img->info.version == version &&
	    img->info.hugetlb == hugetlb && !strcmp(img->info.name, name))
		return img;
	return NULL;
}

static void give(struct open_job *j, struct image *img)
{
	j->info = img->info;
	j->fd = image_reopen_ro(img->fd);
	if (j->fd < 0) {
		int e = errno;

		snprintf(j->msg, sizeof(j->msg), "reopen read-only: %s",
			 strerror(e));
		answer(j, -e);
		return;
	}
	answer(j, 0);
}

static void unlink_opening(struct open_job *j)
{
	struct open_job **p = &j->c->opening;

	while (*p && *p != j)
		p = &(*p)->next;
	if (*p)
		*p = j->next;
}

/* The opens that waited for j's: the same answer. */
static void answer_followers(struct open_job *f, int err, const char *msg,
			     struct image *img)
{
	while (f) {
		struct open_job *n = f->followers;

		if (err) {
			snprintf(f->msg, sizeof(f->msg), "%s", msg);
			answer(f, err);
		} else {
			give(f, img);
		}
		f = n;
	}
}

static int opened_one(struct open_job *j, int err, struct store_image *simg,
		      const char *msg, struct image **out, char *why);

/* One store open per image however many clients ask at once. */
static void opened(void *arg, int err, struct store_image *simg,
		   const char *msg)
{
	struct open_job *j = arg, *f = j->followers;
	struct image *img = NULL;
	char why[256] = "";
	int rc;

	unlink_opening(j);
	j->followers = NULL;
	rc = opened_one(j, err, simg, msg, &img, why); /* j is gone */
	answer_followers(f, rc, why, img);
}

/* The answer to j (then freed by its loop); the same for its followers:
 * 0 and *out, or -errno and why. */
static int opened_one(struct open_job *j, int err, struct store_image *simg,
		      const char *msg, struct image **out, char *why)
{
	struct image_cache *c = j->c;
	struct image *img;
	int rc;

	if (err) {
		snprintf(j->msg, sizeof(j->msg), "%s", msg);
		memcpy(why, j->msg, sizeof(j->msg));
		answer(j, err);
		return err;
	}
	pthread_mutex_lock(&c->lock);
	img = find(c, j->name, store_image_header(simg)->version, j->hugetlb);
	if (img)
		img->last_used_ns = image_now_ns();
	pthread_mutex_unlock(&c->lock);
	if (img) {
		store_image_close(simg);
		*out = img;
		give(j, img);
		return 0;
	}
	rc = image_entry_create(c, simg, j->hugetlb, &img, j->msg,
				sizeof(j->msg));
	if (rc) {
		memcpy(why, j->msg, sizeof(j->msg));
		answer(j, rc);
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	img->info.id = ++c->next_id;
	img->last_used_ns = image_now_ns();
	LIST_INSERT_HEAD(&c->images, img, link);
	pthread_mutex_unlock(&c->lock);
	log_info("image %s@%llu (%s, %llu bytes) cached, id %llu",
		 img->info.name, (unsigned long long)img->info.version,
		 img->info.hugetlb ? "hugetlb" : "shmem",
		 (unsigned long long)img->info.size,
		 (unsigned long long)img->info.id);
	*out = img;
	give(j, img);
	image_prefetch_start(img);
	return 0;
}

static int store_ready(struct image_cache *c)
{
	struct store *st = NULL;

	if (c->st)
		return 0;
	/* Lazily and again after a failure: a store down at boot may be up
	 * by the first client.  Blocks this thread only. */
	c->store_err =
	    store_open(c->conf.store, &st, c->store_msg, sizeof(c->store_msg));
	/* status reads it from another thread */
	__atomic_store_n(&c->st, st, __ATOMIC_RELEASE);
	if (c->store_err)
		log_warn("image store: %s", c->store_msg);
	else
		log_info("image store %s (%s backend)", c->conf.store,
			 store_kind(c->st));
	return c->store_err;
}

static void open_on_thread(void *arg)
{
	struct open_job *j = arg;
	int rc;

	if (j->c->stopping) {
		snprintf(j->msg, sizeof(j->msg), "the daemon is stopping");
		answer(j, -ESHUTDOWN);
		return;
	}
	/* A version this host has: no store round trip (a version never
	 * changes).  "The latest" always asks the store. */
	if (j->version) {
		struct image *img;

		pthread_mutex_lock(&j->c->lock);
		img = find(j->c, j->name, j->version, j->hugetlb);
		if (img)
			img->last_used_ns = image_now_ns();
		pthread_mutex_unlock(&j->c->lock);
		if (img) {
			give(j, img);
			return;
		}
	}
	if (store_ready(j->c)) {
		memcpy(j->msg, j->c->store_msg, sizeof(j->msg));
		answer(j, j->c->store_err);
		return;
	}
	for (struct open_job *o = j->c->opening; o; o = o->next)
		if (o->version == j->version && o->hugetlb == j->hugetlb &&
		    !strcmp(o->name, j->name)) {
			j->followers = o->followers;
			o->followers = j;
			return;
		}
	j->next = j->c->opening;
	j->c->opening = j;
	rc = store_image_open_async(j->c->st, j->c->lp, j->name, j->version,
				    opened, j);
	if (rc)
		unlink_opening(j);
	if (rc) {
		snprintf(j->msg, sizeof(j->msg), "image %s: %s", j->name,
			 strerror(-rc));
		answer(j, rc);
	}
}

int image_open(struct image_cache *c, struct event_base *base, const char *name,
	       uint64_t version, int hugetlb, image_open_fn cb, void *arg)
{
	struct open_job *j;

	if (!img_name_valid(name))
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->to = image_inbox_of(c, base);
	if (!j->to) {
		free(j);
		return -ENOMEM;
	}
	j->c = c;
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->version = version;
	j->hugetlb = !!hugetlb;
	j->cb = cb;
	j->arg = arg;
	j->fd = -1;
	image_cache_run(c, open_on_thread, j);
	return 0;
}

/* Regions ------------------------------------------------------------------ */

static struct image_cache *global;

void image_cache_set_global(struct image_cache *c)
{
	__atomic_store_n(&global, c, __ATOMIC_RELEASE);
}

struct image_cache *image_cache_global(void)
{
	return __atomic_load_n(&global, __ATOMIC_ACQUIRE);
}

int image_is_cached(struct image_cache *c, int fd)
{
	struct image *img = image_match(c, fd);

	if (img)
		image_unref(img);
	return img != NULL;
}

struct image *image_match(struct image_cache *c, int fd)
{
	struct image *img;
	struct stat sb;

	if (!c || fstat(fd, &sb))
		return NULL;
	pthread_mutex_lock(&c->lock);
	LIST_FOREACH(img, &c->images, link)
	if (!img->dropping && img->dev == sb.st_dev && img->ino == sb.st_ino) {
		img->refs++;
		img->last_used_ns = image_now_ns();
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return img;
}

void image_unref(struct image *img)
{
	struct image_cache *c = img->c;

	pthread_mutex_lock(&c->lock);
	img->refs--;
	img->last_used_ns = image_now_ns();
	pthread_mutex_unlock(&c->lock);
}

const struct image_info *image_get_info(const struct image *img)
{
	return &img->info;
}

int image_pages_fd(const struct image *img)
{
	/* Read-only: what the client gets says what it may do with it (the
	 * seal says it too, but a writable descriptor would invite a try). */
	int fd = image_reopen_ro(page_state_fd(img->ps));

	return fd < 0 ? -errno : fd;
}

/* Dropping ----------------------------------------------------------------- */

static uint64_t held_bytes(const struct image *img)
{
	/* A hugetlb image reserved all its pages at creation. */
	if (img->info.hugetlb)
		return img->info.map_len;
	return __atomic_load_n(&img->pages_ok, __ATOMIC_RELAXED) *
	       img->info.page_size;
}

/* The idle image used least recently that may go now, under c->lock. */
static struct image *victim(struct image_cache *c, uint64_t now, uint64_t total)
{
	struct image *img, *best = NULL;
	uint64_t keep = (uint64_t)c->conf.keep_ms * 1000000ull;
	int over = c->conf.budget && total > c->conf.budget;

	LIST_FOREACH(img, &c->images, link)
	{
		if (img->refs || img->dropping || img->inflight)
			continue;
		if (!over && now - img->last_used_ns < keep)
			continue;
		if (!best || img->last_used_ns < best->last_used_ns)
			best = img;
	}
	return best;
}

static void drop_idle(struct image_cache *c)
{
	uint64_t now = image_now_ns();

	for (;;) {
		struct image *img;
		uint64_t total = 0;

		pthread_mutex_lock(&c->lock);
		LIST_FOREACH(img, &c->images, link)
		total += held_bytes(img);
		img = victim(c, now, total);
		if (img)
			LIST_REMOVE(img, link);
		pthread_mutex_unlock(&c->lock);
		if (!img)
			return;
		log_info("image %s@%llu dropped from the cache (%llu bytes, "
			 "idle %llu s)",
			 img->info.name, (unsigned long long)img->info.version,
			 (unsigned long long)held_bytes(img),
			 (unsigned long long)((now - img->last_used_ns) /
					      1000000000ull));
		image_entry_destroy(img);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drop_idle(arg);
}

/* The thread ----------------------------------------------------------------
 */

static void *cache_main(void *arg)
{
	struct image_cache *c = arg;

	/* The store is opened by the first IMAGE_OPEN (store_ready): a host
	 * that maps no image never connects to it. */
	event_base_dispatch(c->base);
	return NULL;
}

int image_cache_start(const struct image_conf *conf, struct image_cache **out,
		      char *err, size_t errlen)
{
	struct image_cache *c = calloc(1, sizeof(*c));
	struct timeval tv = { TICK_MS / 1000, (TICK_MS % 1000) * 1000 };
	int rc;

	if (!c)
		return -ENOMEM;
	c->conf = *conf;
	pthread_mutex_init(&c->lock, NULL);
	LIST_INIT(&c->images);
	LIST_INIT(&c->inboxes);
	c->base = event_base_new();
	c->lp = c->base ? store_loop_new(c->base) : NULL;
	c->tick =
	    c->base ? event_new(c->base, -1, EV_PERSIST, on_tick, c) : NULL;
	if (!c->lp || !c->tick || event_add(c->tick, &tv)) {
		snprintf(err, errlen, "image cache: event loop: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_create(&c->thread, NULL, cache_main, c);
	if (rc) {
		snprintf(err, errlen, "image cache: thread: %s", strerror(-rc));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (c->tick)
		event_free(c->tick);
	store_loop_free(c->lp);
	if (c->base)
		event_base_free(c->base);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return rc;
}

static int busy(struct image_cache *c)
{
	struct image *img;
	int n = 0;

	LIST_FOREACH(img, &c->images, link)
	n += img->inflight != 0;
	return n;
}

/* Fetches in flight must end first: their buffers are our mappings. */
void image_cache_check_stop(struct image_cache *c)
{
	if (c->stopping && !busy(c))
		event_base_loopbreak(c->base);
}

static void stop_on_thread(void *arg)
{
	struct image_cache *c = arg;

	c->stopping = 1;
	image_cache_check_stop(c);
}

void image_cache_stop(struct image_cache *c)
{
	struct image_inbox *in;
	struct image *img;

	if (!c)
		return;
	image_cache_run(c, stop_on_thread, c);
	pthread_join(c->thread, NULL);
	while ((img = LIST_FIRST(&c->images))) {
		LIST_REMOVE(img, link);
		image_entry_destroy(img);
	}
	/* The workers have stopped: their loops no longer run. */
	while ((in = LIST_FIRST(&c->inboxes))) {
		LIST_REMOVE(in, link);
		if (in->lp) { /* a loop that never left: it runs no more */
			store_loop_drain(in->lp);
			store_loop_free(in->lp);
		}
		free(in);
	}
	event_free(c->tick);
	store_loop_free(c->lp);
	store_close(c->st);
	event_base_free(c->base);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
