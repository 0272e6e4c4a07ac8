/* SPDX-License-Identifier: MIT */
/*
 * Completions into a libevent loop.  The store's threads (librados'
 * finisher, the file store's I/O threads, the metadata thread) queue a
 * finished request here and poke an eventfd; the loop's thread runs the
 * callbacks.  One write per batch: a poke is needed only when the queue
 * was empty.
 */
#include "store_int.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct store_loop {
	pthread_mutex_t lock;
	TAILQ_HEAD(, store_done) done;
	int efd;
	struct event *ev;
	unsigned outstanding; /* only touched on the loop's thread */
};

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct store_loop *lp = arg;
	TAILQ_HEAD(, store_done) batch;
	struct store_done *d;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	TAILQ_INIT(&batch);
	pthread_mutex_lock(&lp->lock);
	TAILQ_CONCAT(&batch, &lp->done, link);
	pthread_mutex_unlock(&lp->lock);
	while ((d = TAILQ_FIRST(&batch))) {
		TAILQ_REMOVE(&batch, d, link);
		lp->outstanding--;
		d->deliver(d);
	}
}

struct store_loop *store_loop_new(struct event_base *base)
{
	struct store_loop *lp = calloc(1, sizeof(*lp));

	if (!lp)
		return NULL;
	pthread_mutex_init(&lp->lock, NULL);
	TAILQ_INIT(&lp->done);
	lp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lp->efd < 0)
		goto fail;
	lp->ev = event_new(base, lp->efd, EV_READ | EV_PERSIST, on_wake, lp);
	if (!lp->ev || event_add(lp->ev, NULL))
		goto fail;
	return lp;
fail:
	if (lp->ev)
		event_free(lp->ev);
	if (lp->efd >= 0)
		close(lp->efd);
	pthread_mutex_destroy(&lp->lock);
	free(lp);
	return NULL;
}

int store_loop_free(struct store_loop *lp)
{
	if (!lp)
		return 0;
	if (lp->outstanding)
		return -EBUSY;
	event_free(lp->ev);
	close(lp->efd);
	pthread_mutex_destroy(&lp->lock);
	free(lp);
	return 0;
}

void store_loop_hold(struct store_loop *lp)
{
	lp->outstanding++;
}

void store_loop_post(struct store_loop *lp, struct store_done *d)
{
	int wake;
	uint64_t one = 1;

	pthread_mutex_lock(&lp->lock);
	wake = TAILQ_EMPTY(&lp->done);
	TAILQ_INSERT_TAIL(&lp->done, d, link);
	pthread_mutex_unlock(&lp->lock);
	/* A full counter (2^64 - 2 pokes unread) cannot happen: the loop
	 * reads it at every batch. */
	if (wake && write(lp->efd, &one, sizeof(one)) < 0)
		return;
}
