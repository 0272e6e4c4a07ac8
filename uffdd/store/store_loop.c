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
	struct store_post *head, **tail; /* posted, not yet delivered */
	int efd;
	struct event *ev;
	unsigned outstanding; /* store requests; only on the loop's thread */
};

void store_loop_drain(struct store_loop *lp)
{
	struct store_post *p;

	pthread_mutex_lock(&lp->lock);
	p = lp->head;
	lp->head = NULL;
	lp->tail = &lp->head;
	pthread_mutex_unlock(&lp->lock);
	while (p) {
		struct store_post *next = p->next;

		p->deliver(p);
		p = next;
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct store_loop *lp = arg;
	struct store_post *p;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&lp->lock);
	p = lp->head;
	lp->head = NULL;
	lp->tail = &lp->head;
	pthread_mutex_unlock(&lp->lock);
	while (p) {
		struct store_post *next = p->next;

		p->deliver(p); /* may free p */
		p = next;
	}
}

struct store_loop *store_loop_new(struct event_base *base)
{
	struct store_loop *lp = calloc(1, sizeof(*lp));

	if (!lp)
		return NULL;
	pthread_mutex_init(&lp->lock, NULL);
	lp->tail = &lp->head;
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

void store_loop_release(struct store_loop *lp)
{
	lp->outstanding--;
}

void store_loop_post(struct store_loop *lp, struct store_post *p)
{
	int wake;
	uint64_t one = 1;

	p->next = NULL;
	pthread_mutex_lock(&lp->lock);
	wake = lp->head == NULL;
	*lp->tail = p;
	lp->tail = &p->next;
	pthread_mutex_unlock(&lp->lock);
	/* A full counter (2^64 - 2 pokes unread) cannot happen: the loop
	 * reads it at every batch. */
	if (wake && write(lp->efd, &one, sizeof(one)) < 0)
		return;
}
