/* SPDX-License-Identifier: MIT */
/*
 * One timed restore.  The clock starts where a restoring program would
 * start its restore (connect to uffdd, allocate the memory) and stops when
 * the workload has checksummed its last page:
 *
 *   warm           memory already filled and mapped: the workload alone
 *   eager          allocate, read() the whole image into it, then run
 *   lazy           connect, allocate with populate:IMG, run at once
 *   record         the same with populate:IMG+record:TRACE (writes the trace)
 *   prefetch       connect, allocate with populate:IMG+prefetch:TRACE, run
 *                  at once (the prefetch races the workload)
 *   prefetch-wait  the same, but run once the prefetch is done (REAP's way:
 *                  the working set is loaded before the program resumes)
 *
 * The page cache is dropped before every cold run (not before warm).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "restore.h"
#include "uffd/client.h"

const char *rmode_name(enum rmode m)
{
	static const char *const n[RM_COUNT] = {
		"warm",	  "eager",	   "lazy",
		"record", "lazy+prefetch", "lazy+prefetch-wait",
	};

	return m < RM_COUNT ? n[m] : "?";
}

static long thread_minflt(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return 0;
	return ru.ru_minflt;
}

static double ms(uint64_t a, uint64_t b)
{
	return (double)(b - a) / 1e6;
}

static int fail(struct run_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(struct run_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	r->ok = false;
	return -1;
}

static enum uffd_kind ukind(enum bench_kind k)
{
	return k == KIND_HUGETLB ? UFFD_KIND_HUGETLB : UFFD_KIND_SHMEM;
}

/* read() the whole image into dst, as a program without uffdd does. */
static int read_image(const struct image *im, char *dst)
{
	const size_t chunk = 64u << 20;
	int fd = open(im->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < im->size;) {
		size_t want = im->size - off < chunk ? im->size - off : chunk;
		ssize_t n = read(fd, dst + off, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			close(fd);
			return -e;
		}
		off += (size_t)n;
	}
	close(fd);
	return 0;
}

/* A region without uffdd (the kernel serves it): warm and eager. */
static void run_plain(enum rmode m, const struct run_ctx *c,
		      struct run_result *r)
{
	struct uffd_region_spec sp = { .kind = ukind(c->im->kind),
				       .size = c->im->size,
				       .name = "restore" };
	struct uffd_region *reg = NULL;
	uint64_t t0, ta, ts, te, sum;
	long f0;
	int rc;

	if (m == RM_EAGER && (rc = drop_caches()) < 0) {
		fail(r, "drop_caches: %s", strerror(-rc));
		return;
	}
	t0 = now_ns();
	rc = uffd_region_alloc(NULL, &sp, &reg);
	if (rc < 0) {
		fail(r, "allocating %zu MiB of %s: %s", c->im->size >> 20,
		     kind_name(c->im->kind), uffd_last_error());
		return;
	}
	ta = now_ns();
	rc = read_image(c->im, uffd_region_addr(reg));
	if (rc < 0) {
		fail(r, "reading %s: %s", c->im->path, strerror(-rc));
		uffd_region_release(reg);
		return;
	}
	ts = now_ns();
	if (m == RM_WARM) {
		/* Resident and mapped: the read above wrote every page through
		 * this mapping.  The clock starts now. */
		t0 = ta = ts = now_ns();
	}
	f0 = thread_minflt();
	sum = workload(uffd_region_addr(reg), c->im->page_size, c->acc);
	te = now_ns();
	r->minflt = thread_minflt() - f0;
	r->start_ms = ms(t0, ts);
	r->finish_ms = ms(t0, te);
	r->alloc_ms = ms(t0, ta);
	r->work_ms = ms(ts, te);
	r->faults = -1;
	r->bytes_read = m == RM_EAGER ? (int64_t)c->im->size : 0;
	r->prefetch_done_at_end = -1;
	uffd_region_release(reg);
	if (sum != c->want_sum) {
		fail(r, "checksum %016llx, the image's is %016llx",
		     (unsigned long long)sum, (unsigned long long)c->want_sum);
		return;
	}
	r->ok = true;
}

