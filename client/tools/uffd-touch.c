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
    "       uffd-touch --image NAME[@VERSION] [--kind K] [--expect FILE]\n"
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
    "  -p, --policy SPEC    the policy to ask for (default: the daemon's);\n"
    "                       files it names (populate:PATH) are opened here,\n"
    "                       with your rights, and passed to the daemon\n"
    "  -t, --threads N      touching threads (default 1)\n"
    "  -n, --name NAME      region name shown in uffdctl (default touch)\n"
    "  -H, --hold SECONDS   keep the region registered this long after\n"
    "                       verifying (for inspecting uffdctl status)\n"
    "  -f, --fallback       if the daemon cannot be reached, run on plain\n"
    "                       memory instead of failing\n"
    "  -G, --no-grant       do not ask the daemon for a /dev/userfaultfd "
    "grant\n"
    "  -i, --image REF      map the image REF (NAME or NAME@VERSION) from\n"
    "                       the host's cache instead (--kind: its pages,\n"
    "                       default shmem) and touch every page of it\n"
    "  -e, --expect FILE    with --image: every byte must be FILE's (and\n"
    "                       zero past its end)\n"
    "  -r, --record         with --image: record the first-touch trace\n"
    "      --shared         with --image: a read-only shared mapping\n"
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

/* What the command line asks for. */
struct touch {
	struct uffd_region_spec spec;
	const char *sock;
	unsigned nthreads, flags;
	int fallback, hold;
	const char *image, *expect;
	unsigned image_flags;
};

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
	{ "image", required_argument, NULL, 'i' },
	{ "expect", required_argument, NULL, 'e' },
	{ "record", no_argument, NULL, 'r' },
	{ "shared", no_argument, NULL, 'x' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* One option: 0, 2 on a usage error (said), -1 after --help. */
static int option(int opt, struct touch *t)
{
	switch (opt) {
	case 'k':
		t->spec.kind = !strcmp(optarg, "hugetlb") ? UFFD_KIND_HUGETLB
			       : !strcmp(optarg, "shmem") ? UFFD_KIND_SHMEM
							  : 0;
		if (t->spec.kind)
			return 0;
		fprintf(stderr, "uffd-touch: --kind is hugetlb or shmem\n");
		return 2;
	case 's':
		if (parse_size(optarg, &t->spec.size) == 0)
			return 0;
		fprintf(stderr, "uffd-touch: bad size '%s'\n", optarg);
		return 2;
	case 'S':
		t->sock = optarg;
		return 0;
	case 'p':
		t->spec.policy = optarg;
		return 0;
	case 't':
		t->nthreads = (unsigned)atoi(optarg);
		if (t->nthreads >= 1 && t->nthreads <= 1024)
			return 0;
		fprintf(stderr, "uffd-touch: --threads takes 1 to 1024\n");
		return 2;
	case 'n':
		t->spec.name = optarg;
		return 0;
	case 'H':
		t->hold = atoi(optarg);
		return 0;
	case 'f':
		t->fallback = 1;
		return 0;
	case 'G':
		t->flags |= UFFD_CONNECT_NO_GRANT;
		return 0;
	case 'i':
		t->image = optarg;
		return 0;
	case 'e':
		t->expect = optarg;
		return 0;
	case 'r':
		t->image_flags |= UFFD_IMAGE_RECORD;
		return 0;
	case 'x':
		t->image_flags |= UFFD_IMAGE_SHARED;
		return 0;
	case 'h':
		fputs(usage, stdout);
		return -1;
	default:
		fputs("Try 'uffd-touch --help'.\n", stderr);
		return 2;
	}
}

static int options(int argc, char **argv, struct touch *t)
{
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "k:s:S:p:t:n:H:fGi:e:rh", opts,
				  NULL)) != -1)
		if ((rc = option(opt, t)) != 0)
			return rc;
	if (t->image && optind == argc)
		return 0;
	if (!t->spec.kind || !t->spec.size || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	return 0;
}

/* Touch every page of r from n threads at once; the ns it took. */
static uint64_t touch_all(struct uffd_region *r, unsigned n)
{
	size_t psz = uffd_region_page_size(r);
	pthread_t *th = calloc(n, sizeof(*th));
	struct job *jobs = calloc(n, sizeof(*jobs));
	pthread_barrier_t start;
	uint64_t t0, t1;

	pthread_barrier_init(&start, NULL, n + 1);
	for (unsigned i = 0; i < n; i++) {
		jobs[i] = (struct job){ .base = uffd_region_addr(r),
					.psz = psz,
					.pages = uffd_region_size(r) / psz,
					.idx = i,
					.nthreads = n,
					.start = &start };
		pthread_create(&th[i], NULL, toucher, &jobs[i]);
	}
	t0 = now_ns();
	pthread_barrier_wait(&start);
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	t1 = now_ns();
	pthread_barrier_destroy(&start);
	free(th);
	free(jobs);
	return t1 - t0;
}

