/* SPDX-License-Identifier: MIT */
/*
 * The daemon's two listening sockets (from systemd, or made here), and
 * the accept loop of the data socket: who may come in, and to which
 * worker.  Main thread.
 */
#ifndef UFFDD_LISTEN_H
#define UFFDD_LISTEN_H

#include <stddef.h>

struct daemon;

/*
 * Take "data" and "control" from sd_listen_fds_with_names() (anything
 * else systemd passes is kept for the restore), else create them at the
 * configured paths.  Returns 0 or -errno (logged).
 */
int listen_open(struct daemon *d);
void listen_close(struct daemon *d);

/*
 * May the peer of sock come in: the access lists.  0 with *admin set (root
 * or admin_gids: no share, the reserve), or the errno to refuse it with
 * (why says why; a denial is counted).  Any thread, with the
 * configuration held still.  (Its share of limits.clients is the
 * session's to take: session_count_in.)
 */
int listen_admit(struct daemon *d, int sock, int *admin, char *why, size_t len);

/* Accept clients on the data socket from d's loop. */
int listen_start(struct daemon *d);
void listen_stop(void);

#endif
