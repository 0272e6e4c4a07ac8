/* SPDX-License-Identifier: MIT */
/* Control socket commands that act on a region: publish, policy. */
#ifndef UFFDD_CONTROL_OPS_H
#define UFFDD_CONTROL_OPS_H

#include <sys/socket.h>

#include "core/daemon.h"

struct json_object;

/*
 * The answer to command `cmd` of request req from peer cred, or NULL if
 * cmd is not one of these.  Main thread.
 *   {"command":"publish","region":ID|NAME,"offset":N,"length":N}
 *   {"command":"policy","region":ID|NAME,"policy":SPEC}
 */
struct peer;
struct json_object *control_region_command(struct daemon *d,
					   const struct peer *peer,
					   const char *cmd,
					   struct json_object *req);

#endif
