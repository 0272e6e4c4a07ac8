/* SPDX-License-Identifier: MIT */
#include "worker.h"
#include "log.h"
#include "session.h"
#include "wcall.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BEAT_MS 250

static void beat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	__atomic_store_n(&w->last_beat_ns, now_ns(), __ATOMIC_RELAXED);
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char buf[64];
	struct session_list in;

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	TAILQ_INIT(&in);
	pthread_mutex_lock(&w->lock);
	TAILQ_CONCAT(&in, &w->incoming, link);
	pthread_mutex_unlock(&w->lock);
	while (!TAILQ_EMPTY(&in)) {
		struct session *s = TAILQ_FIRST(&in);

		TAILQ_REMOVE(&in, s, link);
		if (session_attach(s, w) < 0) {
			log_err("worker %d: cannot attach a session", w->idx);
			session_discard(s);
			__atomic_sub_fetch(&w->d->clients, 1, __ATOMIC_RELAXED);
		}
	}
	wcall_run(w);
	if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
		event_base_loopbreak(w->base);
}

/*
 * Pinned placement: worker i lives on CPU i, so a session whose client
 * runs on that CPU is served without cross-CPU wake-ups.
 */
static void pin(struct worker *w)
{
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc)
		log_warn("worker %d: cannot pin to CPU %d: %s (placement "
			 "\"pinned\" needs sched_setaffinity)",
			 w->idx, w->cpu, strerror(rc));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t all;

	if (w->cpu >= 0)
		pin(w);
	/* Signals are the main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	event_base_dispatch(w->base);
	while (!TAILQ_EMPTY(&w->sessions))
		session_drop(TAILQ_FIRST(&w->sessions), "daemon stopping");
	/* Run the deferred frees. */
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	return NULL;
}

static int worker_init(struct daemon *d, struct worker *w, int idx)
{
	struct timeval beat = { 0, BEAT_MS * 1000 };

	w->idx = idx;
	w->d = d;
	w->cpu = -1;
	if (d->cfg.placement == PLACEMENT_PINNED) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		w->cpu = (int)(idx % (ncpu > 0 ? ncpu : 1));
	}
	TAILQ_INIT(&w->sessions);
	TAILQ_INIT(&w->incoming);
	TAILQ_INIT(&w->calls);
	pthread_mutex_init(&w->lock, NULL);
	w->base = event_base_new();
	if (!w->base)
		return -ENOMEM;
	if (pipe2(w->notify, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	w->notify_ev = event_new(w->base, w->notify[0], EV_READ | EV_PERSIST,
				 notify_cb, w);
	w->beat_ev = event_new(w->base, -1, EV_PERSIST, beat_cb, w);
	if (!w->notify_ev || !w->beat_ev)
		return -ENOMEM;
	event_add(w->notify_ev, NULL);
	event_add(w->beat_ev, &beat);
	w->last_beat_ns = now_ns();
	return 0;
}

int workers_start(struct daemon *d, int n)
{
	int rc;

	d->workers = calloc((size_t)n, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		rc = worker_init(d, &d->workers[i], i);
		if (rc < 0)
			return rc;
		rc = pthread_create(&d->workers[i].thread, NULL, worker_main,
				    &d->workers[i]);
		if (rc) {
			log_err("cannot start worker %d: %s", i, strerror(rc));
			return -rc;
		}
		d->nworkers = i + 1;
	}
	return 0;
}

static void poke(struct worker *w)
{
	char c = 1;

	if (write(w->notify[1], &c, 1) < 0 && errno != EAGAIN)
		log_err("worker %d: notify: %s", w->idx, strerror(errno));
}

struct worker *worker_for_cpu(struct daemon *d, int cpu)
{
	for (int i = 0; i < d->nworkers; i++)
		if (d->workers[i].cpu == cpu)
			return &d->workers[i];
	return NULL;
}

void worker_give(struct worker *w, struct session *s)
{
	pthread_mutex_lock(&w->lock);
	TAILQ_INSERT_TAIL(&w->incoming, s, link);
	pthread_mutex_unlock(&w->lock);
	poke(w);
}

int worker_assign(struct daemon *d, struct session *s)
{
	/* There is always a worker once started: the first is the fallback. */
	struct worker *best = &d->workers[d->next_worker % d->nworkers];
	unsigned load = ~0u;

	for (int i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[(d->next_worker + i) % d->nworkers];
		unsigned l = __atomic_load_n(&w->nsessions, __ATOMIC_RELAXED);

		if (l < load) {
			load = l;
			best = w;
		}
	}
	d->next_worker = (d->next_worker + 1) % d->nworkers;
	worker_give(best, s);
	return best->idx;
}

int workers_healthy(struct daemon *d, uint64_t max_age_ns)
{
	uint64_t now = now_ns();

	for (int i = 0; i < d->nworkers; i++) {
		uint64_t b = __atomic_load_n(&d->workers[i].last_beat_ns,
					     __ATOMIC_RELAXED);

		if (now - b > max_age_ns)
			return 0;
	}
	return 1;
}

void workers_stop(struct daemon *d)
{
	for (int i = 0; i < d->nworkers; i++) {
		__atomic_store_n(&d->workers[i].stop, 1, __ATOMIC_RELEASE);
		poke(&d->workers[i]);
	}
	for (int i = 0; i < d->nworkers; i++) {
		struct worker *w = &d->workers[i];

		pthread_join(w->thread, NULL);
		while (!TAILQ_EMPTY(&w->incoming)) {
			struct session *s = TAILQ_FIRST(&w->incoming);

			TAILQ_REMOVE(&w->incoming, s, link);
			session_discard(s);
		}
		event_free(w->notify_ev);
		event_free(w->beat_ev);
		event_base_free(w->base);
		close(w->notify[0]);
		close(w->notify[1]);
		pthread_mutex_destroy(&w->lock);
	}
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
}
