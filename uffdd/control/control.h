/* SPDX-License-Identifier: MIT */
/*
 * The control socket (SOCK_STREAM): one JSON request line in, one JSON
 * reply out, then the daemon closes.  Runs on the main thread.
 */
#ifndef UFFDD_CONTROL_H
#define UFFDD_CONTROL_H

#include "core/daemon.h"

struct conn;
struct peer;
struct json_object;

int control_start(struct daemon *d);

/*
 * May the peer of control connection c change state (disconnect, policy,
 * publish)?  1 for root or a member (primary or supplementary group, from
 * SO_PEERCRED/SO_PEERGROUPS at connect) of the configuration's admin_gids.
 * Read-only commands (status, ping) need nothing beyond the socket's
 * permissions.
 */
int control_privileged(const struct conn *c);
/* The answer to a state-changing command c may not run, logged once. */
struct json_object *control_denied(const struct conn *c, const char *cmd);
const struct peer *control_peer(const struct conn *c);

/*
 * control_disconnect.c: {"command":"disconnect","client":PID|"SESSION"}
 * ends that client's session on its worker.  The caller checked privilege.
 */
struct json_object *control_disconnect(struct daemon *d, const struct peer *by,
				       struct json_object *req);
void control_stop(void);

#endif
