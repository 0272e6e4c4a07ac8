/* SPDX-License-Identifier: MIT */
/*
 * Images end to end: a real uffdd with its image cache, real client
 * processes mapping images through libuffdclient, a real store — a file:
 * directory (make check), or $UFFD_TEST_STORE, the single-node Ceph of
 * make check-ceph (then $UFFD_CEPH_DIR names it, for the OSD's own read
 * counters and for stopping the OSD).
 *
 * Every byte a client reads is compared with the image's; every check of
 * a counter is exact.
 */
#include "harness.h"
#include "store/pack.h"
#include "store/store.h"
#include "store/store_priv.h"
#include "uffd/client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define GiB	   (1ull << 30)
#define MiB	   (1ull << 20)
#define FETCH	   MiB
#define TIMEOUT_MS 3000

static char url[4096], file_dir[256];
static int is_rados;
static struct tdaemon D;

/* Images: name, size, their bytes in a file (the expected content). */
struct img {
	const char *tag;
	uint64_t size;
	char name[80];
	char path[128];
	const unsigned char *bytes; /* the file, mapped */
};

static struct img big = { .tag = "big", .size = GiB },
		  huge = { .tag = "huge", .size = 512 * MiB },
		  small = { .tag = "small", .size = 24 * MiB };

static void pattern_file(struct img *im, unsigned seed)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ seed, *buf = malloc(MiB);
	int fd;

	snprintf(im->name, sizeof(im->name), "e2e%d-%s", (int)getpid(),
		 im->tag);
	snprintf(im->path, sizeof(im->path), "/tmp/uffdd-e2e-%d-%s.img",
		 (int)getpid(), im->tag);
	fd = open(im->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	for (uint64_t off = 0; fd >= 0 && off < im->size; off += MiB) {
		for (size_t i = 0; i < MiB / 8; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = x;
		}
		if (write(fd, buf, MiB) != (ssize_t)MiB)
			abort();
	}
	free(buf);
	im->bytes = mmap(NULL, im->size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
}

static int put(struct img *im)
{
	char err[512];
	struct store *st;
	uint64_t v;
	int fd = open(im->path, O_RDONLY | O_CLOEXEC), rc;

	rc = store_open(url, &st, err, sizeof(err));
	if (!rc) {
		rc = store_put(st, im->name, 1, 0, fd, &v, err, sizeof(err));
		store_close(st);
	}
	close(fd);
	if (rc)
		t_note("put %s: %s", im->name, err);
	return rc;
}

static void forget(struct img *im)
{
	char err[512];
	struct store *st;

	if (!im->bytes)
		return;
	if (!store_open(url, &st, err, sizeof(err))) {
		store_remove(st, im->name, 1, err, sizeof(err));
		store_close(st);
	}
	munmap((void *)im->bytes, im->size);
	unlink(im->path);
	im->bytes = NULL;
}

/* The daemon's status of image name, or NULL (the caller puts it). */
static json_object *image_status(const char *name, json_object **all)
{
	json_object *o = td_ask(&D, "images"), *a;

	*all = o;
	if (!o || !json_object_object_get_ex(o, "images", &a))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (!strcmp(json_object_get_string(
				json_object_object_get(e, "name")),
			    name))
			return e;
	}
	return NULL;
}

static int64_t image_int(const char *name, const char *key)
{
	json_object *all, *e = image_status(name, &all);
	int64_t v = e ? j_int(e, key) : -1;

	json_object_put(all);
	return v;
}

/* The sum of key over every mapping of pid (/proc/PID/smaps), in KiB. */
static long smaps_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = 0;
	size_t n = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v += strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static long status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* What the OSD served so far (rados of tests/ceph/cluster.sh only). */
