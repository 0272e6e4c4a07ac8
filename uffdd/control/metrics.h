/* SPDX-License-Identifier: MIT */
/* The daemon's counters as Prometheus text, for `uffdctl metrics`. */
#ifndef UFFDD_METRICS_H
#define UFFDD_METRICS_H

struct daemon;

/* Main thread.  The text (the caller frees it), or NULL without memory. */
char *metrics_text(struct daemon *d);

#endif
