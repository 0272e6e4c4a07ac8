/* SPDX-License-Identifier: MIT */
/*
 * Images in the daemon: the host's cache started from "images" in the
 * configuration, and IMAGE_OPEN.  The cache opens the image in the store
 * on its own thread; the answer comes back on the session's worker, which
 * sends IMAGE with the read-only descriptors, or an ERROR.
 */
#include "images.h"
#include "access.h"
#include "daemon.h"
#include "image/cache.h"
#include "log.h"
#include "pagestate.h"
#include "session.h"
#include "store/store.h"
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int images_start(struct daemon *d)
{
	const struct config_images *ci = &d->conf.cfg.images;
	struct image_cache *c;
	struct image_conf conf;
	char err[256];

	if (!ci->store[0])
		return 0;
	image_conf_default(&conf);
	snprintf(conf.store, sizeof(conf.store), "%s", ci->store);
	conf.fetch_size = ci->fetch_size;
	conf.fault_timeout_ms = ci->fault_timeout_ms;
	conf.keep_ms = ci->keep_s * 1000;
	conf.budget = ci->budget;
	conf.prefetch_inflight = ci->prefetch_inflight;
	conf.map_window = ci->map_window;
	if (image_cache_start(&conf, &c, err, sizeof(err)) < 0) {
		log_err("images: %s", err);
		return -1;
	}
	image_cache_set_global(c);
	return 0;
}

void images_leave_loop(struct event_base *base)
{
	image_cache_leave(image_cache_global(), base);
}

void images_log_ready(struct daemon *d)
{
	const struct config_images *ci = &d->conf.cfg.images;

	if (!ci->store[0])
		log_info("images: off (images.store is empty)");
	else
		log_info("images from %s, fetched %u KiB at a time (rados "
			 "backend: %s)",
			 ci->store, ci->fetch_size >> 10,
			 store_have_rados()
			     ? "built in"
			     : "not built, librados-dev was missing");
}

void images_stop(void)
{
	struct image_cache *c = image_cache_global();

	image_cache_set_global(NULL);
	image_cache_stop(c);
}

struct pending {
	struct worker *w;
	uint64_t session;
	uint32_t seq;
	uint32_t flags;
};

static void opened(void *arg, int err, const char *msg,
		   const struct image_info *in, int fd)
{
	struct pending *p = arg;
	struct session *s = session_find(p->w, p->session);
	const struct image_conf *conf;
	struct uffdd_image im;

	if (!s || s->dying)
		goto out; /* gone meanwhile: nothing to answer */
	if (err) {
		uffdd_send_error(s->proto.sock, p->seq, UFFDD_IMAGE_OPEN, -err,
				 "%s", msg);
		goto out;
	}
	conf = image_cache_conf(image_cache_global());
	memset(&im, 0, sizeof(im));
	im.image_id = in->id;
	im.version = in->version;
	im.size = in->size;
	im.map_len = in->map_len;
	im.page_size = in->page_size;
	im.fetch_size = in->fetch_size;
	im.flags = p->flags;
	im.timeout_ms = conf->fault_timeout_ms;
	if (uffdd_send(s->proto.sock, UFFDD_IMAGE, p->seq, &im, sizeof(im), &fd,
		       1) < 0)
		session_drop(s, "cannot answer IMAGE_OPEN");
	else
		log_client(LOG_INFO, &s->who, 0,
			   "client %d: image %s@%" PRIu64 " (%s, id %" PRIu64
			   ")",
			   (int)s->who.pid, in->name, in->version,
			   in->hugetlb ? "hugetlb" : "shmem", in->id);
out:
	if (fd >= 0)
		close(fd);
	free(p);
}

/* RECORD writes a trace every host will prefetch: root and admin_gids. */
static int may_record(struct session *s)
{
	struct daemon *d = worker_daemon(s->w);
	struct peer pr;

	return peer_read(s->proto.sock, &pr) == 0 &&
	       access_is_admin(&d->conf.cfg.access, &pr);
}

void session_image_open(struct session *s, struct uffdd_msg *m)
{
	const struct uffdd_image_open *io = &m->u.image_open;
	struct image_cache *c = image_cache_global();
	struct pending *p;
	int rc;

	if (!s->proto.hello_done) {
		session_refuse(s, m, EPROTO, "HELLO must come first");
		return;
	}
	if (!c) {
		session_refuse(s, m, EOPNOTSUPP,
			       "images are off (images.store is empty)");
		return;
	}
	if ((io->flags & UFFDD_IMAGE_RECORD) && !may_record(s)) {
		session_refuse(s, m, EPERM,
			       "recording an image's trace is for root and "
			       "admin_gids");
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		session_refuse(s, m, ENOMEM, "out of memory");
		return;
	}
	p->w = s->w;
	p->session = s->id;
	p->seq = m->hdr.seq;
	p->flags = io->flags;
	rc = image_open(c, worker_base(s->w), io->name, io->version,
			io->flags & UFFDD_IMAGE_HUGETLB, opened, p);
	if (rc < 0) {
		free(p);
		session_refuse(s, m, -rc, "image \"%s\": %s", io->name,
			       rc == -EINVAL ? "not an image name (1-64 of "
					       "[A-Za-z0-9._-])"
					     : strerror(-rc));
	}
}

int session_image_fd(int fd)
{
	struct image_cache *c = image_cache_global();

	return c && image_is_cached(c, fd);
}

struct page_state *images_region_pages(int memfd, uint64_t npages, uint32_t psz,
				       char *err, size_t errlen)
{
	struct image *img = image_match(image_cache_global(), memfd);
	struct page_state *ps = NULL;
	int fd = img ? image_pages_fd(img) : -ENOENT;

	if (img)
		image_unref(img);
	if (fd >= 0)
		ps = page_state_adopt(fd, npages, psz, err, errlen);
	else
		snprintf(err, errlen, "the image's page-state file: %s",
			 strerror(-fd));
	if (!ps && fd >= 0)
		close(fd);
	return ps;
}

int session_image_policy(struct session *s, const char *asked, char *spec,
			 size_t size, char *err, size_t errlen)
{
	if (!asked[0] || !strcmp(asked, "image")) {
		snprintf(spec, size, "image");
		return 0;
	}
	if (strcmp(asked, "image:record") != 0) {
		snprintf(err, errlen,
			 "an image's region takes the image policy (\"\" or "
			 "\"image:record\"), not \"%.60s\"",
			 asked);
		return -EINVAL;
	}
	if (!may_record(s)) {
		snprintf(err, errlen,
			 "recording an image's trace is for root "
			 "and admin_gids");
		return -EPERM;
	}
	snprintf(spec, size, "image:record");
	return 0;
}