static int osd_reads(uint64_t *ops, uint64_t *bytes)
{
	char cmd[512];
	unsigned long long o = 0, b = 0;
	FILE *f;
	int n;

	if (!is_rados || !getenv("UFFD_CEPH_DIR"))
		return -1;
	snprintf(cmd, sizeof(cmd), "sh tests/ceph/cluster.sh reads %s",
		 getenv("UFFD_CEPH_DIR"));
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fscanf(f, "%llu %llu", &o, &b);
	pclose(f);
	*ops = o;
	*bytes = b;
	return n == 2 ? 0 : -1;
}

/* Clients ---------------------------------------------------------------- */

/* A child: map, touch every page, compare every byte, say so, wait. */
static int client(const struct img *im, unsigned flags, int ready, int go)
{
	struct uffd_client *c = NULL;
	struct uffd_region *r;
	const volatile unsigned char *m;
	size_t psz;
	uint64_t bad = 0;
	char b = 'x';
	char ref[96];

	snprintf(ref, sizeof(ref), "%s@1", im->name);
	if (uffd_connect(D.sock, "e2e-image", 0, &c) < 0 ||
	    uffd_image_map(c, ref, flags, &r) < 0) {
		fprintf(stderr, "#   client: %s\n", uffd_last_error());
		return 2;
	}
	m = uffd_region_addr(r);
	psz = uffd_region_page_size(r);
	for (uint64_t off = 0; off < im->size; off += psz)
		(void)m[off];
	for (uint64_t off = 0; off < im->size; off += 8)
		bad += *(const volatile uint64_t *)(m + off) !=
		       *(const uint64_t *)(im->bytes + off);
	if (write(ready, bad ? "b" : "k", 1) != 1 || read(go, &b, 1) != 1)
		return 3;
	uffd_region_release(r);
	uffd_disconnect(c);
	return bad ? 1 : 0;
}

struct crowd {
	int n;
	pid_t pid[64];
	int ready[2], go[2];
};

static int crowd_start(struct crowd *cr, int n, const struct img *im,
		       unsigned flags)
{
	cr->n = 0;
	if (pipe(cr->ready) || pipe(cr->go))
		return -1;
	for (int i = 0; i < n; i++) {
		pid_t p = fork();

		if (p == 0) {
			close(cr->ready[0]);
			close(cr->go[1]);
			_exit(client(im, flags, cr->ready[1], cr->go[0]));
		}
		if (p < 0)
			return -1;
		cr->pid[cr->n++] = p;
	}
	close(cr->ready[1]);
	close(cr->go[0]);
	return 0;
}

/* Every client has read every byte: how many saw a wrong one. */
static int crowd_ready(struct crowd *cr)
{
	int bad = 0;

	for (int i = 0; i < cr->n; i++) {
		char b = 0;

		if (read(cr->ready[0], &b, 1) != 1)
			return -1;
		bad += b != 'k';
	}
	return bad;
}

