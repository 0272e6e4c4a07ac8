/* SPDX-License-Identifier: MIT */
#include "worker.h"
#include "clock.h"
#include "images.h"
#include "log.h"
#include "policy/policy.h" /* POLICY_TURN_NS, the turn bound */

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#define BEAT_MS 250

struct job {
	void (*fn)(struct worker *w, void *arg);
	void *arg;
	TAILQ_ENTRY(job) link;
};
TAILQ_HEAD(job_list, job);

struct worker {
	int idx;
	int cpu; /* pinned to this CPU, or -1 */
	struct worker_pool *pool;
	pthread_t thread;
	struct event_base *base;
	int notify[2]; /* other threads -> worker: jobs, stop */
	struct event *notify_ev;
	struct event *beat_ev;
	uint64_t last_beat_ns; /* atomic: the worker's loop is turning */
	pthread_mutex_t lock;  /* what it serves; and the job queue */
	struct job_list jobs;
	unsigned load; /* atomic */
	int stop;      /* atomic */
	struct worker_stats st;
};

struct worker_pool {
	struct daemon *d;
	struct worker *w;
	int n;
	int next; /* round robin start of worker_pick */
	void (*on_exit)(struct worker *w);
};

static void beat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	__atomic_store_n(&w->last_beat_ns, now_ns(), __ATOMIC_RELAXED);
}

static void poke(struct worker *w);

/*
 * What others handed over, within a turn's time (a flood of new sessions
 * must not hold up the faults of those already here); the rest goes back
 * to the head of the queue for the next turn.  bounded: 0 as the worker
 * stops, when everything must run.
 */
static void run_jobs(struct worker *w, int bounded)
{
	uint64_t turn_end = now_ns() + POLICY_TURN_NS;
	struct job_list in;

	TAILQ_INIT(&in);
	pthread_mutex_lock(&w->lock);
	TAILQ_CONCAT(&in, &w->jobs, link);
	pthread_mutex_unlock(&w->lock);
	while (!TAILQ_EMPTY(&in)) {
		struct job *j = TAILQ_FIRST(&in);

		if (bounded && now_ns() >= turn_end) {
			pthread_mutex_lock(&w->lock);
			TAILQ_CONCAT(&in, &w->jobs, link);
			TAILQ_CONCAT(&w->jobs, &in, link);
			pthread_mutex_unlock(&w->lock);
			poke(w);
			return;
		}
		TAILQ_REMOVE(&in, j, link);
		j->fn(w, j->arg);
		free(j);
	}
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	run_jobs(w, 1);
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
	char name[16];
	sigset_t all;

	if (w->cpu >= 0)
		pin(w);
	/* A name to find it by in /proc and top (tests measure its CPU). */
	snprintf(name, sizeof(name), "uffdd-worker%d", w->idx);
	pthread_setname_np(pthread_self(), name);
	/* Signals are the main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	event_base_dispatch(w->base);
	/* What was handed to it meanwhile, then what it serves, ends here. */
	run_jobs(w, 0);
	if (w->pool->on_exit)
		w->pool->on_exit(w);
	/* Run the deferred frees. */
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	return NULL;
}

static int worker_init(struct worker_pool *p, struct worker *w, int idx,
		       int pinned)
{
	struct timeval beat = { 0, BEAT_MS * 1000 };

	w->idx = idx;
	w->pool = p;
	w->cpu = -1;
	w->notify[0] = w->notify[1] = -1;
	if (pinned) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		w->cpu = (int)(idx % (ncpu > 0 ? ncpu : 1));
	}
	TAILQ_INIT(&w->jobs);
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

