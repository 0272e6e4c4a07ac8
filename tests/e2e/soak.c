/* SPDX-License-Identifier: MIT */
/*
 * Soak: many short-lived clients, several at once, each connecting,
 * registering a region, faulting every page, checking its bytes and
 * exiting (half release first, half just exit, every 16th is killed while
 * its pages fault).  At the end the daemon's descriptors and RSS must be
 * where they were after the warm-up.
 *
 *   UFFDD_SOAK_CYCLES  cycles (default 1000; `make soak` runs 10000)
 *   UFFDD_SOAK_CLIENTS clients at once (default 4)
 */
#include "sec_common.h"

#define REGION (64 << 10)

static struct tdaemon D;

/* One client's life.  Exit 0 if every byte was right. */
static int cycle(long n)
{
	struct uffd_region_spec spec = { .kind = UFFD_KIND_SHMEM,
					 .size = REGION,
					 .name = "soak" };
	struct uffd_client *c;
	struct uffd_region *r;
	uint64_t *fill;
	volatile uint64_t *served;
	int bad = 0;

	if (uffd_connect(D.sock, "soak", UFFD_CONNECT_NO_GRANT, &c) < 0 ||
	    uffd_region_alloc(c, &spec, &r) < 0) {
		fprintf(stderr, "#   cycle %ld: %s\n", n, uffd_last_error());
		return 2;
	}
	fill = uffd_region_fill_addr(r);
	served = uffd_region_addr(r);
	for (size_t i = 0; i < REGION / 8; i++)
		fill[i] = (uint64_t)n * 1000003u + i;
	if (n % 16 == 15)
		kill(getpid(), SIGKILL); /* dies with its region registered */
	for (size_t i = 0; i < REGION / 8; i++)
		bad += served[i] != (uint64_t)n * 1000003u + i;
	if (n & 1) {
		uffd_region_release(r);
		uffd_disconnect(c);
	}
	return bad ? 1 : 0;
}

/* Run cycles [from, to) with `at_once` children alive at a time. */
static long run(long from, long to, int at_once, long *failed)
{
	long started = from, done = 0;
	int alive = 0;

	while (done < to - from) {
		int st;
		pid_t pid;

		while (alive < at_once && started < to) {
			pid = fork();
			if (pid == 0)
				_exit(cycle(started));
			if (pid < 0)
				break;
			alive++;
			started++;
		}
		pid = wait(&st);
		if (pid < 0)
			break;
		alive--;
		done++;
		if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) &&
		    !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			(*failed)++;
	}
	return done;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : def;
}

/* A warm-up of 200 cycles sets the baseline; then the soak itself. */
static void soak(void)
{
	long cycles = env_long("UFFDD_SOAK_CYCLES", 1000);
	int at_once = (int)env_long("UFFDD_SOAK_CLIENTS", 4);
	long failed = 0, done;
	int fd0, fd1;
	long rss0, rss1;
	uint64_t t0;
	json_object *st;

	run(0, 200, at_once, &failed);
	CHECK_EQ(failed, 0);
	CHECK(sc_wait_idle(&D, 10000) == 0, "idle after the warm-up");
	fd0 = sc_fds_settle(D.pid, -1, 0);
	rss0 = t_rss_kb(D.pid);

	t0 = t_now_ns();
	done = run(200, 200 + cycles, at_once, &failed);
	CHECK_EQ(done, cycles);
	CHECK_EQ(failed, 0);
	CHECK(sc_wait_idle(&D, 20000) == 0, "every session ended");
	fd1 = sc_fds_settle(D.pid, fd0, 5000);
	rss1 = t_rss_kb(D.pid);
	st = td_status(&D);
	printf(
	    "# soak: %ld cycles, %d clients at once, %.1f s; uffdd fds %d -> "
	    "%d, RSS %ld -> %ld KiB; faults %lld, errors %lld, live "
	    "regions %lld\n",
	    done, at_once, (double)(t_now_ns() - t0) / 1e9, fd0, fd1, rss0,
	    rss1, (long long)j_int(st, "totals.faults"),
	    (long long)j_int(st, "totals.errors"),
	    (long long)j_int(st, "totals.live_regions"));
	CHECK_EQ(fd1, fd0);
	CHECK_EQ(j_int(st, "totals.live_regions"), 0);
	if (!under_tool())
		CHECK(rss1 <= rss0 + 2048, "RSS grew by %ld KiB", rss1 - rss0);
	json_object_put(st);
}

static int setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (td_start(&D, "{\"limits\":{\"messages_per_second\":100000}}",
		     "--log-level", "notice", NULL) == 0)
		return 0;
	td_dump_log(&D);
	return -1;
}

static void teardown(void)
{
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "soak",
	  .title = "connect/register/fault/exit cycles, several at once (after "
		   "200 to warm up): no fd, region or memory left behind",
	  .run = soak },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "soak", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
