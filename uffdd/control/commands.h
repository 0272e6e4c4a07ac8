/* SPDX-License-Identifier: MIT */
/* Inside the control module: the commands that act on clients. */
#ifndef UFFDD_CONTROL_COMMANDS_H
#define UFFDD_CONTROL_COMMANDS_H

#include <stddef.h>
#include <sys/types.h>

#include "uffdd_proto.h"

struct daemon;
struct json_object;
struct peer;

/*
 * The descriptors a request came with (SCM_RIGHTS on the control socket):
 * the files of a policy, opened by uffdctl with its caller's rights and
 * named "#N" in the spec, as in REGISTER.
 */
struct control_fds {
	int fd[UFFDD_MAX_FILES];
	int n;
	int excess; /* more came, and were closed */
};

/* recvmsg into buf; descriptors added to f (beyond its room: closed and
 * counted).  Bytes read, 0 at the end, or -errno. */
ssize_t control_recv(int sock, void *buf, size_t len, struct control_fds *f);
void control_fds_close(struct control_fds *f);

/* {"error": "..."}, the answer to a request that cannot be done. */
struct json_object *control_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* publish and policy: the answer, or NULL if cmd is neither (then f is
 * left alone).  Takes f's descriptors otherwise. */
struct json_object *control_region(struct daemon *d, const struct peer *by,
				   const char *cmd, struct json_object *req,
				   struct control_fds *f);

/* disconnect: the caller checked that `by` may. */
struct json_object *control_disconnect(struct daemon *d, const struct peer *by,
				       struct json_object *req);

#endif
