/* SPDX-License-Identifier: MIT */
/*
 * eager-client: registers one large region of shmem with the eager policy
 * and holds it, for the tests that watch what such a region costs the
 * daemon and its other clients (t-bounds.sh).
 *
 * The region is a memfd of --size bytes with a page written every --every
 * pages and holes elsewhere (a sparse file), mapped MAP_NORESERVE and
 * handed over with uffd_region_adopt().  With --user it drops to that uid
 * (and gid) first, as an unprivileged client would be.
 *
 * Output: one JSON object on stdout once registered (the time the
 * registration took, the pages written); then it holds the region for
 * --hold seconds and releases it.  Exit status 0 iff it registered.
 */
#include "uffd/client.h"

#include <getopt.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* "64G", "512M", "4096": bytes. */
static size_t size_arg(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G':
	case 'g':
		v <<= 10;
		/* fall through */
	case 'M':
	case 'm':
		v <<= 10;
		/* fall through */
	case 'K':
	case 'k':
		v <<= 10;
		break;
	default:
		break;
	}
	return (size_t)v;
}

static void usage(void)
{
	fprintf(stderr, "usage: eager-client --socket PATH --size SIZE "
			"[--every PAGES] [--name NAME] [--policy SPEC] "
			"[--hold SECONDS] [--user UID]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' },
		{ "every", required_argument, NULL, 'e' },
		{ "name", required_argument, NULL, 'n' },
		{ "policy", required_argument, NULL, 'p' },
		{ "hold", required_argument, NULL, 'h' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *name = "eager", *policy = "eager";
	size_t size = 0, every = 1, written = 0;
	int hold = 0, uid = -1, o, fd;
	struct uffd_client *c;
	struct uffd_region *r;
	uint64_t t0, t1;
	void *a;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			sock = optarg;
			break;
		case 'z':
			size = size_arg(optarg);
			break;
		case 'e':
			every = strtoul(optarg, NULL, 10);
			break;
		case 'n':
			name = optarg;
			break;
		case 'p':
			policy = optarg;
			break;
		case 'h':
			hold = atoi(optarg);
			break;
		case 'u':
			uid = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (!size || !every || size % 4096)
		usage();
	if (uid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 ||
			 setuid((uid_t)uid) < 0)) {
		perror("eager-client: dropping to --user");
		return 1;
	}
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		perror("eager-client: memfd");
		return 1;
	}
	for (size_t off = 0; off < size; off += every * 4096, written++)
		if (pwrite(fd, "x", 1, (off_t)off) != 1) {
			perror("eager-client: pwrite");
			return 1;
		}
	a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		 fd, 0);
	if (a == MAP_FAILED) {
		perror("eager-client: mmap");
		return 1;
	}
	if (uffd_connect(sock, name, 0, &c) < 0) {
		fprintf(stderr, "eager-client: %s\n", uffd_last_error());
		return 1;
	}
	t0 = now_ns();
	if (uffd_region_adopt(c, a, size, fd, 0, name, policy, &r) < 0) {
		fprintf(stderr, "eager-client: %s\n", uffd_last_error());
		return 1;
	}
	t1 = now_ns();
	printf("{\"register_ms\": %.3f, \"size\": %zu, \"pages_written\": "
	       "%zu}\n",
	       (double)(t1 - t0) / 1e6, size, written);
	fflush(stdout);
	sleep((unsigned)hold);
	uffd_region_release(r);
	uffd_disconnect(c);
	munmap(a, size);
	close(fd);
	return 0;
}
