/* SPDX-License-Identifier: MIT */
/*
 * learn: the pages a parent's children touch first are mapped into the
 * next child before it faults.  Children forked from the test process
 * (followed through UFFD_EVENT_FORK: the test runs as root) touch a
 * scattered set of pages; the first two take a fault on each, the next
 * ones none, and every byte is right.  The same policy chain decides what
 * is mapped ahead: an unpublished page of a gate is held as before, a
 * deny region stays refused, populate fills a page from its image before
 * it is mapped.  (Children that register themselves, as under uffd-run,
 * are in forked.c and the preload tests.)
 */
#include "policy_common.h"

#include <setjmp.h>
#include <signal.h>

#define IMAGE_SIZE (16u << 20)

static struct tdaemon D;
static char image[64];

struct kid {
	unsigned char *addr;
	size_t psz, npages;
	const size_t *hot;
	size_t nhot;
	int from_image;
	int wait_ms; /* deny_kid: before touching */
};

static unsigned char want(const struct kid *k, size_t pg)
{
	return k->from_image ? pc_byte(pg * k->psz + 5)
			     : (unsigned char)(pg * 7 + 3);
}

static int kid_main(void *arg)
{
	const struct kid *k = arg;
	const volatile unsigned char *a = k->addr;
	long bad = 0;

	for (size_t i = 0; i < k->nhot; i++)
		bad += a[k->hot[i] * k->psz + 5] != want(k, k->hot[i]);
	return bad ? 1 : 0;
}

static int64_t total(const char *path)
{
	json_object *st = td_status(&D);
	int64_t v = st ? j_int(st, path) : -1;

	json_object_put(st);
	return v;
}

/* The status after a child: wait until its session is gone. */
static void settle(void)
{
	CHECK_EQ(td_wait_total(&D, "totals.clients", 1, 3000), 0);
}

/*
 * A child's first moments last until it exits (at most 10 s here), not the
 * default 250 ms: on a loaded machine a child released late, or preempted
 * between its touches, would teach only the pages it touched in time, and
 * the next child would fault on the rest (seen under load average 6-8).
 * What is tested is what the set holds, not the window.
 */
#define LEARN_TEST "learn:window=10000"

struct setup {
	struct uffd_client *c;
	struct uffd_region *r;
	struct kid k;
	size_t hot[64];
};

/* A region of kind under policy, filled, and its scattered hot pages. */
static int prepare(struct setup *s, int kind, const char *name,
		   const char *policy, size_t nhot)
{
	unsigned char *fill;

	memset(s, 0, sizeof(*s));
	s->k.psz = pc_page(kind);
	s->k.npages = kind == UFFD_KIND_HUGETLB ? 8 : 4096;
	s->k.from_image = strncmp(policy, "populate", 8) == 0 ||
			  strstr(policy, "+populate") != NULL;
	s->k.wait_ms = 20;
	s->c = pc_connect(&D, name);
	s->r = s->c ? pc_alloc(s->c, kind, s->k.npages * s->k.psz, name, policy)
		    : NULL;
	if (!s->r)
		return -1;
	s->k.addr = uffd_region_addr(s->r);
	fill = uffd_region_fill_addr(s->r);
	for (size_t i = 0; !s->k.from_image && i < s->k.npages; i++)
		fill[i * s->k.psz + 5] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < nhot; i++)
		s->hot[i] = kind == UFFD_KIND_HUGETLB
				? i * 3 /* 0, 3, 6: apart, not in one range */
				: (i * 61 + 5) % s->k.npages;
	s->k.hot = s->hot;
	s->k.nhot = nhot;
	return 0;
}

static void finish(struct setup *s)
{
	if (s->r)
		uffd_region_release(s->r);
	if (s->c)
		uffd_disconnect(s->c);
}

/*
 * One child: its faults (from the daemon's totals) and its exit status.
 * It touches its pages once the daemon has mapped premap pages ahead
 * (the worker's next turns do it; a loaded machine, or valgrind, may take
 * a while), or after 5 s: then the pages it finds unmapped are faults,
 * and the checks say so.
 */
