/* SPDX-License-Identifier: MIT */
/*
 * Fetching blocks, once.  A block's state (absent, fetching, ok) lives on
 * the cache's thread alone, so "one read per block per host" needs no lock:
 * the first want starts the fetch, every later want joins its waiters, and
 * a want for an ok block is answered at once.  A fetch is one store read
 * per chunk the block touches, straight into the cache's fill mapping;
 * the store has checked every byte before it reports the read done, and
 * only then are the block's pages marked ok in the bitmap (release order:
 * a worker that sees the bit sees the bytes).  A failed block goes back to
 * absent: its waiters hear the error, a later fault fetches it again.
 */
#include "core/log.h"
#include "image_int.h"
#include "policy/trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fetch {
	struct image *img;
	uint64_t block;
	unsigned pieces;
	int err;
	int prefetch;
	uint64_t t0;
	/* Some pages of the block were filled already (from the packed
	 * working set): the block is read here and only its holes copied,
	 * so that no filled page is ever written again. */
	unsigned char *bounce;
};

int image_page_ok(const struct image *img, uint64_t off)
{
	uint64_t page = off / img->info.page_size;

	if (off >= img->info.map_len)
		return 0;
	return (__atomic_load_n(&img->filled[page / 8], __ATOMIC_ACQUIRE) >>
		(page % 8)) &
	       1;
}

void image_block(const struct image *img, uint64_t off, uint64_t *start,
		 uint64_t *len)
{
	uint64_t fs = img->info.fetch_size;

	*start = off / fs * fs;
	*len =
	    *start + fs <= img->info.map_len ? fs : img->info.map_len - *start;
}

static void ready_deliver(struct store_post *p)
{
	struct image_waiter *w =
	    (struct image_waiter *)((char *)p -
				    offsetof(struct image_waiter, post));

	w->cb(w->arg, w->err);
	free(w);
}

static void tell(struct image_cache *c, struct image_waiter *w, int err)
{
	w->err = err;
	w->post.deliver = ready_deliver;
	if (image_inbox_post(c, w->to, &w->post) < 0)
		free(w); /* its loop has left: the daemon is stopping */
}

