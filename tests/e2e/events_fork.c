/* SPDX-License-Identifier: MIT */
/*
 * fork: with UFFD_FEATURE_EVENT_FORK the daemon gets a uffd for the child's
 * copy of each region and serves the child as a client of its own, shown
 * with its parent's pid; the child's session ends with the child (also
 * after fork+exec); policies that track pages share their state with the
 * parent (a page populated once is not read again).  Without
 * CAP_SYS_PTRACE the library falls back and the kernel serves the child.
 */
#include "policy_common.h"

#include <signal.h>
#include <sys/prctl.h>

#define NOBODY 65534

static struct tdaemon D;
static char image[96];

static void fork_served(int kind, const char *policy, int from_image)
{
	char t[200], name[32];
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(kind), pages = kind == UFFD_KIND_HUGETLB ? 8 : 256;
	int to_child[2], to_parent[2];
	pid_t pid;

	snprintf(t, sizeof(t),
		 "fork on %s (%s): the child's faults are served "
		 "by a session of its own with the parent's pid",
		 pc_kind_name(kind), policy);
	t_note("%s", t);
	snprintf(name, sizeof(name), "fork-%s-%c", pc_kind_name(kind),
		 policy[0]);
	c = pc_connect(&D, "forker");
	r = c ? pc_alloc(c, kind, pages * psz, name, policy) : NULL;
	CHECK(r != NULL, "region");
	if (!r || pipe(to_child) || pipe(to_parent))
		goto out;
	{
		unsigned char *fill = uffd_region_fill_addr(r);
		const volatile unsigned char *a = uffd_region_addr(r);

		if (!from_image)
			for (size_t i = 0; i < pages; i++)
				fill[i * psz + 1] = (unsigned char)(i + 1);
		/* The parent touches the first half itself. */
		for (size_t i = 0; i < pages / 2; i++)
			(void)a[i * psz + 1];
		pid = fork();
		if (pid == 0) {
			char ok = 1;
			long bad = 0;

			for (size_t i = 0; i < pages; i++) {
				unsigned char want =
				    from_image ? pc_byte(i * psz + 1)
					       : (unsigned char)(i + 1);

				bad += a[i * psz + 1] != want;
			}
			ok = bad == 0;
			if (write(to_parent[1], &ok, 1) != 1 ||
			    read(to_child[0], &ok, 1) != 1)
				_exit(2);
			_exit(bad ? 1 : 0);
		}
	}
	{
		char ok = 0, go = 1;
		json_object *st, *cl, *rg;
		int stt;

		CHECK(read(to_parent[0], &ok, 1) == 1 && ok, "child's bytes");
		/* The child's pid is found among the parent's children. */
		for (int i = 0; i < 200; i++) {
			st = td_status(&D);
			cl = st ? j_client(st, pid) : NULL;
			if (cl)
				break;
			json_object_put(st);
			st = NULL;
			usleep(10000);
		}
		CHECK(cl != NULL, "no client with the child's pid %d",
		      (int)pid);
		if (cl) {
			CHECK_EQ(j_int(cl, "parent_pid"), getpid());
			rg =
			    json_object_array_get_idx(j_path(cl, "regions"), 0);
			CHECK(rg != NULL, "child region");
			fprintf(stderr,
				"#   child %d: session %s, region faults "
				"%lld, pages_mapped %lld, races %lld\n",
				(int)pid,
				json_object_get_string(j_path(cl, "session")),
				(long long)j_int(rg, "faults"),
				(long long)j_int(rg, "pages_mapped"),
				(long long)j_int(rg, "races"));
			/* A fresh mm: every page it touched was a fault. */
			CHECK_EQ(j_int(rg, "faults"), (int64_t)pages);
			CHECK_EQ(j_int(rg, "errors"), 0);
			if (from_image)
				CHECK_EQ(j_int(rg, "policy_stats.bytes_read"),
					 (int64_t)(pages * psz));
			CHECK_EQ(j_int(j_client(st, getpid()), "events.fork"),
				 1);
		}
		json_object_put(st);
		CHECK(write(to_child[1], &go, 1) == 1, "release child");
		CHECK(waitpid(pid, &stt, 0) == pid && WIFEXITED(stt) &&
			  WEXITSTATUS(stt) == 0,
		      "child status %#x", stt);
		/* Its session goes with it. */
		CHECK_EQ(td_wait_total(&D, "totals.clients", 1, 3000), 0);
		if (from_image)
			CHECK_EQ(
			    pc_region_int(&D, name, "policy_stats.bytes_read"),
			    (int64_t)(pages * psz));
		close(to_child[0]);
		close(to_child[1]);
		close(to_parent[0]);
		close(to_parent[1]);
	}
out:
	uffd_region_release(r);
	uffd_disconnect(c);
}

