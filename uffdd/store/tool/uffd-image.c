/* SPDX-License-Identifier: MIT */
/*
 * uffd-image: the operator's tool for an image store.  It talks to the
 * store itself, not to uffdd: putting images in is the operator's business,
 * with the store's own credentials, and the daemon only ever reads.  (A
 * separate tool also keeps librados out of uffdctl, which needs nothing
 * but the control socket.)
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_STORE "file:/var/lib/uffdd/images"

static const char *store_url;
static int json_out;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: uffd-image [--store URL] [--json] COMMAND ...\n"
		"  put NAME FILE [--version V] [--chunk SIZE]  store FILE as "
		"NAME@V\n"
		"  rm NAME[@V]          remove a version (no @V: every "
		"version)\n"
		"  ls [NAME]            list versions\n"
		"  stat NAME[@V]        one version's header\n"
		"  get NAME[@V] FILE    download (checked) into FILE\n"
		"  verify NAME[@V]      read every byte and check it\n"
		"  trace NAME[@V]       size of the recorded working set\n"
		"URL: file:DIR or rados:POOL[,conf=F][,user=ID][,keyring=F]"
		"[,timeout=S]\n"
		"default: $UFFD_IMAGE_STORE, else " DEFAULT_STORE "\n"
		"rados backend in this build: %s\n",
		store_have_rados() ? "yes" : "no (built without librados)");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static struct store *open_store(int create_dir)
{
	char err[512];
	struct store *st;
	int rc;

	if (create_dir && !strncmp(store_url, "file:", 5)) {
		char dir[4096];
		const char *p = store_url + 5;
		size_t n = strcspn(p, ",");

		if (n < sizeof(dir)) {
			memcpy(dir, p, n);
			dir[n] = 0;
			mkdir(dir, 0755); /* the parent must exist */
		}
	}
	rc = store_open(store_url, &st, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "uffd-image: %s\n", err);
		return NULL;
	}
	return st;
}

static int cmd_put(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, 0, 'v' },
		{ "chunk", required_argument, 0, 'c' },
		{ 0, 0, 0, 0 },
	};
	uint64_t version = 0, chunk = 0, got;
	char err[512];
	struct store *st;
	int c, fd, rc;

	optind = 0; /* glibc: start afresh, argv[0] is "put" */
	while ((c = getopt_long(argc, argv, "v:c:", opts, NULL)) != -1) {
		if (c == 'v' && !parse_size(optarg, &version) && version)
			continue;
		if (c == 'c' && !parse_size(optarg, &chunk) &&
		    chunk <= UINT32_MAX)
			continue;
		fprintf(stderr, "uffd-image put: bad option\n");
		return 2;
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	fd = open(argv[optind + 1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "uffd-image: %s: %s\n", argv[optind + 1],
			strerror(errno));
		return 1;
	}
	st = open_store(1);
	if (!st) {
		close(fd);
		return 1;
	}
	rc = store_put(st, argv[optind], version, (uint32_t)chunk, fd, &got,
		       err, sizeof(err));
	close(fd);
	store_close(st);
	if (rc) {
		fprintf(stderr, "uffd-image put: %s\n", err);
		return 1;
	}
	printf("%s@%" PRIu64 "\n", argv[optind], got);
	return 0;
}

static void print_header(const struct img_header *h)
{
	if (json_out) {
		printf("{\"name\":\"%s\",\"version\":%" PRIu64
		       ",\"size\":%" PRIu64 ",\"chunk_size\":%u,"
		       "\"block_size\":%u,\"chunks\":%" PRIu64
		       ",\"created\":%" PRIu64 "}\n",
		       h->name, h->version, h->size, h->chunk_size,
		       h->block_size, img_nchunks(h), h->created);
		return;
	}
	printf("%s@%" PRIu64 "\tsize %" PRIu64 "\tchunk %u\tchunks %" PRIu64
	       "\n",
	       h->name, h->version, h->size, h->chunk_size, img_nchunks(h));
}

struct ls_ctx {
	const char *name;
	int n;
};

static int ls_one(void *arg, const struct img_header *h)
{
	struct ls_ctx *c = arg;

	if (c->name && strcmp(c->name, h->name))
		return 0;
	print_header(h);
	c->n++;
	return 0;
}

static int cmd_ls(int argc, char **argv)
{
	struct ls_ctx c = { argc > 1 ? argv[1] : NULL, 0 };
	char err[512];
	struct store *st = open_store(0);
	int rc;

	if (!st)
		return 1;
	rc = store_list(st, ls_one, &c, err, sizeof(err));
	store_close(st);
	if (rc) {
		fprintf(stderr, "uffd-image ls: %s\n", err);
		return 1;
	}
	return 0;
}

static struct store_image *open_ref(struct store *st, const char *ref)
{
	char name[IMG_NAME_MAX + 1], err[512];
	struct store_image *img;
	uint64_t version;

	if (img_parse_ref(ref, name, &version)) {
		fprintf(stderr, "uffd-image: bad image \"%s\"\n", ref);
		return NULL;
	}
	if (store_image_open(st, name, version, &img, err, sizeof(err))) {
		fprintf(stderr, "uffd-image: %s\n", err);
		return NULL;
	}
	return img;
}

