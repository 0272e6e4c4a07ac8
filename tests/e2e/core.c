/* SPDX-License-Identifier: MIT */
/*
 * End to end: a real uffdd, real client processes faulting on real
 * hugetlb and shmem memory, counters checked exactly through the control
 * socket, and the failures a daemon must survive.
 */
#include "harness.h"
#include "uffd/client.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

static struct tdaemon D;

/* Run uffd-touch with args; its JSON line is parsed into *out. */
static int touch(json_object **out, const char *kind, const char *size,
		 const char *threads, const char *name, const char *hold)
{
	char path[160];
	const char *argv[] = { t_bin("uffd-touch"),
			       "--socket",
			       D.sock,
			       "--kind",
			       kind,
			       "--size",
			       size,
			       "--threads",
			       threads,
			       "--name",
			       name,
			       "--hold",
			       hold,
			       NULL };
	int rc;

	snprintf(path, sizeof(path), "%s/touch-%s.json", D.dir, name);
	rc = t_run(path, argv);
	if (out)
		*out = json_object_from_file(path);
	return rc;
}

/* Start uffd-touch in the background, holding its region for hold s. */
static pid_t touch_bg(const char *kind, const char *size, const char *name,
		      const char *hold, uid_t uid)
{
	pid_t pid = fork();

	if (pid == 0) {
		char path[160];
		int fd;

		snprintf(path, sizeof(path), "%s/touch-%s.json", D.dir, name);
		fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0666);
		if (fd >= 0) {
			if (fchown(fd, uid, uid) < 0)
				_exit(125);
			dup2(fd, 1);
			close(fd);
		}
		if (uid && (setgid(uid) < 0 || setuid(uid) < 0))
			_exit(126);
		execl(t_bin("uffd-touch"), "uffd-touch", "--socket", D.sock,
		      "--kind", kind, "--size", size, "--name", name, "--hold",
		      hold, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Wait until the daemon has no client and its fd count is back. */
static void expect_clean(int fds_before, const char *after)
{
	int now = -1;

	CHECK(td_wait_total(&D, "totals.clients", 0, 5000) == 0,
	      "clients left after %s", after);
	for (int i = 0; i < 200; i++) {
		now = t_fd_count(D.pid);
		if (now == fds_before)
			break;
		usleep(10000);
	}
	CHECK(now == fds_before, "daemon holds %d fds after %s, %d before", now,
	      after, fds_before);
}

static void check_region(const char *name, int64_t faults, int64_t pages)
{
	json_object *st = td_status(&D), *r = j_region(st, name, NULL);

	CHECK(r != NULL, "region %s not in status", name);
	if (r) {
		CHECK_EQ(j_int(r, "faults"), faults);
		CHECK_EQ(j_int(r, "pages_mapped"), pages);
		CHECK_EQ(j_int(r, "errors"), 0);
		CHECK(j_int(r, "latency_ns.p50") > 0, "no latency recorded");
		CHECK(j_int(r, "latency_ns.max") >= j_int(r, "latency_ns.p99"),
		      "max < p99");
	}
	json_object_put(st);
}

static void test_kind(const char *kind, const char *name, int64_t pages)
{
	json_object *st0 = td_status(&D), *st1, *out;
	int64_t f0 = j_int(st0, "totals.faults"),
		p0 = j_int(st0, "totals.pages_mapped");
	pid_t pid;

	pid = touch_bg(kind, "64M", name, "2", 0);
	/* The client holds its region 2 s after verifying: look at it then. */
	for (int i = 0; i < 300; i++) {
		json_object *s = td_status(&D);
		json_object *r = j_region(s, name, NULL);
		int done = r && j_int(r, "pages_mapped") == pages;

		json_object_put(s);
		if (done)
			break;
		usleep(10000);
	}
	check_region(name, pages, pages);
	CHECK_EQ(wait_exit(pid), 0);
	{
		char path[160];

		snprintf(path, sizeof(path), "%s/touch-%s.json", D.dir, name);
		out = json_object_from_file(path);
	}
	CHECK(out && json_object_get_boolean(j_path(out, "verified")),
	      "uffd-touch did not verify");
	CHECK_EQ(j_int(out, "pages"), pages);
	CHECK(j_int(out, "elapsed_ns") > 0, "no elapsed_ns");
	json_object_put(out);
	/* Totals keep counting after the client has gone. */
	CHECK(td_wait_total(&D, "totals.clients", 0, 5000) == 0,
	      "client stays");
	st1 = td_status(&D);
	CHECK_EQ(j_int(st1, "totals.faults") - f0, pages);
	CHECK_EQ(j_int(st1, "totals.pages_mapped") - p0, pages);
	CHECK_EQ(j_int(st1, "totals.regions"), 0);
	json_object_put(st0);
	json_object_put(st1);
}

/* 64 MiB: hugetlb 32 faults and pages, shmem 16384. */
static void test_touch(enum t_kind kind, const void *arg)
{
	(void)arg;
	if (kind == T_HUGETLB)
		test_kind("hugetlb", "huge64", 32);
	else
		test_kind("shmem", "shm64", 16384);
}

static void test_threads(void)
{
	json_object *out = NULL, *st0 = td_status(&D), *st1;

	CHECK_EQ(touch(&out, "shmem", "32M", "8", "threads", "0"), 0);
	CHECK(out && json_object_get_boolean(j_path(out, "verified")),
	      "not verified");
	st1 = td_status(&D);
	CHECK_EQ(j_int(st1, "totals.faults") - j_int(st0, "totals.faults"),
		 8192);
	CHECK_EQ(j_int(st1, "totals.pages_mapped") -
		     j_int(st0, "totals.pages_mapped"),
		 8192);
	json_object_put(out);
	json_object_put(st0);
	json_object_put(st1);
}

static void test_many_clients(void)
{
	static const char *names[] = { "mc-h1", "mc-s1", "mc-h2",
				       "mc-s2", "mc-s3", "mc-s4" };
	pid_t pids[6];
	json_object *st0 = td_status(&D), *st1;

	if (t_need_hugepages(20) < 0) {
		t_skip("no hugepages");
		json_object_put(st0);
		return;
	}
	for (int i = 0; i < 6; i++)
		pids[i] = touch_bg(i == 0 || i == 2 ? "hugetlb" : "shmem",
				   "16M", names[i], "0", 0);
	for (int i = 0; i < 6; i++)
		CHECK(wait_exit(pids[i]) == 0, "client %s failed", names[i]);
	CHECK(td_wait_total(&D, "totals.clients", 0, 5000) == 0,
	      "clients stay");
	st1 = td_status(&D);
	/* 2 x 8 hugepages + 4 x 4096 small pages. */
	CHECK_EQ(j_int(st1, "totals.faults") - j_int(st0, "totals.faults"),
		 2 * 8 + 4 * 4096);
	CHECK_EQ(j_int(st1, "totals.errors"), j_int(st0, "totals.errors"));
	json_object_put(st0);
	json_object_put(st1);
}

static void test_unprivileged(void)
{
	json_object *st, *c;
	pid_t pid;
	char path[160];
	json_object *out;

	pid = touch_bg("shmem", "8M", "nobody", "1", NOBODY);
	for (int i = 0; i < 200; i++) {
		st = td_status(&D);
		c = j_region(st, "nobody", NULL);
		if (c && j_int(c, "pages_mapped") == 2048)
			break;
		json_object_put(st);
		st = NULL;
		usleep(10000);
	}
	CHECK(st != NULL, "region of uid 65534 never fully mapped");
	if (st) {
		c = j_client(st, pid);
		CHECK_EQ(j_int(c, "uid"), NOBODY);
		/* Not in grant.uids: it had to make a user-mode-only uffd. */
		CHECK(strcmp(json_object_get_string(j_path(c, "uffd")),
			     "user-mode-only") == 0,
		      "uffd kind %s",
		      json_object_get_string(j_path(c, "uffd")));
		CHECK(!json_object_get_boolean(j_path(c, "granted")),
		      "granted");
		json_object_put(st);
	}
	CHECK_EQ(wait_exit(pid), 0);
	snprintf(path, sizeof(path), "%s/touch-nobody.json", D.dir);
	out = json_object_from_file(path);
	CHECK(out && json_object_get_boolean(j_path(out, "verified")),
	      "not verified");
	json_object_put(out);
}

/*
 * In a child running as uid: allocate a shmem region through the daemon,
 * then read() a file straight into a page that is registered but not yet
 * mapped.  The kernel takes that fault on the program's behalf: it reaches
 * the daemon only with a full uffd.  Exit 0 if read() filled the page, 3
 * if it failed with EFAULT, other values on other errors.
 */
static int read_into_region(const char *sock, const char *file, uid_t uid,
			    char *mode, size_t mode_len)
{
	int pfd[2];
	pid_t pid;
	int st;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct uffd_client *c;
		struct uffd_region *r;
		struct uffd_region_spec spec = { .kind = UFFD_KIND_SHMEM,
						 .size = 1 << 20,
						 .name = "readinto" };
		char *p, expect[4096];
		const char *m;
		int fd;
		ssize_t n;

		close(pfd[0]);
		if (setgid(uid) < 0 || setuid(uid) < 0)
			_exit(10);
		if (uffd_connect(sock, "reader", 0, &c) < 0)
			_exit(11);
		if (uffd_region_alloc(c, &spec, &r) < 0)
			_exit(12);
		m = uffd_client_uffd_mode(c) == UFFD_MODE_DEVICE ? "device"
		    : uffd_client_uffd_mode(c) == UFFD_MODE_USER_ONLY
			? "user-mode-only"
			: "syscall";
		if (write(pfd[1], m, strlen(m)) < 0)
			_exit(13);
		close(pfd[1]);
		p = (char *)uffd_region_addr(r) + 8 * 4096;
		fd = open(file, O_RDONLY);
		if (fd < 0)
			_exit(14);
		n = read(fd, p, 4096);
		if (n < 0)
			_exit(errno == EFAULT ? 3 : 15);
		if (pread(fd, expect, sizeof(expect), 0) != 4096 ||
		    memcmp(p, expect, 4096) != 0)
			_exit(16);
		uffd_region_release(r);
		uffd_disconnect(c);
		_exit(0);
	}
	close(pfd[1]);
	memset(mode, 0, mode_len);
	if (read(pfd[0], mode, mode_len - 1) < 0)
		mode[0] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void test_grant(void)
{
	struct tdaemon saved = D, g;
	char file[160], mode[32], buf[4096];
	int fd, rc;

	snprintf(file, sizeof(file), "%s/data.bin", D.dir);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	fd = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, buf, sizeof(buf)) == sizeof(buf), "file");
	close(fd);

	/* Default config: only root is granted; uid 65534 is not. */
	rc = read_into_region(D.sock, file, NOBODY, mode, sizeof(mode));
	CHECK(rc == 3, "without grant: child exit %d, want 3 (EFAULT)", rc);
	CHECK(strcmp(mode, "user-mode-only") == 0, "mode %s", mode);

	/* A daemon whose config grants uid 65534 the device. */
	CHECK(td_start(&g, "{\"grant\": {\"uids\": [0, 65534]}}", NULL) == 0,
	      "granting daemon did not start");
	D = g;
	rc = read_into_region(g.sock, file, NOBODY, mode, sizeof(mode));
	CHECK(rc == 0, "with grant: child exit %d, want 0", rc);
	CHECK(strcmp(mode, "device") == 0, "mode %s", mode);
	CHECK_EQ(td_stop(&g), 0);
	D = saved;
}

