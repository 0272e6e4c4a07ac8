/* SPDX-License-Identifier: MIT */
/*
 * Inside libuffdclient: a client and its regions, shared by client.c (the
 * conversation with the daemon), image.c (images from the host's cache)
 * and takeover.c (serving the regions whose contents the daemon makes,
 * once the daemon is gone).
 */
#ifndef UFFD_CLIENT_INT_H
#define UFFD_CLIENT_INT_H

#include "uffd/client.h"
#include "uffdd_proto.h"

#include <pthread.h>
#include <stdint.h>

#define API __attribute__((visibility("default")))

struct spec_files;
struct takeover;
struct uffd_raw_region;

struct uffd_client {
	pthread_mutex_t lock; /* one request in flight at a time */
	int sock;
	int dev_fd; /* granted /dev/userfaultfd, or -1 */
	uint32_t seq;
	int dead;      /* the daemon has gone (or we hung up) */
	unsigned refs; /* the application's, and one per region */
	enum uffd_mode mode;
	uint64_t kernel_features;
	uint64_t session_id;
	struct takeover *tk; /* NULL until a content region registers */
};

struct uffd_region {
	struct uffd_client *c;
	uint64_t id;
	void *addr;
	void *fill;
	size_t size;
	size_t page_size;
	off_t offset; /* of addr in the memfd */
	int memfd;
	int owned; /* allocated here (or an image's): unmap, close on release */
	/*
	 * A region whose contents the daemon makes (REGISTERED with
	 * UFFDD_REG_CONTENT): our own reference to its uffd, the files of
	 * its policy (the image), the page-state file the daemon shares.
	 */
	int uffd;
	int files[UFFDD_MAX_FILES];
	int nfiles;
	struct uffdd_pages_hdr *pages;
	size_t pages_len;
	int pages_ro;  /* an image's: the daemon's alone to write */
	void *tk_fill; /* takeover.c's mapping of an adopted region's memfd */
	struct uffd_region *tk_next; /* takeover.c's list */
};

/* The message of a failure for the calling thread; returns -code. */
int client_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One request and its reply (the caller holds c->lock).  0 or -errno. */
int client_request(struct uffd_client *c, uint16_t type, const void *body,
		   size_t len, const int *fds, int nfds,
		   struct uffdd_msg *reply);
/*
 * REGISTER r as rr describes it and wait for REGISTERED (the caller holds
 * c->lock); a region whose contents the daemon makes is then kept for the
 * takeover, with the files it takes from files.  0 or -errno.
 */
int client_register(struct uffd_client *c, struct uffd_region *r,
		    const struct uffd_raw_region *rr, struct spec_files *files);
/* A region of c's holds c (uffd_region_release lets go). */
void client_get(struct uffd_client *c);

/* Takeover (takeover.c) ------------------------------------------------ */

/*
 * The daemon makes r's contents: keep our reference to its uffd (taken),
 * the files of its policy (taken from files) and a mapping of the
 * page-state file pages_fd (the caller still closes it), and serve r if the
 * daemon goes: a thread of c's watches the connection from now on.
 * 0, or -errno with the message set and nothing taken.
 */
int takeover_keep(struct uffd_client *c, struct uffd_region *r, int pages_fd,
		  int uffd, struct spec_files *files);
/* r is being released: the thread lets go of it, and what takeover_keep
 * kept is closed.  Nothing for a region the daemon did not make. */
void takeover_drop(struct uffd_region *r);
/* Has c's thread taken its regions over (the daemon gone)? */
int takeover_serving(struct uffd_client *c);
/* A publish the daemon cannot take any more: done here.  0 or -errno. */
int takeover_publish(struct uffd_region *r, size_t offset, size_t length);
/* The application let go of c: serve on without the daemon's socket. */
void takeover_disconnect(struct uffd_client *c);
/* Faults answered since taking over; 1 if c's thread serves now. */
int takeover_stats(const struct uffd_client *c, uint64_t *mapped,
		   uint64_t *refused);
/* c goes: the thread ends. */
void takeover_stop(struct uffd_client *c);

#endif
