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
 * from the region's worker only.
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
/* The file fd (from the fd store) for npages pages of psz bytes, checked;
 * takes fd.  NULL with err set (fd untouched). */
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
/* What a client taking over does now (the policy in force changed). */
void page_state_set_rules(struct page_state *ps,
			  const struct policy_takeover *t);

#endif
