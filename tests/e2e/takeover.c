/* SPDX-License-Identifier: MIT */
/*
 * A client library taking over from a daemon that has gone (PROTOCOL.md,
 * "Taking over"): what it does in each case, and what it costs.
 *
 *   rule-image   populate from the configuration's image (not the client's):
 *                filled pages right, the others SIGBUS, never zeros
 *   ctl-drop     the daemon drops the session (uffdctl disconnect) while it
 *                lives on: the library serves the rest right
 *   app-drop     the application disconnects with a populate region alive:
 *                the library goes on serving it right until it is released
 *   adopt        an adopted mapping (no fill mapping of the library's)
 *   gate-timeout gate:timeout=200,action=deny / action=map after the loss
 *   deny         deny+populate: every access SIGBUS after the loss
 *   cost         registration and fault times with and without takeover
 */
#include "policy_common.h"
#include "sec_common.h"

#include <setjmp.h>
#include <sys/mman.h>

#define SIZE (4u << 20) /* 1024 pages of 4 KiB */
#define BYTE 0xab

static struct tdaemon D;
static char dir[64], img[96], rule_img[128];

static sigjmp_buf jump;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jump, 1);
}

struct tally {
	long right, zeros, other, sigbus;
};

static void read_pages(const volatile unsigned char *a, size_t from, size_t to,
		       unsigned char want, struct tally *t)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	volatile size_t p;

	sigaction(SIGBUS, &sa, NULL);
	for (p = from; p < to; p++) {
		unsigned char b;

		if (sigsetjmp(jump, 1)) {
			t->sigbus++;
			continue;
		}
		b = a[p * 4096 + 77];
		t->right += b == want;
		t->zeros += b == 0 && want != 0;
		t->other += b != want && b != 0;
	}
}

static int make_image(const char *path, unsigned char v, mode_t mode)
{
	unsigned char *b = malloc(SIZE);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode);
	int ok;

	if (!b || fd < 0) {
		free(b);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	memset(b, v, SIZE);
	ok = write(fd, b, SIZE) == SIZE;
	close(fd);
	free(b);
	return ok ? 0 : -1;
}

/* A daemon of this test's own, to lose. */
static int lose_start(struct tdaemon *d)
{
	char cfg[300];

	snprintf(cfg, sizeof(cfg),
		 "{\"policy_dir\":\"%s\",\"policy_rules\":[{\"match\":"
		 "{\"region\":\"ruled\"},\"policy\":\"populate:%s\"}]}",
		 dir, rule_img);
	return td_start(d, cfg, NULL);
}

/* Kill d (from a child of the test: not ours to reap) and wait until
 * the connection says it has gone: only then is the region ours. */
static int lose(struct tdaemon *d, struct uffd_client *c)
{
	struct pollfd p = { .fd = uffd_client_fd(c), .events = 0 };

	kill(d->pid, SIGKILL);
	return poll(&p, 1, 5000) == 1 ? 0 : -1;
}

/* Half the region touched, the daemon killed, the other half. */
static void half_and_half(struct uffd_region *r, struct uffd_client *c,
			  struct tdaemon *d, struct tally *before,
			  struct tally *after, unsigned char want)
{
	size_t n = uffd_region_size(r) / 4096;

	read_pages(uffd_region_addr(r), 0, n / 2, want, before);
	if (lose(d, c) < 0)
		after->other = -1;
	read_pages(uffd_region_addr(r), n / 2, n, want, after);
}

static int rule_image_child(void *arg)
{
	struct tdaemon *d = arg;
	struct tally a = { 0 }, b = { 0 };
	struct uffd_client *c = pc_connect(d, "rule");
	struct uffd_region *r =
	    c ? pc_alloc(c, UFFD_KIND_SHMEM, SIZE, "ruled", NULL) : NULL;

	if (!r)
		return 2;
	half_and_half(r, c, d, &a, &b, BYTE);
	fprintf(stderr,
		"#   before: %ld right; after the loss: %ld right, %ld zeros, "
		"%ld other, %ld SIGBUS\n",
		a.right, b.right, b.zeros, b.other, b.sigbus);
	/* The image is the configuration's: this process cannot fill. */
	return a.right == 512 && b.sigbus == 512 && !b.zeros && !b.other ? 0
									 : 1;
}

