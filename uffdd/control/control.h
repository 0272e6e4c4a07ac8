/* SPDX-License-Identifier: MIT */
/*
 * The control socket (SOCK_STREAM): one JSON request line in, one JSON
 * reply out, then the daemon closes.  Runs on the main thread.
 *
 *   {"command":"status"}  {"command":"ping"}           anyone
 *   {"command":"metrics"}  -> {"metrics": "Prometheus text"}  anyone
 *   {"command":"publish","region":ID|NAME,"offset":N,"length":N}
 *                                  root, admin_gids, or the region's owner
 *   {"command":"policy","region":ID|NAME,"policy":SPEC}  root, admin_gids
 *   {"command":"disconnect","client":PID|"SESSION"}     root, admin_gids
 */
#ifndef UFFDD_CONTROL_H
#define UFFDD_CONTROL_H

struct daemon;

int control_start(struct daemon *d);
void control_stop(void);

#endif
