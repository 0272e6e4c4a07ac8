/* SPDX-License-Identifier: MIT */
/*
 * The control socket (SOCK_STREAM): one JSON request line in, one JSON
 * reply out, then the daemon closes.  Runs on the main thread.
 */
#ifndef UFFDD_CONTROL_H
#define UFFDD_CONTROL_H

#include "daemon.h"

int control_start(struct daemon *d);
void control_stop(void);

#endif
