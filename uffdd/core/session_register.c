/* SPDX-License-Identifier: MIT */
/*
 * REGISTER: the client hands over a uffd with a range registered MINOR,
 * the memfd behind it, and the files its policy names ("#N").  Every claim
 * in the message is checked against the descriptors themselves, the
 * configuration's limits and rules; then the region is made (with its
 * page-state file when the daemon makes its contents), its policy attached,
 * and its uffd served.
 */
#include "config/rules.h"
#include "daemon.h"
#include "fault.h"
#include "fdcheck.h"
#include "images.h"
#include "log.h"
#include "pagestate.h"
#include "session.h"
#include "session_proto.h"
#include "uffd_uapi.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Highest user-space address on x86_64 and most 64-bit arches (47 bits). */
#define USER_ADDR_LIMIT (1ULL << 56)

/* What session_refuse returned: negative, as the checks' callers see. */
static int refused(int rc)
{
	return rc < 0 ? rc : -EPROTO;
}

static const char *kind_name(int kind)
{
	return kind == UFFDD_KIND_HUGETLB ? "hugetlb" : "shmem";
}

/* The descriptors are what the message says, and this kernel serves them. */
static int check_descriptors(struct session *s, struct uffdd_msg *m,
			     uint64_t *feats, struct memfd_info *mi)
{
	const struct uffd_caps *caps = &worker_daemon(s->w)->caps;
	const struct uffdd_register *rq = &m->u.reg;
	char err[200];

	if (fd_check_uffd(m->fds[0], feats, err, sizeof(err)) < 0)
		return refused(
		    session_refuse(s, m, EBADF, "first descriptor: %s", err));
	/* An image's memfd comes read-only: the cache alone writes it. */
	if ((session_image_fd(m->fds[1])
		 ? fd_check_memfd_ro(m->fds[1], mi, err, sizeof(err))
		 : fd_check_memfd(m->fds[1], mi, err, sizeof(err))) < 0)
		return refused(
		    session_refuse(s, m, EBADF, "second descriptor: %s", err));
	if (rq->kind != UFFDD_KIND_SHMEM && rq->kind != UFFDD_KIND_HUGETLB)
		return refused(session_refuse(
		    s, m, EINVAL, "unknown region kind %u", rq->kind));
	if (rq->kind != mi->kind)
		return refused(session_refuse(
		    s, m, EINVAL, "region says %s but the memfd is %s",
		    kind_name(rq->kind), kind_name(mi->kind)));
	if (rq->kind == UFFDD_KIND_HUGETLB && !caps->minor_hugetlbfs)
		return refused(
		    session_refuse(s, m, EOPNOTSUPP,
				   "this kernel has no minor faults on "
				   "hugetlbfs (Linux 5.13+)"));
	if (rq->kind == UFFDD_KIND_SHMEM && !caps->minor_shmem)
		return refused(
		    session_refuse(s, m, EOPNOTSUPP,
				   "this kernel has no minor faults on shmem "
				   "(Linux 5.14+)"));
	if (!(*feats &
	      (rq->kind == UFFDD_KIND_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
					      : UFFD_FEATURE_MINOR_SHMEM)))
		return refused(session_refuse(
		    s, m, EINVAL, "the uffd was not opened with %s",
		    rq->kind == UFFDD_KIND_HUGETLB
			? "UFFD_FEATURE_MINOR_HUGETLBFS"
			: "UFFD_FEATURE_MINOR_SHMEM"));
	return 0;
}

/* The range is whole pages, in user space, and inside the memfd. */
static int check_range(struct session *s, struct uffdd_msg *m,
		       const struct memfd_info *mi)
{
	const struct uffdd_register *rq = &m->u.reg;

	if (rq->page_size != mi->page_size)
		return refused(session_refuse(
		    s, m, EINVAL, "page size %u, but the memfd's is %u",
		    rq->page_size, mi->page_size));
	if (!rq->length || rq->start % mi->page_size ||
	    rq->length % mi->page_size || rq->offset % mi->page_size)
		return refused(
		    session_refuse(s, m, EINVAL,
				   "start, length and offset must be "
				   "non-zero multiples of the page size %u",
				   mi->page_size));
	if (rq->start + rq->length < rq->start ||
	    rq->start + rq->length > USER_ADDR_LIMIT)
		return refused(session_refuse(s, m, EINVAL,
					      "range %#" PRIx64 "+%" PRIu64
					      " is outside user space",
					      rq->start, rq->length));
	if (rq->offset + rq->length < rq->offset ||
	    rq->offset + rq->length > mi->size)
		return refused(
		    session_refuse(s, m, EINVAL,
				   "memfd holds %" PRIu64 " bytes, region "
				   "needs %" PRIu64 " from offset %" PRIu64,
				   mi->size, rq->length, rq->offset));
	return 0;
}

