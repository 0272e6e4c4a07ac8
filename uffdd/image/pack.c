/* SPDX-License-Identifier: MIT */
/*
 * The packed working set (store/pack.h), both ways.
 *
 * Writing: when a recording ends, the pages it touched that this host holds
 * (filled, so checked against the image's block CRCs) are copied back to
 * back, in first-touch order, into one object beside the trace.  The copy
 * and the put run on the store's metadata thread: the cache's thread keeps
 * serving faults meanwhile (the entry is held by inflight, and filled pages
 * never change).
 *
 * Reading: before the trace's block prefetch, a host reads the object's
 * header and arrays, then its pages in PACK_PIECE reads, PACK_INFLIGHT at a
 * time, through the store's queue (no worker ever waits on it).  Each page
 * is checked (its own CRC; a page of a block or more also against the
 * image's own block CRCs) before it is written into the cache and its bit
 * set, and written only if its block is not being fetched and the page is
 * not filled: one writer per page.  A fault on a block whose pages are on
 * their way waits for them (BLOCK_PACKED), then the block's holes are
 * fetched.  Anything wrong with the object (missing piece, bad checksum,
 * a header that is not this image's) stops its use: logged once, counted,
 * and the trace's block prefetch and the faults fetch the rest as before.
 */
#include "store/pack.h"
#include "core/log.h"
#include "image_int.h"
#include "policy/trace.h"
#include "store/crc32c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PACK_PIECE    (4u << 20) /* bytes a read asks for */
#define PACK_INFLIGHT 4u

struct pack_load {
	struct image *img;
	char obj[IMG_OBJ_MAX];
	unsigned char hdr[PACK_HDR_LEN];
	struct pack_header h;
	unsigned char *meta;
	uint64_t *idx;
	uint32_t *crc;
	uint32_t next, per_piece;
	unsigned inflight;
	int bad;
};

struct pack_piece {
	struct pack_load *pl;
	uint32_t first, n;
	unsigned char *buf;
};

static void log_bad(struct image *img, const char *why)
{
	image_count(&img->packed_errors, 1);
	log_warn("image %s@%llu: its packed working set is not used: %s; "
		 "its pages are fetched from the image",
		 img->info.name, (unsigned long long)img->info.version, why);
}

static uint64_t block_of(const struct image *img, uint64_t page)
{
	return page * img->info.page_size / img->info.fetch_size;
}

/* Pages [from, to) of the object will not come: their blocks settle. */
static void release(struct pack_load *pl, uint32_t from, uint32_t to)
{
	struct image *img = pl->img;

	for (uint32_t i = from; i < to; i++) {
		uint64_t b = block_of(img, pl->idx[i]);

		if (--img->pk_pending[b] == 0)
			image_block_settle(img, b);
	}
}

static void finish(struct pack_load *pl)
{
	struct image *img = pl->img;

	img->pk = NULL;
	free(pl->meta);
	free(pl->idx);
	free(pl->crc);
	free(pl);
	image_trace_start(img);
}

static void give_up(struct pack_load *pl, const char *why)
{
	if (!pl->bad)
		log_bad(pl->img, why);
	pl->bad = 1;
	release(pl, pl->next, pl->h.count);
	pl->next = pl->h.count;
}

static void more(struct pack_load *pl);

/* The image's own block CRCs over a page that spans whole blocks. */
static int blocks_ok(const struct image *img, uint64_t page,
		     const unsigned char *p)
{
	const struct img_header *h = store_image_header(img->simg);
	uint32_t ps = img->info.page_size;

	for (uint64_t off = page * ps; off < page * ps + ps && off < h->size;
	     off += IMG_BLOCK) {
		size_t n =
		    off + IMG_BLOCK <= h->size ? IMG_BLOCK : h->size - off;

		if (crc32c(0, p + (off - page * ps), n) !=
		    h->crc[off / IMG_BLOCK])
			return 0;
	}
	return 1;
}

static void piece_done(void *arg, int err)
{
	struct pack_piece *pc = arg;
	struct pack_load *pl = pc->pl;
	struct image *img = pl->img;
	uint32_t ps = img->info.page_size;
	const char *why = err ? strerror(-err) : NULL;

	pl->inflight--;
	img->inflight--;
	if (!err)
		image_count(&img->packed_bytes, (uint64_t)pc->n * ps);
	for (uint32_t i = 0; !why && i < pc->n; i++) {
		const unsigned char *p = pc->buf + (uint64_t)i * ps;
		uint64_t page = pl->idx[pc->first + i];

		if (crc32c(0, p, ps) != pl->crc[pc->first + i] ||
		    (ps >= IMG_BLOCK && !blocks_ok(img, page, p)))
			why = "a page's checksum";
	}
	if (why) {
		if (!pl->bad)
			log_bad(img, why);
		pl->bad = 1;
	}
	for (uint32_t i = 0; !why && i < pc->n; i++) {
		uint64_t page = pl->idx[pc->first + i];
		uint64_t b = block_of(img, page);

		if (!image_fill_page(img, page, pc->buf + (uint64_t)i * ps))
			continue;
		image_count(&img->packed_pages, 1);
		if (!img->pk_touched[b]) {
			img->pk_touched[b] = 1;
			image_count(&img->packed_blocks, 1);
		}
	}
	release(pl, pc->first, pc->first + pc->n);
	free(pc->buf);
	free(pc);
	if (pl->bad && pl->next < pl->h.count)
		give_up(pl, "");
	more(pl);
	image_cache_check_stop(img->c);
}