/* A raw protocol peer: connect, optionally HELLO, send one datagram. */
static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", D.sock);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int raw_hello(int s)
{
	struct uffdd_hello h = { .min_version = UFFDD_PROTO_MIN,
				 .max_version = UFFDD_PROTO_MAX,
				 .name = "raw" };
	struct uffdd_msg m;
	char err[160];

	if (uffdd_send(s, UFFDD_HELLO, 1, &h, sizeof(h), NULL, 0) < 0)
		return -1;
	for (int i = 0; i < 200; i++) {
		int rc = uffdd_recv(s, &m, err, sizeof(err));

		if (rc == -EAGAIN) {
			usleep(5000);
			continue;
		}
		if (rc < 0)
			return rc;
		uffdd_msg_close_fds(&m);
		return m.hdr.type == UFFDD_WELCOME ? 0 : -EPROTO;
	}
	return -ETIMEDOUT;
}

/* Wait for the daemon's answer: its ERROR code, 0 for a non-error,
 * -ECONNRESET if it hung up. */
static int raw_reply(int s, char *msg, size_t len)
{
	struct uffdd_msg m;
	char err[160];

	for (int i = 0; i < 400; i++) {
		int rc = uffdd_recv(s, &m, err, sizeof(err));

		if (rc == -EAGAIN) {
			usleep(5000);
			continue;
		}
		if (rc < 0)
			return rc;
		uffdd_msg_close_fds(&m);
		if (m.hdr.type == UFFDD_ERROR) {
			snprintf(msg, len, "%s", m.u.error.message);
			return m.u.error.code;
		}
		return 0;
	}
	return -ETIMEDOUT;
}