static int crowd_end(struct crowd *cr)
{
	int failed = 0;

	for (int i = 0; i < cr->n; i++)
		if (write(cr->go[1], "g", 1) != 1)
			failed++;
	for (int i = 0; i < cr->n; i++) {
		int st = 0;

		waitpid(cr->pid[i], &st, 0);
		failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	close(cr->ready[0]);
	close(cr->go[1]);
	return failed;
}

/* Cases ------------------------------------------------------------------- */

/* N clients map one image, touch and check every byte: one copy, each
 * block fetched once. */
static void one_copy(struct img *im, int n, unsigned flags)
{
	uint64_t o0 = 0, b0 = 0, o1, b1, hdr, fetches;
	struct crowd cr;
	long shmem_kb;
	int bad;

	if (!im->bytes || put(im)) {
		t_fail_at(__FILE__, __LINE__, "no image %s", im->tag);
		return;
	}
	osd_reads(&o0, &b0);
	CHECK_EQ(crowd_start(&cr, n, im, flags), 0);
	bad = crowd_ready(&cr);
	CHECK_EQ(bad, 0);
	/* Everyone holds the image now. */
	CHECK_EQ(image_int(im->name, "clients"), n);
	CHECK_EQ(image_int(im->name, "bytes_fetched"), im->size);
	fetches = (im->size + FETCH - 1) / FETCH;
	if (flags & UFFD_IMAGE_HUGETLB)
		fetches =
		    (im->size + t_huge_page_size() - 1) / t_huge_page_size();
	CHECK_EQ(image_int(im->name, "fetches"), fetches);
	CHECK_EQ(image_int(im->name, "fetch_errors"), 0);
	CHECK_EQ(image_int(im->name, "poisoned"), 0);
	if (flags & UFFD_IMAGE_HUGETLB) {
		/* Each client maps the cache's huge pages and has none of its
		 * own (Private_Hugetlb 0); the global pool is shared with
		 * other users of this machine, so it is not counted. */
		for (int i = 0; i < cr.n; i++) {
			long priv = smaps_kb(cr.pid[i], "Private_Hugetlb"),
			     shared = smaps_kb(cr.pid[i], "Shared_Hugetlb");

			CHECK(priv == 0 && shared == (long)(im->size >> 10),
			      "client %d: %ld KiB private, %ld KiB shared "
			      "huge pages",
			      (int)cr.pid[i], priv, shared);
		}
		shmem_kb = status_kb(D.pid, "HugetlbPages");
	} else {
		shmem_kb = status_kb(D.pid, "RssShmem");
	}
	/* The daemon's own view of the cache: the image, once. */
	CHECK(shmem_kb >= (long)(im->size >> 10) &&
		  shmem_kb <= (long)(im->size * 105 / 100 >> 10),
	      "daemon holds %ld KiB of the %" PRIu64 " KiB image", shmem_kb,
	      im->size >> 10);
	for (int i = 0; i < cr.n; i++) {
		long anon = status_kb(cr.pid[i], "RssAnon");

		CHECK(anon >= 0 && anon < 64 * 1024,
		      "client %d holds %ld KiB of its own", (int)cr.pid[i],
		      anon);
	}
	if (osd_reads(&o1, &b1) == 0) {
		/* Each block once, and the header once however many
		 * clients opened it at once: a stat (16 bytes out) and a
		 * read.  (A stat of the absent trace is no read.) */
		hdr = 120 + 4 * ((im->size + 65535) / 65536) + 4;
		CHECK_EQ(b1 - b0, im->size + 16 + hdr);
		CHECK_EQ(o1 - o0, fetches + 2);
	}
	CHECK_EQ(crowd_end(&cr), 0);
	forget(im);
}

/* Under valgrind (make check-valgrind) the daemon runs ~50x slower: the
 * same checks on a smaller crowd. */
static int slow_daemon(void)
{
	const char *w = getenv("UFFDD_TEST_WRAPPER");

	return w && *w;
}

static void t_one_copy_shmem(void)
{
	one_copy(&big, slow_daemon() ? 4 : 32, 0);
}

static void t_one_copy_hugetlb(enum t_kind kind, const void *arg)
{
	(void)kind;
	(void)arg;
	if (t_huge_page_size() != 2 * MiB) {
		t_skip("the test assumes 2 MiB huge pages");
		return;
	}
	one_copy(&huge, slow_daemon() ? 2 : 8, UFFD_IMAGE_HUGETLB);
}

/* In this process: a client of small, for the cases below. */
struct one {
	struct uffd_client *c;
	struct uffd_region *r;
	unsigned char *m;
	size_t psz;
};

static int map_one(struct one *o, const struct img *im, unsigned flags)
{
	char ref[96];

	memset(o, 0, sizeof(*o));
	snprintf(ref, sizeof(ref), "%s@1", im->name);
	if (uffd_connect(D.sock, "e2e-image", 0, &o->c) < 0 ||
	    uffd_image_map(o->c, ref, flags, &o->r) < 0) {
		t_note("map %s: %s", ref, uffd_last_error());
		if (o->c)
			uffd_disconnect(o->c);
		o->c = NULL;
		return -1;
	}
	o->m = uffd_region_addr(o->r);
	o->psz = uffd_region_page_size(o->r);
	return 0;
}

static void unmap_one(struct one *o)
{
	if (!o->c)
		return;
	uffd_region_release(o->r);
	uffd_disconnect(o->c);
	o->c = NULL;
}

static sigjmp_buf bus_jb;
static volatile sig_atomic_t bus_armed;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	if (!bus_armed)
		_exit(99);
	siglongjmp(bus_jb, 1);
}

