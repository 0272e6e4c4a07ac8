/* SPDX-License-Identifier: MIT */
/*
 * content-check: a client of regions whose contents the daemon makes, for
 * the real-systemd tests of a restart, a crash and a stop (t-content.sh).
 *
 * A populate region from an image (byte i of the image is image_byte(i)) and
 * a gate region.  Before: half the populate region is touched and checked;
 * page 1 is then written through the served mapping and its page tables
 * dropped (MADV_DONTNEED: the page cache keeps what was written), so a
 * daemon that filled it again from the image would destroy that write; half
 * the gate region is published.  Then it says it is ready and waits while
 * the daemon is restarted, killed or stopped.  After: every page of the
 * populate region must hold the image's bytes (page 1 the write), never
 * zeros; the published gate pages must come at once, and an unpublished
 * one must wait until it is published.  A record region touches pages 0-9
 * before and 10-19 after; its trace is read at the end (the harness judges
 * it: a restarted daemon must go on with the trace, not start it anew).
 *
 * Output: one JSON object.  Exit status 0 iff the populate and gate checks
 * held.
 */
#include "uffd/client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MARK 0x5c

static struct {
	const char *socket, *image, *ready, *go, *trace;
	size_t size;
	enum uffd_kind kind;
} opt = { .size = 32u << 20, .kind = UFFD_KIND_SHMEM };

static unsigned char image_byte(uint64_t i)
{
	return (unsigned char)(0x80 | ((i / 4096) * 7 + i % 251));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int write_image(const char *path, size_t size)
{
	unsigned char buf[65536];
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	for (size_t at = 0; at < size; at += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = image_byte(at + i);
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			close(fd);
			return -1;
		}
	}
	return close(fd);
}

static sigjmp_buf jump;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jump, 1);
}

struct tally {
	long right, zeros, wrong, sigbus, marker;
};

/* Check pages [from, to) of the populate region at a (page size psz). */
static void check_pages(const volatile unsigned char *a, size_t psz,
			size_t from, size_t to, struct tally *t)
{
	volatile size_t p;

	for (p = from; p < to; p++) {
		uint64_t off = p * psz + (p * 131) % psz;
		unsigned char b;

		if (sigsetjmp(jump, 1)) {
			t->sigbus++;
			continue;
		}
		b = a[off];
		if (p == 1 && b == MARK)
			t->marker++;
		else if (b == image_byte(off))
			t->right++;
		else if (b == 0)
			t->zeros++;
		else
			t->wrong++;
	}
}

struct toucher {
	const volatile unsigned char *p;
	int value, done;
};

static void *touch(void *arg)
{
	struct toucher *t = arg;

	t->value = *t->p;
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Wait up to ms for t; 1 if it came back. */
static int back_within(struct toucher *t, unsigned ms)
{
	uint64_t until = now_ms() + ms;

	while (!__atomic_load_n(&t->done, __ATOMIC_ACQUIRE) && now_ms() < until)
		usleep(2000);
	return __atomic_load_n(&t->done, __ATOMIC_ACQUIRE);
}

static int wait_file(const char *path, unsigned s)
{
	struct stat st;

	for (uint64_t until = now_ms() + s * 1000ull; now_ms() < until;
	     usleep(10000))
		if (stat(path, &st) == 0)
			return 0;
	return -1;
}

struct result {
	struct tally before, after;
	int published_at_once, held, released, connected;
	int headers, early, late; /* the trace: headers, pages 0-9, 10-19 */
};

static void touch_range(struct uffd_region *r, size_t from, size_t to)
{
	size_t psz = uffd_region_page_size(r);

	for (size_t p = from; p < to; p++)
		(void)((volatile char *)uffd_region_addr(r))[p * psz];
}

/* What the trace file holds once the record region is gone. */
static void read_trace(struct result *res)
{
	char line[64];
	FILE *f = fopen(opt.trace, "r");

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long p;

		if (!strncmp(line, "uffdd-trace ", 12))
			res->headers++;
		else if (sscanf(line, "%lu", &p) == 1 && p < 10)
			res->early++;
		else if (sscanf(line, "%lu", &p) == 1 && p < 20)
			res->late++;
	}
	if (f)
		fclose(f);
}

/* The gate region after: published pages at once; page `held` waits. */
static void check_gate(struct uffd_region *g, struct result *res)
{
	size_t psz = uffd_region_page_size(g), n = uffd_region_size(g) / psz;
	const volatile unsigned char *a = uffd_region_addr(g);
	struct toucher pub = { a, 0, 0 }, held = { a + (n / 2) * psz, 0, 0 };
	pthread_t t1, t2;

	pthread_create(&t1, NULL, touch, &pub);
	res->published_at_once = back_within(&pub, 5000) && pub.value == 0x42;
	pthread_create(&t2, NULL, touch, &held);
	res->held = !back_within(&held, 300);
	uffd_region_publish(g, (n / 2) * psz, psz);
	res->released = back_within(&held, 5000) && held.value == 0x42;
	if (pub.done)
		pthread_join(t1, NULL);
	if (held.done)
		pthread_join(t2, NULL);
}

