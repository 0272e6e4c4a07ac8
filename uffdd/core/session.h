/* SPDX-License-Identifier: MIT */
/* A client connection: its protocol and its regions. */
#ifndef UFFDD_SESSION_H
#define UFFDD_SESSION_H

#include "daemon.h"

/* Main thread: a new connection with its peer credentials. */
struct session *session_new(struct daemon *d, int sock);

/* Worker thread: start serving s on w. */
int session_attach(struct session *s, struct worker *w);

/* Worker thread: end s, closing everything it holds; logs why. */
void session_drop(struct session *s, const char *why);

/* The process's name from /proc/PID/comm, "?" when it cannot be read. */
void session_read_comm(pid_t pid, char *buf, size_t len);

/* Free a session that was never attached (main thread). */
void session_discard(struct session *s);

#endif
