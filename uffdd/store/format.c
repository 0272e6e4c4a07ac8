/* SPDX-License-Identifier: MIT */
/* Image names, object names and the header's byte layout. */
#include "format.h"
#include "crc32c.h"
#include "le.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Header layout, all integers little-endian (docs/images.md). */
#define MAGIC	    "UFFDIMG1"
#define FORMAT	    1u
#define OFF_FORMAT  8
#define OFF_LEN	    12
#define OFF_VERSION 16
#define OFF_SIZE    24
#define OFF_CHUNK   32
#define OFF_BLOCK   36
#define OFF_CREATED 40
#define OFF_NAME    48
#define OFF_NBLOCKS (OFF_NAME + IMG_NAME_MAX)
#define OFF_CRC	    (OFF_NBLOCKS + 8)

_Static_assert(IMG_NAME_MAX == UFFDD_IMAGE_NAME_MAX, "one name rule");

/* The protocol's rule (a client's IMAGE_OPEN is checked by the same). */
int img_name_valid(const char *name)
{
	return uffdd_image_name_valid(name);
}

int img_parse_ref(const char *ref, char name[IMG_NAME_MAX + 1],
		  uint64_t *version)
{
	const char *at = strchr(ref, '@');
	size_t n = at ? (size_t)(at - ref) : strlen(ref);

	if (n == 0 || n > IMG_NAME_MAX)
		return -EINVAL;
	memcpy(name, ref, n);
	name[n] = 0;
	if (!img_name_valid(name))
		return -EINVAL;
	*version = 0;
	if (at) {
		char *end;

		if (at[1] < '1' || at[1] > '9')
			return -EINVAL;
		errno = 0;
		*version = strtoull(at + 1, &end, 10);
		if (errno || *end || *version > INT64_MAX)
			return -EINVAL;
	}
	return 0;
}

void img_obj_header(char *out, const char *name, uint64_t version)
{
	snprintf(out, IMG_OBJ_MAX, "%s@%" PRIu64 ".hdr", name, version);
}

void img_obj_chunk(char *out, const char *name, uint64_t version, uint64_t idx)
{
	snprintf(out, IMG_OBJ_MAX, "%s@%" PRIu64 ".%08" PRIx64, name, version,
		 idx);
}

void img_obj_trace(char *out, const char *name, uint64_t version)
{
	snprintf(out, IMG_OBJ_MAX, "%s@%" PRIu64 ".trace", name, version);
}

void img_obj_pack(char *out, const char *name, uint64_t version,
		  uint32_t page_size)
{
	snprintf(out, IMG_OBJ_MAX, "%s@%" PRIu64 ".ws.%" PRIu32, name, version,
		 page_size);
}

void img_obj_latest(char *out, const char *name)
{
	snprintf(out, IMG_OBJ_MAX, "%s.latest", name);
}

int img_obj_is_header(const char *obj, char name[IMG_NAME_MAX + 1],
		      uint64_t *version)
{
	size_t n = strlen(obj);
	char ref[IMG_OBJ_MAX];

	if (n < 5 || n >= sizeof(ref) || strcmp(obj + n - 4, ".hdr"))
		return -EINVAL;
	memcpy(ref, obj, n - 4);
	ref[n - 4] = 0;
	if (!strchr(ref, '@'))
		return -EINVAL;
	if (img_parse_ref(ref, name, version) || *version == 0)
		return -EINVAL;
	return 0;
}

int img_geometry_valid(uint64_t size, uint32_t chunk_size)
{
	if (chunk_size < IMG_BLOCK || chunk_size > IMG_CHUNK_MAX ||
	    (chunk_size & (chunk_size - 1)))
		return -EINVAL;
	if (size == 0 || size > IMG_SIZE_MAX)
		return -EINVAL;
	return 0;
}

uint64_t img_nchunks(const struct img_header *h)
{
	return (h->size + h->chunk_size - 1) / h->chunk_size;
}

static uint32_t nblocks_of(uint64_t size)
{
	return (uint32_t)((size + IMG_BLOCK - 1) / IMG_BLOCK);
}

static size_t header_len(uint32_t nblocks)
{
	return OFF_CRC + 4 * (size_t)nblocks + 4;
}

int img_header_encode(const struct img_header *h, void **buf, size_t *len)
{
	size_t n;
	unsigned char *p;

	if (!img_name_valid(h->name) || !h->version ||
	    img_geometry_valid(h->size, h->chunk_size) ||
	    h->block_size != IMG_BLOCK || h->nblocks != nblocks_of(h->size))
		return -EINVAL;
	n = header_len(h->nblocks);
	p = calloc(1, n);
	if (!p)
		return -ENOMEM;
	memcpy(p, MAGIC, 8);
	put32(p + OFF_FORMAT, FORMAT);
	put32(p + OFF_LEN, (uint32_t)n);
	put64(p + OFF_VERSION, h->version);
	put64(p + OFF_SIZE, h->size);
	put32(p + OFF_CHUNK, h->chunk_size);
	put32(p + OFF_BLOCK, h->block_size);
	put64(p + OFF_CREATED, h->created);
	memcpy(p + OFF_NAME, h->name, strlen(h->name));
	put32(p + OFF_NBLOCKS, h->nblocks);
	for (uint32_t i = 0; i < h->nblocks; i++)
		put32(p + OFF_CRC + 4 * (size_t)i, h->crc[i]);
	put32(p + n - 4, crc32c(0, p, n - 4));
	*buf = p;
	*len = n;
	return 0;
}

static int bad(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "bad image header: %s", what);
	return -EBADMSG;
}

int img_header_decode(const void *buf, size_t len, struct img_header *h,
		      char *err, size_t errlen)
{
	const unsigned char *p = buf;
	uint32_t nb;

	memset(h, 0, sizeof(*h));
	if (len < header_len(0) || memcmp(p, MAGIC, 8))
		return bad(err, errlen, "no magic");
	if (get32(p + OFF_FORMAT) != FORMAT)
		return bad(err, errlen, "unknown format");
	if (get32(p + OFF_LEN) != len)
		return bad(err, errlen, "length differs from the object's");
	if (get32(p + len - 4) != crc32c(0, p, len - 4))
		return bad(err, errlen, "checksum");
	memcpy(h->name, p + OFF_NAME, IMG_NAME_MAX);
	h->name[IMG_NAME_MAX] = 0;
	h->version = get64(p + OFF_VERSION);
	h->size = get64(p + OFF_SIZE);
	h->chunk_size = get32(p + OFF_CHUNK);
	h->block_size = get32(p + OFF_BLOCK);
	h->created = get64(p + OFF_CREATED);
	nb = get32(p + OFF_NBLOCKS);
	if (!img_name_valid(h->name) || !h->version || h->version > INT64_MAX)
		return bad(err, errlen, "name or version");
	if (img_geometry_valid(h->size, h->chunk_size) ||
	    h->block_size != IMG_BLOCK)
		return bad(err, errlen, "geometry");
	if (nb != nblocks_of(h->size) || len != header_len(nb))
		return bad(err, errlen, "block count");
	h->crc = malloc(4 * (size_t)nb);
	if (!h->crc)
		return -ENOMEM;
	for (uint32_t i = 0; i < nb; i++)
		h->crc[i] = get32(p + OFF_CRC + 4 * (size_t)i);
	h->nblocks = nb;
	return 0;
}

void img_header_free(struct img_header *h)
{
	free(h->crc);
	h->crc = NULL;
}
