/* SPDX-License-Identifier: MIT */
/*
 * The daemon's files (core/files.c, proto/fdcheck.c): a configured path is
 * opened beneath policy_dir without following a link or climbing out, never
 * blocks on a FIFO, and only a regular file on a local file system is
 * taken from a client.
 */
#include "core/files.h"
#include "fdcheck.h"
#include "harness.h"
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], out[64];

static int opened(const char *path, enum policy_file_use use, char *err,
		  size_t len)
{
	int fd = files_open_configured(dir, path, use, err, len);

	if (fd >= 0)
		close(fd);
	return fd < 0 ? fd : 0;
}

static void in(char *buf, size_t len, const char *base, const char *name)
{
	snprintf(buf, len, "%s/%s", base, name);
}

static void test_configured(void)
{
	char p[200], err[256];
	uint64_t t0;

	in(p, sizeof(p), dir, "img");
	CHECK_EQ(opened(p, POLICY_FILE_READ, err, sizeof(err)), 0);
	in(p, sizeof(p), dir, "link");
	CHECK_EQ(opened(p, POLICY_FILE_READ, err, sizeof(err)), -ELOOP);
	CHECK(strstr(err, "no symbolic link") != NULL, "%s", err);
	in(p, sizeof(p), dir, "dlink/img");
	CHECK(opened(p, POLICY_FILE_READ, err, sizeof(err)) < 0, "dir link");
	in(p, sizeof(p), dir, "sub/../img");
	CHECK_EQ(opened(p, POLICY_FILE_READ, err, sizeof(err)), -EPERM);
	in(p, sizeof(p), out, "secret");
	CHECK_EQ(opened(p, POLICY_FILE_READ, err, sizeof(err)), -EPERM);
	CHECK(strstr(err, "not under policy_dir") != NULL, "%s", err);
	/* A FIFO: refused at once, not waited on. */
	in(p, sizeof(p), dir, "fifo");
	t0 = t_now_ns();
	CHECK_EQ(opened(p, POLICY_FILE_READ, err, sizeof(err)), -EINVAL);
	CHECK(t_now_ns() - t0 < 1000000000ull, "blocked on a FIFO");
	CHECK(strstr(err, "not a regular file") != NULL, "%s", err);
	/* record's file: created (or truncated) beneath dir. */
	in(p, sizeof(p), dir, "sub/new.trace");
	CHECK_EQ(opened(p, POLICY_FILE_WRITE, err, sizeof(err)), 0);
	CHECK(access(p, F_OK) == 0, "created");
}

/* The same rules where the kernel lacks openat2. */
static void test_walk(void)
{
	int d = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

	fd = files_walk_open(d, "sub/x", POLICY_FILE_READ);
	CHECK(fd >= 0, "sub/x: %s", strerror(-fd));
	if (fd >= 0)
		close(fd);
	CHECK_EQ(files_walk_open(d, "link", POLICY_FILE_READ), -ELOOP);
	CHECK(files_walk_open(d, "dlink/img", POLICY_FILE_READ) < 0,
	      "dir link");
	CHECK_EQ(files_walk_open(d, "sub/../img", POLICY_FILE_READ), -EXDEV);
	fd = files_walk_open(d, "fifo", POLICY_FILE_READ);
	CHECK(fd >= 0, "a FIFO opens without blocking (fstat refuses it)");
	if (fd >= 0)
		close(fd);
	close(d);
}

static void test_client_files(void)
{
	char p[200], err[256];
	int rd, wr, path, proc;
	uint64_t size = 0;

	in(p, sizeof(p), dir, "img");
	rd = open(p, O_RDONLY | O_CLOEXEC);
	wr = open(p, O_WRONLY | O_CLOEXEC);
	path = open(p, O_PATH | O_CLOEXEC);
	proc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	CHECK_EQ(fd_check_file(rd, FD_FILE_READ, &size, err, sizeof(err)), 0);
	CHECK_EQ(size, 4096);
	CHECK_EQ(fd_check_file(rd, FD_FILE_WRITE, NULL, err, sizeof(err)),
		 -EACCES);
	CHECK_EQ(fd_check_file(wr, FD_FILE_READ, NULL, err, sizeof(err)),
		 -EACCES);
	CHECK_EQ(fd_check_file(wr, FD_FILE_WRITE, NULL, err, sizeof(err)), 0);
	CHECK_EQ(fd_check_file(path, FD_FILE_READ, NULL, err, sizeof(err)),
		 -EACCES);
	CHECK_EQ(fd_check_file(proc, FD_FILE_READ, NULL, err, sizeof(err)),
		 -EXDEV);
	fprintf(stderr, "#   /proc/self/status: %s\n", err);
	close(rd);
	close(wr);
	close(path);
	close(proc);
}

static void test_under(void)
{
	CHECK(strcmp(policy_path_under("/var/lib/uffdd", "/var/lib/uffdd/a/b"),
		     "a/b") == 0,
	      "a/b");
	CHECK(strcmp(policy_path_under("/x/", "/x/y"), "y") == 0, "trailing /");
	CHECK(policy_path_under("/x", "/xy/z") == NULL, "prefix of a name");
	CHECK(policy_path_under("/x", "/x/") == NULL, "the directory itself");
	CHECK(policy_path_under("/x", "/x/a/../../etc") == NULL, "..");
	CHECK(policy_path_under("/x", "/x/./a") == NULL, ".");
	CHECK(strcmp(policy_path_under("/", "/etc/x"), "etc/x") == 0, "/");
}

static int setup(void)
{
	char p[200], q[200];
	int fd, ok;

	snprintf(dir, sizeof(dir), "/tmp/uffdd-files.%d", (int)getpid());
	snprintf(out, sizeof(out), "/tmp/uffdd-files-out.%d", (int)getpid());
	ok = mkdir(dir, 0755) == 0 && mkdir(out, 0755) == 0;
	in(p, sizeof(p), dir, "sub");
	ok = ok && mkdir(p, 0755) == 0;
	in(p, sizeof(p), dir, "img");
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	ok = ok && fd >= 0 && ftruncate(fd, 4096) == 0;
	if (fd >= 0)
		close(fd);
	in(q, sizeof(q), dir, "sub/x");
	fd = open(q, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	in(q, sizeof(q), out, "secret");
	fd = open(q, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	in(q, sizeof(q), dir, "link");
	ok = ok && symlink(p, q) == 0;
	in(q, sizeof(q), dir, "dlink");
	ok = ok && symlink(dir, q) == 0;
	in(q, sizeof(q), dir, "fifo");
	ok = ok && mkfifo(q, 0644) == 0;
	return ok ? 0 : -1;
}

static void teardown(void)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, out);
	CHECK(system(cmd) == 0, "cleanup");
}

static const struct t_case cases[] = {
	{ .name = "configured",
	  .title = "a configured path: beneath policy_dir, no link, no .., "
		   "no wait on a FIFO; record's file created there",
	  .run = test_configured },
	{ .name = "walk",
	  .title = "the same rules without openat2 (one component at a time)",
	  .run = test_walk },
	{ .name = "client-files",
	  .title = "a client's descriptor: open for its use, not O_PATH, not "
		   "on procfs",
	  .run = test_client_files },
	{ .name = "under",
	  .title = "a path under policy_dir, lexically",
	  .run = test_under },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "files", T_CASES(cases), setup,
				   "the test's files are removed", teardown };

	return t_main(argc, argv, &s);
}
