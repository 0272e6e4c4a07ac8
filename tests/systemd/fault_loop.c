/* SPDX-License-Identifier: MIT */
/*
 * fault-loop: a client that keeps faulting while the daemon is restarted,
 * killed, frozen or stopped under it, and reports what it saw.
 *
 * It allocates one served region through libuffdclient, writes a known
 * pattern through the fill mapping, and gives each thread a slice of the
 * served mapping.  A thread touches every page of its slice (each first
 * touch is a minor fault the daemon must resolve), verifies every byte of the
 * page, then drops its page tables with MADV_DONTNEED (the pages stay in the
 * page cache) so the next pass faults on every page again.  The time of each
 * first touch is recorded: the longest one is the stall a restart costs.
 *
 * Output: one JSON object on stdout.  Exit status 0 iff every byte verified,
 * no thread stuck, and (with --expect-connected) the client is still
 * registered with the daemon at the end.
 */
#include "uffd/client.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define STALL_LOG   16 /* longest stalls kept for the report */

struct stall {
	uint64_t start_rt; /* CLOCK_REALTIME ns, to line up with the harness */
	uint64_t ns;
	unsigned thread;
};

struct worker {
	pthread_t tid;
	unsigned idx;
	unsigned char *base; /* slice of the served mapping */
	size_t npages;
	size_t first_page; /* index of base in the region */
	/* written by the worker, read by main after the join (or at a timeout,
	 * racy but only for the report) */
	_Atomic uint64_t progress_ns; /* last completed touch, monotonic */
	uint64_t passes;
	uint64_t touches;
	uint64_t bytes_verified;
	uint64_t mismatches;
	uint64_t max_stall_ns;
	uint64_t max_stall_rt;
	uint64_t madvise_max_ns;
	uint64_t madvise_errors;
	uint64_t hist[40]; /* log2(ns) buckets of touch latency */
	struct stall top[STALL_LOG];
	_Atomic int done;
};

static struct {
	const char *socket;
	const char *name;
	enum uffd_kind kind;
	size_t size;
	unsigned threads;
	double duration;
	int expect_connected;
	double stuck_after; /* seconds without progress that mean "stuck" */
} opt = {
	.socket = NULL,
	.name = "fault-loop",
	.kind = UFFD_KIND_HUGETLB,
	.size = 512UL << 20,
	.threads = 4,
	.duration = 5.0,
	.stuck_after = 30.0,
};

static atomic_int stop;
static size_t page_size;

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The value of word w of page p: unique per word, so a page mapped at the
 * wrong offset or a stale page shows up as a mismatch. */
static inline uint64_t pattern(size_t p, size_t w)
{
	return ((uint64_t)p << 32 | (uint64_t)w) ^ 0x9e3779b97f4a7c15ull;
}

static void fill(unsigned char *fillmap, size_t npages)
{
	size_t words = page_size / sizeof(uint64_t);

	for (size_t p = 0; p < npages; p++) {
		uint64_t *w = (uint64_t *)(fillmap + p * page_size);
		for (size_t i = 0; i < words; i++)
			w[i] = pattern(p, i);
	}
}

static void note_stall(struct worker *w, uint64_t ns, uint64_t start_rt)
{
	unsigned min = 0;

	for (unsigned i = 1; i < STALL_LOG; i++)
		if (w->top[i].ns < w->top[min].ns)
			min = i;
	if (ns > w->top[min].ns)
		w->top[min] = (struct stall){ start_rt, ns, w->idx };
}