static int64_t one_child(struct setup *s, int *status, int64_t premap)
{
	int64_t f0 = total("totals.faults"), p0 = total("learn.premapped");
	int go[2], st;
	pid_t pid;
	char c = 'g';

	*status = -1;
	if (pipe(go) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		_exit(read(go[0], &c, 1) == 1 ? kid_main(&s->k) : 3);
	}
	close(go[0]);
	for (int i = 0; i < 500 && total("learn.premapped") - p0 < premap; i++)
		usleep(10000);
	if (write(go[1], &c, 1) != 1)
		t_note("cannot release the child");
	close(go[1]);
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	settle();
	return total("totals.faults") - f0;
}

static void learns(enum t_kind kind, const void *arg)
{
	struct setup s;
	size_t nhot = kind == T_HUGETLB ? 3 : 64;
	int64_t faults[5], p0;
	int st;

	(void)arg;
	if (prepare(&s, (int)kind, kind == T_HUGETLB ? "learn-h" : "learn-s",
		    LEARN_TEST, nhot) < 0) {
		CHECK(0, "region");
		finish(&s);
		return;
	}
	p0 = total("learn.premapped");
	for (int i = 0; i < 5; i++) {
		faults[i] = one_child(&s, &st, i < 2 ? 0 : (int64_t)nhot);
		CHECK(st == 0, "child %d: every byte right (status %d)", i + 1,
		      st);
		t_note("child %d: %lld faults", i + 1, (long long)faults[i]);
	}
	/* Two children teach it (a page in the set from the second); the
	 * next ones have the pages before they touch them. */
	CHECK_EQ(faults[0], (int64_t)nhot);
	CHECK_EQ(faults[1], (int64_t)nhot);
	CHECK_EQ(faults[2], 0);
	CHECK_EQ(faults[3], 0);
	CHECK_EQ(faults[4], 0);
	CHECK_EQ(total("learn.premapped") - p0, (int64_t)(3 * nhot));
	CHECK(total("learn.set_pages") >= (int64_t)nhot, "set %lld",
	      (long long)total("learn.set_pages"));
	CHECK_EQ(total("totals.errors"), 0);
	finish(&s);
}

/* learn+gate: only published pages are mapped ahead. */
static void gate(enum t_kind kind, const void *arg)
{
	struct setup s;
	size_t nhot = kind == T_HUGETLB ? 3 : 16;
	const char *name = kind == T_HUGETLB ? "learn-gate-h" : "learn-gate-s";
	int64_t p0, h0, faults;
	int st;

	(void)arg;
	if (prepare(&s, (int)kind, name,
		    LEARN_TEST "+gate:timeout=30,action=map", nhot) < 0) {
		CHECK(0, "region");
		finish(&s);
		return;
	}
	for (size_t i = 0; i < nhot / 2; i++)
		CHECK_EQ(uffd_region_publish(s.r, s.hot[i] * s.k.psz, s.k.psz),
			 0);
	one_child(&s, &st, 0);
	one_child(&s, &st, 0);
	CHECK_EQ(st, 0);
	p0 = total("learn.premapped");
	h0 = pc_region_int(&D, name, "policy_stats.gate_held_total");
	faults = one_child(&s, &st, (int64_t)(nhot / 2));
	CHECK_EQ(st, 0);
	/* The set is every hot page, but only the published half is
	 * mapped ahead; the child waits for the others as the first did. */
	CHECK_EQ(total("learn.premapped") - p0, (int64_t)(nhot / 2));
	CHECK_EQ(pc_region_int(&D, name, "policy_stats.gate_held_total") - h0,
		 (int64_t)(nhot - nhot / 2));
	CHECK_EQ(faults, (int64_t)(nhot - nhot / 2));
	finish(&s);
}

static sigjmp_buf jump;