static void count(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

void image_count(uint64_t *c, uint64_t v)
{
	count(c, v);
}

/* Set page p's filled bit (release: a reader of the bit sees the bytes). */
static int mark_page(struct image *img, uint64_t p)
{
	uint8_t bit = (uint8_t)(1u << (p % 8));

	if (__atomic_fetch_or(&img->filled[p / 8], bit, __ATOMIC_RELEASE) & bit)
		return 0;
	count(&img->pages_ok, 1);
	return 1;
}

static int page_filled(const struct image *img, uint64_t p)
{
	return (__atomic_load_n(&img->filled[p / 8], __ATOMIC_ACQUIRE) >>
		(p % 8)) &
	       1;
}

static void mark_ok(struct image *img, uint64_t start, uint64_t len,
		    const unsigned char *bounce)
{
	uint32_t ps = img->info.page_size;

	for (uint64_t p = start / ps; p < (start + len + ps - 1) / ps; p++) {
		if (bounce) {
			if (page_filled(img, p))
				continue;
			memcpy(img->fill + p * ps, bounce + (p * ps - start),
			       ps);
		}
		mark_page(img, p);
	}
}

/* 1 if any page of [start, start + len) is filled. */
static int any_filled(const struct image *img, uint64_t start, uint64_t len)
{
	uint32_t ps = img->info.page_size;

	for (uint64_t p = start / ps; p < (start + len + ps - 1) / ps; p++)
		if (page_filled(img, p))
			return 1;
	return 0;
}

static int all_filled(const struct image *img, uint64_t b)
{
	uint32_t ps = img->info.page_size;
	uint64_t start, len;

	image_block(img, b * img->info.fetch_size, &start, &len);
	for (uint64_t p = start / ps; p < (start + len + ps - 1) / ps; p++)
		if (!page_filled(img, p))
			return 0;
	return 1;
}

static void start_fetch(struct image *img, uint64_t b, int prefetch);

int image_fill_page(struct image *img, uint64_t page, const void *src)
{
	uint32_t ps = img->info.page_size;
	uint64_t b = page * ps / img->info.fetch_size;

	if (img->state[b] == BLOCK_FETCHING || img->state[b] == BLOCK_OK ||
	    page_filled(img, page))
		return 0;
	memcpy(img->fill + page * ps, src, ps);
	mark_page(img, page);
	return 1;
}

void image_block_settle(struct image *img, uint64_t b)
{
	struct image_waiter *w;

	if (img->state[b] == BLOCK_FETCHING || img->state[b] == BLOCK_OK)
		return;
	if (all_filled(img, b)) {
		img->state[b] = BLOCK_OK;
		while ((w = img->waiters[b])) {
			img->waiters[b] = w->next;
			tell(img->c, w, 0);
		}
		return;
	}
	if (img->state[b] == BLOCK_PACKED) {
		img->state[b] = BLOCK_ABSENT;
		start_fetch(img, b, 0); /* its waiters wait on */
	}
}

static void block_done(struct fetch *f)
{
	struct image *img = f->img;
	uint64_t start, len;
	struct image_waiter *w;

	image_block(img, f->block * img->info.fetch_size, &start, &len);
	img->inflight--;
	if (f->prefetch)
		img->prefetch_inflight--;
	if (!f->err) {
		mark_ok(img, start, len, f->bounce);
		img->state[f->block] = BLOCK_OK;
		count(&img->fetches, 1);
		count(&img->bytes_fetched, start + len <= img->info.size
					       ? len
					       : img->info.size - start);
		histo_add(&img->fetch_ns, image_now_ns() - f->t0);
	} else {
		if (!img->failed_at)
			img->failed_at =
			    calloc(img->nblocks, sizeof(*img->failed_at));
		img->state[f->block] =
		    img->failed_at ? BLOCK_FAILED : BLOCK_ABSENT;
		if (img->failed_at)
			img->failed_at[f->block] = image_now_ns();
		img->last_err = f->err;
		count(&img->fetch_errors, 1);
		if (!__atomic_exchange_n(&img->error_logged, 1,
					 __ATOMIC_RELAXED)) {
			log_err("image %s@%llu: fetch of [%llu, +%llu) failed: "
				"%s; its faults get SIGBUS (later failures "
				"are counted, not logged)",
				img->info.name,
				(unsigned long long)img->info.version,
				(unsigned long long)start,
				(unsigned long long)len, strerror(-f->err));
		}
	}
	while ((w = img->waiters[f->block])) {
		img->waiters[f->block] = w->next;
		tell(img->c, w, f->err);
	}
	free(f->bounce);
	free(f);
	image_prefetch_more(img);
	image_cache_check_stop(img->c);
}

static void piece_done(void *arg, int err)
{
	struct fetch *f = arg;

	if (err && !f->err)
		f->err = err;
	if (--f->pieces == 0)
		block_done(f);
}

/* One store read per chunk the block's image bytes touch. */
static void start_fetch(struct image *img, uint64_t b, int prefetch)
{
	struct image_cache *c = img->c;
	uint64_t start, len, end,
	    chunk = store_image_header(img->simg)->chunk_size;
	struct fetch *f = calloc(1, sizeof(*f));

	if (!f) {
		struct image_waiter *w;

		while ((w = img->waiters[b])) {
			img->waiters[b] = w->next;
			tell(img->c, w, -ENOMEM);
		}
		return;
	}
	image_block(img, b * img->info.fetch_size, &start, &len);
	end = start + len < img->info.size ? start + len : img->info.size;
	f->img = img;
	f->block = b;
	f->prefetch = prefetch;
	f->t0 = image_now_ns();
	f->pieces = 1; /* held until every piece is started */
	if (any_filled(img, start, len) && !(f->bounce = malloc(len)))
		f->err = -ENOMEM;
	img->state[b] = BLOCK_FETCHING;
	img->inflight++;
	if (prefetch)
		img->prefetch_inflight++;
	for (uint64_t off = start; off < end && !f->err;) {
		uint64_t stop = (off / chunk + 1) * chunk;
		unsigned char *dst =
		    f->bounce ? f->bounce + (off - start) : img->fill + off;
		int rc;

		if (stop > end)
			stop = end;
		f->pieces++;
		rc = store_read(img->simg, c->lp, off, stop - off, dst,
				piece_done, f);
		if (rc) {
			f->pieces--;
			f->err = rc;
			break;
		}
		off = stop;
	}
	piece_done(f, 0);
}

void image_fetch_want(struct image *img, uint64_t b, struct image_waiter *w)
{
	if (img->state[b] == BLOCK_OK) {
		tell(img->c, w, 0);
		return;
	}
	if (img->state[b] == BLOCK_FAILED) {
		if (image_now_ns() - img->failed_at[b] < IMAGE_RETRY_NS) {
			tell(img->c, w, img->last_err);
			return;
		}
		img->state[b] = BLOCK_ABSENT; /* try the store again */
	}
	w->next = img->waiters[b];
	img->waiters[b] = w;
	if (img->state[b] != BLOCK_ABSENT)
		return;
	if (img->pk_pending && img->pk_pending[b])
		img->state[b] = BLOCK_PACKED; /* its pages are on their way */
	else
		start_fetch(img, b, 0);
}

struct want {
	struct image *img;
	uint64_t block;
	struct image_waiter *w;
};

static void want_on_thread(void *arg)
{
	struct want *wt = arg;

	image_fetch_want(wt->img, wt->block, wt->w);
	free(wt);
}

int image_want(struct image *img, struct event_base *base, uint64_t off,
	       image_ready_fn cb, void *arg)
{
	struct image_waiter *w;
	struct want *wt;

	if (off >= img->info.map_len)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	wt = malloc(sizeof(*wt));
	if (!w || !wt || !(w->to = image_inbox_of(img->c, base))) {
		free(w);
		free(wt);
		return -ENOMEM;
	}
	w->cb = cb;
	w->arg = arg;
	wt->img = img;
	wt->block = off / img->info.fetch_size;
	wt->w = w;
	image_cache_run(img->c, want_on_thread, wt);
	return 0;
}

void image_count_fault(struct image *img, int hit, uint64_t wait_ns)
{
	if (hit) {
		__atomic_add_fetch(&img->faults_hit, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_add_fetch(&img->faults_waited, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&img->c->lock); /* histo: one writer at a time */
	histo_add(&img->wait_ns, wait_ns);
	pthread_mutex_unlock(&img->c->lock);
}

void image_count_poison(struct image *img, uint64_t pages, const char *why)
{
	__atomic_add_fetch(&img->poisoned, pages, __ATOMIC_RELAXED);
	if (!__atomic_exchange_n(&img->error_logged, 1, __ATOMIC_RELAXED))
		log_err("image %s@%llu: %s: SIGBUS (later refusals of this "
			"image are counted, not logged)",
			img->info.name, (unsigned long long)img->info.version,
			why);
}

/* Working sets ------------------------------------------------------------ */

static void trace_got(void *arg, int err, void *buf, size_t len)
{
	struct image *img = arg;
	uint64_t *idx, n, npages = img->info.map_len / img->info.page_size;
	uint32_t psz = 0;
	char why[160];

	img->inflight--;
	image_cache_check_stop(img->c);
	if (err) {
		free(buf);
		if (err != -ENOENT)
			log_warn("image %s@%llu: its trace: %s", img->info.name,
				 (unsigned long long)img->info.version,
				 strerror(-err));
		return;
	}
	err = trace_parse(buf, len, img->info.map_len, &psz, &idx, &n, why,
			  sizeof(why));
	free(buf);
	if (err) {
		log_warn("image %s@%llu: its trace is not a trace: %s",
			 img->info.name, (unsigned long long)img->info.version,
			 err == -ENOMEM ? strerror(ENOMEM) : why);
		return;
	}
	/* Recorded with pages of another kind (2 MiB for a 4 KiB entry, or
	 * the reverse): the bytes they name are what is prefetched, in this
	 * entry's blocks. */
	for (uint64_t i = 0; i < n; i++)
		idx[i] *= psz;
	img->trace = idx;
	img->trace_n = n;
	log_info("image %s@%llu: prefetching %llu recorded pages (of %llu)",
		 img->info.name, (unsigned long long)img->info.version,
		 (unsigned long long)n, (unsigned long long)npages);
	image_prefetch_more(img);
}

void image_prefetch_start(struct image *img)
{
	image_pack_start(img);
}

void image_trace_start(struct image *img)
{
	struct image_cache *c = img->c;

	if (c->stopping)
		return;
	if (store_trace_get_async(c->st, c->lp, img->info.name,
				  img->info.version, trace_got, img) == 0)
		img->inflight++; /* the entry stays until the answer */
}

void image_prefetch_more(struct image *img)
{
	uint32_t max = img->c->conf.prefetch_inflight;

	while (img->trace_next < img->trace_n && !img->c->stopping &&
	       img->prefetch_inflight < max) {
		uint64_t off = img->trace[img->trace_next++];
		uint64_t b = off / img->info.fetch_size;

		/* A page the packed working set brought needs no fetch. */
		if (img->state[b] != BLOCK_ABSENT ||
		    page_filled(img, off / img->info.page_size))
			continue;
		count(&img->prefetched, 1);
		start_fetch(img, b, 1);
	}
}

struct trace_job {
	struct image *img;
	char *buf;
	size_t len;
};

static void trace_put(void *arg, int err, void *buf, size_t len)
{
	struct image *img = arg;

	(void)buf;
	(void)len;
	img->inflight--;
	image_cache_check_stop(img->c);
	if (err)
		log_warn("image %s@%llu: storing its trace: %s", img->info.name,
			 (unsigned long long)img->info.version, strerror(-err));
	else
		log_info("image %s@%llu: trace stored", img->info.name,
			 (unsigned long long)img->info.version);
}

static void trace_on_thread(void *arg)
{
	struct trace_job *j = arg;
	struct image *img = j->img;

	if (store_trace_put_async(img->c->st, img->c->lp, img->info.name,
				  img->info.version, j->buf, j->len, trace_put,
				  img) == 0)
		img->inflight++; /* holds the entry from here on */
	image_pack_store(img, j->buf, j->len);
	image_unref(img);
	free(j->buf);
	free(j);
}

void image_trace_store(struct image *img, const char *buf, size_t len)
{
	struct trace_job *j = malloc(sizeof(*j));

	if (!j || !(j->buf = malloc(len ? len : 1))) {
		free(j);
		return;
	}
	memcpy(j->buf, buf, len);
	j->len = len;
	j->img = img;
	/* The caller's region may go at once: the entry must not. */
	pthread_mutex_lock(&img->c->lock);
	img->refs++;
	pthread_mutex_unlock(&img->c->lock);
	image_cache_run(img->c, trace_on_thread, j);
}
