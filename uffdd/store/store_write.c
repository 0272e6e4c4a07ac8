/* SPDX-License-Identifier: MIT */
/*
 * The operator's side of a store: put, remove, list, the latest-version
 * pointer and traces.  All blocking.  Two operators putting the same name
 * at once are not arbitrated (the later latest-pointer wins); versions
 * themselves are never overwritten.
 */
#include "crc32c.h"
#include "store_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int store_latest(struct store *st, const char *name, uint64_t *version)
{
	char obj[IMG_OBJ_MAX], txt[24], *end;
	void *buf;
	size_t len;
	int rc;

	*version = 0;
	if (!img_name_valid(name))
		return -EINVAL;
	img_obj_latest(obj, name);
	rc = st->ops->get(st, obj, sizeof(txt) - 1, &buf, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	memcpy(txt, buf, len);
	txt[len] = 0;
	free(buf);
	errno = 0;
	*version = strtoull(txt, &end, 10);
	if (errno || end == txt || (*end && *end != '\n'))
		return -EBADMSG;
	return 0;
}

static int set_latest(struct store *st, const char *name, uint64_t version)
{
	char obj[IMG_OBJ_MAX], txt[24];

	img_obj_latest(obj, name);
	if (!version)
		return st->ops->remove(st, obj);
	snprintf(txt, sizeof(txt), "%" PRIu64 "\n", version);
	return st->ops->put(st, obj, txt, strlen(txt));
}

static void remove_chunks(struct store *st, const char *name, uint64_t version,
			  uint64_t n)
{
	char obj[IMG_OBJ_MAX];

	for (uint64_t i = 0; i < n; i++) {
		img_obj_chunk(obj, name, version, i);
		st->ops->remove(st, obj);
	}
}

/* Chunks first, each with its blocks' checksums into h->crc. */
static int put_chunks(struct store *st, struct img_header *h, int fd, char *err,
		      size_t errlen)
{
	uint64_t n = img_nchunks(h);
	unsigned char *buf = malloc(h->chunk_size);

	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = i * h->chunk_size;
		size_t len = off + h->chunk_size <= h->size ? h->chunk_size
							    : h->size - off;
		char obj[IMG_OBJ_MAX];
		int rc = store_pread_full(fd, buf, len, off);

		for (size_t b = 0; !rc && b < len; b += IMG_BLOCK) {
			size_t bl = b + IMG_BLOCK <= len ? IMG_BLOCK : len - b;

			h->crc[(off + b) / IMG_BLOCK] = crc32c(0, buf + b, bl);
		}
		img_obj_chunk(obj, h->name, h->version, i);
		if (!rc)
			rc = st->ops->put(st, obj, buf, len);
		if (rc) {
			snprintf(err, errlen, "%s: %s", obj, strerror(-rc));
			remove_chunks(st, h->name, h->version, i + 1);
			free(buf);
			return rc;
		}
	}
	free(buf);
	return 0;
}

