/* SPDX-License-Identifier: MIT */
/*
 * Which processes are clients now, by pid, so that a client that connects
 * itself can be told apart as a fork of another client: its parent pid
 * comes from the kernel (PIDFD_GET_INFO, peer.c), never from what the
 * client says.  Counted in status (totals.child_clients) next to the
 * children that came as FORKED: the forks the daemon followed.
 *
 * Any thread (one lock); the table holds one entry per client pid, so it
 * is bounded by limits.clients.
 */
#ifndef UFFDD_KIN_H
#define UFFDD_KIN_H

#include <sys/types.h>

/* pid is a client (once more: a process may hold several sessions).
 * 0, or -ENOMEM (then kin_leave must not be called for it). */
int kin_enter(pid_t pid);
/* One of pid's sessions ended. */
void kin_leave(pid_t pid);
/* pid holds a session now. */
int kin_is_client(pid_t pid);

#endif