/* Read the 8 bytes at p: 0, or 1 on SIGBUS. */
static int read_or_bus(const volatile unsigned char *p, uint64_t *v)
{
	struct sigaction sa = { .sa_sigaction = on_bus,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

	sigaction(SIGBUS, &sa, NULL);
	bus_armed = 1;
	if (sigsetjmp(bus_jb, 1)) {
		bus_armed = 0;
		return 1;
	}
	*v = *(const volatile uint64_t *)p;
	bus_armed = 0;
	return 0;
}

static void t_cow(void)
{
	struct one a, b, s;
	const unsigned char *img = small.bytes;
	pid_t p;
	int st;

	if (map_one(&a, &small, 0) || map_one(&b, &small, 0)) {
		t_fail_at(__FILE__, __LINE__, "map");
		unmap_one(&a);
		return;
	}
	/* a writes into pages of three blocks, one of them not yet
	 * fetched by anyone: its first touch is the write. */
	CHECK_EQ(a.m[5 * MiB], img[5 * MiB]);
	a.m[5 * MiB] ^= 0xff;
	memset(a.m + 9 * MiB + 100, 0x5a, 4000);
	a.m[20 * MiB + 7] = (unsigned char)(img[20 * MiB + 7] + 1);
	CHECK_EQ(a.m[5 * MiB], img[5 * MiB] ^ 0xff);
	CHECK_EQ(a.m[9 * MiB + 100], 0x5a);
	CHECK_EQ(a.m[20 * MiB + 7], (unsigned char)(img[20 * MiB + 7] + 1));
	/* b and the cache still have the image's bytes. */
	CHECK(!memcmp(b.m, img, small.size), "b differs from the image");
	CHECK(!memcmp(a.m + 10 * MiB, img + 10 * MiB, 10 * MiB),
	      "a's unwritten pages differ");
	/* A read-only mapping: a write is SIGSEGV. */
	CHECK_EQ(map_one(&s, &small, UFFD_IMAGE_SHARED), 0);
	if (s.c) {
		CHECK(!memcmp(s.m, img, small.size), "shared differs");
		p = fork();
		if (p == 0) {
			/* The kernel's SIGSEGV, not a sanitizer's handler
			 * turning it into an exit status. */
			signal(SIGSEGV, SIG_DFL);
			s.m[0] = 1;
			_exit(0);
		}
		waitpid(p, &st, 0);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
		      "a write to a read-only image mapping: status %#x", st);
		unmap_one(&s);
	}
	unmap_one(&a);
	unmap_one(&b);
}

/* Overwrite a chunk object of im behind the store's back. */
static int poke(const struct img *im, uint64_t idx, const void *buf, size_t len)
{
	char err[512], obj[IMG_OBJ_MAX];
	struct store *st;
	int rc = store_open(url, &st, err, sizeof(err));

	if (rc)
		return rc;
	img_obj_chunk(obj, im->name, 1, idx);
	rc = st->ops->put(st, obj, buf, len);
	store_close(st);
	return rc;
}