static void reg_body(struct uffdd_register *r)
{
	memset(r, 0, sizeof(*r));
	r->start = 0x7f0000000000ULL;
	r->length = 1 << 20;
	r->page_size = 4096;
	r->kind = UFFDD_KIND_SHMEM;
	snprintf(r->name, sizeof(r->name), "evil");
}

static void still_serves(const char *after)
{
	json_object *out = NULL;

	CHECK(touch(&out, "shmem", "4M", "2", "good", "0") == 0,
	      "good client failed after %s", after);
	CHECK(out && json_object_get_boolean(j_path(out, "verified")),
	      "good client not verified after %s", after);
	json_object_put(out);
}

static void test_bad_input(void)
{
	struct uffdd_register r;
	char msg[200];
	unsigned char junk[300];
	int s, rc, fds[2], before;

	before = t_fd_count(D.pid);

	/* Garbage bytes: refused, session dropped. */
	s = raw_connect();
	memset(junk, 0x5a, sizeof(junk));
	CHECK(send(s, junk, sizeof(junk), 0) == sizeof(junk), "send");
	rc = raw_reply(s, msg, sizeof(msg));
	CHECK(rc == EBADMSG, "garbage: %d %s", rc, msg);
	CHECK(raw_reply(s, msg, sizeof(msg)) == -ECONNRESET, "not dropped");
	close(s);
	still_serves("garbage");

	/* REGISTER before HELLO. */
	s = raw_connect();
	reg_body(&r);
	fds[0] = eventfd(0, EFD_CLOEXEC);
	fds[1] = memfd_create("x", MFD_CLOEXEC);
	CHECK(ftruncate(fds[1], 1 << 20) == 0, "ftruncate");
	uffdd_send(s, UFFDD_REGISTER, 2, &r, sizeof(r), fds, 2);
	rc = raw_reply(s, msg, sizeof(msg));
	CHECK(rc == EPROTO && strstr(msg, "HELLO"), "before hello: %d %s", rc,
	      msg);
	CHECK_EQ(raw_hello(s), 0);
	/* A second HELLO. */
	{
		struct uffdd_hello h = { .min_version = UFFDD_PROTO_MIN,
					 .max_version = UFFDD_PROTO_MAX,
					 .name = "again" };

		uffdd_send(s, UFFDD_HELLO, 3, &h, sizeof(h), NULL, 0);
		rc = raw_reply(s, msg, sizeof(msg));
		CHECK(rc == EPROTO && strstr(msg, "already"),
		      "2nd hello: %d %s", rc, msg);
	}
	/* An eventfd in place of the uffd. */
	uffdd_send(s, UFFDD_REGISTER, 4, &r, sizeof(r), fds, 2);
	rc = raw_reply(s, msg, sizeof(msg));
	CHECK(rc == EBADF && strstr(msg, "not a userfaultfd") &&
		  strstr(msg, "eventfd"),
	      "eventfd: %d %s", rc, msg);
	/* A regular file in place of the uffd. */
	close(fds[0]);
	fds[0] = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	uffdd_send(s, UFFDD_REGISTER, 5, &r, sizeof(r), fds, 2);
	rc = raw_reply(s, msg, sizeof(msg));
	CHECK(rc == EBADF && strstr(msg, "not a userfaultfd"), "file: %d %s",
	      rc, msg);
	/* The session survives refused requests: an unknown-region
	 * UNREGISTER still gets its own answer. */
	{
		struct uffdd_unregister u = { 12345 };

		uffdd_send(s, UFFDD_UNREGISTER, 6, &u, sizeof(u), NULL, 0);
		rc = raw_reply(s, msg, sizeof(msg));
		CHECK(rc == ENOENT, "unregister unknown: %d %s", rc, msg);
	}
	/* A missing descriptor: malformed, the session ends. */
	uffdd_send(s, UFFDD_REGISTER, 7, &r, sizeof(r), fds, 1);
	rc = raw_reply(s, msg, sizeof(msg));
	CHECK(rc == EBADMSG && strstr(msg, "descriptors"), "1 fd: %d %s", rc,
	      msg);
	close(s);
	close(fds[0]);
	close(fds[1]);
	still_serves("wrong descriptors");

	/* A length that lies and an unknown type. */
	s = raw_connect();
	CHECK_EQ(raw_hello(s), 0);
	{
		struct uffdd_hdr h = { UFFDD_MAGIC, UFFDD_PROTO_MAX,
				       UFFDD_UNREGISTER, 500, 9 };
		unsigned char b[sizeof(h) + 8] = { 0 };

		memcpy(b, &h, sizeof(h));
		CHECK(send(s, b, sizeof(b), 0) == sizeof(b), "send");
		rc = raw_reply(s, msg, sizeof(msg));
		CHECK(rc == EBADMSG && strstr(msg, "says 500"),
		      "lying length: "
		      "%d %s",
		      rc, msg);
	}
	close(s);
	s = raw_connect();
	{
		struct uffdd_hdr h = { UFFDD_MAGIC, UFFDD_PROTO_MAX, 77, 0, 9 };

		CHECK(send(s, &h, sizeof(h), 0) == sizeof(h), "send");
		rc = raw_reply(s, msg, sizeof(msg));
		CHECK(rc == EBADMSG && strstr(msg, "unknown message type 77"),
		      "unknown type: %d %s", rc, msg);
	}
	close(s);
	/* A connection that just goes away, before HELLO. */
	s = raw_connect();
	close(s);
	still_serves("lying length and unknown type");
	expect_clean(before, "bad input");
}

