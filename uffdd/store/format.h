/* SPDX-License-Identifier: MIT */
/*
 * The image format, the same in every store: an image version is a header
 * object and its chunks, each an object (a file in a file: store).
 *
 *   NAME@V.hdr        the header: size, chunk size, a CRC-32C per block
 *   NAME@V.XXXXXXXX   chunk number XXXXXXXX (hex), chunk_size bytes (the
 *                     last one shorter)
 *   NAME@V.trace      the recorded working set (optional)
 *   NAME@V.ws.PSZ     its pages' bytes, packed, for page size PSZ
 *                     (optional; image/pack.h)
 *   NAME.latest       the highest version, as decimal text
 *
 * A version exists once its header exists: put writes the chunks first,
 * the header last; rm removes the header first.  Versions are immutable.
 * The header's byte layout is in docs/images.md.
 */
#ifndef UFFDD_IMG_FORMAT_H
#define UFFDD_IMG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define IMG_NAME_MAX	  64 /* UFFDD_IMAGE_NAME_MAX */
#define IMG_OBJ_MAX	  (IMG_NAME_MAX + 32)
#define IMG_BLOCK	  65536u /* checksum granularity, the smallest fetch */
#define IMG_CHUNK_DEFAULT (4u << 20)
#define IMG_CHUNK_MAX	  (64u << 20)
#define IMG_SIZE_MAX	  (1ull << 40) /* 1 TiB: a header of 64 MiB at most */
#define IMG_TRACE_MAX	  (64u << 20)
/* A packed working set: under RADOS' default largest object (128 MiB). */
#define IMG_PACK_MAX (112u << 20)

struct img_header {
	char name[IMG_NAME_MAX + 1];
	uint64_t version;
	uint64_t size; /* bytes */
	uint32_t chunk_size;
	uint32_t block_size;
	uint64_t created; /* unix seconds, informative */
	uint32_t nblocks;
	uint32_t *crc; /* CRC-32C of each block (the last may be short) */
};

/* 1-64 of [A-Za-z0-9._-], starting with a letter or digit. */
int img_name_valid(const char *name);

/* "name" or "name@version" (version 0 = latest).  0 or -EINVAL. */
int img_parse_ref(const char *ref, char name[IMG_NAME_MAX + 1],
		  uint64_t *version);

/* Object names; out must hold IMG_OBJ_MAX bytes. */
void img_obj_header(char *out, const char *name, uint64_t version);
void img_obj_chunk(char *out, const char *name, uint64_t version, uint64_t idx);
void img_obj_trace(char *out, const char *name, uint64_t version);
void img_obj_latest(char *out, const char *name);
void img_obj_pack(char *out, const char *name, uint64_t version,
		  uint32_t page_size);
/* An object name "NAME@V.hdr"?  Fills name and version.  0 or -EINVAL. */
int img_obj_is_header(const char *obj, char name[IMG_NAME_MAX + 1],
		      uint64_t *version);

/* Checks chunk_size (a power of two multiple of IMG_BLOCK up to
 * IMG_CHUNK_MAX) and size.  0 or -EINVAL. */
int img_geometry_valid(uint64_t size, uint32_t chunk_size);
uint64_t img_nchunks(const struct img_header *h);

/* Serialise into a malloc'ed buffer.  0 or -errno. */
int img_header_encode(const struct img_header *h, void **buf, size_t *len);
/* Parse and check (magic, lengths, geometry, its own CRC).  h->crc is
 * malloc'ed; free with img_header_free.  0 or -EBADMSG with err set. */
int img_header_decode(const void *buf, size_t len, struct img_header *h,
		      char *err, size_t errlen);
void img_header_free(struct img_header *h);

#endif
