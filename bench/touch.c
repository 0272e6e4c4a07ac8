/* SPDX-License-Identifier: MIT */
/*
 * The faulting side: touch every page once and time each touch as the
 * faulting thread sees it.  Several threads split the region in contiguous
 * slices (so that a policy mapping a window around a fault still helps) and
 * start together behind a barrier.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

uint64_t touch_slice(char *base, size_t page_size, size_t first, size_t count,
		     enum touch_access access, uint32_t *lat)
{
	uint64_t start = now_ns(), t0 = start, t1;
	unsigned sink = 0;

	for (size_t i = first; i < first + count; i++) {
		volatile char *p = base + i * page_size;

		/*
		 * The timestamp after the touch is taken only once the fault
		 * is resolved: the faulting access is precise, so nothing
		 * after it completes before the kernel returns.
		 */
		if (access == ACCESS_WRITE)
			*p = (char)i;
		else
			sink += (unsigned char)*p;
		t1 = now_ns();
		lat[i] =
		    (uint32_t)(t1 - t0 > UINT32_MAX ? UINT32_MAX : t1 - t0);
		t0 = now_ns();
	}
	(void)sink;
	return now_ns() - start;
}

struct toucher {
	struct touch_job *job;
	pthread_barrier_t *bar;
	size_t first, count;
	uint64_t start, end;
	long faults;
};

static void *toucher_main(void *arg)
{
	struct toucher *t = arg;
	struct touch_job *j = t->job;
	struct rusage u0, u1;

	if (j->cpu >= 0)
		pin_self(j->cpu);
	pthread_barrier_wait(t->bar);
	getrusage(RUSAGE_THREAD, &u0);
	t->start = now_ns();
	touch_slice(j->base, j->page_size, t->first, t->count, j->access,
		    j->lat);
	t->end = now_ns();
	getrusage(RUSAGE_THREAD, &u1);
	t->faults =
	    (u1.ru_minflt - u0.ru_minflt) + (u1.ru_majflt - u0.ru_majflt);
	return NULL;
}

int touch_run(struct touch_job *job)
{
	unsigned n = job->threads ? job->threads : 1;
	struct toucher t[BENCH_MAX_THREADS];
	pthread_t tid[BENCH_MAX_THREADS];
	pthread_barrier_t bar;
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t per, first = 0;
	int err = 0;

	if (n > BENCH_MAX_THREADS)
		return -EINVAL;
	per = job->pages / n;
	pthread_barrier_init(&bar, NULL, n);
	for (unsigned i = 0; i < n; i++) {
		t[i].job = job;
		t[i].bar = &bar;
		t[i].first = first;
		t[i].count = per + (i < job->pages % n);
		first += t[i].count;
		err = pthread_create(&tid[i], NULL, toucher_main, &t[i]);
		if (err)
			die("pthread_create: %s", strerror(err));
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		if (t[i].start < lo)
			lo = t[i].start;
		if (t[i].end > hi)
			hi = t[i].end;
	}
	pthread_barrier_destroy(&bar);
	job->wall_ns = hi - lo;
	job->faults = 0;
	for (unsigned i = 0; i < n; i++)
		job->faults += t[i].faults;
	return 0;
}
