/* SPDX-License-Identifier: MIT */
/*
 * The memory image, the access patterns and the workload of the restore
 * benchmark.  The image is generated once and kept (under
 * /var/cache/uffdd/bench by default): writing 1.25 GiB on every run would
 * cost more than the measurement.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore.h"

#define IMAGE_VERSION 1
#define FNV_PRIME     0x100000001b3ull

/* Word i of the image: a counter through a mixer, so no page is like another.
 */
static uint64_t image_word(uint64_t i)
{
	uint64_t z = i + 0x9e3779b97f4a7c15ull * (IMAGE_VERSION + 1);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	/* Every 16th page is mostly zero, as real images have: different work
	 * for nobody, but the content is not uniform noise. */
	if (((i * 8) / 4096) % 16 == 5 && (i & 7))
		z = 0;
	return z;
}

static int mkdirs(const char *dir)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The file is the right one if its size and first and last words match. */
static bool image_ok(const char *path, size_t size)
{
	uint64_t w[2] = { 0, 0 };
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = fstat(fd, &st) == 0 && (size_t)st.st_size == size &&
	     pread(fd, &w[0], 8, 0) == 8 &&
	     pread(fd, &w[1], 8, (off_t)size - 8) == 8 &&
	     w[0] == image_word(0) && w[1] == image_word(size / 8 - 1);
	close(fd);
	return ok;
}

int image_prepare(struct image *im, const char *dir, enum bench_kind kind,
		  size_t size)
{
	char tmp[560];
	const size_t chunk = 8u << 20;
	uint64_t *buf;
	int fd, rc;

	memset(im, 0, sizeof(*im));
	im->kind = kind;
	im->page_size = kind_page_size(kind);
	im->size = size / im->page_size * im->page_size;
	im->pages = im->size / im->page_size;
	if (!im->pages)
		die("image of %zu bytes: smaller than one page", size);
	snprintf(im->path, sizeof(im->path), "%s/restore-v%d-%s-%zuM.img", dir,
		 IMAGE_VERSION, kind_name(kind), im->size >> 20);
	if (image_ok(im->path, im->size))
		return 0;
	rc = mkdirs(dir);
	if (rc < 0)
		die("mkdir %s: %s", dir, strerror(-rc));
	note("generating %s (%zu MiB, once; kept for later runs)", im->path,
	     im->size >> 20);
	/* Write aside and rename: an interrupted run leaves no short image. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", im->path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("%s: %s", tmp, strerror(errno));
	buf = malloc(chunk);
	if (!buf)
		die("out of memory");
	for (size_t off = 0; off < im->size; off += chunk) {
		size_t n = im->size - off < chunk ? im->size - off : chunk;

		for (size_t i = 0; i < n / 8; i++)
			buf[i] = image_word(off / 8 + i);
		if (write(fd, buf, n) != (ssize_t)n)
			die("writing %s: %s", tmp, strerror(errno));
	}
	free(buf);
	if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, im->path) < 0)
		die("%s: %s", im->path, strerror(errno));
	return 0;
}

const char *pattern_name(enum pattern p)
{
	return p == PAT_SEQ ? "seq" : "rand10";
}

void access_make(struct access *a, enum pattern p, size_t pages, unsigned seed)
{
	size_t *all;
	uint64_t x = seed ? seed : 1;

	a->pat = p;
	if (p == PAT_SEQ) {
		a->n = pages;
		a->pages = malloc(pages * sizeof(*a->pages));
		if (!a->pages)
			die("out of memory");
		for (size_t i = 0; i < pages; i++)
			a->pages[i] = i;
		return;
	}
	/* rand10: the first 10% of a seeded Fisher-Yates shuffle, in that
	 * (random) order: a fixed working set, touched the same way each run.
	 */
	a->n = pages / 10 ? pages / 10 : 1;
	all = malloc(pages * sizeof(*all));
	if (!all)
		die("out of memory");
	for (size_t i = 0; i < pages; i++)
		all[i] = i;
	for (size_t i = 0; i < a->n; i++) {
		size_t k, t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = i + (size_t)(x % (pages - i));
		t = all[i];
		all[i] = all[k];
		all[k] = t;
	}
	a->pages = realloc(all, a->n * sizeof(*all));
	if (!a->pages)
		a->pages = all;
}

void access_free(struct access *a)
{
	free(a->pages);
	a->pages = NULL;
	a->n = 0;
}

/* FNV-1a over 64-bit words: a serial chain, so every byte costs work. */
static uint64_t page_sum(const char *p, size_t len, uint64_t idx)
{
	uint64_t h = 0xcbf29ce484222325ull ^ idx;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * FNV_PRIME;
	}
	return h;
}

uint64_t workload(const char *base, size_t page_size, const struct access *a)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < a->n; i++) {
		size_t pg = a->pages[i];

		sum = (sum ^ page_sum(base + pg * page_size, page_size, pg)) *
		      FNV_PRIME;
	}
	return sum;
}

int workload_reference(const struct image *im, const struct access *a,
		       uint64_t *out)
{
	char *buf = malloc(im->page_size);
	uint64_t sum = 0;
	int fd = open(im->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (size_t i = 0; i < a->n; i++) {
		size_t pg = a->pages[i];

		if (pread(fd, buf, im->page_size,
			  (off_t)(pg * im->page_size)) !=
		    (ssize_t)im->page_size) {
			close(fd);
			free(buf);
			return -1;
		}
		sum = (sum ^ page_sum(buf, im->page_size, pg)) * FNV_PRIME;
	}
	close(fd);
	free(buf);
	*out = sum;
	return 0;
}

int drop_caches(void)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "3\n", 2) != 2) {
		int e = errno;

		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}
