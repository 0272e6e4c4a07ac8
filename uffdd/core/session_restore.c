/* SPDX-License-Identifier: MIT */
#include "session_restore.h"
#include "daemon.h"
#include "fdcheck.h"
#include "fdstore.h"
#include "log.h"
#include "pagestate.h"
#include "session.h"
#include "session_proto.h"
#include "worker.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The tags of a region's descriptors besides its description. */
static const char region_tags[] = "UMP012";

/* Drop every descriptor and the description of the region of meta. */
static void drop_region(struct fdstore_set *set, struct fdstore_entry *meta)
{
	for (const char *t = region_tags; *t; t++) {
		struct fdstore_entry *e = fdstore_get(set, *t, meta->id);

		if (e)
			fdstore_drop(e);
	}
	fdstore_drop(meta);
}

/* Take entry tag of region id out of the set: its fd, or -1. */
static int take(struct fdstore_set *set, char tag, uint64_t id)
{
	struct fdstore_entry *e = fdstore_get(set, tag, id);
	int fd = e ? e->fd : -1;

	if (e)
		e->fd = -1;
	return fd;
}

/* The client's files and the page-state file, back into r. */
static void restore_files(struct region *r, struct fdstore_set *set,
			  uint64_t id)
{
	char err[200];
	int ps;

	for (r->nfiles = 0; r->nfiles < UFFDD_MAX_FILES; r->nfiles++) {
		r->files[r->nfiles] = take(set, (char)('0' + r->nfiles), id);
		if (r->files[r->nfiles] < 0)
			break;
	}
	r->v.restored = 1;
	ps = take(set, 'P', id);
	if (ps < 0)
		return;
	r->ps = page_state_adopt(ps, r->v.len / r->v.page_size, r->v.page_size,
				 err, sizeof(err));
	if (!r->ps) {
		log_warn("stored region %016" PRIx64 ": %s; its pages are "
			 "filled and published anew",
			 id, err);
		close(ps);
		return;
	}
	r->v.pages = page_state_bits(r->ps);
	r->v.client_takes_over = 1;
}

/* The region parameters of a description; 0, or -1 if it is unusable. */
static int region_params_of(struct fdstore_set *set, struct fdstore_entry *meta,
			    const struct fdstore_region *d,
			    struct region_params *p)
{
	struct fdstore_entry *u = fdstore_get(set, 'U', meta->id);
	struct fdstore_entry *m = fdstore_get(set, 'M', meta->id);
	struct memfd_info mi;
	uint64_t feats;
	char err[256];
	/* An image's memfd was given read-only (the cache alone writes it). */
	int image = !strncmp(d->policy, "image", 5) &&
		    (!d->policy[5] || d->policy[5] == ':');

	if (!u || !m || fd_check_uffd(u->fd, &feats, err, sizeof(err)) < 0 ||
	    (image ? fd_check_memfd_ro(m->fd, &mi, err, sizeof(err))
		   : fd_check_memfd(m->fd, &mi, err, sizeof(err))) < 0) {
		log_warn("stored region %016" PRIx64 ": %s", meta->id,
			 u && m ? err : "a descriptor is missing");
		return -1;
	}
	memset(p, 0, sizeof(*p));
	p->id = meta->id;
	p->start = d->start;
	p->len = d->len;
	p->offset = d->offset;
	p->kind = (uint8_t)d->kind;
	p->page_size = d->page_size;
	p->uffd_features = feats;
	snprintf(p->name, sizeof(p->name), "%s", d->name);
	snprintf(p->policy, sizeof(p->policy), "%s", d->policy);
	return 0;
}

/* Rebuild one region of s from its three entries; 0 or -1 (dropped). */
static int restore_region(struct session *s, struct fdstore_set *set,
			  struct fdstore_entry *meta,
			  const struct fdstore_region *d)
{
	struct region_params p;
	struct region *r;
	char err[256];

	if (region_params_of(set, meta, d, &p) < 0) {
		log_warn("stored region %016" PRIx64 " is incomplete; dropped",
			 meta->id);
		drop_region(set, meta);
		return -1;
	}
	r = region_make(s, &s->regions, &p, err, sizeof(err));
	if (!r || session_adopt_region(s, r) < 0) {
		log_warn("stored region %016" PRIx64 " cannot be rebuilt: %s",
			 meta->id, r ? "overlap" : err);
		if (r)
			region_free(r);
		drop_region(set, meta);
		return -1;
	}
	r->uffd = take(set, 'U', meta->id);
	r->v.memfd = take(set, 'M', meta->id);
	restore_files(r, set, meta->id);
	close(meta->fd);
	meta->fd = -1;
	return 0;
}

