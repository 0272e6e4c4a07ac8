/* SPDX-License-Identifier: MIT */
/*
 * Background load for the daemon: many connected clients, each with a few
 * small shmem regions that never fault.  A fault of one busy client must
 * not get slower because the daemon also holds thousands of regions, and
 * what each client and each region costs the daemon in memory is measured
 * here (its VmRSS before, after connecting, after registering).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

#ifndef BENCH_NO_CLIENT
#include "uffd/client.h"

struct idle_set {
	struct uffd_client **c;
	struct uffd_region **r;
	unsigned nc, nr;
};

static long daemon_rss_kb(const struct daemon *d)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Room for the descriptors: a socket per client, a memfd per region. */
void idle_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct idle_set *idle_setup(struct daemon *d, unsigned clients,
			    unsigned regions, struct idle_report *rep)
{
	struct idle_set *s = calloc(1, sizeof(*s));
	struct uffd_region_spec spec = {
		.kind = UFFD_KIND_SHMEM,
		.size = kind_page_size(KIND_SHMEM),
		.name = "idle",
	};
	uint64_t t0;

	memset(rep, 0, sizeof(*rep));
	rep->clients = clients;
	rep->regions_per_client = regions;
	if (!s)
		die("out of memory");
	s->c = calloc(clients, sizeof(*s->c));
	s->r = calloc((size_t)clients * regions, sizeof(*s->r));
	if (!s->c || !s->r)
		die("out of memory");

	rep->rss_kb_before = daemon_rss_kb(d);
	t0 = now_ns();
	for (; s->nc < clients; s->nc++) {
		int err =
		    uffd_connect(d->socket, "bench-idle", 0, &s->c[s->nc]);

		if (err < 0) {
			snprintf(rep->why, sizeof(rep->why),
				 "idle client %u: uffd_connect: %s", s->nc,
				 uffd_last_error());
			return s;
		}
	}
	rep->connect_ns = now_ns() - t0;
	rep->rss_kb_clients = daemon_rss_kb(d);
	t0 = now_ns();
	for (unsigned i = 0; i < clients; i++)
		for (unsigned j = 0; j < regions; j++) {
			int err =
			    uffd_region_alloc(s->c[i], &spec, &s->r[s->nr]);

			if (err < 0) {
				snprintf(rep->why, sizeof(rep->why),
					 "idle client %u region %u: %s", i, j,
					 uffd_last_error());
				return s;
			}
			s->nr++;
		}
	rep->register_ns = now_ns() - t0;
	rep->rss_kb_regions = daemon_rss_kb(d);
	rep->ok = true;
	return s;
}

void idle_teardown(struct idle_set *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nr; i++)
		uffd_region_release(s->r[i]);
	for (unsigned i = 0; i < s->nc; i++)
		uffd_disconnect(s->c[i]);
	free(s->r);
	free(s->c);
	free(s);
}

#else

void idle_raise_nofile(void)
{
}

struct idle_set *idle_setup(struct daemon *d, unsigned clients,
			    unsigned regions, struct idle_report *rep)
{
	(void)d;
	memset(rep, 0, sizeof(*rep));
	rep->clients = clients;
	rep->regions_per_client = regions;
	snprintf(rep->why, sizeof(rep->why), "built without libuffdclient");
	return NULL;
}

void idle_teardown(struct idle_set *s)
{
	(void)s;
}
#endif