/* The JSON line: what was touched, how, and whether every byte was right. */
static void report(const struct touch *t, struct uffd_client *c,
		   struct uffd_region *r, uint64_t bad, uint64_t ns)
{
	static const char *modes[] = { "none", "device", "syscall",
				       "user-mode-only" };
	size_t psz = uffd_region_page_size(r), size = uffd_region_size(r);

	printf("{\"kind\":\"%s\",\"size\":%zu,\"pages\":%zu,\"page_size\":%zu,"
	       "\"threads\":%u,\"verified\":%s,\"bad_words\":%" PRIu64
	       ",\"elapsed_ns\":%" PRIu64 ",\"ns_per_page\":%" PRIu64
	       ",\"served\":%s,\"uffd\":\"%s\",\"region_id\":\"%016" PRIx64
	       "\"}\n",
	       t->spec.kind == UFFD_KIND_HUGETLB ? "hugetlb" : "shmem", size,
	       size / psz, psz, t->nthreads, bad ? "false" : "true", bad, ns,
	       ns / (size / psz), c ? "true" : "false",
	       modes[c ? uffd_client_uffd_mode(c) : 0], uffd_region_id(r));
	fflush(stdout);
}

/* The daemon, or (--fallback) none: plain memory.  -1 when it must stop. */
static int connect_or_not(const struct touch *t, struct uffd_client **c)
{
	if (uffd_connect(t->sock, "uffd-touch", t->flags, c) == 0)
		return 0;
	fprintf(stderr, "uffd-touch: %s\n", uffd_last_error());
	if (!t->fallback)
		return -1;
	fprintf(stderr, "uffd-touch: running on plain memory\n");
	*c = NULL;
	return 0;
}

/* Bytes of the mapping that differ from FILE (zero past its end). */
static uint64_t compare(const unsigned char *m, size_t len, const char *path)
{
	FILE *f = fopen(path, "re");
	unsigned char buf[65536];
	uint64_t bad = 0;
	size_t off = 0, n;

	if (!f) {
		fprintf(stderr, "uffd-touch: %s: %s\n", path, strerror(errno));
		return len ? len : 1;
	}
	while (off < len && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (n > len - off)
			n = len - off;
		for (size_t i = 0; i < n; i++)
			bad += m[off + i] != buf[i];
		off += n;
	}
	fclose(f);
	for (; off < len; off++)
		bad += m[off] != 0;
	return bad;
}

/* --image: map it from the cache, touch every page, check the bytes. */
static int touch_image(struct touch *t)
{
	struct uffd_client *c;
	struct uffd_region *r;
	uint64_t bad = 0, ns;
	unsigned flags = t->image_flags;

	if (t->spec.kind == UFFD_KIND_HUGETLB)
		flags |= UFFD_IMAGE_HUGETLB;
	if (uffd_connect(t->sock, "uffd-touch", t->flags, &c) < 0 ||
	    uffd_image_map(c, t->image, flags, &r) < 0) {
		fprintf(stderr, "uffd-touch: %s\n", uffd_last_error());
		return 1;
	}
	ns = touch_all(r, t->nthreads);
	if (t->expect)
		bad = compare(uffd_region_addr(r), uffd_region_size(r),
			      t->expect);
	printf("{\"image\":\"%s\",\"size\":%zu,\"pages\":%zu,"
	       "\"page_size\":%zu,\"threads\":%u,\"verified\":%s,"
	       "\"bad_bytes\":%" PRIu64 ",\"elapsed_ns\":%" PRIu64
	       ",\"region_id\":\"%016" PRIx64 "\"}\n",
	       t->image, uffd_region_size(r),
	       uffd_region_size(r) / uffd_region_page_size(r),
	       uffd_region_page_size(r), t->nthreads,
	       t->expect ? (bad ? "false" : "true") : "null", bad, ns,
	       uffd_region_id(r));
	fflush(stdout);
	if (t->hold > 0)
		sleep((unsigned)t->hold);
	uffd_region_release(r);
	uffd_disconnect(c);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct touch t = { .spec = { .name = "touch" }, .nthreads = 1 };
	struct uffd_client *c = NULL;
	struct uffd_region *r;
	uint64_t *fill, *served, bad = 0, ns;
	size_t words;
	int rc = options(argc, argv, &t);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (t.image)
		return touch_image(&t);
	if (connect_or_not(&t, &c) < 0)
		return 1;
	if (uffd_region_alloc(c, &t.spec, &r) < 0) {
		fprintf(stderr, "uffd-touch: %s\n", uffd_last_error());
		uffd_disconnect(c);
		return 1;
	}
	fill = uffd_region_fill_addr(r);
	served = uffd_region_addr(r);
	words = uffd_region_size(r) / sizeof(uint64_t);
	for (size_t i = 0; i < words; i++)
		fill[i] = pattern(i);
	ns = touch_all(r, t.nthreads);
	for (size_t i = 0; i < words; i++)
		if (served[i] != pattern(i))
			bad++;
	report(&t, c, r, bad, ns);
	if (t.hold > 0)
		sleep((unsigned)t.hold);
	uffd_region_release(r);
	uffd_disconnect(c);
	return bad ? 1 : 0;
}