/* Start piece reads while there are pages and room; end when all are in. */
static void more(struct pack_load *pl)
{
	struct image *img = pl->img;
	uint32_t ps = img->info.page_size;

	while (!pl->bad && pl->next < pl->h.count &&
	       pl->inflight < PACK_INFLIGHT) {
		struct pack_piece *pc = calloc(1, sizeof(*pc));
		uint32_t n = pl->h.count - pl->next;
		int rc;

		if (img->c->stopping) {
			free(pc);
			give_up(pl, "the daemon is stopping");
			break;
		}
		if (n > pl->per_piece)
			n = pl->per_piece;
		if (!pc || !(pc->buf = malloc((size_t)n * ps))) {
			free(pc);
			give_up(pl, strerror(ENOMEM));
			break;
		}
		pc->pl = pl;
		pc->first = pl->next;
		pc->n = n;
		rc = store_read_obj(img->simg, img->c->lp, pl->obj,
				    pack_data_off(pl->h.count) +
					(uint64_t)pl->next * ps,
				    (size_t)n * ps, pc->buf, piece_done, pc);
		if (rc) {
			free(pc->buf);
			free(pc);
			give_up(pl, strerror(-rc));
			break;
		}
		pl->next += n;
		pl->inflight++;
		img->inflight++;
	}
	if (!pl->inflight && pl->next >= pl->h.count)
		finish(pl);
}