/* The trace is complete once the daemon has let the region go. */
static int wait_trace(const char *path, int64_t want, int timeout_ms)
{
	for (int i = 0; i <= timeout_ms / 10; i++) {
		FILE *f = fopen(path, "r");
		int64_t lines = 0;
		int ch;

		if (f) {
			while ((ch = getc(f)) != EOF)
				lines += ch == '\n';
			fclose(f);
		}
		if (lines - 3 >= want)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static void run_served(enum rmode m, const struct run_ctx *c,
		       struct run_result *r)
{
	char policy[1200], name[96];
	struct uffd_region_spec sp = { .kind = ukind(c->im->kind),
				       .size = c->im->size,
				       .name = name,
				       .policy = policy };
	struct uffd_client *cl = NULL;
	struct uffd_region *reg = NULL;
	struct region_counters rc0, rc1;
	uint64_t t0, ta, ts, te, sum;
	long f0;
	int rc;

	snprintf(name, sizeof(name), "restore-%s-%s-%s-%d",
		 kind_name(c->im->kind), pattern_name(c->acc->pat),
		 rmode_name(m), c->rep);
	switch (m) {
	case RM_LAZY:
		snprintf(policy, sizeof(policy), "populate:%s", c->im->path);
		break;
	case RM_RECORD:
		snprintf(policy, sizeof(policy), "populate:%s+record:%s",
			 c->im->path, c->trace);
		break;
	default:
		snprintf(policy, sizeof(policy), "populate:%s+prefetch:%s",
			 c->im->path, c->trace);
		break;
	}
	if ((rc = drop_caches()) < 0) {
		fail(r, "drop_caches: %s", strerror(-rc));
		return;
	}
	t0 = now_ns();
	rc = uffd_connect(c->d->socket, "uffdd-bench-restore", 0, &cl);
	if (rc < 0) {
		fail(r, "uffd_connect: %s", uffd_last_error());
		return;
	}
	rc = uffd_region_alloc(cl, &sp, &reg);
	if (rc < 0) {
		fail(r, "registering with %s: %s", policy, uffd_last_error());
		uffd_disconnect(cl);
		return;
	}
	ta = now_ns();
	if (m == RM_PREFETCH_WAIT &&
	    (rc = wait_prefetch(c->d->control, name, 120000, &rc0)) < 0) {
		fail(r, "waiting for the prefetch: %s", strerror(-rc));
		goto out;
	}
	ts = now_ns();
	f0 = thread_minflt();
	sum = workload(uffd_region_addr(reg), c->im->page_size, c->acc);
	te = now_ns();
	r->minflt = thread_minflt() - f0;
	r->start_ms = ms(t0, ts);
	r->finish_ms = ms(t0, te);
	r->alloc_ms = ms(t0, ta);
	r->work_ms = ms(ts, te);
	if (region_counters(c->d->control, name, &rc0) < 0) {
		fail(r, "region %s not in the daemon's status", name);
		goto out;
	}
	r->prefetch_done_at_end = rc0.prefetch_done;
	rc1 = rc0;
	/* What the prefetch read after the workload ended counts too: it is
	 * I/O this restore caused. */
	if ((m == RM_PREFETCH || m == RM_PREFETCH_WAIT) &&
	    wait_prefetch(c->d->control, name, 60000, &rc1) < 0)
		rc1 = rc0;
	r->faults = rc0.faults;
	r->bytes_read = rc1.bytes_read;
	if (sum != c->want_sum) {
		fail(r, "checksum %016llx, the image's is %016llx",
		     (unsigned long long)sum, (unsigned long long)c->want_sum);
		goto out;
	}
	if (rc1.errors > 0 || rc1.read_errors > 0) {
		fail(r, "daemon counted %lld errors, %lld read errors",
		     (long long)rc1.errors, (long long)rc1.read_errors);
		goto out;
	}
	r->ok = true;
out:
	uffd_region_release(reg);
	uffd_disconnect(cl);
	if (m == RM_RECORD && r->ok &&
	    wait_trace(c->trace, rc0.pages_recorded, 5000) < 0)
		fail(r, "trace %s incomplete: %lld pages recorded", c->trace,
		     (long long)rc0.pages_recorded);
}

void run_mode(enum rmode m, const struct run_ctx *c, struct run_result *r)
{
	memset(r, 0, sizeof(*r));
	r->faults = -1;
	r->bytes_read = -1;
	r->prefetch_done_at_end = -1;
	watchdog_arm();
	if (m == RM_WARM || m == RM_EAGER)
		run_plain(m, c, r);
	else
		run_served(m, c, r);
	watchdog_disarm();
}