static void rule_image_case(void)
{
	struct tdaemon d;

	CHECK(lose_start(&d) == 0, "daemon");
	CHECK_EQ(pc_in_child(rule_image_child, &d), 0);
	td_stop(&d);
}

/* ------------------------------------------------------------------------ */

static int ctl_drop_child(void *arg)
{
	struct tally a = { 0 }, b = { 0 };
	struct uffd_client *c = pc_connect(&D, "dropped");
	char pol[200], pid[16];
	struct uffd_region *r;
	const char *argv[] = { t_bin("uffdctl"),
			       "--control-socket",
			       D.ctl,
			       "disconnect",
			       pid,
			       NULL };
	struct pollfd p;

	(void)arg;
	snprintf(pol, sizeof(pol), "populate:%s", img);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, SIZE, "dropped", pol) : NULL;
	if (!r)
		return 2;
	read_pages(uffd_region_addr(r), 0, 512, BYTE, &a);
	if (t_run(NULL, argv) != 0)
		return 3;
	p = (struct pollfd){ .fd = uffd_client_fd(c), .events = 0 };
	if (poll(&p, 1, 5000) != 1)
		return 4;
	read_pages(uffd_region_addr(r), 512, 1024, BYTE, &b);
	fprintf(stderr,
		"#   dropped by uffdctl: %ld right before, %ld right after, "
		"%ld zeros, %ld SIGBUS\n",
		a.right, b.right, b.zeros, b.sigbus);
	uffd_region_release(r);
	uffd_disconnect(c);
	return a.right == 512 && b.right == 512 ? 0 : 1;
}

static void ctl_drop_case(void)
{
	CHECK_EQ(pc_in_child(ctl_drop_child, NULL), 0);
}

static int app_drop_child(void *arg)
{
	struct tally a = { 0 }, b = { 0 };
	struct uffd_client *c = pc_connect(&D, "app-drop");
	struct uffd_region *r;
	char pol[200];

	(void)arg;
	snprintf(pol, sizeof(pol), "populate:%s", img);
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, SIZE, "app-drop", pol) : NULL;
	if (!r)
		return 2;
	read_pages(uffd_region_addr(r), 0, 512, BYTE, &a);
	/* The connection goes; the region is still the application's. */
	uffd_disconnect(c);
	usleep(200000); /* the daemon has dropped the session */
	read_pages(uffd_region_addr(r), 512, 1024, BYTE, &b);
	fprintf(stderr,
		"#   after uffd_disconnect: %ld right, %ld zeros, %ld SIGBUS\n",
		b.right, b.zeros, b.sigbus);
	uffd_region_release(r); /* after the client: still fine */
	return a.right == 512 && b.right == 512 ? 0 : 1;
}

static void app_drop_case(void)
{
	CHECK_EQ(pc_in_child(app_drop_child, NULL), 0);
	CHECK(sc_wait_idle(&D, 3000) == 0, "the session ended");
}

/* An adopted mapping of a sealed memfd: no fill mapping of the library's. */
static int adopt_child(void *arg)
{
	struct tdaemon *d = arg;
	struct tally a = { 0 }, b = { 0 };
	struct uffd_client *c = pc_connect(d, "adopt");
	int fd = sc_memfd(UFFD_KIND_SHMEM, SIZE, 1);
	void *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct uffd_region *r;
	char pol[200];

	snprintf(pol, sizeof(pol), "populate:%s", img);
	if (!c || m == MAP_FAILED ||
	    uffd_region_adopt(c, m, SIZE, fd, 0, "adopted", pol, &r) < 0) {
		fprintf(stderr, "#   adopt: %s\n", uffd_last_error());
		return 2;
	}
	half_and_half(r, c, d, &a, &b, BYTE);
	fprintf(stderr, "#   adopted: %ld right, then %ld right, %ld zeros\n",
		a.right, b.right, b.zeros);
	uffd_region_release(r);
	uffd_disconnect(c);
	return a.right == 512 && b.right == 512 ? 0 : 1;
}

