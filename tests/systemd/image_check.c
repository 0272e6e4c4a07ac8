/* SPDX-License-Identifier: MIT */
/*
 * image-check: a client of an image across the daemon's restart, SIGKILL or
 * stop (t-images.sh).
 *
 * It maps the image (MAP_PRIVATE shmem) and reads every byte of its first
 * half, which the daemon fetches; says it is ready and waits while the
 * daemon is restarted, killed or stopped.  Then it drops its page tables
 * (MADV_DONTNEED: the cache's pages stay) so that every page faults again,
 * to whoever serves the region now, and reads every byte of the image:
 * each page must be the image's or SIGBUS, never zeros, never another
 * byte, and no read may hang (a watchdog ends the process with status 4).
 * The first half was in the cache, so it must be right; the second was
 * never fetched, and no later instance can fill the earlier one's sealed
 * memfd, so it must be SIGBUS.  Last it maps the image again, which the
 * serving instance opens anew: every byte right.
 *
 * The image's bytes come from the file it was stored from (--file).
 * Output: one JSON object.  Exit status 0 iff every check held.
 */
#include "uffd/client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

static struct {
	const char *socket, *name, *file, *ready, *go;
	unsigned watchdog_s;
} opt = { .watchdog_s = 120 };

static sigjmp_buf jump;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jump, 1);
}

/* A read that never returns is the failure this test is about. */
static void on_alarm(int sig)
{
	static const char msg[] = "{\"hung\":true}\n";

	(void)sig;
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(4);
}

struct tally {
	long right, zeros, wrong, sigbus;
};

/* Compare pages [from, to) of the mapping m with the image's bytes. */
static void check_pages(const volatile unsigned char *m,
			const unsigned char *want, size_t psz, size_t from,
			size_t to, struct tally *t)
{
	static unsigned char page[1 << 21];
	volatile size_t p;

	for (p = from; p < to; p++) {
		if (sigsetjmp(jump, 1)) {
			t->sigbus++;
			continue;
		}
		/* The first byte faults; the page is then in place. */
		page[0] = m[p * psz];
		memcpy(page, (const void *)(m + p * psz), psz);
		if (!memcmp(page, want + p * psz, psz))
			t->right++;
		else if (page[0] == 0 && !memcmp(page, page + 1, psz - 1))
			t->zeros++;
		else
			t->wrong++;
	}
}

static int wait_file(const char *path, unsigned s)
{
	struct stat st;

	for (unsigned i = 0; i < s * 20; i++) {
		if (stat(path, &st) == 0)
			return 0;
		usleep(50000);
	}
	return -1;
}

static unsigned char *load(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *b;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t at = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	b = malloc((size_t)st.st_size);
	while (b && at < (size_t)st.st_size) {
		ssize_t n = read(fd, b + at, (size_t)st.st_size - at);

		if (n <= 0) {
			free(b);
			b = NULL;
			break;
		}
		at += (size_t)n;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void json_tally(const char *name, const struct tally *t)
{
	printf("\"%s\":{\"right\":%ld,\"sigbus\":%ld,\"zeros\":%ld,"
	       "\"wrong\":%ld},",
	       name, t->right, t->sigbus, t->zeros, t->wrong);
}

static int run(void)
{
	struct sigaction sa = { .sa_handler = on_sigbus,
				.sa_flags = SA_NODEFER };
	struct uffd_client *c = NULL;
	struct uffd_region *r = NULL, *r2 = NULL;
	struct tally before = { 0 }, after = { 0 }, again = { 0 };
	unsigned char *want;
	size_t len, psz, npages, half;
	uint64_t mapped = 0, refused = 0;
	volatile unsigned char *m;
	int ok, took_over;

	signal(SIGALRM, on_alarm);
	sigaction(SIGBUS, &sa, NULL);
	want = load(opt.file, &len);
	if (!want || uffd_connect(opt.socket, "image-check", 0, &c) < 0 ||
	    uffd_image_map(c, opt.name, 0, &r) < 0) {
		fprintf(stderr, "image-check: cannot map %s: %s\n", opt.name,
			strerror(errno));
		return 2;
	}
	m = uffd_region_addr(r);
	psz = uffd_region_page_size(r);
	npages = len / psz;
	half = npages / 2;
	alarm(opt.watchdog_s);
	check_pages(m, want, psz, 0, half, &before);
	alarm(0);
	if (creat(opt.ready, 0644) < 0 || wait_file(opt.go, 120) < 0)
		return 3;
	/* Every page faults again, to whoever serves the region now. */
	madvise((void *)m, len, MADV_DONTNEED);
	alarm(opt.watchdog_s);
	check_pages(m, want, psz, 0, npages, &after);
	alarm(0);
	took_over = uffd_client_takeover_stats(c, &mapped, &refused);
	uffd_region_release(r);
	uffd_disconnect(c);

	/* A new client, after: the serving instance opens the image anew. */
	c = NULL;
	if (uffd_connect(opt.socket, "image-check", 0, &c) == 0 &&
	    uffd_image_map(c, opt.name, 0, &r2) == 0) {
		alarm(opt.watchdog_s);
		check_pages(uffd_region_addr(r2), want, psz, 0, npages, &again);
		alarm(0);
		uffd_region_release(r2);
	}
	if (c)
		uffd_disconnect(c);

	ok = before.right == (long)half && !after.zeros && !after.wrong &&
	     after.right == (long)half &&
	     after.sigbus == (long)(npages - half) &&
	     again.right == (long)npages;
	printf("{\"pages\":%zu,\"page_size\":%zu,", npages, psz);
	json_tally("before", &before);
	json_tally("after", &after);
	json_tally("new_client", &again);
	printf("\"took_over\":%s,\"takeover_mapped\":%llu,"
	       "\"takeover_refused\":%llu,\"ok\":%s}\n",
	       took_over == 1 ? "true" : "false", (unsigned long long)mapped,
	       (unsigned long long)refused, ok ? "true" : "false");
	free(want);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "image", required_argument, NULL, 'i' },
		{ "file", required_argument, NULL, 'f' },
		{ "ready", required_argument, NULL, 'r' },
		{ "go", required_argument, NULL, 'g' },
		{ "watchdog", required_argument, NULL, 'w' },
		{ 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 's':
			opt.socket = optarg;
			break;
		case 'i':
			opt.name = optarg;
			break;
		case 'f':
			opt.file = optarg;
			break;
		case 'r':
			opt.ready = optarg;
			break;
		case 'g':
			opt.go = optarg;
			break;
		case 'w':
			opt.watchdog_s = (unsigned)atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (!opt.name || !opt.file || !opt.ready || !opt.go) {
		fprintf(stderr,
			"usage: image-check --image NAME --file F "
			"--ready F --go F [--socket S] [--watchdog S]\n");
		return 2;
	}
	return run();
}
