/* SPDX-License-Identifier: MIT */
/* The daemon's state as JSON, for `uffdctl status`. */
#ifndef UFFDD_STATUS_H
#define UFFDD_STATUS_H

#include <stdint.h>

struct daemon;
struct json_object;

/* Main thread.  The caller owns the result (json_object_put). */
struct json_object *status_build(struct daemon *d);

/* Totals for the systemd STATUS= line. */
void status_totals(struct daemon *d, unsigned *clients, unsigned *regions,
		   uint64_t *faults);

#endif
