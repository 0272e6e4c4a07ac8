/* SPDX-License-Identifier: MIT */
/*
 * The page-state file of a region whose contents the daemon makes
 * (proto/PROTOCOL.md, "The page-state file"): a sealed memfd holding which
 * pages are filled and published, and what a client that takes over must
 * do.  The daemon creates it at REGISTER and hands it to the client; the fd
 * store keeps it across a restart, so that no page is filled twice (the
 * client may have written it since) and no publish is forgotten.
 *
 * Shared by the region and its pieces and fork copies (refcounted); used
 * from the region's worker only.  An image's file is one per image (the
 * cache's); each region of it maps the file on its own.
 */
#ifndef UFFDD_PAGESTATE_H
#define UFFDD_PAGESTATE_H

#include <stddef.h>
#include <stdint.h>

struct page_state;
struct policy_pages;
struct policy_takeover;

/* A new file for npages pages of psz bytes.  NULL with err set. */
struct page_state *page_state_new(uint64_t npages, uint32_t psz, char *err,
				  size_t errlen);
/*
 * The page-state file of an image of the cache (UFFDD_PAGES_IMAGE): one for
 * every region of the image, sealed against writes once this mapping of it
 * exists, so that only the cache sets its filled bits.  Any thread.
 */
struct page_state *page_state_new_image(uint64_t npages, uint32_t psz,
					char *err, size_t errlen);
/* The file fd (from the fd store, or an image's) for npages pages of psz
 * bytes, checked; takes fd.  An image's is mapped read-only.  NULL with
 * err set (fd untouched). */
struct page_state *page_state_adopt(int fd, uint64_t npages, uint32_t psz,
				    char *err, size_t errlen);
/* One more user of ps (a piece or a fork copy of its region). */
struct page_state *page_state_ref(struct page_state *ps);
/* One user fewer; the last one unmaps and closes it.  NULL is fine. */
void page_state_unref(struct page_state *ps);

/* The bits policies read and set. */
struct policy_pages *page_state_bits(struct page_state *ps);
/* Its descriptor (for REGISTERED and the fd store; still ps's). */
int page_state_fd(const struct page_state *ps);
/* 1 for an image's file (read-only here, its rules fixed). */
int page_state_is_image(const struct page_state *ps);
/* What a client taking over does now (the policy in force changed); an
 * image's file keeps its own. */
void page_state_set_rules(struct page_state *ps,
			  const struct policy_takeover *t);

#endif
