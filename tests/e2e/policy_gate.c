/* SPDX-License-Identifier: MIT */
/*
 * gate: a fault on an unpublished page waits (counted in status) until a
 * publish covers it -- from the client library or from uffdctl -- and not
 * longer; published pages map at once; a timeout maps anyway or denies.
 */
#include "policy_common.h"

#include <pthread.h>
#include <signal.h>

static struct tdaemon D;

struct toucher {
	const volatile unsigned char *p;
	unsigned char got;
	int tid;	  /* atomic: set before the touch */
	uint64_t done_ns; /* atomic: 0 until the touch returned */
	pthread_t th;
};

static void *touch_fn(void *arg)
{
	struct toucher *t = arg;

	__atomic_store_n(&t->tid, (int)gettid(), __ATOMIC_RELEASE);
	t->got = *t->p;
	__atomic_store_n(&t->done_ns, t_now_ns(), __ATOMIC_RELEASE);
	return NULL;
}

static void touch_start(struct toucher *t, const volatile unsigned char *p)
{
	t->p = p;
	t->done_ns = 0;
	t->tid = 0;
	pthread_create(&t->th, NULL, touch_fn, t);
}

static uint64_t done_at(struct toucher *t)
{
	return __atomic_load_n(&t->done_ns, __ATOMIC_ACQUIRE);
}

/* Wait until the touching thread sleeps in its fault (the daemon holds it). */
static int held(struct toucher *t)
{
	uint64_t until = t_now_ns() + 10000000000ull;
	int tid;

	do {
		tid = __atomic_load_n(&t->tid, __ATOMIC_ACQUIRE);
		if (tid && t_uffd_blocked(getpid(), tid))
			return 1;
		usleep(1000);
	} while (t_now_ns() < until && !done_at(t));
	return 0;
}

static void blocks_until_publish(int kind)
{
	char t[160], name[32];
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(kind), pages = 16;
	struct toucher tt;

	snprintf(t, sizeof(t),
		 "gate on %s: a fault waits until "
		 "uffd_region_publish covers its page, and not longer",
		 pc_kind_name(kind));
	t_note("%s", t);
	snprintf(name, sizeof(name), "gate-%s", pc_kind_name(kind));
	c = pc_connect(&D, "gate");
	r = c ? pc_alloc(c, kind, pages * psz, name, "gate") : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		unsigned char *fill = uffd_region_fill_addr(r);
		const volatile unsigned char *a = uffd_region_addr(r);
		uint64_t t0, lag;

		fill[5 * psz] = 0x55;
		touch_start(&tt, a + 5 * psz);
		CHECK_EQ(pc_wait_region(&D, name, "policy_stats.gate_waiting",
					1, 10000),
			 1);
		CHECK(held(&tt) && done_at(&tt) == 0,
		      "the touch is not waiting in its fault before publish");
		/* Publishing other pages lets nothing through: once the daemon
		 * has answered, that publish is done, and the thread is still
		 * asleep in its fault. */
		CHECK_EQ(uffd_region_publish(r, 0, 5 * psz), 0);
		CHECK_EQ(pc_region_int(&D, name,
				       "policy_stats.gate_published_pages"),
			 5);
		CHECK(held(&tt) && done_at(&tt) == 0,
		      "released by a publish that did not cover its page");
		/* The daemon maps the page before it answers the publish that
		 * covers it: the thread is awake by the time publish returns.
		 */
		t0 = t_now_ns();
		CHECK_EQ(uffd_region_publish(r, 5 * psz, psz), 0);
		CHECK(!t_uffd_blocked(getpid(), tt.tid),
		      "still asleep in its fault after publish returned");
		pthread_join(tt.th, NULL);
		lag = done_at(&tt) > t0 ? done_at(&tt) - t0 : 0;
		fprintf(stderr,
			"#   the touch returned %.3f ms after "
			"publish was called\n",
			(double)lag / 1e6);
		CHECK_EQ(tt.got, 0x55);
		CHECK_EQ(pc_region_int(&D, name, "policy_stats.gate_waiting"),
			 0);
		CHECK_EQ(pc_region_int(&D, name, "policy_stats.gate_released"),
			 1);
		CHECK_EQ(
		    pc_region_int(&D, name, "policy_stats.gate_held_total"), 1);
		CHECK_EQ(pc_region_int(&D, name,
				       "policy_stats.gate_published_pages"),
			 6);
		/* Published pages map at once, without holding. */
		fill[2 * psz] = 0x22;
		CHECK_EQ(a[2 * psz], 0x22);
		CHECK_EQ(
		    pc_region_int(&D, name, "policy_stats.gate_held_total"), 1);
		CHECK_EQ(pc_region_int(&D, name, "faults"), 2);
		/* Unaligned publish: a clear error. */
		CHECK(uffd_region_publish(r, 1, psz) < 0, "unaligned publish");
		CHECK(strstr(uffd_last_error(), "multiples of the page size"),
		      "%s", uffd_last_error());
	}
	uffd_region_release(r);
	uffd_disconnect(c);
}