static void *run(void *arg)
{
	struct worker *w = arg;
	size_t words = page_size / sizeof(uint64_t);
	size_t slice = w->npages * page_size;

	while (!atomic_load(&stop)) {
		for (size_t p = 0; p < w->npages && !atomic_load(&stop); p++) {
			volatile uint64_t *page =
			    (volatile uint64_t *)(w->base + p * page_size);
			size_t gp = w->first_page + p;
			uint64_t rt = now_ns(CLOCK_REALTIME);
			uint64_t t0 = now_ns(CLOCK_MONOTONIC);
			uint64_t v = page[0]; /* the faulting touch */
			uint64_t t1 = now_ns(CLOCK_MONOTONIC);
			uint64_t d = t1 - t0;
			unsigned b = 0;

			while (b < 39 && (1ull << (b + 1)) <= d)
				b++;
			w->hist[b]++;
			if (d > w->max_stall_ns) {
				w->max_stall_ns = d;
				w->max_stall_rt = rt;
			}
			note_stall(w, d, rt);
			if (v != pattern(gp, 0))
				w->mismatches++;
			for (size_t i = 1; i < words; i++)
				if (page[i] != pattern(gp, i))
					w->mismatches++;
			w->bytes_verified += page_size;
			w->touches++;
			atomic_store(&w->progress_ns, now_ns(CLOCK_MONOTONIC));
		}
		w->passes++;
		/* Re-arm: drop this slice's page tables; the pages stay in the
		 * memfd, so every next touch is a minor fault again.  The
		 * kernel may hold this call until the daemon has read the
		 * REMOVE event, so it is timed too. */
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);
		if (madvise(w->base, slice, MADV_DONTNEED) != 0)
			w->madvise_errors++;
		uint64_t d = now_ns(CLOCK_MONOTONIC) - t0;
		if (d > w->madvise_max_ns)
			w->madvise_max_ns = d;
		atomic_store(&w->progress_ns, now_ns(CLOCK_MONOTONIC));
	}
	atomic_store(&w->done, 1);
	return NULL;
}

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G':
	case 'g':
		v <<= 30;
		break;
	case 'M':
	case 'm':
		v <<= 20;
		break;
	case 'K':
	case 'k':
		v <<= 10;
		break;
	case '\0':
		break;
	default:
		fprintf(stderr, "fault-loop: bad size %s\n", s);
		exit(2);
	}
	return (size_t)v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fault-loop [--socket PATH] [--kind hugetlb|shmem] "
		"[--size 512M] [--threads 4]\n"
		"                  [--duration SECONDS] [--name NAME] "
		"[--expect-connected] [--stuck-after SECONDS]\n");
	exit(2);
}

static int cmp_stall(const void *a, const void *b)
{
	const struct stall *x = a, *y = b;

	return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : 0;
}

