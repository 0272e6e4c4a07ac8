/* SPDX-License-Identifier: MIT */
/*
 * A client's systemd unit from its socket alone (SO_PEERPIDFD +
 * PIDFD_GET_INFO + the cgroup's inode): a real process moved into a real
 * cgroup connects, and the daemon's code must name that cgroup.
 */
#include "core/peer.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_paths(void)
{
	char u[256];
	const char *user = "/user.slice/user-1000.slice/user@1000.service/"
			   "app.slice/vm@1.service";

	unit_of_cgroup_path("/system.slice/uffdd.service", u, sizeof(u));
	CHECK(strcmp(u, "/system.slice/uffdd.service") == 0, "%s", u);
	CHECK(strcmp(unit_name(u), "uffdd.service") == 0, "%s", unit_name(u));
	unit_of_cgroup_path(
	    "/user.slice/user-1000.slice/user@1000.service/app.slice/"
	    "run-r1.scope",
	    u, sizeof(u));
	CHECK(strcmp(u, "/user.slice/user-1000.slice/user@1000.service/"
			"app.slice/run-r1.scope") == 0,
	      "%s", u);
	unit_of_cgroup_path("/system.slice/db.service/worker", u, sizeof(u));
	CHECK(strcmp(u, "/system.slice/db.service") == 0, "%s", u);
	/* A user's unit of the same name is not the system's: the rule
	 * matches the whole path, '*' inside one component. */
	unit_of_cgroup_path(user, u, sizeof(u));
	CHECK(strcmp(u, user) == 0, "%s", u);
	CHECK(fnmatch("/system.slice/vm@*.service", u, FNM_PATHNAME) != 0,
	      "a user unit matched a system unit's rule");
	unit_of_cgroup_path("/system.slice/vm@1.service", u, sizeof(u));
	CHECK(fnmatch("/system.slice/vm@*.service", u, FNM_PATHNAME) == 0,
	      "the system unit did not match");
	/* A delegated subtree naming its own cgroup like a unit. */
	unit_of_cgroup_path("/system.slice/d.service/vm@2.service", u,
			    sizeof(u));
	CHECK(fnmatch("/system.slice/vm@*.service", u, FNM_PATHNAME) != 0,
	      "%s matched", u);
	unit_of_cgroup_path("/", u, sizeof(u));
	CHECK_EQ(u[0], '\0');
	unit_of_cgroup_path("/x.servicey/.scope", u, sizeof(u));
	CHECK_EQ(u[0], '\0');
}

static const char *cg2(void)
{
	static const char *r[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	struct statfs sf;

	for (int i = 0; i < 2; i++)
		if (statfs(r[i], &sf) == 0 && sf.f_type == 0x63677270)
			return r[i];
	return NULL;
}

static void test_peer_unit(void)
{
	const char *root = cg2();
	char dir[256], procs[300], unit[128], want[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l, c, rc, go[2];
	pid_t pid;

	if (!root || getuid() != 0) {
		t_skip("needs root and a cgroup2 hierarchy");
		return;
	}
	snprintf(want, sizeof(want), "uffdd-test-%d.scope", (int)getpid());
	snprintf(dir, sizeof(dir), "%s/%s", root, want);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		t_skip("cannot create a cgroup");
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/uffdd-peer-%d.sock",
		 (int)getpid());
	unlink(sa.sun_path);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		  listen(l, 1) == 0,
	      "listen");
	if (pipe(go) < 0) {
		t_fail_at(__FILE__, __LINE__, "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		char b[16];
		int fd = open(procs, O_WRONLY), s;

		/* Move ourselves into the cgroup, then connect. */
		snprintf(b, sizeof(b), "%d", (int)getpid());
		if (fd < 0 || write(fd, b, strlen(b)) < 0)
			_exit(3);
		close(fd);
		s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(4);
		if (read(go[0], b, 1) != 1)
			_exit(5);
		_exit(0);
	}
	c = accept(l, NULL, NULL);
	rc = peer_unit(c, unit, sizeof(unit));
	CHECK(rc == 0, "peer_unit: %s", strerror(-rc));
	CHECK(strcmp(unit_name(unit), want) == 0 && unit[0] == '/',
	      "unit \"%s\", want \"/%s\"", unit, want);
	if (write(go[1], "x", 1) != 1)
		perror("write");
	waitpid(pid, &rc, 0);
	CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "child %d", rc);
	close(c);
	close(l);
	unlink(sa.sun_path);
	rmdir(dir);
}

/*
 * A child connects to l's address, then runs path (in a mount namespace of
 * its own where over is bind-mounted on it, if over is not NULL).  The
 * identity the daemon reads of it, into id.
 */
static int exe_of_child(const char *sockpath, const char *path,
			const char *over, struct peer_id *id)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c, rc;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	unlink(sockpath);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		if (over &&
		    (unshare(CLONE_NEWNS) < 0 ||
		     mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		     mount(over, path, NULL, MS_BIND, NULL) < 0))
			_exit(3);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(4);
		execl(path, path, "3", (char *)NULL);
		_exit(5);
	}
	c = accept(l, NULL, NULL);
	usleep(300000); /* it has exec'd */
	rc = peer_identify(c, id);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(c);
	close(l);
	unlink(sockpath);
	return rc;
}

/* exe is the executable's full path only if that path is the file the
 * process runs: not a file bind-mounted over it in another namespace. */
static void test_exe(void)
{
	char dir[64], real[96], other[96], sock[96], cmd[300];
	struct peer_id id;

	if (getuid() != 0) {
		t_skip("needs root (a mount namespace)");
		return;
	}
	snprintf(dir, sizeof(dir), "/tmp/uffdd-exe.%d", (int)getpid());
	snprintf(real, sizeof(real), "%s/qemu-system-x86_64", dir);
	snprintf(other, sizeof(other), "%s/evil", dir);
	snprintf(sock, sizeof(sock), "%s/s", dir);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s && cp /bin/sleep %s && "
		 "cp /bin/sleep %s",
		 dir, real, other);
	CHECK(system(cmd) == 0, "copies");
	CHECK_EQ(exe_of_child(sock, real, NULL, &id), 0);
	CHECK(strcmp(id.exe, real) == 0, "exe \"%s\", want %s", id.exe, real);
	/* Another file mounted over the path, in the client's namespace: the
	 * kernel reports the path, but it is not the file there. */
	CHECK_EQ(exe_of_child(sock, real, other, &id), 0);
	CHECK(id.exe[0] == '\0',
	      "a file bind-mounted over %s passed for it "
	      "(exe \"%s\")",
	      real, id.exe);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
}

static const struct t_case cases[] = {
	{ .name = "exe",
	  .title = "exe is the executable's full path, checked to be the "
		   "file the process runs (a file mounted over it in another "
		   "namespace is not)",
	  .run = test_exe },
	{ .name = "cgroup-path",
	  .title = "a unit is the full path of its cgroup up to the last "
		   ".service or .scope; a user's unit never passes for a "
		   "system unit of that name",
	  .run = test_paths },
	{ .name = "peer-unit",
	  .title = "peer_unit names the unit's cgroup path of the process at "
		   "the other end (from its pidfd)",
	  .run = test_peer_unit },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "peer", T_CASES(cases), NULL, NULL, NULL };

	return t_main(argc, argv, &s);
}
