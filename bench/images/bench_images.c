/* SPDX-License-Identifier: MIT */
/*
 * make bench-images: images from a real store (the Ceph of
 * tests/ceph/cluster.sh by default), through a real uffdd, to real client
 * processes.  Four comparisons, each measured in one run (ratios: the
 * machine is shared):
 *
 *   first touch   a cold client's first byte, lazily, against downloading
 *                 the whole image (many reads in flight) and then touching
 *   10% random    a workload touching 10% of the pages at random: cold
 *                 without a trace, cold with the recorded working set (its
 *                 packed object read as the program runs, and read before
 *                 the program touches a page, REAP's way), and warm (image
 *                 cached); faults that found their page cached, in percent
 *   32 vs 1       32 clients running that workload together, cold, against
 *                 one client alone
 *   fault cost    a cached image page's fault against a plain region's
 *                 continue fault, one page per fault, same daemon
 *
 * Writes OUT/images.json, OUT/images.txt and OUT/images.dat (the chart's).
 */
#include "store/pack.h"
#include "store/store.h"
#include "uffd/client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (1ull << 20)

static struct {
	const char *store, *uffdd, *out;
	uint64_t size;
	int clients;
	char image[80], file[256], dir[64];
} o = { .uffdd = "build/uffdd",
	.out = "bench/results",
	.size = 1ull << 30,
	.clients = 32 };

static pid_t daemon_pid = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-images: %s\n", what);
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	exit(1);
}

/* The daemon -------------------------------------------------------------- */

static void stop_daemon(void)
{
	int st;

	if (daemon_pid <= 0)
		return;
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, &st, 0);
	daemon_pid = -1;
}

/* A fresh uffdd (an empty cache) fetching fetch bytes at a time, mapping
 * window bytes per cached fault (0: a block). */
