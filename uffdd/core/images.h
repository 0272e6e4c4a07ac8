/* SPDX-License-Identifier: MIT */
/*
 * The daemon's side of images: the host's image cache started from the
 * configuration, and IMAGE_OPEN on a client's session.
 */
#ifndef UFFDD_CORE_IMAGES_H
#define UFFDD_CORE_IMAGES_H

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct page_state;
struct event_base;
struct session;
struct uffdd_msg;

/* Start the image cache (images.store "" : off).  0 or -1 (logged). */
int images_start(struct daemon *d);
/* Say where images come from (after the ready line). */
void images_log_ready(struct daemon *d);
/* After the workers have stopped. */
void images_stop(void);
/* A worker's loop has stopped, its base is about to be freed. */
void images_leave_loop(struct event_base *base);
/* Worker: IMAGE_OPEN from s; answered later, on s's worker. */
void session_image_open(struct session *s, struct uffdd_msg *m);
/* Worker: 1 if REGISTER's memfd fd is an image of the cache. */
int session_image_fd(int fd);
/* Worker: the page-state file of the image whose memfd is memfd, mapped
 * for a region of npages pages of psz bytes (the whole image); NULL with
 * err set. */
struct page_state *images_region_pages(int memfd, uint64_t npages, uint32_t psz,
				       char *err, size_t errlen);
/* Worker: the policy of an image's region from the client's ask ("" or
 * "image:record"), into spec; 0, or -code with why in err. */
int session_image_policy(struct session *s, const char *asked, char *spec,
			 size_t size, char *err, size_t errlen);

#endif
