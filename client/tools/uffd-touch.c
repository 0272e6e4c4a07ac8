/* SPDX-License-Identifier: MIT */
/*
 * uffd-touch: smoke-test a uffdd installation.  Allocates a region through
 * the daemon, writes a pattern through the fill mapping, touches every page
 * of the served mapping from N threads (each touch is a minor fault the
 * daemon resolves), verifies every byte and prints one JSON object.
 */
#include "uffd/client.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"Usage: uffd-touch --kind hugetlb|shmem --size SIZE [OPTIONS]\n"
	"\n"
	"Allocate a region served by uffdd, fill it with a known pattern,\n"
	"touch every page from N threads through the served mapping (one minor\n"
	"fault per page, resolved by the daemon), verify every byte, and print\n"
	"one JSON object: pages, page_size, threads, verified, elapsed_ns (the\n"
	"touch phase alone), and more.\n"
	"\n"
	"Options:\n"
	"  -k, --kind KIND      hugetlb (default-size hugepages) or shmem (4 KiB)\n"
	"  -s, --size SIZE      region size, with an optional K, M or G suffix\n"
	"  -S, --socket PATH    the daemon's socket (default $UFFDD_SOCKET, else\n"
	"                       " UFFD_CLIENT_DEFAULT_SOCKET ")\n"
	"  -p, --policy NAME    the policy to ask for (default: the daemon's)\n"
	"  -t, --threads N      touching threads (default 1)\n"
	"  -n, --name NAME      region name shown in uffdctl (default touch)\n"
	"  -H, --hold SECONDS   keep the region registered this long after\n"
	"                       verifying (for inspecting uffdctl status)\n"
	"  -f, --fallback       if the daemon cannot be reached, run on plain\n"
	"                       memory instead of failing\n"
	"  -G, --no-grant       do not ask the daemon for a /dev/userfaultfd grant\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 if every byte verified, 1 otherwise, 2 on usage errors.\n";

struct job {
	char *base;
	size_t psz, pages;
	unsigned idx, nthreads;
	pthread_barrier_t *start;
	uint64_t sum;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t pattern(size_t word)
{
	uint64_t x = (uint64_t)word * 0x9e3779b97f4a7c15ull;

	return x ^ (x >> 29);
}

static void *toucher(void *arg)
{
	struct job *j = arg;
	volatile char *p;

	pthread_barrier_wait(j->start);
	for (size_t i = j->idx; i < j->pages; i += j->nthreads) {
		p = j->base + i * j->psz;
		j->sum += (unsigned char)*p; /* the minor fault */
	}
	return NULL;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'g':
	case 'G':
		v <<= 10;
		/* fall through */
	case 'm':
	case 'M':
		v <<= 10;
		/* fall through */
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case '\0':
		break;
	default:
		return -1;
	}
	if (*end && strcmp(end, "iB") && strcmp(end, "B"))
		return -1;
	*out = (size_t)v;
	return v ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "size", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "policy", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, 'H' },
		{ "fallback", no_argument, NULL, 'f' },
		{ "no-grant", no_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct uffd_region_spec spec = { .name = "touch" };
	const char *sock = NULL;
	struct uffd_client *c = NULL;
	struct uffd_region *r;
	unsigned nthreads = 1, flags = 0;
	int opt, rc, fallback = 0, hold = 0;
	static const char *modes[] = { "none", "device", "syscall",
				       "user-mode-only" };

	while ((opt = getopt_long(argc, argv, "k:s:S:p:t:n:H:fGh", opts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'k':
			if (strcmp(optarg, "hugetlb") == 0)
				spec.kind = UFFD_KIND_HUGETLB;
			else if (strcmp(optarg, "shmem") == 0)
				spec.kind = UFFD_KIND_SHMEM;
			else {
				fprintf(stderr, "uffd-touch: --kind is hugetlb "
						"or shmem\n");
				return 2;
			}
			break;
		case 's':
			if (parse_size(optarg, &spec.size) < 0) {
				fprintf(stderr, "uffd-touch: bad size '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'S':
			sock = optarg;
			break;
		case 'p':
			spec.policy = optarg;
			break;
		case 't':
			nthreads = (unsigned)atoi(optarg);
			if (nthreads < 1 || nthreads > 1024) {
				fprintf(stderr, "uffd-touch: --threads takes "
						"1 to 1024\n");
				return 2;
			}
			break;
		case 'n':
			spec.name = optarg;
			break;
		case 'H':
			hold = atoi(optarg);
			break;
		case 'f':
			fallback = 1;
			break;
		case 'G':
			flags |= UFFD_CONNECT_NO_GRANT;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs("Try 'uffd-touch --help'.\n", stderr);
			return 2;
		}
	}
	if (!spec.kind || !spec.size || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}

	rc = uffd_connect(sock, "uffd-touch", flags, &c);
	if (rc < 0) {
		fprintf(stderr, "uffd-touch: %s\n", uffd_last_error());
		if (!fallback)
			return 1;
		fprintf(stderr, "uffd-touch: running on plain memory\n");
		c = NULL;
	}
	rc = uffd_region_alloc(c, &spec, &r);
	if (rc < 0) {
		fprintf(stderr, "uffd-touch: %s\n", uffd_last_error());
		uffd_disconnect(c);
		return 1;
	}

	size_t psz = uffd_region_page_size(r), size = uffd_region_size(r);
	size_t pages = size / psz, words = size / sizeof(uint64_t);
	uint64_t *fill = uffd_region_fill_addr(r), *served = uffd_region_addr(r);
	pthread_t *th = calloc(nthreads, sizeof(*th));
	struct job *jobs = calloc(nthreads, sizeof(*jobs));
	pthread_barrier_t start;
	uint64_t t0, t1, bad = 0;

	for (size_t i = 0; i < words; i++)
		fill[i] = pattern(i);

	pthread_barrier_init(&start, NULL, nthreads + 1);
	for (unsigned i = 0; i < nthreads; i++) {
		jobs[i] = (struct job){ .base = (char *)served, .psz = psz,
					.pages = pages, .idx = i,
					.nthreads = nthreads, .start = &start };
		pthread_create(&th[i], NULL, toucher, &jobs[i]);
	}
	t0 = now_ns();
	pthread_barrier_wait(&start);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	t1 = now_ns();

	for (size_t i = 0; i < words; i++)
		if (served[i] != pattern(i))
			bad++;

	printf("{\"kind\":\"%s\",\"size\":%zu,\"pages\":%zu,\"page_size\":%zu,"
	       "\"threads\":%u,\"verified\":%s,\"bad_words\":%" PRIu64
	       ",\"elapsed_ns\":%" PRIu64 ",\"ns_per_page\":%" PRIu64
	       ",\"served\":%s,\"uffd\":\"%s\",\"region_id\":\"%016" PRIx64
	       "\"}\n",
	       spec.kind == UFFD_KIND_HUGETLB ? "hugetlb" : "shmem", size, pages,
	       psz, nthreads, bad ? "false" : "true", bad, t1 - t0,
	       (t1 - t0) / pages, c ? "true" : "false",
	       modes[c ? uffd_client_uffd_mode(c) : 0], uffd_region_id(r));
	fflush(stdout);
	if (hold > 0)
		sleep((unsigned)hold);
	uffd_region_release(r);
	uffd_disconnect(c);
	free(th);
	free(jobs);
	return bad ? 1 : 0;
}
