/* SPDX-License-Identifier: MIT */
/*
 * Permissions and daemon-wide limits (SECURITY.md): separate owner, group
 * and mode for the data and control sockets; access.allow_uids; the limit
 * on regions across all clients, and a reload that raises it.
 */
#include "sec_common.h"

#include <grp.h>
#include <sys/stat.h>

static struct tdaemon D;

static int try_hello(void *arg)
{
	int code = 0, s = sc_connect(D.sock);

	(void)arg;
	if (s < 0)
		return 2;
	if (sc_hello(s) == 0)
		return 0;
	close(s);
	s = sc_connect(D.sock);
	return sc_reply(s, &code, NULL, 0, 2000) == UFFDD_ERROR &&
		       code == EACCES
		   ? 1
		   : 3;
}

static int as_user(uid_t uid, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(uid) < 0 ||
		    setuid(uid) < 0)
			_exit(99);
		_exit(fn(arg));
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int reg(int s, struct sc_region *r, const char *name)
{
	struct uffdd_register b = sc_reg_body(r, name);
	int code;

	if (sc_register(s, &b, r->uffd, r->memfd, &code, NULL, 0) ==
	    UFFDD_REGISTERED)
		return 0;
	return -code;
}

static void sockets(void)
{
	struct stat st;

	CHECK(stat(D.sock, &st) == 0, "stat data socket");
	CHECK_EQ(st.st_mode & 0777, 0660);
	CHECK_EQ(st.st_uid, 0);
	CHECK_EQ(st.st_gid, 4242);
	CHECK(stat(D.ctl, &st) == 0, "stat control socket");
	CHECK_EQ(st.st_mode & 0777, 0640);
	CHECK_EQ(st.st_uid, 1000);
	CHECK_EQ(st.st_gid, 4343);
}

static void allow(void)
{
	/* The socket's mode keeps uid 1001 out before uffdd sees it. */
	CHECK_EQ(as_user(1001, try_hello, NULL), 2);
	chmod(D.sock, 0666);
	CHECK_EQ(as_user(1000, try_hello, NULL), 0);
	CHECK_EQ(as_user(1001, try_hello, NULL), 1);
	chmod(D.sock, 0660); /* as the configuration made it */
}

/* limits.regions across clients, then raised by a reload. */
static void regions_limit(void)
{
	struct sc_region r[6];
	int s1, s2;
	json_object *o;
	FILE *f;

	for (int i = 0; i < 6; i++)
		CHECK(sc_region(&r[i], UFFD_KIND_SHMEM, 1 << 20, 1, 1) == 0,
		      "fixture");
	s1 = sc_connect(D.sock);
	s2 = sc_connect(D.sock);
	CHECK(sc_hello(s1) == 0 && sc_hello(s2) == 0, "hello");
	CHECK_EQ(reg(s1, &r[0], "a"), 0);
	CHECK_EQ(reg(s1, &r[1], "b"), 0);
	CHECK_EQ(reg(s2, &r[2], "c"), 0);
	CHECK_EQ(reg(s2, &r[3], "d"), 0);
	CHECK_EQ(reg(s2, &r[4], "e"), -ENOSPC);
	o = td_status(&D);
	CHECK_EQ(j_int(o, "limits.regions"), 4);
	CHECK_EQ(j_int(o, "totals.regions_refused"), 1);
	CHECK_EQ(j_int(o, "totals.live_regions"), 4);
	json_object_put(o);
	/* A reload raises the limit for new requests. */
	f = fopen(D.config, "w");
	fputs("{\"socket_mode\":\"0660\",\"limits\":{\"regions\":5}}", f);
	fclose(f);
	kill(D.pid, SIGHUP);
	CHECK(td_wait_total(&D, "limits.regions", 5, 3000) == 0, "reloaded");
	CHECK_EQ(reg(s2, &r[4], "e"), 0);
	CHECK_EQ(reg(s1, &r[5], "f"), -ENOSPC);
	close(s1);
	close(s2);
	CHECK(td_wait_total(&D, "totals.live_regions", 0, 3000) == 0,
	      "every region released");
	for (int i = 0; i < 6; i++)
		sc_region_free(&r[i]);
}

static int setup(void)
{
	return td_setup(
	    &D, "{\"socket_mode\":\"0660\",\"socket_group\":4242,"
		"\"control_socket_mode\":\"0640\",\"control_socket_owner\":"
		"1000,\"control_socket_group\":4343,"
		"\"access\":{\"allow_uids\":[0,1000]},"
		"\"limits\":{\"regions\":4}}");
}

static void teardown(void)
{
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "sockets",
	  .title =
	      "data and control sockets get their own owner, group and mode",
	  .run = sockets,
	  .needs = T_NEED_ROOT },
	{ .name = "allow",
	  .title = "socket mode 0660 root:4242 keeps uid 1001 out; at 0666, "
		   "access.allow_uids lets uid 1000 in and refuses uid 1001",
	  .run = allow,
	  .needs = T_NEED_ROOT },
	{ .name = "regions-limit",
	  .title =
	      "limits.regions: the daemon-wide region limit, across clients; "
	      "a reload raises it for new requests",
	  .run = regions_limit,
	  .needs = T_NEED_ROOT },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "sec-perms", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
