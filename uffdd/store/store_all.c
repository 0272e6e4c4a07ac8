/* SPDX-License-Identifier: MIT */
/*
 * A whole image, with many reads in flight: the downloader of uffd-image
 * get and the "download, then run" side of the benchmarks, so that the
 * lazy path is compared against a good download, not a serial one.
 */
#include "store_priv.h"

#include <errno.h>
#include <event2/event.h>

struct all {
	struct store_image *img;
	struct store_loop *lp;
	unsigned char *dst;
	uint64_t next; /* offset of the next read to start */
	unsigned inflight;
	int err;
};

static void start(struct all *a);

static void on_read(void *arg, int err)
{
	struct all *a = arg;

	a->inflight--;
	if (err && !a->err)
		a->err = err;
	if (!a->err)
		start(a);
}

static void start(struct all *a)
{
	const struct img_header *h = &a->img->h;
	uint64_t off = a->next;
	size_t len;
	int rc;

	if (off >= h->size)
		return;
	len = off + h->chunk_size <= h->size ? h->chunk_size : h->size - off;
	rc = store_read(a->img, a->lp, off, len, a->dst + off, on_read, a);
	if (rc) {
		a->err = rc;
		return;
	}
	a->next += len;
	a->inflight++;
}

int store_read_all(struct store_image *img, void *dst, unsigned inflight)
{
	struct event_base *base = event_base_new();
	struct all a = { .img = img, .dst = dst };
	int rc;

	if (!base)
		return -ENOMEM;
	a.lp = store_loop_new(base);
	if (!a.lp) {
		event_base_free(base);
		return -ENOMEM;
	}
	if (!inflight)
		inflight = img->st->image_inflight_max;
	for (unsigned i = 0; i < inflight; i++)
		start(&a);
	while (a.inflight)
		event_base_loop(base, EVLOOP_ONCE);
	rc = a.err;
	store_loop_free(a.lp);
	event_base_free(base);
	return rc;
}
