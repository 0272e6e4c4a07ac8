/* SPDX-License-Identifier: MIT */
/* The daemon's two listening sockets: from systemd, or made here. */
#ifndef UFFDD_LISTEN_H
#define UFFDD_LISTEN_H

#include "daemon.h"

/*
 * Take "data" and "control" from sd_listen_fds_with_names(), else create
 * them at the configured paths.  Returns 0 or -errno (logged).
 */
int listen_open(struct daemon *d);
void listen_close(struct daemon *d);

#endif
