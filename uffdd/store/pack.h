/* SPDX-License-Identifier: MIT */
/*
 * The packed working set of an image version for one page size
 * (NAME@V.ws.PSZ): the pages a recording touched, their bytes back to back
 * in first-touch order, so that a host reads them in a few large reads
 * instead of a store block per page.  Byte layout in docs/images.md:
 *
 *     header (PACK_HDR_LEN bytes, its own CRC-32C)
 *     count x u64  page index (byte offset / page size), no repeats
 *     count x u32  CRC-32C of each page's bytes
 *     count x page size  the pages' bytes
 *
 * The header binds the object to its image (name, version, size) and the
 * CRC of the two arrays binds every page's index to its checksum.
 */
#ifndef UFFDD_STORE_PACK_H
#define UFFDD_STORE_PACK_H

#include "format.h"

#include <stddef.h>
#include <stdint.h>

#define PACK_HDR_LEN 128u
#define PACK_FORMAT  1u

struct pack_header {
	char name[IMG_NAME_MAX + 1];
	uint64_t version;
	uint64_t size; /* the image's */
	uint32_t page_size;
	uint32_t count;
	uint64_t length;   /* the whole object's */
	uint32_t meta_crc; /* of the index and checksum arrays */
};

/* The object's length for count pages of page_size (its meta first). */
uint64_t pack_length(uint32_t page_size, uint32_t count);
static inline uint64_t pack_meta_len(uint32_t count)
{
	return 12ull * count;
}
static inline uint64_t pack_data_off(uint32_t count)
{
	return PACK_HDR_LEN + pack_meta_len(count);
}

/* Fill h's length from its page size and count, then write the header's
 * PACK_HDR_LEN bytes into out. */
void pack_header_encode(struct pack_header *h, unsigned char *out);
/*
 * Parse and check a header against the image it must belong to: magic,
 * format, length, its own CRC, name, version, image size, page size, a
 * count of 1 to the image's pages, the object no longer than
 * IMG_PACK_MAX.  0 or -EBADMSG with err set.
 */
int pack_header_decode(const unsigned char *buf, size_t len, const char *name,
		       uint64_t version, uint64_t size, uint32_t page_size,
		       struct pack_header *h, char *err, size_t errlen);
/* The meta arrays (pack_meta_len bytes) against h: their CRC, each index
 * below npages and seen once (seen: a zeroed bit per page, left set).
 * Fills idx[] and crc[] (count each).  0 or -EBADMSG with err set. */
int pack_meta_decode(const struct pack_header *h, const unsigned char *buf,
		     uint64_t npages, uint8_t *seen, uint64_t *idx,
		     uint32_t *crc, char *err, size_t errlen);
/* Write idx[] and crc[] into out (pack_meta_len bytes); their CRC. */
uint32_t pack_meta_encode(uint32_t count, const uint64_t *idx,
			  const uint32_t *crc, unsigned char *out);

#endif
