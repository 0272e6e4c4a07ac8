/* SPDX-License-Identifier: MIT */
/*
 * Who may do what (SECURITY.md): peers are known by SO_PEERCRED and
 * SO_PEERGROUPS, read once when they connect.
 */
#ifndef UFFDD_ACCESS_H
#define UFFDD_ACCESS_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config/config.h"

struct daemon;

#define PEER_MAX_GROUPS 64

struct peer {
	struct ucred cr;
	int ngroups; /* supplementary groups known (at most PEER_MAX_GROUPS) */
	gid_t groups[PEER_MAX_GROUPS];
};

/* SO_PEERCRED and SO_PEERGROUPS of a connected socket.  0 or -errno. */
int peer_read(int sock, struct peer *p);

/* 1 if p's primary or a supplementary group is in l. */
int peer_in_gids(const struct peer *p, const struct id_list *l);

/*
 * May p use the data socket?  deny_uids/deny_gids first, then, if either
 * allow list is set, p must be in one.  0, or -EACCES with why.
 */
int access_data_allowed(const struct config *c, const struct peer *p,
			char *why, size_t len);

/* May p change state (uffdctl disconnect, policy, publish)?  root or
 * a member of admin_gids. */
int access_is_admin(const struct config *c, const struct peer *p);

/*
 * Main thread, a connection just accepted on the data socket: check the
 * peer against access, limits.clients and limits.clients_per_uid.
 * 0: go on (the session may be created).  -1: refused; the peer got an
 * ERROR, the refusal is logged (at most one line a second for a flood)
 * and sock is closed.
 */
int access_accept(struct daemon *d, int sock);

#endif