static void fork_case(enum t_kind kind, const void *arg)
{
	char pol[160];

	if (!arg) {
		fork_served(kind, "continue", 0);
		return;
	}
	snprintf(pol, sizeof(pol), "populate:%s", image);
	fork_served(kind, pol, 1);
}

static void fork_exec(void)
{
	struct uffd_client *c;
	struct uffd_region *r;
	const char *argv[] = { "/bin/true", NULL };
	int64_t clients = -1;

	c = pc_connect(&D, "forkexec");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "forkexec", "continue")
	      : NULL;
	CHECK(r != NULL, "region");
	for (int i = 0; r && i < 5; i++)
		CHECK_EQ(t_run(NULL, argv), 0);
	CHECK_EQ(td_wait_total(&D, "totals.clients", 1, 3000), 0);
	{
		json_object *st = td_status(&D);

		clients = st ? j_int(st, "totals.clients") : -1;
		CHECK_EQ(j_int(j_client(st, getpid()), "events.fork"), 5);
		json_object_put(st);
	}
	CHECK_EQ(clients, 1);
	uffd_region_release(r);
	uffd_disconnect(c);
}

/* As nobody, without CAP_SYS_PTRACE: no EVENT_FORK, the kernel serves the
 * child. */
static int unprivileged(void *arg)
{
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = 4096;
	pid_t pid;
	int st;

	(void)arg;
	if (setgid(NOBODY) || setuid(NOBODY))
		return 20;
	c = pc_connect(&D, "nocap");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 16 * psz, "nocap", "continue")
	      : NULL;
	if (!r)
		return 21;
	((unsigned char *)uffd_region_fill_addr(r))[5 * psz] = 5;
	pid = fork();
	if (pid == 0)
		_exit(((volatile unsigned char *)uffd_region_addr(
			  r))[5 * psz] == 5
			  ? 0
			  : 1);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return 22;
	/* Still served in the parent. */
	if (((volatile unsigned char *)uffd_region_addr(r))[5 * psz] != 5)
		return 23;
	uffd_region_release(r);
	uffd_disconnect(c);
	return 0;
}

static void no_ptrace(void)
{
	int before = td_log_count(&D, "forked: child session");

	CHECK_EQ(pc_in_child(unprivileged, NULL), 0);
	/* No fork event reached the daemon. */
	CHECK_EQ(td_log_count(&D, "forked: child session"), before);
}

static int setup(void)
{
	snprintf(image, sizeof(image), "/tmp/uffdd-test-fimage.%d",
		 (int)getpid());
	if (pc_write_image(image, 32u << 20) < 0) {
		perror(image);
		return -1;
	}
	return td_setup(&D, PC_CONFIG_ALL);
}

static void teardown(void)
{
	td_teardown(&D);
	unlink(image);
}

static const struct t_case cases[] = {
	{ .name = "fork",
	  .title = "the child's faults are served by a session of its own with "
		   "the parent's pid (continue)",
	  .fn = fork_case,
	  .kinds = T_KINDS,
	  .hugepages = 10 },
	{ .name = "fork-populate",
	  .title = "the same with populate: the child shares the parent's "
		   "populated pages",
	  .fn = fork_case,
	  .kinds = T_KINDS,
	  .hugepages = 10,
	  .arg = "populate" },
	{ .name = "fork-exec",
	  .title = "fork+exec: the child's session ends once it has exec'd",
	  .run = fork_exec },
	{ .name = "no-ptrace",
	  .title = "without CAP_SYS_PTRACE: registration falls back without "
		   "EVENT_FORK; the child is served by the kernel",
	  .run = no_ptrace,
	  .needs = T_NEED_ROOT },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "events-fork", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
