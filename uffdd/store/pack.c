/* SPDX-License-Identifier: MIT */
/* The packed working set's header and arrays (pack.h). */
#include "pack.h"

#include "crc32c.h"
#include "le.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char magic[8] = { 'U', 'F', 'F', 'D', 'W', 'S', '0', '1' };

uint64_t pack_length(uint32_t page_size, uint32_t count)
{
	return pack_data_off(count) + (uint64_t)page_size * count;
}

void pack_header_encode(struct pack_header *h, unsigned char *out)
{
	h->length = pack_length(h->page_size, h->count);
	memset(out, 0, PACK_HDR_LEN);
	memcpy(out, magic, 8);
	put32(out + 8, PACK_FORMAT);
	put32(out + 12, PACK_HDR_LEN);
	put64(out + 16, h->version);
	put64(out + 24, h->size);
	put32(out + 32, h->page_size);
	put32(out + 36, h->count);
	put64(out + 40, h->length);
	memcpy(out + 48, h->name, strnlen(h->name, IMG_NAME_MAX));
	put32(out + 112, h->meta_crc);
	put32(out + 124, crc32c(0, out, 124));
}

static int bad(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "packed working set: %s", what);
	return -EBADMSG;
}

int pack_header_decode(const unsigned char *buf, size_t len, const char *name,
		       uint64_t version, uint64_t size, uint32_t page_size,
		       struct pack_header *h, char *err, size_t errlen)
{
	uint64_t npages = (size + page_size - 1) / page_size;

	if (len < PACK_HDR_LEN)
		return bad(err, errlen, "short header");
	if (memcmp(buf, magic, 8))
		return bad(err, errlen, "bad magic");
	if (get32(buf + 8) != PACK_FORMAT || get32(buf + 12) != PACK_HDR_LEN)
		return bad(err, errlen, "unknown format");
	if (get32(buf + 124) != crc32c(0, buf, 124))
		return bad(err, errlen, "header checksum");
	memset(h, 0, sizeof(*h));
	memcpy(h->name, buf + 48, IMG_NAME_MAX);
	h->version = get64(buf + 16);
	h->size = get64(buf + 24);
	h->page_size = get32(buf + 32);
	h->count = get32(buf + 36);
	h->length = get64(buf + 40);
	h->meta_crc = get32(buf + 112);
	if (strcmp(h->name, name) || h->version != version)
		return bad(err, errlen, "names another image");
	if (h->size != size)
		return bad(err, errlen, "another image size");
	if (h->page_size != page_size)
		return bad(err, errlen, "another page size");
	if (!h->count || h->count > npages)
		return bad(err, errlen, "bad page count");
	if (h->length != pack_length(page_size, h->count) ||
	    h->length > IMG_PACK_MAX)
		return bad(err, errlen, "bad length");
	for (unsigned i = 116; i < 124; i++)
		if (buf[i])
			return bad(err, errlen, "reserved bytes set");
	return 0;
}

uint32_t pack_meta_encode(uint32_t count, const uint64_t *idx,
			  const uint32_t *crc, unsigned char *out)
{
	for (uint32_t i = 0; i < count; i++)
		put64(out + 8ull * i, idx[i]);
	for (uint32_t i = 0; i < count; i++)
		put32(out + 8ull * count + 4ull * i, crc[i]);
	return crc32c(0, out, pack_meta_len(count));
}

int pack_meta_decode(const struct pack_header *h, const unsigned char *buf,
		     uint64_t npages, uint8_t *seen, uint64_t *idx,
		     uint32_t *crc, char *err, size_t errlen)
{
	if (crc32c(0, buf, pack_meta_len(h->count)) != h->meta_crc)
		return bad(err, errlen, "index checksum");
	for (uint32_t i = 0; i < h->count; i++) {
		uint64_t p = get64(buf + 8ull * i);

		if (p >= npages)
			return bad(err, errlen, "a page beyond the image");
		if (seen[p / 8] & (1u << (p % 8)))
			return bad(err, errlen, "a page twice");
		seen[p / 8] |= (uint8_t)(1u << (p % 8));
		idx[i] = p;
		crc[i] = get32(buf + 8ull * h->count + 4ull * i);
	}
	return 0;
}
