/* SPDX-License-Identifier: MIT */
/* The generic store's own structs, shared by its files (not backends). */
#ifndef UFFDD_STORE_PRIV_H
#define UFFDD_STORE_PRIV_H

#include "store_int.h"

/* Room for the header of the largest image (IMG_SIZE_MAX). */
#define IMG_HEADER_MAX (256u + 4u * (uint32_t)(IMG_SIZE_MAX / IMG_BLOCK))

struct store_job;

struct store {
	const struct store_ops *ops;
	void *be;
	pthread_mutex_t lock; /* the queues, the counters, the jobs */
	uint32_t inflight, inflight_max, image_inflight_max, queued;
	TAILQ_HEAD(, store_image) ring; /* images with queued reads */
	struct store_stats stats;
	/* The metadata thread, started by the first asynchronous job. */
	pthread_t meta;
	int meta_started, meta_stopping;
	pthread_cond_t meta_cv;
	TAILQ_HEAD(, store_job) jobs;
};

struct store_image {
	struct store *st;
	struct img_header h;
	uint32_t inflight, inflight_peak;
	TAILQ_HEAD(, store_req) queue;
	TAILQ_ENTRY(store_image) ring_link;
	int on_ring;
};

void store_meta_stop(struct store *st);

#endif
