/* SPDX-License-Identifier: MIT */
/* Fault workers: one thread and one event loop each; sessions pinned. */
#ifndef UFFDD_WORKER_H
#define UFFDD_WORKER_H

#include "daemon.h"

int workers_start(struct daemon *d, int n);
/* Stop and join every worker; their sessions are ended. */
void workers_stop(struct daemon *d);
/* Main thread: give s to the least loaded worker. */
int worker_assign(struct daemon *d, struct session *s);
/* The worker pinned to cpu, or NULL (placement "scheduler"). */
struct worker *worker_for_cpu(struct daemon *d, int cpu);
/* Any thread: queue s for w, which attaches it on its own thread. */
void worker_give(struct worker *w, struct session *s);
/* 1 if every worker's loop turned within max_age_ns. */
int workers_healthy(struct daemon *d, uint64_t max_age_ns);

#endif
