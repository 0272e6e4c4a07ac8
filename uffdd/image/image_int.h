/* SPDX-License-Identifier: MIT */
/* Inside the image cache: its thread, its entries and their blocks. */
#ifndef UFFDD_IMAGE_INT_H
#define UFFDD_IMAGE_INT_H

#include "cache.h"
#include "core/histo.h"
#include "store/store.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

/* BLOCK_PACKED: absent, its faults wait for the packed working set's
 * read of some of its pages, then the rest is fetched if still wanted. */
enum block_state {
	BLOCK_ABSENT = 0,
	BLOCK_FETCHING,
	BLOCK_OK,
	BLOCK_FAILED,
	BLOCK_PACKED
};

/* A failed block is not fetched again for this long: its faults get the
 * error at once, not one failing read each. */
#define IMAGE_RETRY_NS (1000ull * 1000000ull)

/* A loop that may be told about blocks (a worker's, the main thread's). */
struct image_inbox {
	LIST_ENTRY(image_inbox) link;
	struct event_base *base;
	struct store_loop *lp; /* NULL once its loop has left */
};

/* One wait for one block: answered on its inbox's loop. */
struct image_waiter {
	struct image_waiter *next;
	struct store_post post;
	struct image_inbox *to;
	image_ready_fn cb;
	void *arg;
	int err;
};

struct image {
	LIST_ENTRY(image) link; /* c->images, under c->lock */
	struct image_cache *c;
	struct image_info info;
	dev_t dev;
	ino_t ino;
	unsigned refs; /* regions mapping it; under c->lock */
	uint64_t last_used_ns;
	/* The cache's own views: written only by the fetches. */
	int fd;
	unsigned char *fill;
	/* The image's page-state file (UFFDD_PAGES_IMAGE), every region's:
	 * its filled bits, a bit per page, are set with release order once
	 * the page holds the image's bytes. */
	struct page_state *ps;
	uint8_t *filled;
	/* Owned by the cache's thread. */
	struct store_image *simg;
	uint64_t nblocks;
	uint8_t *state;		       /* enum block_state per block */
	struct image_waiter **waiters; /* per block */
	uint64_t *failed_at;	       /* per block, after a failure */
	int last_err;
	unsigned inflight; /* fetches */
	int dropping;
	uint64_t *trace; /* prefetch order (byte offsets) */
	uint64_t trace_n, trace_next;
	unsigned prefetch_inflight;
	/* The packed working set being read (pack.c); per block, its pages
	 * still to come from it, and whether it filled any. */
	struct pack_load *pk;
	uint32_t *pk_pending;
	uint8_t *pk_touched;
	int error_logged;
	/* Counters: relaxed atomics, read by status. */
	uint64_t fetches, bytes_fetched, fetch_errors, pages_ok, prefetched;
	uint64_t faults_hit, faults_waited, poisoned;
	uint64_t packed_pages, packed_bytes, packed_errors, packed_blocks;
	struct histo fetch_ns; /* written by the cache's thread */
	struct histo wait_ns;  /* written under c->lock */
};

struct open_job;
struct pack_load;
struct page_state;

struct image_cache {
	struct image_conf conf;
	pthread_t thread;
	struct event_base *base;
	struct store_loop *lp; /* the cache thread's inbox */
	struct store *st;
	int store_err;
	char store_msg[256];
	struct event *tick;
	pthread_mutex_t lock; /* images, refs, inboxes, wait_ns */
	LIST_HEAD(, image) images;
	LIST_HEAD(, image_inbox) inboxes;
	uint64_t next_id;
	int stopping;
	struct open_job *opening; /* opens in flight, one per image */
};

/* Run fn(arg) on the cache's thread (arg is malloc'ed, freed by fn). */
void image_cache_run(struct image_cache *c, void (*fn)(void *arg), void *arg);
/* After a fetch or a store call ends: the thread ends once stopping and
 * idle. */
void image_cache_check_stop(struct image_cache *c);
/* Post p to in's loop: 0, or -1 if that loop has left (p not sent). */
int image_inbox_post(struct image_cache *c, struct image_inbox *in,
		     struct store_post *p);
/* The inbox of base (made on first use, on base's thread). */
struct image_inbox *image_inbox_of(struct image_cache *c,
				   struct event_base *base);

/* entry.c: the memfds and the cache's mappings. */
int image_entry_create(struct image_cache *c, struct store_image *simg,
		       int hugetlb, struct image **out, char *err,
		       size_t errlen);
void image_entry_destroy(struct image *img);
/* A read-only descriptor of fd (a new open of the same inode). */
int image_reopen_ro(int fd);
uint64_t image_now_ns(void);

/* fetch.c: on the cache's thread. */
void image_fetch_want(struct image *img, uint64_t block,
		      struct image_waiter *w);
void image_prefetch_start(struct image *img);
void image_prefetch_more(struct image *img);
/* The recorded trace's block prefetch (after the packed working set). */
void image_trace_start(struct image *img);
/* Write page's bytes (checked) into the cache and mark it, unless its
 * block is being fetched or it is filled already: 1 if written. */
int image_fill_page(struct image *img, uint64_t page, const void *src);
/* Block b's packed pages are all in (or given up): a block now whole is
 * ok, its waiters told; a block with waiters and holes is fetched. */
void image_block_settle(struct image *img, uint64_t b);
/* Bump a counter read by status (relaxed). */
void image_count(uint64_t *c, uint64_t v);

/* pack.c: the packed working set (store/pack.h). */
void image_pack_start(struct image *img);
void image_pack_store(struct image *img, const char *trace, size_t len);

#endif