static void blocks_case(enum t_kind kind, const void *arg)
{
	(void)arg;
	blocks_until_publish(kind);
}

static void uffdctl_publish(void)
{
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(UFFD_KIND_SHMEM);
	struct toucher t1, t2;

	c = pc_connect(&D, "gate2");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 64 * psz, "gate-ctl", "gate")
	      : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		const volatile unsigned char *a = uffd_region_addr(r);
		char off[32], len[32];
		const char *argv[] = { t_bin("uffdctl"),
				       "--control-socket",
				       D.ctl,
				       "publish",
				       "gate-ctl",
				       off,
				       len,
				       NULL };
		const char *bad[] = { t_bin("uffdctl"),
				      "--control-socket",
				      D.ctl,
				      "publish",
				      "no-such-region",
				      "0",
				      "4096",
				      NULL };

		((unsigned char *)uffd_region_fill_addr(r))[41 * psz] = 0x41;
		touch_start(&t1, a + 40 * psz);
		touch_start(&t2, a + 41 * psz);
		CHECK_EQ(pc_wait_region(&D, "gate-ctl",
					"policy_stats.gate_waiting", 2, 3000),
			 2);
		CHECK(done_at(&t1) == 0 && done_at(&t2) == 0, "not held");
		snprintf(off, sizeof(off), "%zu", 40 * psz);
		snprintf(len, sizeof(len), "%zu", 2 * psz);
		CHECK_EQ(t_run(NULL, argv), 0);
		pthread_join(t1.th, NULL);
		pthread_join(t2.th, NULL);
		CHECK_EQ(t2.got, 0x41);
		CHECK_EQ(
		    pc_region_int(&D, "gate-ctl", "policy_stats.gate_released"),
		    2);
		CHECK(t_run(NULL, bad) != 0, "publish to an unknown region");
	}
	uffd_region_release(r);
	uffd_disconnect(c);
}

static void timeouts(void)
{
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(UFFD_KIND_SHMEM);
	pid_t pid;
	int st;

	c = pc_connect(&D, "gate3");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 16 * psz, "gate-tmo",
			 "gate:timeout=300,action=map")
	      : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		uint64_t t0 = t_now_ns(), dt;
		const volatile unsigned char *a = uffd_region_addr(r);

		((unsigned char *)uffd_region_fill_addr(r))[3 * psz] = 3;
		CHECK_EQ(a[3 * psz], 3);
		dt = t_now_ns() - t0;
		fprintf(stderr, "#   held for %.1f ms\n", (double)dt / 1e6);
		CHECK(dt >= 290000000ull && dt < 1500000000ull, "held %llu ns",
		      (unsigned long long)dt);
		CHECK_EQ(
		    pc_region_int(&D, "gate-tmo", "policy_stats.gate_timeouts"),
		    1);
	}
	uffd_region_release(r);
	/* deny: in a child, which the SIGBUS ends. */
	pid = fork();
	if (pid == 0) {
		struct uffd_client *cc = pc_connect(&D, "gate-deny");
		struct uffd_region *rr =
		    cc ? pc_alloc(cc, UFFD_KIND_SHMEM, 16 * psz, "gate-deny",
				  "gate:timeout=300ms,action=deny")
		       : NULL;

		if (!rr)
			_exit(3);
		signal(SIGBUS, SIG_DFL); /* a sanitizer's would exit(1) */
		(void)*(volatile unsigned char *)uffd_region_addr(rr);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid, "wait");
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS,
	      "child status %#x, expected SIGBUS", st);
	uffd_disconnect(c);
}

static void not_a_gate(void)
{
	struct uffd_client *c;
	struct uffd_region *r;

	c = pc_connect(&D, "nogate");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "nogate", "continue")
	      : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		CHECK_EQ(uffd_region_publish(r, 0, 4096), -EOPNOTSUPP);
		CHECK(strstr(uffd_last_error(), "gate policy") != NULL, "%s",
		      uffd_last_error());
	}
	uffd_region_release(r);
	uffd_disconnect(c);
}

static int setup(void)
{
	return td_setup(&D, PC_CONFIG_ALL);
}

static void teardown(void)
{
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "blocks",
	  .title = "a fault on an unpublished page waits until "
		   "uffd_region_publish covers its page, and not longer",
	  .fn = blocks_case,
	  .kinds = T_KINDS,
	  .hugepages = 16 },
	{ .name = "uffdctl-publish",
	  .title = "gate: `uffdctl publish REGION OFFSET LENGTH` releases two "
		   "threads waiting in the range",
	  .run = uffdctl_publish },
	{ .name = "timeouts",
	  .title = "gate:timeout=300,action=map maps after 300 ms; "
		   "action=deny gives SIGBUS after 300 ms",
	  .run = timeouts },
	{ .name = "not-a-gate",
	  .title = "publish on a region without a gate: a clear error",
	  .run = not_a_gate },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "policy-gate", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