static void start_daemon(uint32_t fetch, uint32_t window)
{
	char conf[512], sock[160], ctl[160], log[160]; /* dir is 64 */
	FILE *f;

	stop_daemon();
	snprintf(conf, sizeof(conf), "%s/uffdd.json", o.dir);
	snprintf(sock, sizeof(sock), "%s/uffdd.sock", o.dir);
	snprintf(ctl, sizeof(ctl), "%s/control.sock", o.dir);
	snprintf(log, sizeof(log), "%s/uffdd.log", o.dir);
	unlink(sock);
	unlink(ctl);
	f = fopen(conf, "w");
	if (!f)
		die("cannot write the daemon's configuration");
	fprintf(f,
		"{\"socket\":\"%s\",\"control_socket\":\"%s\","
		"\"limits\":{\"regions\":100000,\"clients_per_uid\":1024},"
		"\"images\":{\"store\":\"%s\",\"fetch_size\":%u,"
		"\"map_window\":%u,\"fault_timeout_ms\":60000}}\n",
		sock, ctl, o.store, fetch, window);
	fclose(f);
	daemon_pid = fork();
	if (daemon_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		execl(o.uffdd, "uffdd", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (access(ctl, F_OK) == 0)
			return;
		usleep(10000);
	}
	die("uffdd did not start (see its log)");
}

static const char *sock_path(void)
{
	static char p[160];

	snprintf(p, sizeof(p), "%s/uffdd.sock", o.dir);
	return p;
}

/* `uffdctl images`, our image's object. */
static json_object *image_status(json_object **all)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[1 << 16];
	size_t n = 0;
	ssize_t k;
	json_object *a;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*all = NULL;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", o.dir);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(s, "{\"command\":\"images\"}\n", 21) != 21) {
		if (s >= 0)
			close(s);
		return NULL;
	}
	while (n < sizeof(buf) - 1 &&
	       (k = read(s, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	close(s);
	buf[n] = 0;
	*all = json_tokener_parse(buf);
	if (!*all || !json_object_object_get_ex(*all, "images", &a))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (!strcmp(json_object_get_string(
				json_object_object_get(e, "name")),
			    o.image))
			return e;
	}
	return NULL;
}

static int64_t image_int(const char *key)
{
	json_object *all, *e = image_status(&all), *v;
	int64_t r = -1;

	if (e && json_object_object_get_ex(e, key, &v))
		r = json_object_get_int64(v);
	json_object_put(all);
	return r;
}

/* The image ---------------------------------------------------------------- */

static struct store *open_store(void)
{
	char err[512];
	struct store *st;

	if (store_open(o.store, &st, err, sizeof(err)))
		die(err);
	return st;
}

static void make_image(void)
{
	uint64_t x = 88172645463325252ull, *buf = malloc(MiB), v;
	char err[512];
	struct store *st = open_store();
	int fd;

	snprintf(o.image, sizeof(o.image), "bench-%d", (int)getpid());
	snprintf(o.file, sizeof(o.file), "%s/image", o.dir);
	fd = open(o.file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	for (uint64_t off = 0; fd >= 0 && off < o.size; off += MiB) {
		for (size_t i = 0; i < MiB / 8; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = x;
		}
		if (write(fd, buf, MiB) != (ssize_t)MiB)
			die("cannot write the image file");
	}
	free(buf);
	lseek(fd, 0, SEEK_SET);
	if (store_put(st, o.image, 1, 0, fd, &v, err, sizeof(err)))
		die(err);
	close(fd);
	store_close(st);
}

static void drop_image(void)
{
	char err[512];
	struct store *st = open_store();

	store_remove(st, o.image, 1, err, sizeof(err));
	store_close(st);
	unlink(o.file);
}

/* Clients ------------------------------------------------------------------ */

static uint32_t *work; /* the 10% workload: page indexes, random order */
static size_t nwork;

static void make_work(void)
{
	uint64_t pages = o.size / 4096, x = 0x2545f4914f6cdd1dull;

	nwork = pages / 10;
	work = malloc(nwork * sizeof(*work));
	for (size_t i = 0; i < nwork; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		work[i] = (uint32_t)(x % pages);
	}
}

/* In a child: connect, map, run the workload; ns from start to the end
 * through the pipe.  first: only the first byte. */
static int64_t image_int(const char *key);
static int64_t wait_packed; /* > 0: touch once this many pages are in */

static void client_run(int out, int go, unsigned flags, int first)
{
	struct uffd_client *c;
	struct uffd_region *r;
	volatile unsigned char *m;
	uint64_t t0, t, sum = 0;
	char b;
	char ref[96];

	if (go >= 0 && read(go, &b, 1) != 1)
		_exit(2);
	t0 = now_ns();
	snprintf(ref, sizeof(ref), "%s@1", o.image);
	if (uffd_connect(sock_path(), "bench", 0, &c) < 0 ||
	    uffd_image_map(c, ref, flags, &r) < 0) {
		fprintf(stderr, "bench-images: client: %s\n",
			uffd_last_error());
		_exit(1);
	}
	m = uffd_region_addr(r);
	for (int i = 0; wait_packed > 0 && i < 60000 &&
			image_int("packed_pages") < wait_packed;
	     i++)
		usleep(1000);
	if (first)
		sum += m[0];
	else
		for (size_t i = 0; i < nwork; i++)
			sum += m[(uint64_t)work[i] * 4096];
	t = now_ns() - t0;
	if (write(out, &t, sizeof(t)) != sizeof(t))
		_exit(3);
	uffd_region_release(r);
	uffd_disconnect(c);
	_exit(sum == 12345 ? 4 : 0);
}

/* n clients started together; the time until the last one finished. */
static double run_clients(int n, unsigned flags, int first, double *each)
{
	int res[2], go[2];
	uint64_t t, worst = 0, total = 0;
	pid_t *p = calloc((size_t)n, sizeof(*p));

	if (pipe(res) || pipe(go))
		die("pipe");
	for (int i = 0; i < n; i++) {
		p[i] = fork();
		if (p[i] == 0) {
			close(res[0]);
			close(go[1]);
			client_run(res[1], go[0], flags, first);
		}
	}
	close(res[1]);
	close(go[0]);
	for (int i = 0; i < n; i++)
		if (write(go[1], "g", 1) != 1)
			die("go");
	for (int i = 0; i < n; i++) {
		if (read(res[0], &t, sizeof(t)) != sizeof(t))
			die("a client failed (see above)");
		worst = t > worst ? t : worst;
		total += t;
	}
	for (int i = 0; i < n; i++)
		waitpid(p[i], NULL, 0);
	close(res[0]);
	close(go[1]);
	free(p);
	if (each)
		*each = (double)total / n / 1e6;
	return (double)worst / 1e6;
}

/* Download then run: every byte into memory, many reads in flight. */
static double download_then_touch(void)
{
	struct store *st = open_store();
	struct store_image *img;
	char err[512];
	unsigned char *dst;
	uint64_t t0 = now_ns(), t;
	volatile unsigned char c;

	if (store_image_open(st, o.image, 1, &img, err, sizeof(err)))
		die(err);
	dst = mmap(NULL, o.size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED || store_read_all(img, dst, 64))
		die("download failed");
	c = dst[0];
	(void)c;
	t = now_ns() - t0;
	munmap(dst, o.size);
	store_image_close(img);
	store_close(st);
	return (double)t / 1e6;
}

/* The workload's pages, each once: the packed working set's count. */
static int64_t distinct_pages(void)
{
	uint8_t *seen = calloc(o.size / 4096 / 8 + 1, 1);
	int64_t n = 0;

	for (size_t i = 0; i < nwork; i++) {
		n += !(seen[work[i] / 8] & (1u << (work[i] % 8)));
		seen[work[i] / 8] |= (uint8_t)(1u << (work[i] % 8));
	}
	free(seen);
	return n;
}

/* The recording daemon stores the packed working set when the recording
 * ends: wait until the object is there (a daemon stopped then finishes
 * its put first). */
static void wait_pack_stored(void)
{
	struct store *st = open_store();
	char obj[IMG_OBJ_MAX];
	void *buf = NULL;
	size_t len;
	int rc = -ENOENT;

	img_obj_pack(obj, o.image, 1, 4096);
	for (int i = 0; i < 600 && rc == -ENOENT; i++) {
		rc = store_obj_get(st, obj, PACK_HDR_LEN, &buf, &len);
		if (rc == -ENOENT)
			usleep(100000);
	}
	if (!rc)
		free(buf);
	store_close(st);
	if (rc == -ENOENT)
		die("no packed working set was stored");
}

static double pct_cached(void)
{
	int64_t hit = image_int("faults_cached"),
		wait = image_int("faults_waited");

	return hit + wait > 0 ? 100.0 * (double)hit / (double)(hit + wait) : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median ns of one fault per page over n pages of m (each touch times
 * one fault: one page per fault). */
static uint64_t fault_p50(volatile unsigned char *m, size_t n, uint64_t *lat)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		(void)m[i * 4096];
		lat[i] = now_ns() - t0;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	return lat[n / 2];
}

/* Cached image faults and plain continue faults, interleaved in rounds
 * in one client of one daemon (started with a one-page window). */
static void fault_costs(double *img_ns, double *plain_ns)
{
	enum { ROUNDS = 8, PAGES = 4096 };
	struct uffd_client *c;
	struct uffd_region *ri, *rp;
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = (size_t)ROUNDS * PAGES * 4096,
				       .name = "plain",
				       .policy = "continue" };
	uint64_t *lat = malloc(PAGES * sizeof(*lat)), si = 0, sp_ = 0;
	unsigned char *mi, *mp;
	char ref[96];

	snprintf(ref, sizeof(ref), "%s@1", o.image);
	if (uffd_connect(sock_path(), "bench", 0, &c) < 0 ||
	    uffd_image_map(c, ref, 0, &ri) < 0 ||
	    uffd_region_alloc(c, &sp, &rp) < 0)
		die(uffd_last_error());
	mi = uffd_region_addr(ri);
	mp = uffd_region_addr(rp);
	/* Warm: every page of the image cached (not mapped here). */
	for (int r = 0; r < ROUNDS; r++) {
		si += fault_p50(mi + (size_t)r * PAGES * 4096, PAGES, lat);
		sp_ += fault_p50(mp + (size_t)r * PAGES * 4096, PAGES, lat);
	}
	*img_ns = (double)si / ROUNDS;
	*plain_ns = (double)sp_ / ROUNDS;
	uffd_region_release(ri);
	uffd_region_release(rp);
	uffd_disconnect(c);
	free(lat);
}

/* One client touching every page: afterwards all are cached. */
static void warm_all(void)
{
	uint32_t *keep = work;
	size_t n = nwork;

	nwork = o.size / 4096;
	work = malloc(nwork * sizeof(*work));
	for (size_t i = 0; i < nwork; i++)
		work[i] = (uint32_t)i;
	run_clients(1, 0, 0, NULL);
	free(work);
	work = keep;
	nwork = n;
}

struct results {
	double lazy, download;
	double cold_nt, cold_t, warm, pct_nt, pct_t;
	double cold_tw, pct_tw; /* the program starts once the set is in */
	int64_t packed_pages, packed_bytes, packed_fetches;
	double one, many, many_each;
	double f_img, f_plain;
	uint32_t fetch_small;
};

static void run_all(struct results *r)
{
	double each;

	/* 1. First touch: lazy (cold daemon) against download-then-run. */
	start_daemon(1u << 20, 0);
	r->lazy = run_clients(1, 0, 1, NULL);
	r->download = download_then_touch();
	printf("first touch: lazy %.1f ms, download then touch %.1f ms\n",
	       r->lazy, r->download);

	/* 2. 10% random pages, 64 KiB fetches, cold, no trace yet. */
	r->fetch_small = 65536;
	start_daemon(r->fetch_small, 0);
	r->cold_nt = run_clients(1, 0, 0, NULL);
	r->pct_nt = pct_cached();

	/* 3. The same, cold, 1 MiB fetches: one client, then N together. */
	start_daemon(1u << 20, 0);
	r->one = run_clients(1, 0, 0, NULL);
	start_daemon(1u << 20, 0);
	r->many = run_clients(o.clients, 0, 0, &each);
	r->many_each = each;
	printf("%d clients together %.1f ms (each %.1f ms on average), one "
	       "alone %.1f ms\n",
	       o.clients, r->many, r->many_each, r->one);

	/* 4. Record on a cold host, replay on another cold host, warm. */
	start_daemon(r->fetch_small, 0);
	run_clients(1, UFFD_IMAGE_RECORD, 0, NULL);
	usleep(500000); /* the trace reaches the store */
	wait_pack_stored();
	start_daemon(r->fetch_small, 0); /* the stop waits for the put */
	r->cold_t = run_clients(1, 0, 0, NULL);
	r->pct_t = pct_cached();
	r->packed_pages = image_int("packed_pages");
	r->packed_bytes = image_int("packed_bytes");
	r->packed_fetches = image_int("fetches");
	r->warm = run_clients(1, 0, 0, NULL);
	printf("packed working set: %" PRId64 " pages, %" PRId64
	       " bytes read from it, %" PRId64 " block fetches\n",
	       r->packed_pages, r->packed_bytes, r->packed_fetches);
	start_daemon(r->fetch_small, 0);
	wait_packed = distinct_pages();
	r->cold_tw = run_clients(1, 0, 0, NULL);
	wait_packed = 0;
	r->pct_tw = pct_cached();
	printf("10%% random, the set read first: %.1f ms (%.1f%% cached)\n",
	       r->cold_tw, r->pct_tw);
	printf("10%% random: cold %.1f ms (%.1f%% cached), with the trace "
	       "%.1f ms (%.1f%% cached), warm %.1f ms\n",
	       r->cold_nt, r->pct_nt, r->cold_t, r->pct_t, r->warm);

	/* 5. Fault cost, one page per fault, warm. */
	start_daemon(1u << 20, 4096);
	warm_all();
	fault_costs(&r->f_img, &r->f_plain);
	printf("fault: cached image page %.0f ns, plain continue %.0f ns\n",
	       r->f_img, r->f_plain);
	stop_daemon();
}

static void write_results(const struct results *r)
{
	char path[256];
	double load[3] = { 0 };
	FILE *f;
	json_object *j = json_object_new_object(), *g;

	char store_name[64];

	/* The kind and pool or directory, not the host's conf paths. */
	snprintf(store_name, sizeof(store_name), "%.*s",
		 (int)strcspn(o.store, ","), o.store);
	getloadavg(load, 3);
#define D(o_, k, v) json_object_object_add(o_, k, json_object_new_double(v))
	json_object_object_add(j, "store", json_object_new_string(store_name));
	json_object_object_add(j, "size",
			       json_object_new_int64((int64_t)o.size));
	D(j, "loadavg", load[0]);
	D(j, "first_touch_lazy_ms", r->lazy);
	D(j, "first_touch_download_ms", r->download);
	D(j, "first_touch_ratio", r->download / r->lazy);
	json_object_object_add(j, "random10_fetch_size",
			       json_object_new_int(r->fetch_small));
	D(j, "random10_cold_ms", r->cold_nt);
	D(j, "random10_cold_cached_pct", r->pct_nt);
	D(j, "random10_trace_ms", r->cold_t);
	D(j, "random10_trace_cached_pct", r->pct_t);
	D(j, "random10_warm_ms", r->warm);
	D(j, "random10_trace_over_warm", r->cold_t / r->warm);
	D(j, "random10_packed_first_ms", r->cold_tw);
	D(j, "random10_packed_first_cached_pct", r->pct_tw);
	D(j, "random10_packed_first_over_warm", r->cold_tw / r->warm);
	json_object_object_add(j, "random10_packed_pages",
			       json_object_new_int64(r->packed_pages));
	json_object_object_add(j, "random10_packed_bytes",
			       json_object_new_int64(r->packed_bytes));
	json_object_object_add(j, "random10_packed_block_fetches",
			       json_object_new_int64(r->packed_fetches));
	D(j, "random10_cold_over_warm", r->cold_nt / r->warm);
	json_object_object_add(j, "clients", json_object_new_int(o.clients));
	D(j, "clients_one_ms", r->one);
	D(j, "clients_together_ms", r->many);
	D(j, "clients_ratio", r->many / r->one);
	D(j, "fault_image_p50_ns", r->f_img);
	D(j, "fault_plain_p50_ns", r->f_plain);
	D(j, "fault_ratio", r->f_img / r->f_plain);
	g = json_object_new_object();
	json_object_object_add(
	    g, "first_touch_10x",
	    json_object_new_boolean(r->download / r->lazy >= 10));
	json_object_object_add(g, "trace_97pct_cached",
			       json_object_new_boolean(r->pct_t >= 97));
	json_object_object_add(
	    g, "trace_within_1.5x_warm",
	    json_object_new_boolean(r->cold_t <= 1.5 * r->warm));
	json_object_object_add(
	    g, "clients_within_1.3x",
	    json_object_new_boolean(r->many <= 1.3 * r->one));
	json_object_object_add(
	    g, "fault_within_1.15x",
	    json_object_new_boolean(r->f_img <= 1.15 * r->f_plain));
	json_object_object_add(j, "goals_met", g);
#undef D
	mkdir(o.out, 0755);
	snprintf(path, sizeof(path), "%s/images.json", o.out);
	f = fopen(path, "w");
	if (f) {
		fprintf(
		    f, "%s\n",
		    json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/images.txt", o.out);
	f = fopen(path, "w");
	if (f) {
		fprintf(
		    f,
		    "images benchmark: %" PRIu64 " MiB image from %s, "
		    "load %.1f (shared machine: compare ratios)\n"
		    "%-44s %12s %12s %8s  goal\n"
		    "%-44s %12.1f %12.1f %8.1f  >= 10 (download/lazy)\n"
		    "%-44s %12.1f %12.1f %8.2f  <= 1.5\n"
		    "%-44s %12.1f %12.1f %8.2f  <= 1.5\n"
		    "%-44s %12.1f %12.1f %8.2f  (no goal)\n"
		    "%-44s %12.1f %12s %8s  >= 97\n"
		    "%-44s %12.1f %12s %8s  >= 97\n"
		    "%-44s %12.1f %12.1f %8.2f  <= 1.3\n"
		    "%-44s %12.0f %12.0f %8.2f  <= 1.15\n",
		    o.size >> 20, store_name, load[0], "measure", "a", "b",
		    "a/b or b/a", "first touch ms: download | lazy",
		    r->download, r->lazy, r->download / r->lazy,
		    "10% random ms: cold+trace | warm", r->cold_t, r->warm,
		    r->cold_t / r->warm, "10% random ms: set read first | warm",
		    r->cold_tw, r->warm, r->cold_tw / r->warm,
		    "10% random ms: cold | warm", r->cold_nt, r->warm,
		    r->cold_nt / r->warm,
		    "10% random: faults cached with trace %", r->pct_t, "", "",
		    "10% random: faults cached, set read first %", r->pct_tw,
		    "", "", "clients ms: 32 together | 1", r->many, r->one,
		    r->many / r->one, "fault p50 ns: image | continue",
		    r->f_img, r->f_plain, r->f_img / r->f_plain);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/images.dat", o.out);
	f = fopen(path, "w");
	if (f) {
		fprintf(f,
			"# case a b\n"
			"\"first touch (ms)\" %.1f %.1f\n"
			"\"10%% cold+trace vs warm (ms)\" %.1f %.1f\n"
			"\"10%% cold vs warm (ms)\" %.1f %.1f\n"
			"\"32 clients vs 1 (ms)\" %.1f %.1f\n"
			"\"fault image vs continue (us)\" %.2f %.2f\n",
			r->download, r->lazy, r->cold_t, r->warm, r->cold_nt,
			r->warm, r->many, r->one, r->f_img / 1000,
			r->f_plain / 1000);
		fclose(f);
	}
	json_object_put(j);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, 0, 's' },
		{ "uffdd", required_argument, 0, 'u' },
		{ "out", required_argument, 0, 'o' },
		{ "size-mib", required_argument, 0, 'm' },
		{ "clients", required_argument, 0, 'c' },
		{ 0, 0, 0, 0 },
	};
	struct results r = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "s:u:o:m:c:", opts, NULL)) != -1) {
		if (c == 's')
			o.store = optarg;
		else if (c == 'u')
			o.uffdd = optarg;
		else if (c == 'o')
			o.out = optarg;
		else if (c == 'm')
			o.size = strtoull(optarg, NULL, 10) * MiB;
		else if (c == 'c')
			o.clients = atoi(optarg);
		else
			return 2;
	}
	if (!o.store || !o.size || o.clients < 1 || o.clients > 256) {
		fprintf(stderr, "usage: uffdd-bench-images --store URL "
				"[--size-mib N] [--clients N] [--out DIR]\n");
		return 2;
	}
	snprintf(o.dir, sizeof(o.dir), "/tmp/uffdd-bench-images.XXXXXX");
	if (!mkdtemp(o.dir))
		die("mkdtemp");
	signal(SIGPIPE, SIG_IGN);
	make_image();
	make_work();
	run_all(&r);
	write_results(&r);
	drop_image();
	printf("results in %s/images.{json,txt,dat}\n", o.out);
	return 0;
}