static void on_bus(int sig)
{
	(void)sig;
	siglongjmp(jump, 1);
}

static int deny_kid(void *arg)
{
	const struct kid *k = arg;
	struct sigaction sa = { .sa_handler = on_bus };

	sigaction(SIGBUS, &sa, NULL);
	usleep((useconds_t)k->wait_ms * 1000);
	if (sigsetjmp(jump, 1))
		return 0; /* refused, as it must be */
	(void)*(const volatile unsigned char *)(k->addr + k->hot[0] * k->psz);
	return 1;
}

/* learn+deny: nothing is mapped ahead, every child is refused. */
static void deny(void)
{
	struct setup s;
	int64_t p0;

	if (!(t_kernel_features() & (1ull << 14) /* UFFD_FEATURE_POISON */)) {
		t_skip("this kernel has no UFFDIO_POISON");
		return;
	}
	if (prepare(&s, UFFD_KIND_SHMEM, "learn-deny", "learn+deny", 4) < 0) {
		CHECK(0, "region");
		finish(&s);
		return;
	}
	p0 = total("learn.premapped");
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(pc_in_child(deny_kid, &s.k), 0);
		settle();
	}
	CHECK_EQ(total("learn.premapped") - p0, 0);
	finish(&s);
}

/* learn+populate: a page mapped ahead is filled from the image first. */
static void populate(enum t_kind kind, const void *arg)
{
	struct setup s;
	char pol[128];
	size_t nhot = kind == T_HUGETLB ? 3 : 64;
	const char *name = kind == T_HUGETLB ? "learn-pop-h" : "learn-pop-s";
	int64_t faults[3], p0;
	int st;

	(void)arg;
	snprintf(pol, sizeof(pol), LEARN_TEST "+populate:%s", image);
	if (prepare(&s, (int)kind, name, pol, nhot) < 0) {
		CHECK(0, "region");
		finish(&s);
		return;
	}
	p0 = total("learn.premapped");
	for (int i = 0; i < 3; i++) {
		faults[i] = one_child(&s, &st, i < 2 ? 0 : (int64_t)nhot);
		CHECK(st == 0, "child %d: the image's bytes (status %d)", i + 1,
		      st);
	}
	CHECK_EQ(faults[2], 0);
	CHECK_EQ(total("learn.premapped") - p0, (int64_t)nhot);
	/* Each page read once, by the first child's faults. */
	CHECK_EQ(pc_region_int(&D, name, "policy_stats.bytes_read"),
		 (int64_t)(nhot * s.k.psz));
	finish(&s);
}

static int setup(void)
{
	snprintf(image, sizeof(image), "/tmp/uffdd-learn-%d.img",
		 (int)getpid());
	if (pc_write_image(image, IMAGE_SIZE) < 0)
		return -1;
	return td_setup(&D, "{\"client_policies\":[\"continue\",\"gate\","
			    "\"deny\",\"populate\",\"learn\"]}");
}

static void teardown(void)
{
	td_teardown(&D);
	unlink(image);
}

static const struct t_case cases[] = {
	{ .name = "learns",
	  .title = "two children teach the set, the next three take no fault "
		   "and read every byte right",
	  .fn = learns,
	  .kinds = T_KINDS,
	  .hugepages = 8,
	  .needs = T_NEED_ROOT },
	{ .name = "gate",
	  .title = "learn+gate: only published pages are mapped ahead, the "
		   "others are held",
	  .fn = gate,
	  .kinds = T_KINDS,
	  .hugepages = 8,
	  .needs = T_NEED_ROOT },
	{ .name = "deny",
	  .title = "learn+deny: nothing mapped ahead, every child refused",
	  .run = deny,
	  .needs = T_NEED_ROOT },
	{ .name = "populate",
	  .title = "learn+populate: pages mapped ahead hold the image's bytes, "
		   "each read once",
	  .fn = populate,
	  .kinds = T_KINDS,
	  .hugepages = 8,
	  .needs = T_NEED_ROOT },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "policy-learn", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
