/* SPDX-License-Identifier: MIT */
/*
 * libuffdclient: mapping a named image from the host's cache.
 *
 * IMAGE_OPEN gets the cache's memfd, read-only and sealed against writes;
 * the mapping of it is registered MISSING | MINOR (a page the cache has not
 * filled yet is not in its page cache: a missing fault) and handed over
 * with REGISTER like any region.  The daemon makes an image's contents, so
 * REGISTERED carries a page-state file - the image's own, shared by every
 * client of it, read-only - and the library keeps the region's uffd: if the
 * daemon goes, the takeover (takeover.c) maps the pages that file marks
 * filled and refuses the others with SIGBUS.  The client has no store
 * access; without the takeover the kernel would show a page the daemon
 * never filled, or filled halfway.
 */
#include "client_fork.h"
#include "client_int.h"
#include "spec.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define EVENTS                                                                 \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |                  \
	 UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)

/* "name" or "name@version" into the request.  0 or -EINVAL. */
static int parse_ref(const char *ref, struct uffdd_image_open *io)
{
	const char *at = strchr(ref, '@');
	size_t n = at ? (size_t)(at - ref) : strlen(ref);
	char *end;

	if (!n || n > UFFDD_IMAGE_NAME_MAX)
		return -EINVAL;
	memcpy(io->name, ref, n);
	if (!uffdd_image_name_valid(io->name))
		return -EINVAL;
	if (at) {
		errno = 0;
		io->version = strtoull(at + 1, &end, 10);
		if (errno || !at[1] || *end || !io->version ||
		    io->version > UFFDD_IMAGE_VERSION_MAX)
			return -EINVAL;
	}
	return 0;
}

static int open_image(struct uffd_client *c, const char *ref, unsigned flags,
		      struct uffdd_msg *m)
{
	struct uffdd_image_open io;
	int rc;

	memset(&io, 0, sizeof(io));
	if (parse_ref(ref, &io) < 0)
		return client_fail(EINVAL,
				   "\"%.100s\" is not NAME or NAME@VERSION "
				   "(NAME: 1-%d of [A-Za-z0-9._-], starting "
				   "with a letter or a digit)",
				   ref, UFFDD_IMAGE_NAME_MAX);
	if (flags & UFFD_IMAGE_HUGETLB)
		io.flags |= UFFDD_IMAGE_HUGETLB;
	if (flags & UFFD_IMAGE_RECORD)
		io.flags |= UFFDD_IMAGE_RECORD;
	rc = client_request(c, UFFDD_IMAGE_OPEN, &io, sizeof(io), NULL, 0, m);
	if (rc < 0)
		return rc;
	if (m->hdr.type != UFFDD_IMAGE) {
		uffdd_msg_close_fds(m);
		return client_fail(EPROTO, "uffdd answered IMAGE_OPEN with %s",
				   uffdd_type_name(m->hdr.type));
	}
	return 0;
}

/* The mapping the client asked for. */
static int map_image(const struct uffdd_image *im, unsigned flags,
		     struct uffd_region *r)
{
	int huge = flags & UFFD_IMAGE_HUGETLB;
	int mf = MAP_PRIVATE;
	/* Read-only is PROT_READ on a private mapping: the kernel registers
	 * no userfaultfd on a mapping that may never be written
	 * (!VM_MAYWRITE), which every shared mapping of the sealed,
	 * read-only cache is. */
	int prot =
	    (flags & UFFD_IMAGE_SHARED) ? PROT_READ : PROT_READ | PROT_WRITE;
	void *m;

	/* A private hugetlb mapping reserves a huge page per page for its
	 * copies at mmap time unless MAP_NORESERVE: N clients of an image
	 * would need N times its pages free.  Without the reserve a write
	 * that finds no free huge page gets SIGBUS (docs/images.md). */
	if (huge && !(flags & UFFD_IMAGE_RESERVE))
		mf |= MAP_NORESERVE;
	if (!im->page_size || im->map_len % im->page_size ||
	    im->map_len > SIZE_MAX)
		return client_fail(EPROTO, "uffdd's IMAGE has a bad geometry");
	m = mmap(NULL, (size_t)im->map_len, prot, mf, r->memfd, 0);
	if (m == MAP_FAILED)
		return client_fail(errno,
				   "mmap of the image (%llu bytes%s): %s",
				   (unsigned long long)im->map_len,
				   huge && !(mf & MAP_NORESERVE)
				       ? ", reserving huge pages for copies"
				       : "",
				   strerror(errno));
	r->addr = m;
	r->size = (size_t)im->map_len;
	r->page_size = im->page_size;
	return 0;
}

/* REGISTER the mapping (the caller holds c->lock). */
static int hand_over(struct uffd_client *c, struct uffd_region *r,
		     const char *ref, unsigned flags)
{
	const struct uffd_raw_region rr = {
		.start = (uintptr_t)r->addr,
		.length = r->size,
		.page_size = (uint32_t)r->page_size,
		.kind = (flags & UFFD_IMAGE_HUGETLB) ? UFFDD_KIND_HUGETLB
						     : UFFDD_KIND_SHMEM,
		.memfd = r->memfd,
		.name = ref,
		.policy = (flags & UFFD_IMAGE_RECORD) ? "image:record" : "",
		.events = getenv("UFFD_CLIENT_NO_EVENTS") ? 0 : EVENTS,
		.mode =
		    UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR,
	};
	struct spec_files none = { .n = 0 };

	if (strlen(ref) >= UFFDD_REGION_NAME_LEN)
		return client_fail(ENAMETOOLONG,
				   "image reference longer than %d bytes",
				   UFFDD_REGION_NAME_LEN - 1);
	return client_register(c, r, &rr, &none);
}

API int uffd_image_map(struct uffd_client *c, const char *ref, unsigned flags,
		       struct uffd_region **out)
{
	struct uffd_region *r;
	struct uffdd_msg reply = { 0 };
	int rc;

	*out = NULL;
	if (!c || !ref)
		return client_fail(EINVAL, "no uffdd connection or no image");
	r = calloc(1, sizeof(*r));
	if (!r)
		return client_fail(ENOMEM, "out of memory");
	r->c = c;
	r->memfd = -1;
	r->uffd = -1;
	r->owned = 1; /* the mapping and the descriptor are ours */
	pthread_mutex_lock(&c->lock);
	rc = open_image(c, ref, flags, &reply);
	if (rc == 0) {
		r->memfd = reply.fds[0];
		rc = map_image(&reply.u.image, flags, r);
	}
	if (rc == 0)
		rc = hand_over(c, r, ref, flags);
	pthread_mutex_unlock(&c->lock);
	if (rc < 0) {
		if (r->addr)
			munmap(r->addr, r->size);
		if (r->memfd >= 0)
			close(r->memfd);
		free(r);
		return rc;
	}
	client_get(c);
	*out = r;
	return 0;
}
