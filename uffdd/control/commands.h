/* SPDX-License-Identifier: MIT */
/* Inside the control module: the commands that act on clients. */
#ifndef UFFDD_CONTROL_COMMANDS_H
#define UFFDD_CONTROL_COMMANDS_H

struct daemon;
struct json_object;
struct peer;

/* {"error": "..."}, the answer to a request that cannot be done. */
struct json_object *control_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* publish and policy: the answer, or NULL if cmd is neither. */
struct json_object *control_region(struct daemon *d, const struct peer *by,
				   const char *cmd, struct json_object *req);

/* disconnect: the caller checked that `by` may. */
struct json_object *control_disconnect(struct daemon *d, const struct peer *by,
				       struct json_object *req);

#endif
