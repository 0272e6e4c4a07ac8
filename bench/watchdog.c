/* SPDX-License-Identifier: MIT */
/*
 * A stuck handler hangs the faulting thread for ever: no measurement can
 * time out on its own.  This thread ends the run when one measurement takes
 * longer than allowed, killing the processes the bench started first (the
 * daemon and any client processes) so that nothing is left behind.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bench.h"

#define WATCH_MAX 72

static _Atomic uint64_t deadline;
static _Atomic pid_t watched[WATCH_MAX];
static unsigned limit_s;

static void *watchdog_main(void *arg)
{
	(void)arg;
	for (;;) {
		uint64_t d = atomic_load(&deadline);

		sleep(1);
		if (!d || now_ns() < d)
			continue;
		note("a measurement took more than %u s: giving up", limit_s);
		for (int i = 0; i < WATCH_MAX; i++) {
			pid_t p = atomic_load(&watched[i]);

			if (p > 0)
				kill(p, SIGKILL);
		}
		hugepages_restore();
		_exit(3);
	}
	return NULL;
}

void watchdog_start(unsigned seconds)
{
	pthread_t t;

	limit_s = seconds;
	if (pthread_create(&t, NULL, watchdog_main, NULL) == 0)
		pthread_detach(t);
}

void watchdog_arm(void)
{
	atomic_store(&deadline, now_ns() + limit_s * 1000000000ull);
}

void watchdog_disarm(void)
{
	atomic_store(&deadline, 0);
}

void watchdog_track(pid_t pid)
{
	for (int i = 0; i < WATCH_MAX; i++) {
		pid_t zero = 0;

		if (atomic_compare_exchange_strong(&watched[i], &zero, pid))
			return;
	}
}

void watchdog_untrack(pid_t pid)
{
	for (int i = 0; i < WATCH_MAX; i++) {
		pid_t p = pid;

		if (atomic_compare_exchange_strong(&watched[i], &p, 0))
			return;
	}
}