static void adopt_case(void)
{
	struct tdaemon d;

	CHECK(lose_start(&d) == 0, "daemon");
	CHECK_EQ(pc_in_child(adopt_child, &d), 0);
	td_stop(&d);
}

/* gate with a timeout, then the loss: the timeout's action, done here. */
static int gate_timeout_child(void *arg)
{
	const char *action = ((void **)arg)[1];
	struct tdaemon *d = ((void **)arg)[0];
	struct uffd_client *c = pc_connect(d, "gate-tmo");
	struct tally t = { 0 };
	struct uffd_region *r;
	char pol[64];
	uint64_t t0;

	snprintf(pol, sizeof(pol), "gate:timeout=200,action=%s", action);
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, SIZE, "gate-tmo", pol) : NULL;
	if (!r || lose(d, c) < 0)
		return 2;
	memset(uffd_region_fill_addr(r), 0x42, SIZE);
	t0 = t_now_ns();
	read_pages(uffd_region_addr(r), 7, 8, 0x42, &t);
	fprintf(stderr, "#   action=%s: %ld right, %ld SIGBUS after %.0f ms\n",
		action, t.right, t.sigbus, (double)(t_now_ns() - t0) / 1e6);
	if (t_now_ns() - t0 < 150000000ull)
		return 3; /* not held */
	return strcmp(action, "deny") == 0 ? t.sigbus != 1 : t.right != 1;
}

static void gate_timeout_case(void)
{
	static const char *const actions[] = { "deny", "map" };

	for (int i = 0; i < 2; i++) {
		struct tdaemon d;
		void *arg[2] = { &d, (void *)actions[i] };

		CHECK(lose_start(&d) == 0, "daemon");
		CHECK_EQ(pc_in_child(gate_timeout_child, arg), 0);
		td_stop(&d);
	}
}

static int deny_child(void *arg)
{
	struct tdaemon *d = arg;
	struct uffd_client *c = pc_connect(d, "deny");
	struct tally t = { 0 };
	struct uffd_region *r;
	char pol[200];

	snprintf(pol, sizeof(pol), "deny+populate:%s", img);
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, SIZE, "deny", pol) : NULL;
	if (!r || lose(d, c) < 0)
		return 2;
	read_pages(uffd_region_addr(r), 0, 16, BYTE, &t);
	fprintf(stderr, "#   deny+populate after the loss: %ld SIGBUS of 16\n",
		t.sigbus);
	return t.sigbus == 16 ? 0 : 1;
}

static void deny_case(void)
{
	struct tdaemon d;

	CHECK(lose_start(&d) == 0, "daemon");
	CHECK_EQ(pc_in_child(deny_child, &d), 0);
	td_stop(&d);
}

/* ------------------------------------------------------------------------ */
/* What it costs: registration, and a fault served by the daemon or here.  */

/* Median µs of n alloc+release of 1 MiB regions with policy. */
static double reg_us(struct uffd_client *c, const char *policy, int n)
{
	double *v = calloc((size_t)n, sizeof(*v)), med;

	for (int i = 0; i < n; i++) {
		uint64_t t0 = t_now_ns();
		struct uffd_region *r =
		    pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "cost", policy);

		uffd_region_release(r);
		v[i] = (double)(t_now_ns() - t0) / 1e3;
	}
	for (int i = 1; i < n; i++) /* insertion sort: n is small */
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double x = v[j];

			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	med = v[n / 2];
	free(v);
	return med;
}

