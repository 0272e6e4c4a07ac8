/* SPDX-License-Identifier: MIT */
/*
 * Calls from the main thread into a worker that wait for the answer: the
 * control socket's requests that change what a worker owns (a region's
 * policy, a publish, a disconnect) must run on that worker.
 */
#ifndef UFFDD_WCALL_H
#define UFFDD_WCALL_H

#include <stddef.h>

struct worker;

/*
 * Run fn(w, arg) on worker w and wait for it (main thread).  arg (size
 * bytes) is copied there and back, so fn may leave results in it.
 * Returns fn's result, or -ETIMEDOUT when the worker did not answer in
 * timeout_ms (fn may still run later, on the copy).
 */
int wcall(struct worker *w, int (*fn)(struct worker *w, void *arg), void *arg,
	  size_t size, int timeout_ms);

#endif
