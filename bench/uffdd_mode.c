/* SPDX-License-Identifier: MIT */
/*
 * Modes 3 and 4: regions served by the uffdd daemon, handed off through
 * libuffdclient exactly as an application would (uffd_region_alloc, contents
 * written through the fill mapping, first touches through the served one).
 * Several client threads share one region in contiguous slices; several
 * client processes each get their own connection and region and start
 * together.  A policy the daemon does not know makes the mode "unavailable".
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#ifndef BENCH_NO_CLIENT
#include "uffd/client.h"

bool uffdd_linked(void)
{
	return true;
}

struct client_result {
	uint64_t start, end;
	int64_t faults;
	int status;
	char why[200];
};

/*
 * Connect, allocate and fill one region; on failure say why in res and
 * return a negative value (MODE_UNAVAILABLE when only the policy failed).
 */
static int client_setup(struct daemon *d, enum bench_kind kind, size_t size,
			const char *policy, struct uffd_client **cp,
			struct uffd_region **rp, struct client_result *res)
{
	struct uffd_region_spec spec = {
		.kind =
		    kind == KIND_HUGETLB ? UFFD_KIND_HUGETLB : UFFD_KIND_SHMEM,
		.size = size,
		.name = "bench",
		.policy = policy,
	};
	char *fill;
	int err;

	err = uffd_connect(d->socket, "uffdd-bench", 0, cp);
	if (err < 0) {
		res->status = MODE_FAILED;
		snprintf(res->why, sizeof(res->why), "uffd_connect: %s",
			 uffd_last_error());
		return err;
	}
	err = uffd_region_alloc(*cp, &spec, rp);
	if (err < 0) {
		res->status = MODE_FAILED;
		snprintf(res->why, sizeof(res->why),
			 "uffd_region_alloc%s%s: %s", policy ? " policy=" : "",
			 policy ? policy : "", uffd_last_error());
		/*
		 * A policy the daemon does not have is refused at registration:
		 * the mode is unavailable, not failed, if the same region
		 * without the policy is accepted.
		 */
		if (policy) {
			struct uffd_region *plain;

			spec.policy = NULL;
			if (uffd_region_alloc(*cp, &spec, &plain) == 0) {
				res->status = MODE_UNAVAILABLE;
				uffd_region_release(plain);
			}
		}
		uffd_disconnect(*cp);
		*cp = NULL;
		return err;
	}
	if (!uffd_region_id(*rp)) {
		res->status = MODE_FAILED;
		snprintf(res->why, sizeof(res->why),
			 "region not served by the daemon");
		uffd_region_release(*rp);
		uffd_disconnect(*cp);
		*cp = NULL;
		return -ENOTCONN;
	}
	/* Real contents, written where it never faults. */
	fill = uffd_region_fill_addr(*rp);
	if (fill) {
		size_t ps = uffd_region_page_size(*rp),
		       n = uffd_region_size(*rp) / ps;

		for (size_t i = 0; i < n; i++)
			memset(fill + i * ps, (int)(i & 0xff) | 1, 64);
	}
	return 0;
}

static void client_teardown(struct uffd_client *c, struct uffd_region *r)
{
	if (r)
		uffd_region_release(r);
	if (c)
		uffd_disconnect(c);
}

/* Touch the region from o->threads threads; fills res and lat. */
static void client_touch(struct uffd_region *reg, const struct uffdd_opts *o,
			 uint32_t *lat, struct client_result *res)
{
	struct touch_job job;

	memset(&job, 0, sizeof(job));
	job.base = uffd_region_addr(reg);
	job.page_size = uffd_region_page_size(reg);
	job.pages = uffd_region_size(reg) / job.page_size;
	job.threads = o->threads;
	job.cpu = o->toucher_cpu;
	job.access = o->access;
	job.lat = lat;
	res->start = now_ns();
	touch_run(&job);
	res->end = res->start + job.wall_ns;
	res->faults = job.faults;
	res->status = MODE_OK;
}

static void one_process(struct daemon *d, enum bench_kind kind, size_t size,
			const struct uffdd_opts *o, struct round_result *r)
{
	struct uffd_client *c = NULL;
	struct uffd_region *reg = NULL;
	struct client_result res = { 0 };
	int64_t cpu0, cpu1;

	if (client_setup(d, kind, size, o->policy, &c, &reg, &res) < 0) {
		r->status = res.status;
		snprintf(r->why, sizeof(r->why), "%s", res.why);
		return;
	}
	if (o->daemon_cpu != -2)
		daemon_pin(d, o->daemon_cpu);
	cpu0 = daemon_cpu_ns(d);
	client_touch(reg, o, r->lat, &res);
	cpu1 = daemon_cpu_ns(d);
	if (o->daemon_cpu != -2)
		daemon_pin(d, -1);
	r->pages = uffd_region_size(reg) / uffd_region_page_size(reg);
	r->nlat = r->pages;
	r->wall_ns = res.end - res.start;
	r->faults = res.faults;
	r->handler_cpu_ns = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	r->status = MODE_OK;
	client_teardown(c, reg);
}

static void child_main(struct daemon *d, enum bench_kind kind, size_t size,
		       const struct uffdd_opts *o, uint32_t *lat,
		       struct client_result *res, int ready_fd, int go_fd)
{
	struct uffd_client *c = NULL;
	struct uffd_region *reg = NULL;
	char b = 1;
	int ok = client_setup(d, kind, size, o->policy, &c, &reg, res) == 0;

	/* The shared latency array faults once per page in a child: not here.
	 */
	memset(lat, 0, size / kind_page_size(kind) * sizeof(*lat));