static void t_fetch_error(void)
{
	struct img bad = { .tag = "bad", .size = 12 * MiB };
	unsigned char *chunk;
	struct one o;
	uint64_t v;
	int buses = 0, right = 0, wrong = 0, logs;
	pid_t p;
	int st;

	pattern_file(&bad, 77);
	if (put(&bad)) {
		forget(&bad);
		return;
	}
	/* Chunk 1 (4-8 MiB) changed in the store: its checksum fails. */
	chunk = malloc(4 * MiB);
	memcpy(chunk, bad.bytes + 4 * MiB, 4 * MiB);
	chunk[123456] ^= 1;
	CHECK_EQ(poke(&bad, 1, chunk, 4 * MiB), 0);
	logs = td_log_count(&D, "counted, not logged");
	if (map_one(&o, &bad, 0) == 0) {
		for (uint64_t off = 0; off < bad.size; off += 4096) {
			if (read_or_bus(o.m + off, &v))
				buses++;
			else if (v == *(const uint64_t *)(bad.bytes + off))
				right++;
			else
				wrong++;
		}
		/* The two blocks of the chunk that hold the changed byte's
		 * neighbourhood: the block with the bad byte fails; the
		 * other blocks of the chunk verify their own bytes. */
		CHECK_EQ(wrong, 0);
		CHECK_EQ(buses, FETCH / 4096);
		CHECK_EQ(right, bad.size / 4096 - FETCH / 4096);
		CHECK_EQ(image_int(bad.name, "fetch_errors"), 1);
		CHECK_EQ(image_int(bad.name, "poisoned"), FETCH / 4096);
		/* Logged once for the image, not once per page. */
		CHECK_EQ(td_log_count(&D, "counted, not logged") - logs, 1);
		/* Repaired: once the failure is a second old
		 * (IMAGE_RETRY_NS), a new client's fault fetches it. */
		usleep(1100000);
		CHECK_EQ(poke(&bad, 1, bad.bytes + 4 * MiB, 4 * MiB), 0);
		p = fork();
		if (p == 0) {
			struct one q;
			int ok;

			if (map_one(&q, &bad, 0))
				_exit(2);
			ok = !memcmp(q.m + 4 * MiB, bad.bytes + 4 * MiB,
				     4 * MiB);
			unmap_one(&q);
			_exit(ok ? 0 : 1);
		}
		waitpid(p, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "after the repair: status %#x", st);
		CHECK_EQ(image_int(bad.name, "bytes_fetched"), bad.size);
		unmap_one(&o);
	}
	free(chunk);
	forget(&bad);
}

static void osd_signal(const char *what)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "sh tests/ceph/cluster.sh %s %s", what,
		 getenv("UFFD_CEPH_DIR"));
	CHECK_EQ(system(cmd), 0);
}

/* A store that does not answer: the fault waits, then SIGBUS. */
static void t_store_stopped(void)
{
	struct img slow = { .tag = "slow", .size = 8 * MiB };
	struct one o;
	uint64_t v, t0, ms;
	int bus;

	if (!is_rados || !getenv("UFFD_CEPH_DIR")) {
		t_skip("needs the Ceph of make check-ceph (a store to stop)");
		return;
	}
	pattern_file(&slow, 55);
	if (put(&slow) || map_one(&o, &slow, 0)) {
		forget(&slow);
		return;
	}
	CHECK_EQ(read_or_bus(o.m, &v), 0); /* block 0 cached */
	osd_signal("osd-stop");
	t0 = t_now_ns();
	bus = read_or_bus(o.m + 5 * MiB, &v);
	ms = (t_now_ns() - t0) / 1000000;
	osd_signal("osd-cont");
	CHECK(bus, "a page the store never sent was read: %#" PRIx64, v);
	CHECK(ms >= TIMEOUT_MS - 100 && ms < TIMEOUT_MS + 3000,
	      "SIGBUS after %" PRIu64 " ms, the timeout is %d ms", ms,
	      TIMEOUT_MS);
	CHECK_EQ(image_int(slow.name, "poisoned"), 1);
	/* The cached block is still served. */
	CHECK(read_or_bus(o.m + 4096, &v) == 0 &&
		  v == *(const uint64_t *)(slow.bytes + 4096),
	      "cached bytes after the timeout");
	unmap_one(&o);
	forget(&slow);
}