struct worker_pool *workers_start(struct daemon *d, int n, int pinned,
				  void (*on_exit)(struct worker *w))
{
	struct worker_pool *p = calloc(1, sizeof(*p));

	if (!p || !(p->w = calloc((size_t)n, sizeof(*p->w)))) {
		free(p);
		return NULL;
	}
	p->d = d;
	p->on_exit = on_exit;
	for (int i = 0; i < n; i++) {
		int rc = worker_init(p, &p->w[i], i, pinned);

		if (rc == 0)
			rc = -pthread_create(&p->w[i].thread, NULL, worker_main,
					     &p->w[i]);
		if (rc < 0) {
			log_err("cannot start worker %d: %s", i, strerror(-rc));
			workers_stop(p);
			return NULL;
		}
		p->n = i + 1;
	}
	return p;
}

static void poke(struct worker *w)
{
	char c = 1;

	if (write(w->notify[1], &c, 1) < 0 && errno != EAGAIN)
		log_err("worker %d: notify: %s", w->idx, strerror(errno));
}

int worker_post(struct worker *w, void (*fn)(struct worker *w, void *arg),
		void *arg)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&w->lock);
	TAILQ_INSERT_TAIL(&w->jobs, j, link);
	pthread_mutex_unlock(&w->lock);
	poke(w);
	return 0;
}

int workers_count(const struct worker_pool *p)
{
	return p->n;
}

struct worker *worker_at(struct worker_pool *p, int i)
{
	return &p->w[i];
}

struct worker *worker_for_cpu(struct worker_pool *p, int cpu)
{
	for (int i = 0; i < p->n; i++)
		if (p->w[i].cpu == cpu)
			return &p->w[i];
	return NULL;
}

struct worker *worker_pick(struct worker_pool *p)
{
	/* There is always a worker once started: the first is the fallback. */
	struct worker *best = &p->w[p->next % p->n];
	unsigned load = ~0u;

	for (int i = 0; i < p->n; i++) {
		struct worker *w = &p->w[(p->next + i) % p->n];
		unsigned l = worker_load_now(w);

		if (l < load) {
			load = l;
			best = w;
		}
	}
	p->next = (p->next + 1) % p->n;
	return best;
}

int workers_healthy(struct worker_pool *p, uint64_t max_age_ns)
{
	uint64_t now = now_ns();

	for (int i = 0; i < p->n; i++) {
		uint64_t b =
		    __atomic_load_n(&p->w[i].last_beat_ns, __ATOMIC_RELAXED);

		if (now - b > max_age_ns)
			return 0;
	}
	return 1;
}

int worker_idx(const struct worker *w)
{
	return w->idx;
}

struct daemon *worker_daemon(const struct worker *w)
{
	return w->pool->d;
}

struct event_base *worker_base(const struct worker *w)
{
	return w->base;
}

struct worker_stats *worker_stats(struct worker *w)
{
	return &w->st;
}

void worker_lock(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
}

void worker_unlock(struct worker *w)
{
	pthread_mutex_unlock(&w->lock);
}

void worker_load(struct worker *w, int delta)
{
	__atomic_add_fetch(&w->load, (unsigned)delta, __ATOMIC_RELAXED);
}

unsigned worker_load_now(const struct worker *w)
{
	return __atomic_load_n(&w->load, __ATOMIC_RELAXED);
}

/* A worker whose start failed half way has no thread or loop to stop. */
static void worker_free(struct worker *w, int joined)
{
	if (joined)
		pthread_join(w->thread, NULL);
	if (w->notify_ev)
		event_free(w->notify_ev);
	if (w->beat_ev)
		event_free(w->beat_ev);
	if (w->base) {
		images_leave_loop(w->base); /* answers posted to it go */
		event_base_free(w->base);
	}
	if (w->notify[0] >= 0)
		close(w->notify[0]);
	if (w->notify[1] >= 0)
		close(w->notify[1]);
	pthread_mutex_destroy(&w->lock);
}

void workers_stop(struct worker_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++) {
		__atomic_store_n(&p->w[i].stop, 1, __ATOMIC_RELEASE);
		poke(&p->w[i]);
	}
	for (int i = 0; i < p->n; i++)
		worker_free(&p->w[i], 1);
	free(p->w);
	free(p);
}
