/* SPDX-License-Identifier: MIT */
#include "access.h"
#include "daemon.h"
#include "bounds.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

int peer_read(int sock, struct peer *p)
{
	socklen_t len = sizeof(p->cr);

	memset(p, 0, sizeof(*p));
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &p->cr, &len) < 0)
		return -errno;
	/*
	 * Supplementary groups as they were at connect (Linux 4.13+); more
	 * than we keep gives ERANGE: the first PEER_MAX_GROUPS are lost then,
	 * so the peer may be refused an admin group it has, never granted
	 * one it lacks.
	 */
	len = sizeof(p->groups);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) == 0)
		p->ngroups = (int)(len / sizeof(gid_t));
	else
		p->ngroups = 0;
	return 0;
}

int peer_in_gids(const struct peer *p, const struct id_list *l)
{
	if (id_list_has(l, p->cr.gid))
		return 1;
	for (int i = 0; i < p->ngroups; i++)
		if (id_list_has(l, p->groups[i]))
			return 1;
	return 0;
}

int access_data_allowed(const struct config *c, const struct peer *p,
			char *why, size_t len)
{
	if (id_list_has(&c->deny_uids, p->cr.uid)) {
		snprintf(why, len, "uid %u is denied (access.deny_uids)",
			 (unsigned)p->cr.uid);
		return -EACCES;
	}
	if (peer_in_gids(p, &c->deny_gids)) {
		snprintf(why, len, "a group of uid %u is denied "
			 "(access.deny_gids)", (unsigned)p->cr.uid);
		return -EACCES;
	}
	if (!c->allow_uids.n && !c->allow_gids.n)
		return 0;
	if (id_list_has(&c->allow_uids, p->cr.uid) ||
	    peer_in_gids(p, &c->allow_gids))
		return 0;
	snprintf(why, len, "uid %u is not in access.allow_uids or "
		 "access.allow_gids", (unsigned)p->cr.uid);
	return -EACCES;
}

int access_is_admin(const struct config *c, const struct peer *p)
{
	return p->cr.uid == 0 || peer_in_gids(p, &c->admin_gids);
}

/* Sessions of uid, attached or on their way to a worker. */
static unsigned clients_of(struct daemon *d, uid_t uid)
{
	unsigned n = 0;

	for (int i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];
		struct session *s;

		pthread_mutex_lock(&w->lock);
		TAILQ_FOREACH(s, &w->sessions, link)
			n += s->uid == uid && !s->child;
		TAILQ_FOREACH(s, &w->incoming, link)
			n += s->uid == uid;
		pthread_mutex_unlock(&w->lock);
	}
	return n;
}

static struct throttle refusals;

int access_accept(struct daemon *d, int sock)
{
	const struct config *c = &d->cfg;
	struct peer p;
	char why[160];
	int code = 0;

	if (peer_read(sock, &p) < 0) {
		code = EPROTO;
		snprintf(why, sizeof(why), "no peer credentials");
	} else if (access_data_allowed(c, &p, why, sizeof(why)) < 0) {
		code = EACCES;
		__atomic_add_fetch(&d->denied_clients, 1, __ATOMIC_RELAXED);
	} else if (__atomic_load_n(&d->clients, __ATOMIC_RELAXED) >=
		   c->max_clients) {
		code = EUSERS;
		snprintf(why, sizeof(why), "uffdd serves at most %u clients "
			 "(limits.clients)", c->max_clients);
	} else if (clients_of(d, p.cr.uid) >= c->max_clients_per_uid) {
		code = EUSERS;
		snprintf(why, sizeof(why), "uid %u has %u connections already "
			 "(limits.clients_per_uid)", (unsigned)p.cr.uid,
			 c->max_clients_per_uid);
	}
	if (!code)
		return 0;
	d->rejected_clients++;
	uffdd_send_error(sock, 0, 0, code, "%s", why);
	close(sock);
	throttle_log(&refusals, LOG_WARNING, "connection from pid %d uid %u "
		     "refused: %s", (int)p.cr.pid, (unsigned)p.cr.uid, why);
	return -1;
}
