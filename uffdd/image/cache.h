/* SPDX-License-Identifier: MIT */
/*
 * The host's image cache: at most one copy of each (image, version, page
 * kind), fetched from the store a block at a time when first needed, and
 * mapped into every client that maps the image.
 *
 * Each cached image is a memfd the cache creates and seals (SHRINK, GROW,
 * and FUTURE_WRITE once its own fill mapping exists); clients get a
 * read-only descriptor of it and map it MAP_PRIVATE (copy-on-write) or
 * shared read-only.  Beside it the image's page-state file (a bit per
 * page, proto/PROTOCOL.md) says which pages hold the image's bytes
 * (fetched and checked): the fault path maps only those, and a client
 * library that outlives the daemon can tell them from pages never filled
 * or filled halfway.
 *
 * Threads.  The cache runs its own thread and loop: it talks to the store
 * (opens, fetches, traces, prefetch) and owns every block's state, so a
 * block is fetched once however many clients and workers wait on it.
 * Workers only read the bitmap (image_page_ok) and ask for blocks
 * (image_want); the answer comes back on their own loop.
 */
#ifndef UFFDD_IMAGE_CACHE_H
#define UFFDD_IMAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct json_object;
struct image_cache;
struct image;

struct image_conf {
	char store[4096];	    /* store URL; "" = no images */
	uint32_t fetch_size;	    /* bytes per fetch, 64 KiB .. 4 MiB */
	uint32_t fault_timeout_ms;  /* a fault waits this long, then SIGBUS */
	uint32_t keep_ms;	    /* an image no client maps is kept ... */
	uint64_t budget;	    /* ... unless the cache is over this */
	uint32_t prefetch_inflight; /* fetches a trace replay keeps going */
	uint32_t map_window;	    /* bytes mapped at a cached fault, 0: a
				       fetch block (read by the policy) */
};
void image_conf_default(struct image_conf *c);

/* Start the cache's thread; the store is opened there.  0 or -errno. */
int image_cache_start(const struct image_conf *conf, struct image_cache **out,
		      char *err, size_t errlen);
/* Stop: waits for fetches in flight.  Images still mapped stay valid in
 * their clients (their memfds live on in the clients' descriptors). */
void image_cache_stop(struct image_cache *c);
const struct image_conf *image_cache_conf(const struct image_cache *c);
/* The daemon's cache (NULL: images off), for the image policy. */
void image_cache_set_global(struct image_cache *c);
struct image_cache *image_cache_global(void);
/* 1 if fd is the memfd of one of c's images (no reference taken). */
int image_is_cached(struct image_cache *c, int fd);

struct image_info {
	uint64_t id; /* unique in this daemon's life */
	char name[65];
	uint64_t version;
	uint64_t size;	  /* the image's bytes */
	uint64_t map_len; /* size rounded up to page_size: the memfd's size */
	uint32_t page_size;
	uint32_t fetch_size; /* a multiple of page_size */
	int hugetlb;
};

/*
 * Open name@version (0: the latest) with the given page kind, creating the
 * cache entry if this host has none.  cb runs on base's loop (the caller's
 * thread must run base) with err 0 and a new descriptor the callee owns:
 * the image, read-only; or with -errno and a message.
 */
typedef void (*image_open_fn)(void *arg, int err, const char *msg,
			      const struct image_info *info, int image_fd);
int image_open(struct image_cache *c, struct event_base *base, const char *name,
	       uint64_t version, int hugetlb, image_open_fn cb, void *arg);

/* base's loop has stopped and is about to be freed: what was posted to it
 * is delivered now (on this thread), nothing more is. */
void image_cache_leave(struct image_cache *c, struct event_base *base);

/* The entry whose memfd is fd's inode (a client registering its mapping of
 * an image), with a reference; NULL if fd is none of the cache's. */
struct image *image_match(struct image_cache *c, int fd);
void image_unref(struct image *img);
const struct image_info *image_get_info(const struct image *img);
/* A new, read-only descriptor of img's page-state file (pagestate.h), the
 * one every region of img is handed; -errno. */
int image_pages_fd(const struct image *img);

/* Fault path (any thread) -------------------------------------------------- */

/* 1 if the page at memfd offset off holds the image's bytes. */
int image_page_ok(const struct image *img, uint64_t off);
/* The fetch block holding off: [*start, *start + *len) of the memfd. */
void image_block(const struct image *img, uint64_t off, uint64_t *start,
		 uint64_t *len);
/*
 * Ask for the block holding off.  cb(arg, err) runs once on base's loop:
 * err 0 once every page of the block is ok, or -errno when its fetch
 * failed (the block may be asked for again).  Called on base's thread.
 */
typedef void (*image_ready_fn)(void *arg, int err);
int image_want(struct image *img, struct event_base *base, uint64_t off,
	       image_ready_fn cb, void *arg);
/* Count a fault on img: hit (the page was ok) or not; wait_ns is how long
 * a fault that waited for its block waited. */
void image_count_fault(struct image *img, int hit, uint64_t wait_ns);
/* pages got SIGBUS because of why: counted; the first refusal of an
 * image (this one or a failed fetch) is logged, the rest only counted. */
void image_count_poison(struct image *img, uint64_t pages, const char *why);

/* Store a recorded trace beside the image (copied; async). */
void image_trace_store(struct image *img, const char *buf, size_t len);

/* `uffdctl images`: an array of every cached image with its counters. */
struct json_object *image_cache_status(struct image_cache *c);

#endif