static uint64_t percentile(const struct worker *ws, unsigned n, double q)
{
	uint64_t total = 0, seen = 0;

	for (unsigned t = 0; t < n; t++)
		for (int b = 0; b < 40; b++)
			total += ws[t].hist[b];
	for (int b = 0; b < 40; b++) {
		for (unsigned t = 0; t < n; t++)
			seen += ws[t].hist[b];
		if (total && (double)seen >= q * (double)total)
			return 1ull << (b + 1); /* upper bound of the bucket */
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "kind", required_argument, NULL, 'k' },
		{ "size", required_argument, NULL, 'z' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "expect-connected", no_argument, NULL, 'c' },
		{ "stuck-after", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct uffd_client *cl = NULL;
	struct uffd_region *r = NULL;
	static struct worker ws[MAX_THREADS];
	int c, rc, connected_start, connected_end, stuck = 0;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt.socket = optarg;
			break;
		case 'k':
			if (!strcmp(optarg, "hugetlb"))
				opt.kind = UFFD_KIND_HUGETLB;
			else if (!strcmp(optarg, "shmem"))
				opt.kind = UFFD_KIND_SHMEM;
			else
				usage();
			break;
		case 'z':
			opt.size = parse_size(optarg);
			break;
		case 't':
			opt.threads = (unsigned)atoi(optarg);
			break;
		case 'd':
			opt.duration = atof(optarg);
			break;
		case 'n':
			opt.name = optarg;
			break;
		case 'c':
			opt.expect_connected = 1;
			break;
		case 'S':
			opt.stuck_after = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (opt.threads < 1 || opt.threads > MAX_THREADS || opt.duration <= 0)
		usage();

	rc = uffd_connect(opt.socket, opt.name, 0, &cl);
	if (rc < 0) {
		fprintf(stderr, "fault-loop: connect: %s\n", uffd_last_error());
		return 1;
	}
	struct uffd_region_spec spec = {
		.kind = opt.kind,
		.size = opt.size,
		.name = opt.name,
	};
	rc = uffd_region_alloc(cl, &spec, &r);
	if (rc < 0) {
		fprintf(stderr, "fault-loop: region: %s\n", uffd_last_error());
		return 1;
	}
	page_size = uffd_region_page_size(r);
	size_t npages = uffd_region_size(r) / page_size;
	if (npages < opt.threads) {
		fprintf(stderr, "fault-loop: %zu pages for %u threads\n",
			npages, opt.threads);
		return 2;
	}
	fill(uffd_region_fill_addr(r), npages);
	connected_start = uffd_client_check(cl) == 0;

	uint64_t start_rt = now_ns(CLOCK_REALTIME);
	uint64_t start = now_ns(CLOCK_MONOTONIC);
	size_t per = npages / opt.threads;
	for (unsigned t = 0; t < opt.threads; t++) {
		struct worker *w = &ws[t];
		w->idx = t;
		w->first_page = t * per;
		w->npages = t == opt.threads - 1 ? npages - w->first_page : per;
		w->base = (unsigned char *)uffd_region_addr(r) +
			  w->first_page * page_size;
		atomic_store(&w->progress_ns, start);
		if (pthread_create(&w->tid, NULL, run, w) != 0) {
			perror("fault-loop: pthread_create");
			return 1;
		}
	}

	struct timespec d = {
		.tv_sec = (time_t)opt.duration,
		.tv_nsec =
		    (long)((opt.duration - (double)(time_t)opt.duration) * 1e9),
	};
	nanosleep(&d, NULL);
	atomic_store(&stop, 1);

	/* Wait for the threads, but not forever: a thread blocked in a fault
	 * nobody serves is exactly what this test is looking for. */
	uint64_t deadline =
	    now_ns(CLOCK_MONOTONIC) + (uint64_t)(opt.stuck_after * 1e9);
	for (;;) {
		unsigned running = 0;
		for (unsigned t = 0; t < opt.threads; t++)
			running += !atomic_load(&ws[t].done);
		if (!running || now_ns(CLOCK_MONOTONIC) > deadline)
			break;
		usleep(10000);
	}
	for (unsigned t = 0; t < opt.threads; t++) {
		if (atomic_load(&ws[t].done))
			pthread_join(ws[t].tid, NULL);
		else
			stuck++;
	}
	uint64_t elapsed = now_ns(CLOCK_MONOTONIC) - start;
	connected_end = uffd_client_check(cl) == 0;

	uint64_t passes = 0, touches = 0, bytes = 0, bad = 0, mx = 0, mx_rt = 0;
	uint64_t madv = 0, madv_err = 0;
	struct stall all[MAX_THREADS * STALL_LOG];
	unsigned nall = 0;
	for (unsigned t = 0; t < opt.threads; t++) {
		struct worker *w = &ws[t];
		passes += w->passes;
		touches += w->touches;
		bytes += w->bytes_verified;
		bad += w->mismatches;
		madv_err += w->madvise_errors;
		if (w->madvise_max_ns > madv)
			madv = w->madvise_max_ns;
		if (w->max_stall_ns > mx) {
			mx = w->max_stall_ns;
			mx_rt = w->max_stall_rt;
		}
		for (unsigned i = 0; i < STALL_LOG; i++)
			if (w->top[i].ns)
				all[nall++] = w->top[i];
	}
	qsort(all, nall, sizeof(all[0]), cmp_stall);

	printf(
	    "{\"kind\":\"%s\",\"size\":%zu,\"page_size\":%zu,\"pages\":%zu,"
	    "\"threads\":%u,\"uffd_mode\":%d,\"region_id\":\"%016" PRIx64 "\","
	    "\"start_realtime_ns\":%" PRIu64 ",\"elapsed_ns\":%" PRIu64 ","
	    "\"passes\":%" PRIu64 ",\"touches\":%" PRIu64 ","
	    "\"bytes_verified\":%" PRIu64 ",\"mismatches\":%" PRIu64 ","
	    "\"stuck_threads\":%d,\"max_stall_ns\":%" PRIu64 ","
	    "\"max_stall_start_realtime_ns\":%" PRIu64 ","
	    "\"p50_touch_ns_le\":%" PRIu64 ",\"p99_touch_ns_le\":%" PRIu64 ","
	    "\"madvise_max_ns\":%" PRIu64 ",\"madvise_errors\":%" PRIu64 ","
	    "\"connected_start\":%s,\"connected_end\":%s,\"top_stalls\":[",
	    opt.kind == UFFD_KIND_HUGETLB ? "hugetlb" : "shmem",
	    uffd_region_size(r), page_size, npages, opt.threads,
	    (int)uffd_client_uffd_mode(cl), uffd_region_id(r), start_rt,
	    elapsed, passes, touches, bytes, bad, stuck, mx, mx_rt,
	    percentile(ws, opt.threads, 0.5), percentile(ws, opt.threads, 0.99),
	    madv, madv_err, connected_start ? "true" : "false",
	    connected_end ? "true" : "false");
	for (unsigned i = 0; i < nall && i < 5; i++)
		printf("%s{\"thread\":%u,\"ns\":%" PRIu64
		       ",\"start_realtime_ns\":%" PRIu64 "}",
		       i ? "," : "", all[i].thread, all[i].ns, all[i].start_rt);
	printf("]}\n");
	fflush(stdout);

	if (stuck)
		_exit(3); /* cannot join or unmap under a stuck thread */
	uffd_region_release(r);
	uffd_disconnect(cl);
	if (bad || !touches)
		return 1;
	if (opt.expect_connected && !connected_end)
		return 4;
	return 0;
}
