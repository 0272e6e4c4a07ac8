/* SPDX-License-Identifier: MIT */
/*
 * deny: an access to the region gets SIGBUS (UFFDIO_POISON) in the
 * accessing thread only; the process's other threads go on; each refusal
 * is counted and logged with pid, tid and address.
 */
#include "policy_common.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/syscall.h>

static struct tdaemon D;

static sigjmp_buf jb;
static volatile pid_t bus_tid;
static void *volatile bus_addr;
static volatile int stop_spin;
static volatile unsigned long spins;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	bus_tid = (pid_t)syscall(SYS_gettid);
	bus_addr = si->si_addr;
	siglongjmp(jb, 1);
}

static void *spinner(void *arg)
{
	(void)arg;
	while (!stop_spin)
		spins++;
	return NULL;
}

struct job {
	int kind;
	char name[32];
	pid_t toucher_tid;
};

static void *toucher(void *arg)
{
	struct job *j = arg;

	j->toucher_tid = (pid_t)syscall(SYS_gettid);
	return NULL;
}

/* In a child: one thread spins, another touches a denied page. */
static int child(void *arg)
{
	struct job *j = arg;
	struct sigaction sa = { .sa_sigaction = on_bus,
				.sa_flags = SA_SIGINFO };
	struct uffd_client *c = pc_connect(&D, "deny");
	size_t psz = pc_page(j->kind);
	struct uffd_region *r =
	    c ? pc_alloc(c, j->kind, 8 * psz, j->name, "deny") : NULL;
	pthread_t th, t2;
	volatile unsigned char *a;
	unsigned long before;
	pid_t me = (pid_t)syscall(SYS_gettid);

	if (!r)
		return 10;
	a = uffd_region_addr(r);
	sigaction(SIGBUS, &sa, NULL);
	pthread_create(&th, NULL, spinner, NULL);
	pthread_create(&t2, NULL, toucher, j);
	pthread_join(t2, NULL);
	if (sigsetjmp(jb, 1) == 0) {
		(void)a[3 * psz + 5];
		return 11; /* the access went through */
	}
	if (bus_tid != me)
		return 12; /* the signal went to another thread */
	if (bus_addr != (void *)(a + 3 * psz + 5) &&
	    bus_addr != (void *)(a + 3 * psz))
		return 13;
	/* The other thread still runs. */
	/* The other thread still runs: its counter moves (within 5 s). */
	before = spins;
	for (int i = 0; i < 5000 && spins == before; i++)
		usleep(1000);
	if (spins == before)
		return 14;
	stop_spin = 1;
	pthread_join(th, NULL);
	/* A second access: SIGBUS again, the page stays refused. */
	if (sigsetjmp(jb, 1) == 0) {
		(void)a[3 * psz];
		return 15;
	}
	return 0;
}

static void deny(int kind)
{
	char t[128];
	struct job j = { .kind = kind };
	int rc;

	snprintf(t, sizeof(t),
		 "deny on %s: SIGBUS in the accessing thread "
		 "only; the other thread runs on",
		 pc_kind_name(kind));
	t_note("%s", t);
	snprintf(j.name, sizeof(j.name), "deny-%s", pc_kind_name(kind));
	rc = pc_in_child(child, &j);
	CHECK_EQ(rc, 0);
	/* The daemon writes its line after the poison that woke the
	 * child: give it the time (valgrind). */
	CHECK(td_wait_log(&D, "denied (SIGBUS)", 0, 5000) > 0, "no log line");
}

static void deny_case(enum t_kind kind, const void *arg)
{
	(void)arg;
	deny(kind);
}

/* Without a handler the process dies of SIGBUS; the daemon counts it. */
static int plain_child(void *arg)
{
	struct uffd_client *c = pc_connect(&D, "deny2");
	struct uffd_region *r =
	    c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "deny-plain", "deny")
	      : NULL;

	(void)arg;
	if (!r)
		return 10;
	signal(SIGBUS, SIG_DFL); /* a sanitizer's handler would exit(1) */
	(void)*(volatile unsigned char *)uffd_region_addr(r);
	return 0;
}

static void plain(void)
{
	CHECK_EQ(pc_in_child(plain_child, NULL), 128 + SIGBUS);
	CHECK_EQ(td_wait_total(&D, "totals.clients", 0, 3000), 0);
	CHECK(td_log_count(&D, "region deny-plain: access at 0x") == 1,
	      "log line");
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
	{ .name = "deny",
	  .title =
	      "SIGBUS in the accessing thread only; the other thread runs on",
	  .fn = deny_case,
	  .kinds = T_KINDS,
	  .hugepages = 8 },
	{ .name = "plain",
	  .title = "deny: a process without a SIGBUS handler dies of SIGBUS; "
		   "the refusal is logged with pid, tid and address",
	  .run = plain },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "policy-deny", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