static int header_exists(struct store *st, const char *name, uint64_t version)
{
	char obj[IMG_OBJ_MAX];
	void *buf;
	size_t len;
	int rc;

	img_obj_header(obj, name, version);
	rc = st->ops->get(st, obj, IMG_HEADER_MAX, &buf, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	free(buf);
	return 1;
}

static int put_header(struct store *st, const struct img_header *h)
{
	char obj[IMG_OBJ_MAX];
	void *buf;
	size_t len;
	int rc = img_header_encode(h, &buf, &len);

	if (rc)
		return rc;
	img_obj_header(obj, h->name, h->version);
	rc = st->ops->put(st, obj, buf, len);
	free(buf);
	return rc;
}

static int check_put_args(const char *name, int fd, uint32_t chunk_size,
			  uint64_t *size, char *err, size_t errlen)
{
	struct stat sb;

	if (!img_name_valid(name)) {
		snprintf(err, errlen,
			 "bad image name \"%s\" (1-%d of "
			 "[A-Za-z0-9._-], starting alphanumeric)",
			 name, IMG_NAME_MAX);
		return -EINVAL;
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return -EINVAL;
	}
	*size = (uint64_t)sb.st_size;
	if (img_geometry_valid(*size, chunk_size)) {
		snprintf(err, errlen,
			 "size %llu or chunk size %u not "
			 "allowed (1 byte to 1 TiB; chunk a power of two, "
			 "64 KiB to 64 MiB)",
			 (unsigned long long)*size, chunk_size);
		return -EINVAL;
	}
	return 0;
}

int store_put(struct store *st, const char *name, uint64_t version,
	      uint32_t chunk_size, int fd, uint64_t *version_out, char *err,
	      size_t errlen)
{
	struct img_header h = { 0 };
	uint64_t latest;
	int rc;

	if (!chunk_size)
		chunk_size = IMG_CHUNK_DEFAULT;
	rc = check_put_args(name, fd, chunk_size, &h.size, err, errlen);
	if (rc)
		return rc;
	rc = store_latest(st, name, &latest);
	if (rc) {
		snprintf(err, errlen, "%s: latest version: %s", name,
			 strerror(-rc));
		return rc;
	}
	if (!version)
		version = latest + 1;
	rc = header_exists(st, name, version);
	if (rc) {
		snprintf(err, errlen, "%s@%" PRIu64 ": %s", name, version,
			 rc > 0 ? "exists (versions are immutable)"
				: strerror(-rc));
		return rc > 0 ? -EEXIST : rc;
	}
	strcpy(h.name, name);
	h.version = version;
	h.chunk_size = chunk_size;
	h.block_size = IMG_BLOCK;
	h.created = (uint64_t)time(NULL);
	h.nblocks = (uint32_t)((h.size + IMG_BLOCK - 1) / IMG_BLOCK);
	h.crc = calloc(h.nblocks, sizeof(*h.crc));
	if (!h.crc)
		return -ENOMEM;
	rc = put_chunks(st, &h, fd, err, errlen);
	if (!rc) {
		rc = put_header(st, &h);
		if (rc) {
			snprintf(err, errlen, "header: %s", strerror(-rc));
			remove_chunks(st, name, version, img_nchunks(&h));
		}
	}
	if (!rc && version > latest) {
		rc = set_latest(st, name, version);
		if (rc)
			snprintf(err, errlen, "latest: %s", strerror(-rc));
	}
	free(h.crc);
	if (!rc && version_out)
		*version_out = version;
	return rc;
}

struct latest_scan {
	const char *name;
	uint64_t best;
};

static int scan_latest(void *arg, const struct img_header *h)
{
	struct latest_scan *s = arg;

	if (!strcmp(h->name, s->name) && h->version > s->best)
		s->best = h->version;
	return 0;
}

int store_remove(struct store *st, const char *name, uint64_t version,
		 char *err, size_t errlen)
{
	char obj[IMG_OBJ_MAX];
	struct store_image *img;
	uint64_t n = 0, latest;
	int rc;

	if (!img_name_valid(name) || !version) {
		snprintf(err, errlen, "remove: a name and a version");
		return -EINVAL;
	}
	rc = store_image_open(st, name, version, &img, err, errlen);
	if (rc)
		return rc;
	n = img_nchunks(store_image_header(img));
	store_image_close(img);
	img_obj_header(obj, name, version);
	rc = st->ops->remove(st, obj);
	if (rc) {
		snprintf(err, errlen, "%s: %s", obj, strerror(-rc));
		return rc;
	}
	remove_chunks(st, name, version, n);
	img_obj_trace(obj, name, version);
	st->ops->remove(st, obj);
	for (uint32_t ps = 4096; ps; ps = ps == 4096 ? 2u << 20 : 0) {
		img_obj_pack(obj, name, version, ps);
		st->ops->remove(st, obj);
	}
	if (!store_latest(st, name, &latest) && latest == version) {
		struct latest_scan s = { name, 0 };

		rc = store_list(st, scan_latest, &s, err, errlen);
		if (!rc)
			rc = set_latest(st, name, s.best);
	}
	return rc;
}

struct list_ctx {
	struct store *st;
	int (*each)(void *arg, const struct img_header *h);
	void *arg;
};

static int list_one(void *arg, const char *obj)
{
	struct list_ctx *c = arg;
	char name[IMG_NAME_MAX + 1], e[128];
	struct img_header h;
	uint64_t version;
	void *buf;
	size_t len;
	int rc;

	if (img_obj_is_header(obj, name, &version))
		return 0;
	if (c->st->ops->get(c->st, obj, IMG_HEADER_MAX, &buf, &len))
		return 0; /* removed while we list */
	rc = img_header_decode(buf, len, &h, e, sizeof(e));
	free(buf);
	if (rc)
		return 0;
	rc = c->each(c->arg, &h);
	img_header_free(&h);
	return rc;
}

int store_list(struct store *st,
	       int (*each)(void *arg, const struct img_header *h), void *arg,
	       char *err, size_t errlen)
{
	struct list_ctx c = { st, each, arg };
	int rc = st->ops->list(st, list_one, &c);

	if (rc < 0)
		snprintf(err, errlen, "list: %s", strerror(-rc));
	return rc < 0 ? rc : 0;
}

int store_trace_put(struct store *st, const char *name, uint64_t version,
		    const void *buf, size_t len)
{
	char obj[IMG_OBJ_MAX];

	if (!img_name_valid(name) || !version)
		return -EINVAL;
	if (len > IMG_TRACE_MAX)
		return -EFBIG;
	img_obj_trace(obj, name, version);
	return st->ops->put(st, obj, buf, len);
}

int store_trace_get(struct store *st, const char *name, uint64_t version,
		    void **buf, size_t *len)
{
	char obj[IMG_OBJ_MAX];

	if (!img_name_valid(name) || !version)
		return -EINVAL;
	img_obj_trace(obj, name, version);
	return st->ops->get(st, obj, IMG_TRACE_MAX, buf, len);
}

int store_obj_get(struct store *st, const char *obj, size_t max, void **buf,
		  size_t *len)
{
	return st->ops->get(st, obj, max, buf, len);
}

int store_obj_put(struct store *st, const char *obj, const void *buf,
		  size_t len)
{
	return st->ops->put(st, obj, buf, len);
}
