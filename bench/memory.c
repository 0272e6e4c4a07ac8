/* SPDX-License-Identifier: MIT */
/*
 * The memory every in-process mode measures: one memfd per kind whose pages
 * are all in the page cache (allocated and written once through a separate
 * mapping), so that each first touch through a fresh mapping is a minor
 * fault, never a missing one.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21 << 26)
#endif

int mem_create(struct bench_mem *m, enum bench_kind kind, size_t size)
{
	unsigned flags = MFD_CLOEXEC;
	char *fill;

	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->page_size = kind_page_size(kind);
	m->pages = (size + m->page_size - 1) / m->page_size;
	m->size = m->pages * m->page_size;
	if (kind == KIND_HUGETLB)
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	m->fd = memfd_create("uffdd-bench", flags);
	if (m->fd < 0)
		return -errno;
	if (ftruncate(m->fd, (off_t)m->size) < 0 ||
	    fallocate(m->fd, 0, 0, (off_t)m->size) < 0)
		goto fail;
	/* Write every page once: contents are real, pages are up to date. */
	fill =
	    mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (fill == MAP_FAILED)
		goto fail;
	for (size_t i = 0; i < m->pages; i++)
		memset(fill + i * m->page_size, (int)(i & 0xff) | 1, 64);
	munmap(fill, m->size);
	return 0;
fail:;
	int e = errno;

	close(m->fd);
	m->fd = -1;
	return -e;
}

void mem_destroy(struct bench_mem *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

void *mem_map_fresh(struct bench_mem *m)
{
	void *p =
	    mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);

	return p == MAP_FAILED ? NULL : p;
}