	/* Report ready (or failed) and wait for everyone's start. */
	if (write(ready_fd, &b, 1) != 1)
		_exit(2);
	if (!ok)
		_exit(1);
	while (read(go_fd, &b, 1) < 0 && errno == EINTR)
		;
	client_touch(reg, o, lat, res);
	client_teardown(c, reg);
	_exit(0);
}

/* Wait for every child, killing those still running after timeout_s. */
static void reap(pid_t *pids, unsigned n, unsigned timeout_s)
{
	uint64_t deadline = now_ns() + timeout_s * 1000000000ull;
	unsigned left = n;

	while (left) {
		bool progress = false;

		/* Only our clients: a spawned daemon is a child too. */
		for (unsigned i = 0; i < n; i++)
			if (pids[i] > 0 &&
			    waitpid(pids[i], NULL, WNOHANG) == pids[i]) {
				watchdog_untrack(pids[i]);
				pids[i] = 0;
				left--;
				progress = true;
			}
		if (progress)
			continue;
		if (now_ns() > deadline) {
			note("client processes stuck for %u s: killing them",
			     timeout_s);
			for (unsigned i = 0; i < n; i++)
				if (pids[i] > 0) {
					kill(pids[i], SIGKILL);
					waitpid(pids[i], NULL, 0);
					watchdog_untrack(pids[i]);
				}
			return;
		}
		usleep(1000);
	}
}

static void many_processes(struct daemon *d, enum bench_kind kind, size_t size,
			   const struct uffdd_opts *o, struct round_result *r)
{
	size_t ps = kind_page_size(kind), pages = size / ps;
	size_t per = pages / o->procs;
	size_t shared_len = o->procs * sizeof(struct client_result);
	struct client_result *res;
	uint32_t *lat;
	int ready[2], go[2];
	pid_t pids[BENCH_MAX_THREADS];
	int64_t cpu0, cpu1;
	uint64_t lo = UINT64_MAX, hi = 0;

	if (!per || o->procs > BENCH_MAX_THREADS) {
		r->status = MODE_FAILED;
		snprintf(r->why, sizeof(r->why),
			 "region too small for %u processes", o->procs);
		return;
	}
	res = mmap(NULL, shared_len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	lat = mmap(NULL, pages * sizeof(*lat), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (res == MAP_FAILED || lat == MAP_FAILED || pipe(ready) < 0 ||
	    pipe(go) < 0)
		die("mmap/pipe: %s", strerror(errno));
	memset(res, 0, shared_len);
	for (unsigned i = 0; i < o->procs; i++) {
		res[i].status =
		    MODE_FAILED; /* until the child says otherwise */
		snprintf(res[i].why, sizeof(res[i].why), "client process died");
	}

	for (unsigned i = 0; i < o->procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			child_main(d, kind, per * ps, o, lat + i * per, &res[i],
				   ready[1], go[0]);
		}
		watchdog_track(pids[i]);
	}
	close(ready[1]);
	close(go[0]);
	for (unsigned got = 0; got < o->procs;) {
		struct pollfd p = { ready[0], POLLIN, 0 };
		char b[BENCH_MAX_THREADS];
		ssize_t n;

		if (poll(&p, 1, 60000) <= 0)
			break;
		n = read(ready[0], b, sizeof(b));
		if (n <= 0)
			break;
		got += (unsigned)n;
	}
	if (o->daemon_cpu != -2)
		daemon_pin(d, o->daemon_cpu);
	cpu0 = daemon_cpu_ns(d);
	close(go[1]); /* EOF: every child starts now */
	reap(pids, o->procs, 300);
	cpu1 = daemon_cpu_ns(d);
	if (o->daemon_cpu != -2)
		daemon_pin(d, -1);
	close(ready[0]);

	r->status = MODE_OK;
	r->faults = 0;
	for (unsigned i = 0; i < o->procs; i++) {
		if (res[i].status != MODE_OK) {
			r->status = res[i].status;
			snprintf(r->why, sizeof(r->why), "client %u: %s", i,
				 res[i].why);
			break;
		}
		if (res[i].start < lo)
			lo = res[i].start;
		if (res[i].end > hi)
			hi = res[i].end;
		if (res[i].faults < 0 || r->faults < 0)
			r->faults = -1;
		else
			r->faults += res[i].faults;
	}
	if (r->status == MODE_OK) {
		r->pages = per * o->procs;
		r->nlat = r->pages;
		memcpy(r->lat, lat, r->nlat * sizeof(*lat));
		r->wall_ns = hi - lo;
		r->handler_cpu_ns = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	}
	munmap(res, shared_len);
	munmap(lat, pages * sizeof(*lat));
}

void uffdd_round(struct daemon *d, enum bench_kind kind, size_t size,
		 const struct uffdd_opts *o, struct round_result *r)
{
	if (!daemon_alive(d)) {
		r->status = MODE_FAILED;
		snprintf(r->why, sizeof(r->why), "uffdd is not running");
		return;
	}
	if (o->procs > 1)
		many_processes(d, kind, size, o, r);
	else
		one_process(d, kind, size, o, r);
}

#else /* BENCH_NO_CLIENT: built before libuffdclient existed */

bool uffdd_linked(void)
{
	return false;
}

void uffdd_round(struct daemon *d, enum bench_kind kind, size_t size,
		 const struct uffdd_opts *o, struct round_result *r)
{
	(void)d, (void)kind, (void)size, (void)o;
	r->status = MODE_UNAVAILABLE;
	snprintf(r->why, sizeof(r->why), "built without libuffdclient");
}
#endif