/* limits.bytes_per_client (regions_per_client came first; the daemon's
 * regions and bytes are the uid's share, taken as the region is placed). */
static int check_limits(struct session *s, struct uffdd_msg *m)
{
	const struct config_limits *l = &worker_daemon(s->w)->conf.cfg.limits;

	if (s->regions.bytes + m->u.reg.length > l->bytes_per_client)
		return refused(session_refuse(s, m, ENOSPC,
					      "limit of %" PRIu64
					      " bytes per client reached "
					      "(limits.bytes_per_client)",
					      l->bytes_per_client));
	return 0;
}

/* Everything a REGISTER claims; 0, or -code once refused. */
static int check_request(struct session *s, struct uffdd_msg *m,
			 uint64_t *feats, struct memfd_info *mi)
{
	unsigned most = worker_daemon(s->w)->conf.cfg.limits.regions_per_client;
	char err[200];
	int rc;

	if (!s->proto.hello_done)
		return refused(
		    session_refuse(s, m, EPROTO, "HELLO must come first"));
	if (s->regions.n >= most)
		return refused(session_refuse(
		    s, m, EMFILE, "limit of %u regions reached", most));
	if ((rc = check_descriptors(s, m, feats, mi)) < 0 ||
	    (rc = check_range(s, m, mi)) < 0 || (rc = check_limits(s, m)) < 0)
		return rc;
	/* Last, as it registers what the client forgot to: the range must
	 * be a mapping of the right kind in the uffd's process. */
	if ((session_image_fd(m->fds[1])
		 ? fd_check_uffd_range_mode(m->fds[0], m->u.reg.start,
					    m->u.reg.length,
					    UFFDIO_REGISTER_MODE_MISSING |
						UFFDIO_REGISTER_MODE_MINOR,
					    err, sizeof(err))
		 : fd_check_uffd_range(m->fds[0], m->u.reg.start,
				       m->u.reg.length, err, sizeof(err))) < 0)
		return refused(session_refuse(s, m, EINVAL, "%s", err));
	return 0;
}

/* The region's parameters, its policy from the rules.  0 or -code. */
static int params(struct session *s, struct uffdd_msg *m, uint64_t feats,
		  const struct memfd_info *mi, struct region_params *p)
{
	const struct uffdd_register *rq = &m->u.reg;
	const struct rules_client who = {
		.uid = s->who.uid,
		.gid = s->who.gid,
		.exe = s->who.exe,
		.unit = s->who.cgroup,
	};
	char err[200];
	int rc;

	memset(p, 0, sizeof(*p));
	p->start = rq->start;
	p->len = rq->length;
	p->offset = rq->offset;
	p->page_size = mi->page_size;
	p->kind = rq->kind;
	p->uffd_features = feats;
	snprintf(p->name, sizeof(p->name), "%s", rq->name);
	/* An image's region is the image's, whatever the rules say. */
	if (session_image_fd(m->fds[1])) {
		if (rq->nfiles)
			return refused(session_refuse(
			    s, m, EBADF, "an image's region carries no files"));
		rc = session_image_policy(s, rq->policy, p->policy,
					  sizeof(p->policy), err, sizeof(err));
		return rc < 0 ? refused(session_refuse(s, m, -rc, "%s", err))
			      : 0;
	}
	/* The configuration's rules, and what the client may ask for.  The
	 * caller holds the configuration still. */
	rc = rules_choose(&worker_daemon(s->w)->conf.cfg.policy, &who,
			  rq->name[0] ? rq->name : "anon", rq->policy,
			  rq->nfiles, p->policy, sizeof(p->policy), err,
			  sizeof(err));
	return rc < 0 ? refused(session_refuse(s, m, -rc, "%s", err)) : 0;
}

/*
 * A policy that makes the region's contents gets the page-state file, and
 * a client that keeps its uffd to take over if the daemon goes.  0 or
 * -errno (err set).
 */
static int give_state(struct region *r, char *err, size_t errlen)
{
	uint64_t npages = r->v.len / r->v.page_size;

	if (!(policy_flags(r->v.pol) & POLICY_F_CONTENT))
		return 0;
	/* An image's region gets the image's file, which the cache keeps
	 * (its bits are the host's, for every client of the image). */
	if (session_image_fd(r->v.memfd))
		r->ps = images_region_pages(r->v.memfd, npages, r->v.page_size,
					    err, errlen);
	else
		r->ps = page_state_new(npages, r->v.page_size, err, errlen);
	if (!r->ps)
		return -ENOMEM;
	r->v.pages = page_state_bits(r->ps);
	r->v.client_takes_over = 1;
	return 0;
}