/* The daemon is SIGKILLed with clients mapping an image: every page a
 * client reads afterwards is the image's (cached) or SIGBUS (not). */
static void t_daemon_killed(void)
{
	struct img k = { .tag = "killed", .size = 16 * MiB };
	int ready[2], go[2], st = 0;
	char b;
	pid_t p;

	pattern_file(&k, 66);
	if (put(&k) || pipe(ready) || pipe(go)) {
		forget(&k);
		return;
	}
	p = fork();
	if (p == 0) {
		struct one o;
		uint64_t v, served, poisoned;
		int bus = 0, right = 0, wrong = 0;

		close(ready[0]);
		close(go[1]);
		if (map_one(&o, &k, 0))
			_exit(10);
		/* The first half is fetched while the daemon lives. */
		for (uint64_t off = 0; off < k.size / 2; off += 4096)
			right += !read_or_bus(o.m + off, &v) &&
				 v == *(const uint64_t *)(k.bytes + off);
		if (right != (int)(k.size / 2 / 4096))
			_exit(11);
		right = 0;
		if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(12);
		/* The daemon is gone.  The first half leaves this process's
		 * page tables, so that its pages fault again, now answered
		 * by the library from the bitmap. */
		if (madvise(o.m, k.size / 2, MADV_DONTNEED))
			_exit(13);
		for (uint64_t off = 0; off < k.size; off += 4096) {
			if (read_or_bus(o.m + off, &v))
				bus++;
			else if (v == *(const uint64_t *)(k.bytes + off))
				right++;
			else
				wrong++;
		}
		uffd_client_takeover_stats(o.c, &served, &poisoned);
		printf("#   after the kill: %d right, %d SIGBUS, %d wrong; "
		       "takeover mapped %" PRIu64 ", refused %" PRIu64 "\n",
		       right, bus, wrong, served, poisoned);
		fflush(stdout);
		if (wrong)
			_exit(1);
		if (right != (int)(k.size / 2 / 4096) ||
		    bus != (int)(k.size / 2 / 4096))
			_exit(2);
		if (poisoned != (uint64_t)bus ||
		    served != (uint64_t)(k.size / 2 / 4096))
			_exit(3);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	CHECK(read(ready[0], &b, 1) == 1, "the client did not get ready");
	td_kill(&D);
	CHECK_EQ(write(go[1], "g", 1), 1);
	waitpid(p, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "client after the daemon's death: status %#x (1: a wrong byte, "
	      "2: not right-or-SIGBUS as the page-state file says, 3: takeover "
	      "counts)",
	      st);
	close(ready[0]);
	close(go[1]);
	forget(&k);
}

static char config[8192];

/* One host records its first touches; the next prefetches them. */
static void t_record_prefetch(void)
{
	struct img rec = { .tag = "rec", .size = 64 * MiB };
	enum { PAGES = 16384, TOUCH = PAGES / 10 };
	static uint32_t order[TOUCH];
	static uint8_t block_seen[64], page_seen[PAGES / 8];
	int blocks = 0, distinct = 0, st = 0;
	char obj[IMG_OBJ_MAX];
	void *buf = NULL;
	size_t len = 0;
	struct store *sto;
	char err[512];
	uint64_t x = 12345;
	pid_t p;

	pattern_file(&rec, 44);
	if (put(&rec)) {
		forget(&rec);
		return;
	}
	for (int i = 0; i < TOUCH; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		order[i] = (uint32_t)(x % PAGES);
	}
	memset(block_seen, 0, sizeof(block_seen));
	memset(page_seen, 0, sizeof(page_seen));
	for (int i = 0; i < TOUCH; i++) {
		uint32_t blk = (uint32_t)((uint64_t)order[i] * 4096 / FETCH);

		blocks += !block_seen[blk];
		block_seen[blk] = 1;
		distinct += !(page_seen[order[i] / 8] & (1u << (order[i] % 8)));
		page_seen[order[i] / 8] |= (uint8_t)(1u << (order[i] % 8));
	}
	p = fork();
	if (p == 0) {
		struct one o;
		int bad = 0;

		if (map_one(&o, &rec, UFFD_IMAGE_RECORD))
			_exit(2);
		for (int i = 0; i < TOUCH; i++) {
			uint64_t off = (uint64_t)order[i] * 4096;

			bad += *(volatile uint64_t *)(o.m + off) !=
			       *(const uint64_t *)(rec.bytes + off);
		}
		unmap_one(&o);
		_exit(bad ? 1 : 0);
	}
	waitpid(p, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "recorder: %#x", st);
	/* The trace is in the store, in first-touch order. */
	CHECK_EQ(store_open(url, &sto, err, sizeof(err)), 0);
	for (int i = 0; i < 250 && store_trace_get(sto, rec.name, 1, &buf,
						   &len) == -ENOENT;
	     i++)
		usleep(20000);
	store_close(sto);
	CHECK(buf != NULL, "no trace stored");
	if (buf) {
		const char *q = buf, *end = q + len;
		unsigned long long first = ~0ull;
		int lines = 0;

		for (; q < end; q++)
			lines += *q == '\n';
		sscanf(strstr(buf, "pages ") ? strstr(buf, "pages ") : "",
		       "pages %*u\n%llu", &first);
		CHECK_EQ(first, order[0]);
		/* 3 header lines, then each page once (order has repeats). */
		CHECK(lines > 3 && lines - 3 <= TOUCH, "%d lines", lines);
		free(buf);
	}
	/* Beside it, the packed working set: each touched page once. */
	CHECK_EQ(store_open(url, &sto, err, sizeof(err)), 0);
	img_obj_pack(obj, rec.name, 1, 4096);
	buf = NULL;
	for (int i = 0; i < 250 && store_obj_get(sto, obj, IMG_PACK_MAX, &buf,
						 &len) == -ENOENT;
	     i++)
		usleep(20000);
	store_close(sto);
	CHECK(buf != NULL, "no packed working set stored");
	if (buf) {
		struct pack_header h;

		CHECK_EQ(pack_header_decode(buf, len, rec.name, 1, rec.size,
					    4096, &h, err, sizeof(err)),
			 0);
		CHECK_EQ(h.count, distinct);
		CHECK_EQ(len, pack_length(4096, distinct));
		free(buf);
	}
	/* Another host: a fresh daemon, an empty cache. */
	CHECK_EQ(td_stop(&D), 0);
	CHECK_EQ(td_start(&D, config, NULL), 0);
	p = fork();
	if (p == 0) {
		struct one o;
		int bad = 0;

		if (map_one(&o, &rec, 0))
			_exit(2);
		/* Prefetch has started at the open: let it finish. */
		for (int i = 0; i < 500 && image_int(rec.name, "packed_pages") <
					       (int64_t)distinct;
		     i++)
			usleep(20000);
		for (int i = 0; i < TOUCH; i++) {
			uint64_t off = (uint64_t)order[i] * 4096;

			bad += memcmp(o.m + off, rec.bytes + off, 4096) != 0;
		}
		unmap_one(&o);
		_exit(bad ? 1 : 0);
	}
	waitpid(p, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "replayer: %#x", st);
	/* Every touched page came from the packed object: no block read. */
	CHECK_EQ(image_int(rec.name, "packed_pages"), distinct);
	CHECK_EQ(image_int(rec.name, "packed_bytes"),
		 (int64_t)pack_length(4096, distinct));
	CHECK_EQ(image_int(rec.name, "packed_blocks"), blocks);
	CHECK_EQ(image_int(rec.name, "packed_errors"), 0);
	CHECK_EQ(image_int(rec.name, "prefetched"), 0);
	CHECK_EQ(image_int(rec.name, "fetches"), 0);
	CHECK_EQ(image_int(rec.name, "bytes_fetched"), 0);
	CHECK_EQ(image_int(rec.name, "pages_cached"), distinct);
	CHECK_EQ(image_int(rec.name, "faults_waited"), 0);
	/* A cached fault maps the filled pages around it too: fewer faults
	 * than pages, every one of them served from the cache. */
	CHECK(image_int(rec.name, "faults_cached") > 0,
	      "faults_cached %" PRId64, image_int(rec.name, "faults_cached"));
	forget(&rec);
}

static int setup(void)
{
	const char *u = getenv("UFFD_TEST_STORE");

	alarm(900);
	if (u && *u) {
		snprintf(url, sizeof(url), "%s", u);
	} else {
		snprintf(file_dir, sizeof(file_dir),
			 "/tmp/uffdd-e2e-images.XXXXXX");
		if (!mkdtemp(file_dir))
			return -1;
		snprintf(url, sizeof(url), "file:%s", file_dir);
	}
	is_rados = !strncmp(url, "rados:", 6);
	t_note("store %s", url);
	snprintf(config, sizeof(config),
		 "{\"images\":{\"store\":\"%s\",\"fetch_size\":%llu,"
		 "\"fault_timeout_ms\":%d}}",
		 url, FETCH, TIMEOUT_MS);
	if (slow_daemon()) {
		big.size = 64 * MiB;
		huge.size = 32 * MiB;
	}
	pattern_file(&small, 3);
	pattern_file(&big, 1);
	pattern_file(&huge, 2);
	if (put(&small))
		return -1;
	return td_setup(&D, config);
}

static void teardown(void)
{
	forget(&small);
	forget(&big);
	forget(&huge);
	/* t_daemon_killed ends the daemon: start one to stop cleanly. */
	if (D.pid <= 0 || kill(D.pid, 0) < 0)
		CHECK_EQ(td_start(&D, config, NULL), 0);
	td_teardown(&D);
	if (file_dir[0]) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", file_dir);
		CHECK_EQ(system(cmd), 0);
	}
}

