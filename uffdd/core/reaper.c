/* SPDX-License-Identifier: MIT */
#include "reaper.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <unistd.h>

struct chore {
	int fd;	    /* to close, or -1 */
	void *addr; /* to unmap, or NULL */
	size_t len;
	STAILQ_ENTRY(chore) link;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static STAILQ_HEAD(, chore) chores = STAILQ_HEAD_INITIALIZER(chores);
static pthread_t thread;
static int running, stopping;

static void carry_out(const struct chore *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->addr)
		munmap(c->addr, c->len);
}

static void *reaper_main(void *arg)
{
	sigset_t all;

	(void)arg;
	pthread_setname_np(pthread_self(), "uffdd-reaper");
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&lock);
	for (;;) {
		struct chore *c = STAILQ_FIRST(&chores);

		if (!c) {
			if (stopping)
				break;
			pthread_cond_wait(&more, &lock);
			continue;
		}
		STAILQ_REMOVE_HEAD(&chores, link);
		pthread_mutex_unlock(&lock);
		carry_out(c);
		free(c);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int reaper_start(void)
{
	int rc = pthread_create(&thread, NULL, reaper_main, NULL);

	if (rc)
		return -rc;
	running = 1;
	return 0;
}

void reaper_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_signal(&more);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = 0;
	stopping = 0;
}

static void hand_over(int fd, void *addr, size_t len)
{
	struct chore *c, now = { .fd = fd, .addr = addr, .len = len };

	/* No thread (start-up failed, a unit test), or no memory: do it
	 * here rather than not at all. */
	if (!running || !(c = malloc(sizeof(*c)))) {
		carry_out(&now);
		return;
	}
	*c = now;
	pthread_mutex_lock(&lock);
	STAILQ_INSERT_TAIL(&chores, c, link);
	pthread_cond_signal(&more);
	pthread_mutex_unlock(&lock);
}

void reaper_close(int fd)
{
	if (fd >= 0)
		hand_over(fd, NULL, 0);
}

void reaper_unmap(void *addr, size_t len)
{
	if (addr)
		hand_over(-1, addr, len);
}