static void meta_done(void *arg, int err)
{
	struct pack_load *pl = arg;
	struct image *img = pl->img;
	uint64_t npages = img->info.map_len / img->info.page_size;
	uint8_t *seen = NULL;
	char why[160];

	img->inflight--;
	if (!err)
		image_count(&img->packed_bytes, pack_meta_len(pl->h.count));
	if (!err && (!(seen = calloc((npages + 7) / 8, 1)) ||
		     !(pl->idx = malloc(pl->h.count * sizeof(*pl->idx))) ||
		     !(pl->crc = malloc(pl->h.count * sizeof(*pl->crc)))))
		err = -ENOMEM;
	if (!err)
		err = pack_meta_decode(&pl->h, pl->meta, npages, seen, pl->idx,
				       pl->crc, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", strerror(-err));
	free(seen);
	free(pl->meta);
	pl->meta = NULL;
	if (err || img->c->stopping ||
	    (!img->pk_pending &&
	     !(img->pk_pending =
		   calloc(img->nblocks, sizeof(*img->pk_pending)))) ||
	    (!img->pk_touched &&
	     !(img->pk_touched = calloc(img->nblocks, 1)))) {
		if (!img->c->stopping)
			log_bad(img, err ? why : strerror(ENOMEM));
		pl->h.count = 0; /* nothing pending */
		finish(pl);
		image_cache_check_stop(img->c);
		return;
	}
	for (uint32_t i = 0; i < pl->h.count; i++)
		img->pk_pending[block_of(img, pl->idx[i])]++;
	log_info("image %s@%llu: reading %u packed pages of its working set",
		 img->info.name, (unsigned long long)img->info.version,
		 pl->h.count);
	more(pl);
	image_cache_check_stop(img->c);
}

static void hdr_done(void *arg, int err)
{
	struct pack_load *pl = arg;
	struct image *img = pl->img;
	char why[160];

	img->inflight--;
	if (!err) {
		image_count(&img->packed_bytes, PACK_HDR_LEN);
		err = pack_header_decode(pl->hdr, sizeof(pl->hdr),
					 img->info.name, img->info.version,
					 img->info.size, img->info.page_size,
					 &pl->h, why, sizeof(why));
	} else {
		snprintf(why, sizeof(why), "%s", strerror(-err));
	}
	if (!err && !img->c->stopping) {
		pl->meta = malloc(pack_meta_len(pl->h.count));
		err = pl->meta ? store_read_obj(img->simg, img->c->lp, pl->obj,
						PACK_HDR_LEN,
						pack_meta_len(pl->h.count),
						pl->meta, meta_done, pl)
			       : -ENOMEM;
		if (!err) {
			img->inflight++;
			return;
		}
		snprintf(why, sizeof(why), "%s", strerror(-err));
	}
	/* No object is the common case: nothing was recorded. */
	if (err && err != -ENOENT && !img->c->stopping)
		log_bad(img, why);
	pl->h.count = 0;
	finish(pl);
	image_cache_check_stop(img->c);
}

void image_pack_start(struct image *img)
{
	struct pack_load *pl = calloc(1, sizeof(*pl));
	uint32_t ps = img->info.page_size;

	if (!pl) {
		image_trace_start(img);
		return;
	}
	pl->img = img;
	pl->per_piece = PACK_PIECE / ps ? PACK_PIECE / ps : 1;
	img_obj_pack(pl->obj, img->info.name, img->info.version, ps);
	img->pk = pl;
	if (store_read_obj(img->simg, img->c->lp, pl->obj, 0, PACK_HDR_LEN,
			   pl->hdr, hdr_done, pl)) {
		finish(pl);
		return;
	}
	img->inflight++; /* the entry stays until the answer */
}

/* Writing ----------------------------------------------------------------- */

struct pack_job {
	struct image *img;
	struct store *st;
	uint64_t *pages;
	uint32_t count;
	uint64_t length;
};

/* On the metadata thread: copy, sum, put. */
static int pack_write(void *arg)
{
	struct pack_job *j = arg;
	struct image *img = j->img;
	uint32_t ps = img->info.page_size;
	struct pack_header h = { 0 };
	char obj[IMG_OBJ_MAX];
	unsigned char *buf = malloc(j->length);
	uint32_t *crc = malloc(j->count * sizeof(*crc));
	int rc;

	if (!buf || !crc) {
		free(buf);
		free(crc);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < j->count; i++) {
		unsigned char *dst =
		    buf + pack_data_off(j->count) + (uint64_t)i * ps;

		memcpy(dst, img->fill + j->pages[i] * ps, ps);
		crc[i] = crc32c(0, dst, ps);
	}
	snprintf(h.name, sizeof(h.name), "%s", img->info.name);
	h.version = img->info.version;
	h.size = img->info.size;
	h.page_size = ps;
	h.count = j->count;
	h.meta_crc =
	    pack_meta_encode(j->count, j->pages, crc, buf + PACK_HDR_LEN);
	pack_header_encode(&h, buf);
	free(crc);
	img_obj_pack(obj, img->info.name, img->info.version, ps);
	rc = store_obj_put(j->st, obj, buf, j->length);
	free(buf);
	return rc;
}

static void pack_written(void *arg, int err)
{
	struct pack_job *j = arg;
	struct image *img = j->img;

	img->inflight--;
	if (err)
		log_warn("image %s@%llu: storing its packed working set: %s",
			 img->info.name, (unsigned long long)img->info.version,
			 strerror(-err));
	else
		log_info("image %s@%llu: packed working set stored: %u pages, "
			 "%llu bytes",
			 img->info.name, (unsigned long long)img->info.version,
			 j->count, (unsigned long long)j->length);
	free(j->pages);
	free(j);
	image_cache_check_stop(img->c);
}

/* The trace's pages in this entry's page size, first touch first, each
 * once, only those filled here, as many as IMG_PACK_MAX holds. */
static int pages_of(struct image *img, const char *trace, size_t len,
		    uint64_t **out, uint32_t *count)
{
	uint32_t ps = img->info.page_size, psz = 0;
	uint64_t npages = img->info.map_len / ps, *idx = NULL, n = 0;
	uint64_t max = (IMG_PACK_MAX - PACK_HDR_LEN) / (ps + 12ull);
	uint8_t *seen = NULL;
	uint64_t *pages = NULL;
	uint32_t k = 0;
	char why[160];
	int rc = trace_parse(trace, len, img->info.map_len, &psz, &idx, &n, why,
			     sizeof(why));

	if (rc)
		return rc;
	if (max > npages)
		max = npages;
	seen = calloc((npages + 7) / 8, 1);
	pages = malloc((max ? max : 1) * sizeof(*pages));
	if (!seen || !pages) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < n && k < max; i++) {
		uint64_t from = idx[i] * psz, to = from + psz;

		if (to > img->info.map_len)
			to = img->info.map_len;
		for (uint64_t p = from / ps; p * ps < to && k < max; p++) {
			if (seen[p / 8] & (1u << (p % 8)) ||
			    !image_page_ok(img, p * ps))
				continue;
			seen[p / 8] |= (uint8_t)(1u << (p % 8));
			pages[k++] = p;
		}
	}
out:
	free(idx);
	free(seen);
	if (rc || !k) {
		free(pages);
		pages = NULL;
	}
	*out = pages;
	*count = k;
	return rc;
}

void image_pack_store(struct image *img, const char *trace, size_t len)
{
	struct pack_job *j = calloc(1, sizeof(*j));
	int rc;

	if (!j)
		return;
	rc = pages_of(img, trace, len, &j->pages, &j->count);
	if (rc || !j->count) {
		if (rc)
			log_warn("image %s@%llu: no packed working set: %s",
				 img->info.name,
				 (unsigned long long)img->info.version,
				 strerror(rc == -ENOMEM ? ENOMEM : EBADMSG));
		free(j);
		return;
	}
	j->img = img;
	j->st = img->c->st;
	j->length = pack_length(img->info.page_size, j->count);
	if (store_call_async(img->c->st, img->c->lp, pack_write, pack_written,
			     j) == 0) {
		img->inflight++; /* the fill mapping stays until it is copied */
		return;
	}
	free(j->pages);
	free(j);
}