static int cmd_stat(int argc, char **argv)
{
	struct store *st;
	struct store_image *img;

	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	st = open_store(0);
	if (!st)
		return 1;
	img = open_ref(st, argv[1]);
	if (img)
		print_header(store_image_header(img));
	store_image_close(img);
	store_close(st);
	return img ? 0 : 1;
}

struct rm_ctx {
	const char *name;
	uint64_t versions[1024];
	int n;
};

static int rm_collect(void *arg, const struct img_header *h)
{
	struct rm_ctx *c = arg;

	if (!strcmp(c->name, h->name) && c->n < 1024)
		c->versions[c->n++] = h->version;
	return 0;
}

static int cmd_rm(int argc, char **argv)
{
	char name[IMG_NAME_MAX + 1], err[512];
	struct rm_ctx *c;
	struct store *st;
	uint64_t version;
	int rc = 0;

	if (argc != 2 || img_parse_ref(argv[1], name, &version)) {
		usage(stderr);
		return 2;
	}
	st = open_store(0);
	c = calloc(1, sizeof(*c));
	if (!st || !c) {
		free(c);
		store_close(st);
		return 1;
	}
	c->name = name;
	if (version)
		c->versions[c->n++] = version;
	else
		rc = store_list(st, rm_collect, c, err, sizeof(err));
	if (!rc && !c->n) {
		snprintf(err, sizeof(err), "%s: no such image", name);
		rc = -ENOENT;
	}
	for (int i = 0; !rc && i < c->n; i++)
		rc = store_remove(st, name, c->versions[i], err, sizeof(err));
	if (rc)
		fprintf(stderr, "uffd-image rm: %s\n", err);
	free(c);
	store_close(st);
	return rc ? 1 : 0;
}

static int cmd_get(int argc, char **argv)
{
	int verify_only = !strcmp(argv[0], "verify");
	const struct img_header *h = NULL;
	struct store_image *img = NULL;
	struct store *st;
	struct timespec t0, t1;
	void *dst = MAP_FAILED;
	int fd = -1, rc = 1;

	if (argc != (verify_only ? 2 : 3)) {
		usage(stderr);
		return 2;
	}
	st = open_store(0);
	img = st ? open_ref(st, argv[1]) : NULL;
	if (!img)
		goto out;
	h = store_image_header(img);
	if (!verify_only) {
		fd =
		    open(argv[2], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || ftruncate(fd, (off_t)h->size)) {
			fprintf(stderr, "uffd-image: %s: %s\n", argv[2],
				strerror(errno));
			goto out;
		}
	}
	dst = mmap(NULL, h->size, PROT_READ | PROT_WRITE,
		   verify_only ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
			       : MAP_SHARED,
		   fd, 0);
	if (dst == MAP_FAILED) {
		fprintf(stderr, "uffd-image: mmap: %s\n", strerror(errno));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = store_read_all(img, dst, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		fprintf(stderr, "uffd-image: %s@%" PRIu64 ": %s\n", h->name,
			h->version, strerror(-rc));
		rc = 1;
		goto out;
	}
	fprintf(stderr, "%s@%" PRIu64 ": %" PRIu64 " bytes checked in %.3f s\n",
		h->name, h->version, h->size,
		(double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
out:
	if (dst != MAP_FAILED)
		munmap(dst, h->size);
	if (fd >= 0)
		close(fd);
	store_image_close(img);
	store_close(st);
	return rc;
}

static int cmd_trace(int argc, char **argv)
{
	char name[IMG_NAME_MAX + 1];
	struct store_image *img;
	struct store *st;
	uint64_t version;
	void *buf;
	size_t len;
	int rc;

	if (argc != 2 || img_parse_ref(argv[1], name, &version)) {
		usage(stderr);
		return 2;
	}
	st = open_store(0);
	img = st ? open_ref(st, argv[1]) : NULL;
	if (!img) {
		store_close(st);
		return 1;
	}
	version = store_image_header(img)->version;
	store_image_close(img);
	rc = store_trace_get(st, name, version, &buf, &len);
	store_close(st);
	if (rc == -ENOENT) {
		printf("%s@%" PRIu64 ": no trace\n", name, version);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "uffd-image: trace: %s\n", strerror(-rc));
		return 1;
	}
	printf("%s@%" PRIu64 ": trace of %zu bytes\n", name, version, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, 0, 's' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;

	store_url = getenv("UFFD_IMAGE_STORE");
	if (!store_url || !*store_url)
		store_url = DEFAULT_STORE;
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		if (c == 's')
			store_url = optarg;
		else if (c == 'j')
			json_out = 1;
		else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[0], "put"))
		return cmd_put(argc, argv);
	if (!strcmp(argv[0], "ls"))
		return cmd_ls(argc, argv);
	if (!strcmp(argv[0], "stat"))
		return cmd_stat(argc, argv);
	if (!strcmp(argv[0], "rm"))
		return cmd_rm(argc, argv);
	if (!strcmp(argv[0], "get") || !strcmp(argv[0], "verify"))
		return cmd_get(argc, argv);
	if (!strcmp(argv[0], "trace"))
		return cmd_trace(argc, argv);
	usage(stderr);
	return 2;
}