/* ns per page to touch [from, to) of r. */
static double touch_ns(struct uffd_region *r, size_t from, size_t to)
{
	struct tally t = { 0 };
	uint64_t t0 = t_now_ns();

	read_pages(uffd_region_addr(r), from, to, BYTE, &t);
	return t.right == (long)(to - from)
		   ? (double)(t_now_ns() - t0) / (double)(to - from)
		   : -1;
}

static int cost_child(void *arg)
{
	struct tdaemon *d = arg;
	struct uffd_client *c = pc_connect(d, "cost");
	char pol[200];
	struct uffd_region *r;
	double plain, gate, pop, daemon_ns, here_ns;

	snprintf(pol, sizeof(pol), "populate:%s", img);
	if (!c)
		return 2;
	plain = reg_us(c, "continue", 101);
	gate = reg_us(c, "gate", 101);
	pop = reg_us(c, pol, 101);
	r = pc_alloc(c, UFFD_KIND_SHMEM, SIZE, "cost", pol);
	if (!r)
		return 3;
	daemon_ns = touch_ns(r, 0, 512);
	if (lose(d, c) < 0)
		return 4;
	here_ns = touch_ns(r, 512, 1024);
	fprintf(
	    stderr,
	    "#   register+release 1 MiB (median of 101): continue %.0f us, "
	    "gate %.0f us, populate %.0f us\n"
	    "#   a populate fault of 4 KiB: %.1f us served by uffdd, %.1f us "
	    "by this process after the loss (measured under load)\n",
	    plain, gate, pop, daemon_ns / 1e3, here_ns / 1e3);
	return daemon_ns > 0 && here_ns > 0 ? 0 : 1;
}

static void cost_case(void)
{
	struct tdaemon d;

	CHECK(lose_start(&d) == 0, "daemon");
	CHECK_EQ(pc_in_child(cost_child, &d), 0);
	td_stop(&d);
}

/* ------------------------------------------------------------------------ */

static int setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/uffdd-takeover.%d", (int)getpid());
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(rule_img, sizeof(rule_img), "%s/rule.img", dir);
	if (mkdir(dir, 0755) < 0 || make_image(img, BYTE, 0644) < 0 ||
	    make_image(rule_img, BYTE, 0600) < 0) {
		perror(dir);
		return -1;
	}
	return td_setup(&D, NULL);
}

static void teardown(void)
{
	td_teardown(&D);
	unlink(img);
	unlink(rule_img);
	rmdir(dir);
}

static const struct t_case cases[] = {
	{ .name = "rule-image",
	  .title = "populate from the configuration's image, uffdd killed: "
		   "filled pages right, the rest SIGBUS, never zeros",
	  .run = rule_image_case },
	{ .name = "ctl-drop",
	  .title = "uffdctl disconnect drops a populate client: it serves the "
		   "rest of its pages right itself",
	  .run = ctl_drop_case,
	  .needs = T_NEED_ROOT },
	{ .name = "app-drop",
	  .title = "uffd_disconnect with a populate region alive: served right "
		   "until it is released",
	  .run = app_drop_case },
	{ .name = "adopt",
	  .title = "an adopted populate mapping, uffdd killed: served right",
	  .run = adopt_case },
	{ .name = "gate-timeout",
	  .title = "gate:timeout=200 after the loss: action=deny SIGBUS, "
		   "action=map maps, each after the timeout",
	  .run = gate_timeout_case,
	  .needs = T_NEED_MINOR },
	{ .name = "deny",
	  .title = "deny+populate after the loss: every access SIGBUS",
	  .run = deny_case },
	{ .name = "cost",
	  .title = "what the takeover costs: registration, a fault served by "
		   "uffdd and by the client after the loss",
	  .run = cost_case },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "takeover", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	signal(SIGPIPE, SIG_IGN);
	return t_main(argc, argv, &s);
}