static const struct t_case cases[] = {
	{ .name = "one-copy-shmem",
	  .title = "32 processes map a 1 GiB image: one copy, each block "
		   "fetched once, every byte right",
	  .run = t_one_copy_shmem },
	{ .name = "one-copy-hugetlb",
	  .title = "8 processes map a 512 MiB hugetlb image: one copy",
	  .fn = t_one_copy_hugetlb,
	  .kinds = T_HUGETLB,
	  .hugepages = 300 },
	{ .name = "cow",
	  .title = "private mappings: writes are the writer's, others and "
		   "the cache keep the image; shared ones are read-only",
	  .run = t_cow },
	{ .name = "fetch-error",
	  .title = "a chunk the store changed: SIGBUS for its block, counted "
		   "and logged once, the rest right; repaired, it is fetched",
	  .run = t_fetch_error },
	{ .name = "store-stopped",
	  .title = "a stopped OSD: the fault waits, then SIGBUS at the "
		   "timeout",
	  .run = t_store_stopped },
	{ .name = "record-prefetch",
	  .title = "a recording stores its trace and packed working set; the "
		   "next host fills from it: no block read, no fault waits",
	  .run = t_record_prefetch },
	{ .name = "daemon-killed",
	  .title = "uffdd SIGKILLed: every byte read after is the image's or "
		   "SIGBUS, as the bitmap says",
	  .run = t_daemon_killed },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "images", T_CASES(cases), setup,
				   "uffdd stops cleanly", teardown };

	return t_main(argc, argv, &s);
}