static int run(void)
{
	char pol[300];
	struct uffd_region_spec ps = { .kind = opt.kind,
				       .size = opt.size,
				       .name = "content-populate",
				       .policy = pol },
				gs = { .kind = opt.kind,
				       .size = opt.size,
				       .name = "content-gate",
				       .policy = "gate" };
	struct sigaction sa = { .sa_handler = on_sigbus };
	struct result res = { 0 };
	struct uffd_client *c;
	struct uffd_region *p, *g, *t;
	char tpol[300];
	struct uffd_region_spec ts = { .kind = UFFD_KIND_SHMEM,
				       .size = 1 << 20,
				       .name = "content-trace",
				       .policy = tpol };
	unsigned char *pa;
	size_t psz, n;

	snprintf(pol, sizeof(pol), "populate:%s", opt.image);
	snprintf(tpol, sizeof(tpol), "record:%s", opt.trace);
	if (write_image(opt.image, opt.size) < 0 ||
	    uffd_connect(opt.socket, "content-check", 0, &c) < 0 ||
	    uffd_region_alloc(c, &ps, &p) < 0 ||
	    uffd_region_alloc(c, &gs, &g) < 0 ||
	    uffd_region_alloc(c, &ts, &t) < 0) {
		fprintf(stderr, "content-check: %s\n", uffd_last_error());
		return 2;
	}
	sigaction(SIGBUS, &sa, NULL);
	pa = uffd_region_addr(p);
	psz = uffd_region_page_size(p);
	n = opt.size / psz;
	check_pages(pa, psz, 0, n / 2, &res.before);
	memset(pa + psz, MARK, psz); /* page 1: the client's own write */
	madvise(pa + psz, psz, MADV_DONTNEED);
	memset(uffd_region_fill_addr(g), 0x42, opt.size);
	uffd_region_publish(g, 0, (n / 2) * psz);
	touch_range(t, 0, 10);
	if (creat(opt.ready, 0644) < 0 || wait_file(opt.go, 120) < 0)
		return 3;
	check_pages(pa, psz, 0, n, &res.after);
	check_gate(g, &res);
	touch_range(t, 10, 20);
	res.connected = uffd_client_check(c) == 0;
	uffd_region_release(t); /* the daemon flushes the trace */
	usleep(100000);
	read_trace(&res);
	printf("{\"pages\":%zu,\"before_right\":%ld,\"after_right\":%ld,"
	       "\"zeros\":%ld,\"wrong\":%ld,\"sigbus\":%ld,\"marker_kept\":%s,"
	       "\"gate_published_at_once\":%s,\"gate_held\":%s,"
	       "\"gate_released_by_publish\":%s,\"connected\":%s,"
	       "\"trace_headers\":%d,\"trace_pages_before\":%d,"
	       "\"trace_pages_after\":%d}\n",
	       n, res.before.right, res.after.right, res.after.zeros,
	       res.after.wrong, res.after.sigbus,
	       res.after.marker == 1 ? "true" : "false",
	       res.published_at_once ? "true" : "false",
	       res.held ? "true" : "false", res.released ? "true" : "false",
	       res.connected ? "true" : "false", res.headers, res.early,
	       res.late);
	fflush(stdout);
	uffd_region_release(p);
	uffd_region_release(g);
	uffd_disconnect(c);
	return res.before.right == (long)(n / 2) &&
		       res.after.right == (long)n - 1 &&
		       res.after.marker == 1 && res.published_at_once &&
		       res.held && res.released
		   ? 0
		   : 1;
}

int main(int argc, char **argv)
{
	static const struct option o[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "image", required_argument, NULL, 'i' },
		{ "size", required_argument, NULL, 'z' },
		{ "hugetlb", no_argument, NULL, 'H' },
		{ "ready", required_argument, NULL, 'r' },
		{ "go", required_argument, NULL, 'g' },
		{ "trace", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		if (c == 's')
			opt.socket = optarg;
		else if (c == 'i')
			opt.image = optarg;
		else if (c == 'z')
			opt.size = strtoull(optarg, NULL, 0) << 20;
		else if (c == 'H')
			opt.kind = UFFD_KIND_HUGETLB;
		else if (c == 'r')
			opt.ready = optarg;
		else if (c == 'g')
			opt.go = optarg;
		else if (c == 't')
			opt.trace = optarg;
		else
			return 2;
	}
	if (!opt.image || !opt.ready || !opt.go) {
		fprintf(stderr,
			"usage: content-check --image F --ready F --go F "
			"[--socket S] [--size MiB] [--hugetlb]\n");
		return 2;
	}
	return run();
}
