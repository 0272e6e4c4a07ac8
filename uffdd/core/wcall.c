/* SPDX-License-Identifier: MIT */
#include "wcall.h"
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wcall {
	int (*fn)(struct worker *w, void *arg);
	int rc;
	int done;
	int refs; /* the caller and the worker */
	size_t size;
	unsigned char arg[];
};

/* One lock and condition for every call: they are rare and short. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void put(struct wcall *c)
{
	if (--c->refs == 0)
		free(c);
}

/* On the worker. */
static void run(struct worker *w, void *arg)
{
	struct wcall *c = arg;
	int rc = c->fn(w, c->arg);

	pthread_mutex_lock(&mu);
	c->rc = rc;
	c->done = 1;
	pthread_cond_broadcast(&cv);
	put(c);
	pthread_mutex_unlock(&mu);
}

static struct timespec deadline(int timeout_ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	return until;
}

int wcall(struct worker *w, int (*fn)(struct worker *w, void *arg), void *arg,
	  size_t size, int timeout_ms)
{
	struct wcall *c = calloc(1, sizeof(*c) + size);
	struct timespec until;
	int rc;

	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->size = size;
	c->refs = 2;
	memcpy(c->arg, arg, size);
	if (worker_post(w, run, c) < 0) {
		free(c);
		return -ENOMEM;
	}
	until = deadline(timeout_ms);
	pthread_mutex_lock(&mu);
	while (!c->done)
		if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT)
			break;
	if (c->done) {
		rc = c->rc;
		memcpy(arg, c->arg, size);
	} else {
		rc = -ETIMEDOUT;
	}
	put(c);
	pthread_mutex_unlock(&mu);
	return rc;
}
