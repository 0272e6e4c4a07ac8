/* SPDX-License-Identifier: MIT */
/* Inside libuffdclient: what client.c shares with image.c (hidden). */
#ifndef UFFD_CLIENT_INT_H
#define UFFD_CLIENT_INT_H

#include "client_fork.h"
#include "uffd/client.h"
#include "uffdd_proto.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define API __attribute__((visibility("default")))

struct uffd_image_map;

struct uffd_client {
	pthread_mutex_t lock; /* one request in flight at a time */
	int sock;
	int dev_fd; /* granted /dev/userfaultfd, or -1 */
	uint32_t seq;
	int dead;
	enum uffd_mode mode;
	uint64_t kernel_features;
	uint64_t session_id;
	struct uffd_keeper *keeper; /* image regions, if any (image.c) */
};

struct uffd_region {
	struct uffd_client *c;
	uint64_t id;
	void *addr;
	void *fill;
	size_t size;
	size_t page_size;
	int memfd;
	int owned; /* allocated here: unmap and close on release */
	struct uffd_image_map *image; /* an image's mapping (image.c) */
};

/* The error of this thread (uffd_last_error); returns -code. */
int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One request and its reply; the caller holds c->lock. */
int request(struct uffd_client *c, uint16_t type, const void *body, size_t len,
	    const int *fds, int nfds, struct uffdd_msg *reply);
/* REGISTER r (the caller holds c->lock); keep: the uffd is kept open and
 * returned there instead of closed. */
int register_region(struct uffd_client *c, struct uffd_region *r,
		    const struct uffd_raw_region *rr, int *keep);
size_t hugetlb_page_size(void);

/* image.c: a released image region; a disconnecting client. */
void image_region_release(struct uffd_region *r);
void image_client_gone(struct uffd_client *c);

#endif