struct blocker {
	char *base;
	size_t psz, pages, idx, n;
};

static void *touch_pages(void *arg)
{
	struct blocker *b = arg;
	volatile char *p;
	unsigned sum = 0;

	for (size_t i = b->idx; i < b->pages; i += b->n) {
		p = b->base + i * b->psz;
		sum += (unsigned char)*p;
	}
	return (void *)(uintptr_t)sum;
}

/*
 * A client that registers a region, reports ready on fd `ready`, waits for
 * a byte on `go`, then touches every page from 4 threads and exits 0 when
 * every byte is right.
 */
static pid_t blocked_client(const char *sock, int ready, int go, int kind)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct uffd_client *c;
		struct uffd_region *r;
		struct uffd_region_spec spec = { .kind = kind,
						 .size = 8 << 20,
						 .name = "victim" };
		pthread_t th[4];
		struct blocker b[4];
		char x;
		uint32_t *fill, *srv;

		if (uffd_connect(sock, "victim", 0, &c) < 0 ||
		    uffd_region_alloc(c, &spec, &r) < 0)
			_exit(20);
		fill = uffd_region_fill_addr(r);
		for (size_t i = 0; i < (8u << 20) / 4; i++)
			fill[i] = (uint32_t)i ^ 0xabcd1234u;
		if (write(ready, "r", 1) != 1 || read(go, &x, 1) != 1)
			_exit(21);
		for (int i = 0; i < 4; i++) {
			b[i] = (struct blocker){ uffd_region_addr(r),
						 uffd_region_page_size(r),
						 (8u << 20) /
						     uffd_region_page_size(r),
						 (size_t)i, 4 };
			pthread_create(&th[i], NULL, touch_pages, &b[i]);
		}
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
		srv = uffd_region_addr(r);
		for (size_t i = 0; i < (8u << 20) / 4; i++)
			if (srv[i] != ((uint32_t)i ^ 0xabcd1234u))
				_exit(22);
		/*
		 * The daemon may be gone; its socket then polls POLLHUP.
		 * The kernel may release the dead daemon's uffds (waking us)
		 * a moment before its socket, so wait for the event.
		 */
		{
			struct pollfd p = { .fd = uffd_client_fd(c),
					    .events = POLLIN };

			poll(&p, 1, 300);
		}
		_exit(uffd_client_check(c) == 0 ? 0 : 30);
	}
	return pid;
}

