/* SPDX-License-Identifier: MIT */
/*
 * A cache entry's memory: the image memfd and its page-state file (which
 * pages are filled), each with the cache's own shared mapping made before
 * the seals.  F_SEAL_FUTURE_WRITE then keeps every later mapping read-only
 * or private (no client, and no descriptor passed on, can write the cache
 * or its bits); SHRINK and GROW keep a client's mapping from ever reaching
 * past the end (SIGBUS in the client) or the cache's from being cut under
 * it.
 *
 * A hugetlb image's shared mapping reserves all its huge pages at mmap
 * time: the cache cannot later die of SIGBUS in a store thread writing a
 * page the pool no longer has; the open fails instead, with a reason.
 */
#include "core/pagestate.h"
#include "image_int.h"
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE)

uint64_t image_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t huge_page_size(void)
{
	char line[128];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %lu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return (uint32_t)(kb * 1024);
}

int image_reopen_ro(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* A sealed memfd of len bytes with the cache's shared mapping of it. */
static int sealed_memfd(const char *name, int hugetlb, size_t len, void **map,
			char *err, size_t errlen)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING |
					(hugetlb ? MFD_HUGETLB : 0));
	int e;

	*map = MAP_FAILED;
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "memfd_create: %s", strerror(e));
		return -e;
	}
	if (ftruncate(fd, (off_t)len)) {
		e = errno;
		snprintf(err, errlen, "memfd of %zu bytes: %s", len,
			 strerror(e));
		goto fail;
	}
	*map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED) {
		e = errno;
		snprintf(err, errlen, "%s: %s",
			 hugetlb && e == ENOMEM
			     ? "not enough free huge pages for the image"
			     : "mmap",
			 strerror(e));
		goto fail;
	}
	if (fcntl(fd, F_ADD_SEALS, SEALS)) {
		e = errno;
		snprintf(err, errlen, "seals: %s", strerror(e));
		goto fail;
	}
	return fd;
fail:
	if (*map != MAP_FAILED)
		munmap(*map, len);
	*map = MAP_FAILED;
	close(fd);
	return -e;
}

static int geometry(struct image *img, const struct img_header *h, int hugetlb,
		    uint32_t fetch_size, char *err, size_t errlen)
{
	struct image_info *in = &img->info;
	uint32_t ps =
	    hugetlb ? huge_page_size() : (uint32_t)sysconf(_SC_PAGESIZE);

	if (!ps) {
		snprintf(err, errlen, "this kernel has no huge pages");
		return -EOPNOTSUPP;
	}
	snprintf(in->name, sizeof(in->name), "%s", h->name);
	in->version = h->version;
	in->size = h->size;
	in->page_size = ps;
	in->map_len = (h->size + ps - 1) / ps * ps;
	in->fetch_size = fetch_size > ps ? fetch_size : ps;
	in->hugetlb = hugetlb;
	img->nblocks = (in->map_len + in->fetch_size - 1) / in->fetch_size;
	return 0;
}

int image_entry_create(struct image_cache *c, struct store_image *simg,
		       int hugetlb, struct image **out, char *err,
		       size_t errlen)
{
	const struct img_header *h = store_image_header(simg);
	struct image *img = calloc(1, sizeof(*img));
	char name[128];
	void *map;
	struct stat sb;
	uint64_t npages;
	int rc;

	if (!img)
		return -ENOMEM;
	img->c = c;
	img->fd = -1;
	rc = geometry(img, h, hugetlb, c->conf.fetch_size, err, errlen);
	if (rc)
		goto fail;
	npages = img->info.map_len / img->info.page_size;
	img->state = calloc(img->nblocks, 1);
	img->waiters = calloc(img->nblocks, sizeof(*img->waiters));
	if (!img->state || !img->waiters) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(name, sizeof(name), "uffdd-image:%s@%llu", h->name,
		 (unsigned long long)h->version);
	rc = img->fd =
	    sealed_memfd(name, hugetlb, img->info.map_len, &map, err, errlen);
	if (rc < 0)
		goto fail;
	img->fill = map;
	img->ps =
	    page_state_new_image(npages, img->info.page_size, err, errlen);
	if (!img->ps) {
		rc = -ENOMEM;
		goto fail;
	}
	img->filled = page_state_bits(img->ps)->filled;
	if (fstat(img->fd, &sb)) {
		rc = -errno;
		snprintf(err, errlen, "fstat: %s", strerror(-rc));
		goto fail;
	}
	img->dev = sb.st_dev;
	img->ino = sb.st_ino;
	img->simg = simg;
	*out = img;
	return 0;
fail:
	image_entry_destroy(img);
	return rc;
}

void image_entry_destroy(struct image *img)
{
	if (!img)
		return;
	if (img->fill && img->fill != MAP_FAILED)
		munmap(img->fill, img->info.map_len);
	page_state_unref(img->ps);
	if (img->fd >= 0)
		close(img->fd);
	store_image_close(img->simg);
	free(img->state);
	free(img->waiters);
	free(img->trace);
	free(img->failed_at);
	free(img->pk_pending);
	free(img->pk_touched);
	free(img);
}
