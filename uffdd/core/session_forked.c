/* SPDX-License-Identifier: MIT */
/*
 * FORKED (protocol 2): a forked child's HELLO and first REGISTER, sent on
 * the connection it inherited from its parent, with the daemon end of a
 * socketpair the child made.  The child's session is served on that
 * socket: no connect, no accept, no WELCOME, one message and at most one
 * answer on the child's own socket.
 *
 * Who the child is comes from that socket, as for a connection: a
 * socketpair's peer credentials are those of the process that made it
 * (SO_PEERCRED, SO_PEERPIDFD), so a process can only ever speak for
 * itself.  The child is admitted like a connection (the access lists,
 * its uid's share of limits.clients) and does not count against its
 * parent's message rate.  Nothing about it is ever sent on the parent's
 * connection, whose request numbers the child shares: a refusal goes to
 * the child's socket, or nowhere when there is none to answer on.
 */
#include "access.h"
#include "bounds.h"
#include "daemon.h"
#include "kin.h"
#include "listen.h"
#include "log.h"
#include "session.h"
#include "session_proto.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/*
 * A SOCK_SEQPACKET socket: something to serve on.  That it is AF_UNIX and
 * connected, SO_PEERCRED says next (it fails on anything else).
 */
static int seqpacket(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0 &&
	       v == SOCK_SEQPACKET;
}

/* Not served: say why on the child's socket if there is one to say it on. */
static void refuse(struct session *p, struct uffdd_msg *m, int sock, int code,
		   const char *why)
{
	log_uid(LOG_NOTICE, p->who.uid, p->who.pid,
		"client %d (%s): a forked child's FORKED refused: %s",
		(int)p->who.pid, p->who.comm, why);
	if (sock >= 0)
		uffdd_send_error(sock, m->hdr.seq, UFFDD_FORKED, code, "%s",
				 why);
	uffdd_msg_close_fds(m);
}

/* The child's session, its HELLO done; NULL (refused) or it holds sock. */
static struct session *child_session(struct session *p, struct uffdd_msg *m)
{
	struct daemon *d = worker_daemon(p->w);
	const struct uffdd_hello *h = &m->u.forked.hello;
	int sock = m->fds[0];
	struct session *c;
	char why[256];
	int code, admin = 0;

	if (!seqpacket(sock)) {
		refuse(p, m, -1, EBADF,
		       "the first descriptor is not a SOCK_SEQPACKET socket");
		return NULL;
	}
	if (h->max_version < 2 || h->min_version > UFFDD_PROTO_MAX) {
		refuse(p, m, sock, EPROTONOSUPPORT,
		       "FORKED is protocol version 2");
		return NULL;
	}
	code = listen_admit(d, sock, &admin, why, sizeof(why));
	if (code) {
		__atomic_add_fetch(&d->n.rejected_clients, 1, __ATOMIC_RELAXED);
		refuse(p, m, sock, code, why);
		return NULL;
	}
	c = session_new_child(sock, &p->who);
	if (!c) {
		refuse(p, m, sock, ENOMEM, "cannot identify the child");
		return NULL;
	}
	/* Its uid's share of limits.clients, as a connection's. */
	c->admin = admin;
	if (session_count_in(c, 0, why, sizeof(why)) < 0) {
		c->proto.sock = -1; /* still m's: refuse closes it */
		session_discard(c);
		__atomic_add_fetch(&d->n.rejected_clients, 1, __ATOMIC_RELAXED);
		refuse(p, m, sock, EUSERS, why);
		return NULL;
	}
	m->fds[0] = -1; /* c's now */
	snprintf(c->proto.name, sizeof(c->proto.name), "%s", h->name);
	peer_printable(c->proto.name);
	/* It holds its parent's grant already; this says whether it is
	 * one the configuration gives (status). */
	c->proto.granted =
	    (h->flags & UFFDD_HELLO_WANT_GRANT) &&
	    access_may_grant(&d->conf.cfg.access, c->who.uid, c->who.gid);
	c->proto.hello_done = 1;
	c->proto.forked_from = p->who.pid;
	return c;
}

void session_forked(struct session *p, struct uffdd_msg *m)
{
	struct uffdd_msg *first;
	struct session *c;

	if (!p->proto.hello_done) {
		refuse(p, m, -1, EPROTO, "HELLO must come first");
		return;
	}
	first = malloc(sizeof(*first));
	if (!first) {
		refuse(p, m, m->fds[0], ENOMEM, "out of memory");
		return;
	}
	c = child_session(p, m);
	if (!c) {
		free(first);
		return;
	}
	/* Its REGISTER, as the worker that gets the session will see it:
	 * answers and refusals name FORKED and its request number. */
	memset(first, 0, sizeof(*first));
	first->hdr = m->hdr;
	first->u.reg = m->u.forked.reg;
	first->fds[0] = m->fds[1];
	first->fds[1] = m->fds[2];
	first->nfds = 2;
	m->nfds = 0;
	c->proto.first = first;
	c->kin = kin_enter(c->who.pid) == 0;
	session_keep(c);
	CNT_ADD(p->events.fork, 1);
	__atomic_add_fetch(&worker_daemon(p->w)->n.forked, 1, __ATOMIC_RELAXED);
	log_client(session_log_level(c), &c->who, 0,
		   "client %d (%s, uid %u, \"%s\") connected, forked from "
		   "client %d%s",
		   (int)c->who.pid, c->who.comm, (unsigned)c->who.uid,
		   c->proto.name, (int)p->who.pid,
		   c->proto.granted ? ", /dev/userfaultfd granted" : "");
	/* On its parent's worker, at once: no hop to another thread while
	 * the child waits for its first page (like a child followed
	 * through UFFD_EVENT_FORK). */
	session_serve_here(c, p->w);
}