/* Attach r's policy, with the client's files; 0, or -errno (err set). */
static int attach(struct region *r, struct uffdd_msg *m, char *err,
		  size_t errlen)
{
	struct policy_takeover t;
	int rc;

	r->v.memfd = m->fds[1];
	r->nfiles = m->nfds - 2;
	memcpy(r->files, m->fds + 2, sizeof(int) * (size_t)r->nfiles);
	r->ctx = r->v.id;
	r->v.selfmapped = (m->u.reg.flags & UFFDD_REGF_SELFMAP) != 0;
	rc = give_state(r, err, errlen);
	/* The policy may refuse the region (a file it cannot read, a memfd
	 * that is not sealed, a kernel without UFFDIO_POISON). */
	if (rc == 0)
		rc = policy_attach(r->v.pol, &r->v, err, errlen);
	if (rc == 0 && r->ps) {
		policy_takeover(r->v.pol, &t);
		page_state_set_rules(r->ps, &t);
	}
	return rc;
}

/* The region in s's table, its policy attached; NULL once refused. */
static struct region *make(struct session *s, struct uffdd_msg *m,
			   const struct region_params *p,
			   const struct memfd_info *mi)
{
	struct region *r;
	char err[200];
	int rc;

	r = region_make(s, &s->regions, p, err, sizeof(err));
	if (!r) {
		session_refuse(s, m, EINVAL, "%s", err);
		return NULL;
	}
	r->uffd = m->fds[0];
	if (fault_watch(r, worker_base(s->w)) < 0) {
		r->uffd = -1; /* still m's: the refusal closes it */
		region_free(r);
		session_refuse(s, m, ENOMEM, "out of memory");
		return NULL;
	}
	rc = session_add_region(s, r, err, sizeof(err));
	if (rc < 0) {
		r->uffd = -1;
		region_free(r);
		session_refuse(s, m, -rc, "%s", err);
		return NULL;
	}
	r->v.memfd_dev = mi->dev;
	r->v.memfd_ino = mi->ino;
	rc = attach(r, m, err, sizeof(err));
	if (rc < 0) {
		session_remove_region(s, r);
		r->uffd = -1; /* still m's: the refusal closes them */
		r->v.memfd = -1;
		r->nfiles = 0;
		region_free(r);
		session_refuse(s, m, -rc, "%s", err);
		return NULL;
	}
	m->nfds = 0; /* the region holds them now */
	return r;
}

/*
 * REGISTERED, with the page-state file when the daemon makes contents, or
 * the board of the client's children's lineage when it asked for one and
 * its policy learns (and lets a child map the page cache itself).
 */
static int answer(struct session *s, const struct uffdd_msg *m,
		  struct region *r)
{
	struct uffdd_registered ok = { .region_id = r->v.id };
	int fd = r->ps ? page_state_fd(r->ps) : -1, board = -1, rc;

	if (r->ps)
		ok.flags |= UFFDD_REG_CONTENT;
	else if (m->u.reg.flags & UFFDD_REGF_BOARD)
		board = policy_board(&r->v);
	if (board >= 0) {
		ok.flags |= UFFDD_REG_BOARD;
		fd = board;
	}
	rc = uffdd_send(s->proto.sock, UFFDD_REGISTERED, m->hdr.seq, &ok,
			sizeof(ok), &fd, fd >= 0 ? 1 : 0);
	if (board >= 0)
		close(board);
	return rc;
}

void session_register(struct session *s, struct uffdd_msg *m)
{
	struct region_params p;
	struct memfd_info mi;
	struct region *r;
	uint64_t feats = 0;

	if (check_request(s, m, &feats, &mi) < 0 ||
	    params(s, m, feats, &mi, &p) < 0 || !(r = make(s, m, &p, &mi)))
		return;
	s->proto.uffd_mode =
	    m->u.reg.uffd_mode <= UFFDD_UFFD_USER_ONLY ? m->u.reg.uffd_mode : 0;
	if (answer(s, m, r) < 0) {
		session_drop(s, "cannot answer REGISTER");
		return;
	}
	/* Only now: faults queued before the answer are served right away. */
	event_add(r->ev, NULL);
	session_keep_region(s, r, 0);
	log_client(session_log_level(s), &s->who, r->v.id,
		   "client %d: region %016" PRIx64 " \"%s\" %s %" PRIu64
		   " MiB at %#" PRIx64 " policy %s",
		   (int)s->who.pid, r->v.id, r->name, kind_name(r->kind),
		   r->v.len >> 20, r->v.start, r->v.pol->spec);
}