/* Every region description of session sid: restored into s, or (s NULL)
 * released: they would pin the exited client's memory for ever.  The
 * number of regions that could not be rebuilt. */
static int regions_of(struct fdstore_set *set, uint64_t sid, struct session *s)
{
	int lost = 0;

	for (int i = 0; i < set->n; i++) {
		struct fdstore_entry *e = &set->e[i];
		struct fdstore_region d;

		if (e->fd < 0 || e->tag != 'r' ||
		    fdstore_read_region(e, &d) < 0 || d.sid != sid)
			continue;
		if (!s)
			drop_region(set, e);
		else if (restore_region(s, set, e, &d) < 0)
			lost++;
	}
	return lost;
}

/*
 * A region that could not be rebuilt has no one reading its faults: its
 * threads would wait for ever.  The session ends instead, so that the
 * client's library sees the hang-up and serves every region it can
 * (issue 12's takeover: what the daemon filled, else SIGBUS), and the
 * kernel the others.
 */
static void give_up(struct session *s, int lost)
{
	log_warn("client %d (%s): session %016" PRIx64 ": %d region%s could "
		 "not be taken back; ending the session so that its client "
		 "serves them",
		 (int)s->who.pid, s->who.comm, s->id, lost,
		 lost == 1 ? "" : "s");
	for (size_t i = 0; i < s->regions.n; i++) {
		fdstore_forget_region(s->regions.v[i]->v.id);
		region_free(s->regions.v[i]);
	}
	fdstore_forget_session(s->id);
	session_discard(s);
}

/* The client's connection, unless it exited while we were down. */
static struct fdstore_entry *live_socket(struct fdstore_set *set, uint64_t sid)
{
	struct fdstore_entry *sk = fdstore_get(set, 'S', sid);
	struct pollfd pfd;

	if (!sk)
		return NULL;
	pfd.fd = sk->fd;
	pfd.events = POLLIN;
	/* A client that exited while we were down: its end is shut. */
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR))) {
		fdstore_drop(sk);
		return NULL;
	}
	return sk;
}

static int restore_session(struct daemon *d, struct fdstore_set *set,
			   struct fdstore_entry *meta)
{
	struct fdstore_entry *sk = live_socket(set, meta->id);
	struct fdstore_session desc;
	struct session *s = NULL;
	int lost;

	if (sk && fdstore_read_session(meta, &desc) == 0)
		s = session_new(sk->fd);
	if (!s) {
		/* systemd already closed the connection of a client that
		 * exited: its uffds and memfds must go too. */
		log_info("session %016" PRIx64 " ended while uffdd was down; "
			 "releasing what it left in the store",
			 meta->id);
		regions_of(set, meta->id, NULL);
		if (sk)
			fdstore_drop(sk);
		fdstore_drop(meta);
		return -1;
	}
	s->id = meta->id;
	/* What it held of the limits, it holds still; its groups are not
	 * known any more, its uid and primary group are. */
	s->admin = s->who.uid == 0 ||
		   id_list_has(&d->conf.cfg.access.admin_gids, s->who.gid);
	session_count_in(s, 1, NULL, 0);
	s->proto.hello_done = 1;
	s->proto.restored = 1;
	memcpy(s->proto.name, desc.name, sizeof(s->proto.name));
	s->proto.granted = desc.granted;
	s->proto.uffd_mode = desc.uffd_mode;
	s->since = desc.since;
	sk->fd = -1;
	close(meta->fd);
	meta->fd = -1;
	lost = regions_of(set, s->id, s);
	if (lost) {
		give_up(s, lost);
		return -1;
	}
	log_notice("client %d (%s): session %016" PRIx64
		   " restored with %zu region%s",
		   (int)s->who.pid, s->who.comm, s->id, s->regions.n,
		   s->regions.n == 1 ? "" : "s");
	if (session_serve(s, worker_pick(d->workers)) < 0) {
		log_err("cannot serve restored session %016" PRIx64, s->id);
		session_discard(s);
	}
	return 0;
}

int sessions_restore(struct daemon *d)
{
	struct fdstore_set set;
	int restored = 0;

	if (fdstore_open_set(&set, d->stored.fds, d->stored.names,
			     d->stored.n) == 0) {
		for (int i = 0; i < set.n; i++)
			if (set.e[i].fd >= 0 && set.e[i].tag == 's' &&
			    restore_session(d, &set, &set.e[i]) == 0)
				restored++;
		/* Whatever no session claimed. */
		fdstore_close_set(&set);
	}
	for (int i = 0; i < d->stored.n; i++)
		free(d->stored.names[i]);
	free(d->stored.names);
	free(d->stored.fds);
	d->stored.names = NULL;
	d->stored.fds = NULL;
	d->stored.n = 0;
	return restored;
}
