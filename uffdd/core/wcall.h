/* SPDX-License-Identifier: MIT */
/*
 * Calls from the main thread into a worker: the control socket's requests
 * that change a region (publish, policy) must run on the region's worker,
 * which alone touches its sessions and policies.
 */
#ifndef UFFDD_WCALL_H
#define UFFDD_WCALL_H

#include <stddef.h>

#include "daemon.h"

/*
 * Run fn(w, arg) on worker w and wait for it (main thread).  arg (size
 * bytes) is copied there and back, so fn may leave results in it.
 * Returns fn's result, or -ETIMEDOUT when the worker did not answer in
 * timeout_ms (fn may still run later, on the copy).
 */
int wcall(struct worker *w, int (*fn)(struct worker *w, void *arg), void *arg,
	  size_t size, int timeout_ms);

/* Worker thread: run the calls queued for w. */
void wcall_run(struct worker *w);

#endif
