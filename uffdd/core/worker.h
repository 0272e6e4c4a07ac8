/* SPDX-License-Identifier: MIT */
/*
 * Fault workers: one thread and one event loop each.  A worker runs what
 * it is given (worker_post) on its own thread; what it serves (sessions)
 * is the session module's business, not the worker's.
 */
#ifndef UFFDD_WORKER_H
#define UFFDD_WORKER_H

#include <stdint.h>

#include "histo.h"

struct daemon;
struct event_base;
struct worker;
struct worker_pool;

/* Counters since start; written by the worker only. */
struct worker_stats {
	uint64_t faults, pages_mapped, errors, races;
	uint64_t wakeups; /* uffd read events */
	struct histo lat; /* every fault's latency, since the start */
};

/*
 * Start n workers (pinned: worker i on CPU i) for d.  on_exit runs on
 * each worker's thread once its loop has stopped, before the loop's last
 * deferred callbacks: what it serves must end there.  NULL on failure.
 */
struct worker_pool *workers_start(struct daemon *d, int n, int pinned,
				  void (*on_exit)(struct worker *w));
/* Stop and join every worker (each runs on_exit). */
void workers_stop(struct worker_pool *p);
int workers_count(const struct worker_pool *p);
struct worker *worker_at(struct worker_pool *p, int i);
/* The least loaded worker (ties: round robin). */
struct worker *worker_pick(struct worker_pool *p);
/* The worker pinned to cpu, or NULL (placement "scheduler"). */
struct worker *worker_for_cpu(struct worker_pool *p, int cpu);
/* 1 if every worker's loop turned within max_age_ns. */
int workers_healthy(struct worker_pool *p, uint64_t max_age_ns);

int worker_idx(const struct worker *w);
struct daemon *worker_daemon(const struct worker *w);
struct event_base *worker_base(const struct worker *w);
struct worker_stats *worker_stats(struct worker *w);
/* The lock of what the worker serves: taken by the worker around
 * structural changes, by other threads to read them. */
void worker_lock(struct worker *w);
void worker_unlock(struct worker *w);
/* What it serves, for worker_pick (sessions); any thread. */
void worker_load(struct worker *w, int delta);
unsigned worker_load_now(const struct worker *w);

/* Any thread: run fn(w, arg) on w's thread soon.  0 or -ENOMEM. */
int worker_post(struct worker *w, void (*fn)(struct worker *w, void *arg),
		void *arg);

#endif
