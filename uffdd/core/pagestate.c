/* SPDX-License-Identifier: MIT */
#include "pagestate.h"
#include "policy/policy.h"
#include "reaper.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(POLICY_TAKE_POPULATE == UFFDD_PAGES_POPULATE &&
		   POLICY_TAKE_GATE == UFFDD_PAGES_GATE &&
		   POLICY_TAKE_GATE_DENY == UFFDD_PAGES_GATE_DENY &&
		   POLICY_TAKE_DENY == UFFDD_PAGES_DENY &&
		   POLICY_TAKE_IMAGE == UFFDD_PAGES_IMAGE,
	       "the policies' takeover bits are the protocol's");

struct page_state {
	struct policy_pages bits;
	struct uffdd_pages_hdr *hdr;
	size_t len;
	int fd;
	int ro; /* an image's, sealed against writes: we only read it here */
	unsigned refs;
};

/* Bitmap bytes for n pages, rounded to 8 so the second bitmap is aligned. */
static uint64_t map_bytes(uint64_t n)
{
	return ((n + 7) / 8 + 7) & ~7ull;
}

static size_t file_len(uint64_t npages)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t n = sizeof(struct uffdd_pages_hdr) + 2 * map_bytes(npages);

	return (size_t)((n + pg - 1) & ~((uint64_t)pg - 1));
}

/* ps for the mapping of fd; NULL (errno) if it cannot be mapped. */
static struct page_state *wrap(int fd, size_t len, int ro)
{
	struct page_state *ps = calloc(1, sizeof(*ps));
	void *m;

	if (!ps)
		return NULL;
	m = mmap(NULL, len, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	if (m == MAP_FAILED) {
		free(ps);
		return NULL;
	}
	ps->hdr = m;
	ps->len = len;
	ps->fd = fd;
	ps->ro = ro;
	ps->refs = 1;
	return ps;
}

static void point_bits(struct page_state *ps)
{
	ps->bits.npages = ps->hdr->npages;
	ps->bits.filled = (uint8_t *)ps->hdr + ps->hdr->filled_off;
	ps->bits.published = (uint8_t *)ps->hdr + ps->hdr->published_off;
}

/* A new file with flags in its header; seals on top of SHRINK | GROW |
 * SEAL (taken once our own mapping exists). */
static struct page_state *make(uint64_t npages, uint32_t psz, uint32_t flags,
			       int seals, char *err, size_t errlen)
{
	size_t len = file_len(npages);
	struct page_state *ps = NULL;
	int fd = memfd_create("uffdd-pages", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd >= 0 && ftruncate(fd, (off_t)len) == 0)
		ps = wrap(fd, len, 0);
	if (ps) {
		ps->hdr->magic = UFFDD_PAGES_MAGIC;
		ps->hdr->version = UFFDD_PAGES_VERSION;
		ps->hdr->hdr_size = sizeof(struct uffdd_pages_hdr);
		ps->hdr->page_size = psz;
		ps->hdr->image_file = UFFDD_NO_FILE;
		ps->hdr->npages = npages;
		ps->hdr->filled_off = sizeof(struct uffdd_pages_hdr);
		ps->hdr->published_off =
		    ps->hdr->filled_off + map_bytes(npages);
		ps->hdr->flags = flags;
	}
	/* The client gets this descriptor: it must never shrink under our
	 * mapping (SIGBUS), and no seal may be taken off again. */
	if (!ps ||
	    fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL | seals) < 0) {
		snprintf(err, errlen, "page-state file: %s", strerror(errno));
		if (ps)
			munmap(ps->hdr, len);
		free(ps);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	point_bits(ps);
	return ps;
}

struct page_state *page_state_new(uint64_t npages, uint32_t psz, char *err,
				  size_t errlen)
{
	return make(npages, psz, 0, 0, err, errlen);
}

struct page_state *page_state_new_image(uint64_t npages, uint32_t psz,
					char *err, size_t errlen)
{
	/* Every client of the image reads it, and the daemon's fault path
	 * trusts its bits: no later mapping, ours included, may write it. */
	return make(npages, psz, UFFDD_PAGES_IMAGE, F_SEAL_FUTURE_WRITE, err,
		    errlen);
}

/* Is the header of what fd held what the region needs?  0 or -EINVAL. */
static int header_fits(const struct uffdd_pages_hdr *h, size_t len,
		       uint64_t npages, uint32_t psz)
{
	uint64_t need = map_bytes(npages);

	if (h->magic != UFFDD_PAGES_MAGIC ||
	    h->version != UFFDD_PAGES_VERSION || h->npages != npages ||
	    h->page_size != psz)
		return -EINVAL;
	if (h->filled_off < sizeof(*h) || h->filled_off > len ||
	    len - h->filled_off < need || h->published_off < sizeof(*h) ||
	    h->published_off > len || len - h->published_off < need)
		return -EINVAL;
	return 0;
}

struct page_state *page_state_adopt(int fd, uint64_t npages, uint32_t psz,
				    char *err, size_t errlen)
{
	size_t len = file_len(npages);
	struct page_state *ps;
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS), ro;

	/* Sealed, and as long as we map: the client holds it too. */
	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size < len) {
		snprintf(err, errlen, "page-state file is not sealed or short");
		return NULL;
	}
	/* An image's is sealed against writes: read here, written by the
	 * cache's own mapping only (or by nobody, after a restart). */
	ro = (seals & F_SEAL_FUTURE_WRITE) != 0;
	ps = wrap(fd, len, ro);
	if (!ps) {
		snprintf(err, errlen, "page-state file: %s", strerror(errno));
		return NULL;
	}
	if (header_fits(ps->hdr, len, npages, psz) < 0 ||
	    ro != !!(ps->hdr->flags & UFFDD_PAGES_IMAGE)) {
		snprintf(err, errlen,
			 "page-state file does not fit the region");
		munmap(ps->hdr, len);
		free(ps);
		return NULL;
	}
	point_bits(ps);
	return ps;
}

struct page_state *page_state_ref(struct page_state *ps)
{
	if (ps)
		ps->refs++;
	return ps;
}

void page_state_unref(struct page_state *ps)
{
	if (!ps || --ps->refs)
		return;
	/* Off the worker: a large region's bits are megabytes. */
	reaper_unmap(ps->hdr, ps->len);
	reaper_close(ps->fd);
	free(ps);
}

struct policy_pages *page_state_bits(struct page_state *ps)
{
	return &ps->bits;
}

int page_state_fd(const struct page_state *ps)
{
	return ps->fd;
}

int page_state_is_image(const struct page_state *ps)
{
	return ps->ro;
}

void page_state_set_rules(struct page_state *ps,
			  const struct policy_takeover *t)
{
	struct uffdd_pages_hdr *h = ps->hdr;

	/* An image's rules are the image's, written when it was made. */
	if (ps->ro)
		return;

	h->gate_timeout_ms = t->gate_timeout_ms;
	h->image_offset = t->image_offset;
	h->image_file = t->image_file >= 0 && t->image_file < UFFDD_MAX_FILES
			    ? (uint8_t)t->image_file
			    : UFFDD_NO_FILE;
	/* Last: the client reads the flags first. */
	__atomic_store_n(&h->flags, t->flags, __ATOMIC_RELEASE);
}