static void test_client_killed_mid_fault(void)
{
	int ready[2], go[2], before;
	pid_t pid;
	char x;

	before = t_fd_count(D.pid);
	if (pipe(ready) < 0 || pipe(go) < 0)
		abort();
	pid = blocked_client(D.sock, ready[1], go[0], UFFD_KIND_SHMEM);
	CHECK(read(ready[0], &x, 1) == 1, "client not ready");
	kill(D.pid, SIGSTOP);
	CHECK(write(go[1], "g", 1) == 1, "go");
	CHECK(t_wait_uffd_blocked(pid, 4, 10000) == 4,
	      "the client's 4 threads are not all blocked in faults");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	kill(D.pid, SIGCONT);
	expect_clean(before, "killing a client mid-fault");
	still_serves("a client killed mid-fault");
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

static void test_daemon_killed(void)
{
	struct tdaemon k;
	int ready[2], go[2], rc;
	pid_t pid;
	char x;

	CHECK(td_start(&k, NULL, NULL) == 0, "daemon");
	if (pipe(ready) < 0 || pipe(go) < 0)
		abort();
	pid = blocked_client(k.sock, ready[1], go[0], UFFD_KIND_SHMEM);
	CHECK(read(ready[0], &x, 1) == 1, "client not ready");
	kill(k.pid, SIGSTOP);
	CHECK(write(go[1], "g", 1) == 1, "go");
	CHECK(t_wait_uffd_blocked(pid, 4, 10000) == 4,
	      "the client's 4 threads are not all blocked in faults");
	td_kill(&k);
	/* Exit 30: every byte right, and the library reports the loss. */
	rc = wait_exit(pid);
	CHECK(rc == 30, "client exit %d, want 30", rc);
	td_stop(&k);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

static void test_no_daemon(void)
{
	json_object *out = NULL;
	char path[200];
	const char *argv[] = { t_bin("uffd-touch"),
			       "--socket",
			       path,
			       "--kind",
			       "shmem",
			       "--size",
			       "1M",
			       NULL };
	const char *argv_fb[] = { t_bin("uffd-touch"),
				  "--socket",
				  path,
				  "--kind",
				  "shmem",
				  "--size",
				  "1M",
				  "--fallback",
				  NULL };
	char outp[200];

	snprintf(path, sizeof(path), "%s/absent.sock", D.dir);
	snprintf(outp, sizeof(outp), "%s/fallback.json", D.dir);
	CHECK_EQ(t_run(NULL, argv), 1);
	CHECK_EQ(t_run(outp, argv_fb), 0);
	out = json_object_from_file(outp);
	CHECK(out && !json_object_get_boolean(j_path(out, "served")) &&
		  json_object_get_boolean(j_path(out, "verified")),
	      "fallback output");
	json_object_put(out);
}

static int base_fds;

static int setup(void)
{
	if (td_setup(&D, NULL) < 0)
		return -1;
	base_fds = t_fd_count(D.pid);
	return 0;
}

static void teardown(void)
{
	expect_clean(base_fds, "the whole suite");
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "touch",
	  .title = "64 MiB touched by uffd-touch: one fault and one page "
		   "mapped per page, every byte right",
	  .fn = test_touch,
	  .kinds = T_KINDS,
	  .hugepages = 40 },
	{ .name = "threads",
	  .title = "a client with 8 threads faulting at once",
	  .run = test_threads },
	{ .name = "many-clients",
	  .title = "six clients at once, hugetlb and shmem",
	  .run = test_many_clients },
	{ .name = "unprivileged",
	  .title = "an unprivileged client (uid 65534) is served",
	  .needs = T_NEED_ROOT,
	  .run = test_unprivileged },
	{ .name = "grant",
	  .title = "read() into an unmapped page: works with the grant, EFAULT "
		   "without",
	  .needs = T_NEED_ROOT,
	  .run = test_grant },
	{ .name = "bad-input",
	  .title =
	      "bad input: each gets a clear error, others are still served",
	  .run = test_bad_input },
	{ .name = "client-killed",
	  .title = "a client killed with threads blocked in faults: no leak",
	  .run = test_client_killed_mid_fault },
	{ .name = "daemon-killed",
	  .title =
	      "uffdd killed while faults are blocked: the client carries on",
	  .run = test_daemon_killed },
	{ .name = "no-daemon",
	  .title = "no daemon: a clear error, and the fallback to plain memory",
	  .run = test_no_daemon },
};

int main(int argc, char **argv)
{
	const struct t_suite s = {
		"core",
		T_CASES(cases),
		setup,
		"the daemon's descriptors are back where they started; it "
		"stops cleanly",
		teardown,
	};

	return t_main(argc, argv, &s);
}
