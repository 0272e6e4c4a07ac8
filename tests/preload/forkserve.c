/* SPDX-License-Identifier: MIT */
/*
 * forkserve: a fork-per-request server over a shared table, the shape of
 * inetd, Apache prefork's per-connection children or a CGI host, for
 * bench-preload and the learned child working set's tests.
 *
 *   forkserve serve SOCKET MIB HUGE HOT
 *       MAP_SHARED|MAP_ANONYMOUS table of MIB MiB (MAP_HUGETLB when HUGE
 *       is 1), every 8-byte word set to a function of its index; then a
 *       child per connection: it reads a key, sums one word of each of
 *       HOT index pages scattered over the table (the same pages for
 *       every request, like the inner pages of a B-tree) and of four
 *       pages the key picks, answers the sum, and exits.
 *   forkserve load SOCKET SECONDS CLIENTS [MIB HOT]
 *       CLIENTS threads, each one connection per request, for SECONDS;
 *       every answer is checked against the sum computed here (with the
 *       server's MIB and HOT, 64 and 256 by default).  Prints
 *       "requests=N rps=R ms_per_request=M wrong=W".
 *
 * Exit status 0 unless something failed or an answer was wrong.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PAGE	 4096u
#define KEYPAGES 4

struct shape {
	uint64_t words; /* 8-byte words in the table */
	uint64_t pages; /* 4 KiB pages */
	unsigned hot;
};

static uint64_t word(uint64_t i)
{
	return i * 0x9e3779b97f4a7c15ull ^ (i >> 7);
}

/* The i-th hot page: scattered, so that no window of pages covers many. */
static uint64_t hot_page(const struct shape *s, unsigned i)
{
	return ((uint64_t)i * 7919u + 13u) % s->pages;
}

static uint64_t key_page(const struct shape *s, uint64_t key, unsigned k)
{
	return (word(key * KEYPAGES + k) >> 3) % s->pages;
}

/* The answer to key over table t (NULL: computed from word()). */
static uint64_t answer(const struct shape *s, const uint64_t *t, uint64_t key)
{
	uint64_t sum = 0, w;

	for (unsigned i = 0; i < s->hot; i++) {
		w = hot_page(s, i) * (PAGE / 8) + (key % (PAGE / 8));
		sum += t ? t[w] : word(w);
	}
	for (unsigned k = 0; k < KEYPAGES; k++) {
		w = key_page(s, key, k) * (PAGE / 8) + 1;
		sum += t ? t[w] : word(w);
	}
	return sum;
}

static int shape_of(struct shape *s, const char *mib, const char *hot)
{
	unsigned long m = strtoul(mib, NULL, 0), h = strtoul(hot, NULL, 0);

	if (!m || m > 65536 || h > 65536)
		return -1;
	s->words = (uint64_t)m << 17;
	s->pages = (uint64_t)m << 8;
	s->hot = (unsigned)h;
	return 0;
}

static int unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

static void child(const struct shape *s, const uint64_t *t, int c)
{
	uint64_t key, sum;

	if (read(c, &key, sizeof(key)) != (ssize_t)sizeof(key))
		_exit(1);
	sum = answer(s, t, key);
	_exit(write(c, &sum, sizeof(sum)) == (ssize_t)sizeof(sum) ? 0 : 1);
}

static int serve(const char *path, const struct shape *s, int huge)
{
	struct sigaction sa = { .sa_handler = SIG_IGN,
				.sa_flags = SA_NOCLDWAIT };
	struct sockaddr_un addr;
	size_t len = s->words * 8;
	uint64_t *t;
	int l;

	t = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | (huge ? MAP_HUGETLB : 0), -1, 0);
	if (t == MAP_FAILED) {
		perror("forkserve: mmap");
		return 1;
	}
	for (uint64_t i = 0; i < s->words; i++)
		t[i] = word(i);
	/* Children are reaped by the kernel. */
	sigaction(SIGCHLD, &sa, NULL);
	if (unix_addr(&addr, path) < 0)
		return 1;
	unlink(path);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(l, 128) < 0) {
		perror("forkserve: listen");
		return 1;
	}
	fprintf(stderr, "forkserve: %llu MiB%s, %u hot pages, on %s\n",
		(unsigned long long)(len >> 20), huge ? " hugetlb" : "", s->hot,
		path);
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		pid_t pid;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("forkserve: accept");
			return 1;
		}
		pid = fork();
		if (pid == 0)
			child(s, t, c);
		if (pid < 0)
			perror("forkserve: fork");
		close(c);
	}
}

/* The load generator ------------------------------------------------------- */

struct load {
	const char *path;
	const struct shape *s;
	double until;
	unsigned seed;
	uint64_t done, wrong, failed;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int one_request(struct load *ld)
{
	struct sockaddr_un addr;
	uint64_t key = (uint64_t)rand_r(&ld->seed) << 16 ^
		       (uint64_t)rand_r(&ld->seed),
		 sum = 0;
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = -1;

	if (c >= 0 && unix_addr(&addr, ld->path) == 0 &&
	    connect(c, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	    write(c, &key, sizeof(key)) == (ssize_t)sizeof(key) &&
	    read(c, &sum, sizeof(sum)) == (ssize_t)sizeof(sum))
		rc = sum == answer(ld->s, NULL, key) ? 0 : 1;
	if (c >= 0)
		close(c);
	return rc;
}

static void *loader(void *arg)
{
	struct load *ld = arg;

	while (now_s() < ld->until) {
		int rc = one_request(ld);

		if (rc < 0)
			ld->failed++;
		else
			ld->done++;
		if (rc > 0)
			ld->wrong++;
	}
	return NULL;
}

static int load(const char *path, const struct shape *s, double secs,
		unsigned n)
{
	struct load ld[64];
	pthread_t th[64];
	uint64_t done = 0, wrong = 0, failed = 0;
	double t0 = now_s(), t1;

	if (n < 1 || n > 64)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		ld[i] = (struct load){
			.path = path, .s = s, .until = t0 + secs, .seed = 17 + i
		};
		pthread_create(&th[i], NULL, loader, &ld[i]);
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		done += ld[i].done;
		wrong += ld[i].wrong;
		failed += ld[i].failed;
	}
	t1 = now_s();
	printf("requests=%llu rps=%.1f ms_per_request=%.3f wrong=%llu "
	       "failed=%llu\n",
	       (unsigned long long)done, (double)done / (t1 - t0),
	       done ? (t1 - t0) * 1000.0 * n / (double)done : 0.0,
	       (unsigned long long)wrong, (unsigned long long)failed);
	return wrong || failed || !done;
}

int main(int argc, char **argv)
{
	struct shape s;

	if (argc == 6 && !strcmp(argv[1], "serve") &&
	    shape_of(&s, argv[3], argv[5]) == 0)
		return serve(argv[2], &s, atoi(argv[4]));
	if ((argc == 5 || argc == 7) && !strcmp(argv[1], "load") &&
	    shape_of(&s, argc == 7 ? argv[5] : "64",
		     argc == 7 ? argv[6] : "256") == 0)
		return load(argv[2], &s, atof(argv[3]),
			    (unsigned)strtoul(argv[4], NULL, 0));
	fprintf(stderr,
		"usage: forkserve serve SOCKET MIB HUGE HOT\n"
		"       forkserve load SOCKET SECONDS CLIENTS [MIB HOT]\n");
	return 64;
}
