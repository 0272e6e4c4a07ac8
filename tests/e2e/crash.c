/* SPDX-License-Identifier: MIT */
/*
 * The crash guarantee (SECURITY.md): uffdd killed with SIGKILL, or
 * stopped, while a client has threads blocked in a gate.  A gate's page is
 * not to be seen before it is published, daemon or not: the client library
 * takes the region over, the threads stay held, and a publish made after
 * the loss lets them go with the right bytes.  The library reports the loss
 * (uffd_client_check, POLLHUP on uffd_client_fd), and the client can
 * register again with a new daemon.  (tests/e2e/takeover.c: populate.)
 */
#include "sec_common.h"

#define THREADS 16
#define PAGE	4096

struct waiter {
	volatile uint64_t *p;
	uint64_t want;
	int ok, done;
};

static void *waiter(void *arg)
{
	struct waiter *w = arg;

	w->ok = *w->p == w->want; /* blocks in the gate */
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Threads back before the publish: they must be none. */
static int back_early(struct waiter *w)
{
	int n = 0;

	usleep(300000);
	for (int i = 0; i < THREADS; i++)
		n += __atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE);
	return n;
}

/* Child: gate region, THREADS threads blocked; reports after the loss. */
static int client(const char *sock, int ready_w, int go_r)
{
	struct uffd_region_spec spec = { .kind = UFFD_KIND_SHMEM,
					 .size = THREADS * PAGE,
					 .name = "blocked",
					 .policy = "gate" };
	struct uffd_client *c;
	struct uffd_region *r;
	struct waiter w[THREADS];
	pthread_t th[THREADS];
	struct pollfd p;
	uint64_t *fill;
	int ok = 0, rc, hup, early, pub;
	char x;

	if (uffd_connect(sock, "blocked", 0, &c) < 0 ||
	    uffd_region_alloc(c, &spec, &r) < 0) {
		fprintf(stderr, "#   child: %s\n", uffd_last_error());
		return 10;
	}
	fill = uffd_region_fill_addr(r);
	for (int i = 0; i < THREADS; i++) {
		fill[i * PAGE / 8] = 0xc0ffee00u + (uint64_t)i;
		w[i] = (struct waiter){ (uint64_t *)uffd_region_addr(r) +
					    i * PAGE / 8,
					0xc0ffee00u + (uint64_t)i, 0, 0 };
		pthread_create(&th[i], NULL, waiter, &w[i]);
	}
	if (uffd_client_check(c) != 0)
		return 11;
	if (write(ready_w, "r", 1) != 1 || read(go_r, &x, 1) != 1)
		return 12;
	/* The daemon is gone now.  Unpublished, the pages stay unseen; the
	 * publish goes to the library, which serves the region now. */
	early = back_early(w);
	rc = uffd_client_check(c);
	p = (struct pollfd){ .fd = uffd_client_fd(c), .events = POLLIN };
	hup = poll(&p, 1, 1000) == 1 && (p.revents & POLLHUP);
	pub = uffd_region_publish(r, 0, THREADS * PAGE);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += w[i].ok;
	}
	fprintf(stderr,
		"#   child: %d threads back before the publish; publish %d "
		"(%s); %d/%d threads back with the right bytes; "
		"uffd_client_check %d; POLLHUP %d\n",
		early, pub, pub ? uffd_last_error() : "", ok, THREADS, rc, hup);
	/* Releasing a region served here must not hang. */
	uffd_region_release(r);
	uffd_disconnect(c);
	return !early && !pub && ok == THREADS && rc == -ECONNRESET && hup ? 0
									   : 13;
}

static int reregister(const char *sock)
{
	struct uffd_region_spec spec = { .kind = UFFD_KIND_SHMEM,
					 .size = 1 << 20,
					 .name = "again" };
	struct uffd_client *c;
	struct uffd_region *r;
	uint64_t *fill;
	volatile uint64_t *served;
	int ok = 1;

	if (uffd_connect(sock, "again", 0, &c) < 0 ||
	    uffd_region_alloc(c, &spec, &r) < 0)
		return 0;
	fill = uffd_region_fill_addr(r);
	served = uffd_region_addr(r);
	for (size_t i = 0; i < (1 << 20) / 8; i++)
		fill[i] = i * 3;
	for (size_t i = 0; i < (1 << 20) / 8; i++)
		ok &= served[i] == i * 3;
	ok &= uffd_region_id(r) != 0;
	uffd_region_release(r);
	uffd_disconnect(c);
	return ok;
}

static void run(int how)
{
	struct tdaemon d, d2;
	int ready[2], go[2], st = 0;
	pid_t pid;
	char x;

	if (td_start(&d, NULL, NULL) < 0) {
		t_fail_at(__FILE__, __LINE__, "uffdd did not start");
		return;
	}
	if (pipe(ready) < 0 || pipe(go) < 0) {
		t_fail_at(__FILE__, __LINE__, "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		_exit(client(d.sock, ready[1], go[0]));
	}
	close(ready[1]);
	close(go[0]);
	CHECK(read(ready[0], &x, 1) == 1, "client ready");
	/* Let every thread reach the gate. */
	CHECK(td_wait_total(&d, "totals.faults", THREADS, 5000) == 0,
	      "all threads blocked in the daemon");
	if (how == SIGKILL)
		td_kill(&d);
	else
		CHECK_EQ(td_stop(&d), 0);
	CHECK(write(go[1], "g", 1) == 1, "go");
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if (i == 999) {
			t_fail_at(__FILE__, __LINE__, "the client hangs");
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
		usleep(10000);
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client status %#x", st);
	close(ready[0]);
	close(go[1]);
	if (how == SIGKILL)
		td_stop(&d); /* removes its directory */
	if (td_start(&d2, NULL, NULL) == 0) {
		CHECK(reregister(d2.sock),
		      "a new daemon serves the client again");
		CHECK_EQ(td_stop(&d2), 0);
	} else {
		t_fail_at(__FILE__, __LINE__, "second uffdd did not start");
	}
}

static void run_case(enum t_kind kind, const void *arg)
{
	(void)kind;
	run(*(const int *)arg);
}

static const int sigkill = SIGKILL, sigterm = SIGTERM;

static const struct t_case cases[] = {
	{ .name = "sigkill",
	  .title =
	      "uffdd SIGKILLed with 16 threads held by a gate: they stay held "
	      "until a publish after the loss, then carry on with the right "
	      "bytes; the library reports the loss",
	  .fn = run_case,
	  .arg = &sigkill },
	{ .name = "sigterm",
	  .title = "uffdd stopped (SIGTERM) with threads blocked: the same",
	  .fn = run_case,
	  .arg = &sigterm },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "crash", T_CASES(cases), NULL, NULL, NULL };

	signal(SIGPIPE, SIG_IGN);
	return t_main(argc, argv, &s);
}
