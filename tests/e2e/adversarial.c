/* SPDX-License-Identifier: MIT */
/*
 * Every hostile client of issue 7 against one running uffdd, while a
 * well-behaved client (a child process using libuffdclient) keeps
 * allocating, faulting and checking every byte.  Each hostile case must get
 * a clear ERROR or a disconnect and leave a log line; at the end the good
 * client must have seen every byte right, and the daemon's descriptors and
 * memory must be back where they were.
 */
#include "sec_common.h"

#include <grp.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define IMG	    "/tmp/uffdd-adversarial.img"
#define HOSTILE_UID 1000
#define ADMIN_GID   4242
#define PER_UID	    24

static const char config[] =
    "{\"control_socket_mode\":\"0666\","
    "\"limits\":{\"clients\":100,\"clients_per_uid\":24,"
    "\"regions_per_client\":8,\"bytes_per_client\":67108864,"
    "\"messages_per_second\":500,\"pending_faults\":8,"
    "\"hello_timeout_ms\":400,\"control_connections\":8},"
    "\"access\":{\"deny_uids\":[65534]},"
    "\"admin_gids\":[4242],"
    "\"client_policies\":[\"continue\",\"gate\",\"populate\"]}";

static struct tdaemon D;
static struct good_client G;

/* A log line containing needle appeared since *mark (updated). */
static int logged(const char *needle, int *mark)
{
	int n = 0;

	for (int i = 0; i < 100; i++) {
		n = td_log_count(&D, needle);
		if (n > *mark)
			break;
		usleep(10000);
	}
	if (n <= *mark) {
		fprintf(stderr, "#   no new log line with \"%s\"\n", needle);
		return 0;
	}
	*mark = n;
	return 1;
}

/* Expect an ERROR with code on sock, then (if closes) the daemon's close. */
static void expect_error(int sock, int code, int closes, const char *what)
{
	char text[160];
	int got, type = sc_reply(sock, &got, text, sizeof(text), 5000);

	if (type != UFFDD_ERROR || got != code)
		t_fail_at(__FILE__, __LINE__,
			  "%s: reply type %d code %d (%s), expected ERROR %d",
			  what, type, got, text, code);
	else
		fprintf(stderr, "#   %s: ERROR %d \"%s\"\n", what, got, text);
	if (closes && !sc_closed(sock, 3000))
		t_fail_at(__FILE__, __LINE__, "%s: the daemon did not close",
			  what);
}

static int hostile_conn(void)
{
	int s = sc_connect(D.sock);

	if (s < 0)
		t_fail_at(__FILE__, __LINE__, "connect: %s", strerror(errno));
	return s;
}

/* ---------------------------------------------------------------- */

static void malformed(void)
{
	struct uffdd_hello h = { .min_version = UFFDD_PROTO_MIN,
				 .max_version = UFFDD_PROTO_MAX };
	unsigned char big[4096];
	int s, mark = td_log_count(&D, "malformed message");

	s = hostile_conn();
	sc_send_raw(s, "garbage", 7, NULL, 0);
	expect_error(s, EBADMSG, 1, "7-byte datagram");
	close(s);

	s = hostile_conn();
	sc_send_msg(s, 0xdeadbeef, UFFDD_PROTO_MAX, UFFDD_HELLO, sizeof(h), &h,
		    sizeof(h), NULL, 0);
	expect_error(s, EBADMSG, 1, "bad magic");
	close(s);

	s = hostile_conn();
	sc_send_msg(s, UFFDD_MAGIC, 99, UFFDD_HELLO, sizeof(h), &h, sizeof(h),
		    NULL, 0);
	expect_error(s, EPROTONOSUPPORT, 1, "protocol version 99");
	close(s);

	s = hostile_conn();
	sc_send_msg(s, UFFDD_MAGIC, UFFDD_PROTO_MAX, 77, 0, NULL, 0, NULL, 0);
	expect_error(s, EBADMSG, 1, "unknown type 77");
	close(s);

	s = hostile_conn();
	sc_send_msg(s, UFFDD_MAGIC, UFFDD_PROTO_MAX, UFFDD_HELLO, sizeof(h), &h,
		    10, NULL, 0);
	expect_error(s, EBADMSG, 1, "header length larger than the datagram");
	close(s);

	s = hostile_conn();
	sc_send_msg(s, UFFDD_MAGIC, UFFDD_PROTO_MAX, UFFDD_HELLO, 12, &h, 12,
		    NULL, 0);
	expect_error(s, EBADMSG, 1, "HELLO body of 12 bytes");
	close(s);

	s = hostile_conn();
	memset(big, 'A', sizeof(big));
	sc_send_msg(s, UFFDD_MAGIC, UFFDD_PROTO_MAX, UFFDD_HELLO, sizeof(big),
		    big, sizeof(big), NULL, 0);
	expect_error(s, EMSGSIZE, 1, "4 KiB datagram");
	close(s);

	s = hostile_conn();
	memset(h.name, 'x', sizeof(h.name)); /* no NUL */
	sc_send_msg(s, UFFDD_MAGIC, UFFDD_PROTO_MAX, UFFDD_HELLO, sizeof(h), &h,
		    sizeof(h), NULL, 0);
	expect_error(s, EBADMSG, 1, "HELLO name without NUL");
	close(s);
	CHECK(logged("malformed message", &mark), "log");
}

static void out_of_order(void)
{
	struct sc_region r;
	struct uffdd_register b;
	struct uffdd_welcome w = { 0 };
	struct uffdd_unregister u = { .region_id = 0x1234 };
	char text[160];
	int s, code, mark = td_log_count(&D, "refused");

	CHECK(sc_region(&r, UFFD_KIND_SHMEM, 1 << 20, 1, 1) == 0, "fixture");
	s = hostile_conn();
	b = sc_reg_body(&r, "early");
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EPROTO);
	fprintf(stderr, "#   REGISTER before HELLO: %s\n", text);
	uffdd_send(s, UFFDD_UNREGISTER, 3, &u, sizeof(u), NULL, 0);
	expect_error(s, EPROTO, 0, "UNREGISTER before HELLO");
	CHECK(sc_hello(s) == 0, "HELLO after the refusals");
	{
		struct uffdd_hello h = { .min_version = UFFDD_PROTO_MIN,
					 .max_version = UFFDD_PROTO_MAX };

		uffdd_send(s, UFFDD_HELLO, 4, &h, sizeof(h), NULL, 0);
		expect_error(s, EPROTO, 0, "second HELLO");
	}
	uffdd_send(s, UFFDD_WELCOME, 5, &w, sizeof(w), NULL, 0);
	expect_error(s, EPROTO, 0, "a client sending WELCOME");
	/* Region ids are per session and random: someone else's or a guess
	 * is "no such region". */
	uffdd_send(s, UFFDD_UNREGISTER, 6, &u, sizeof(u), NULL, 0);
	expect_error(s, ENOENT, 0, "UNREGISTER of a guessed region id");
	CHECK(logged("refused", &mark), "log");
	close(s);
	sc_region_free(&r);
}

static void fd_abuse(void)
{
	struct sc_region r;
	struct uffdd_register b;
	char text[160];
	int s, code, p[2], sv[2], ev, fds[24], nofeat, noapi, file;
	int mark = td_log_count(&D, "REGISTER refused");
	char path[200];

	CHECK(sc_region(&r, UFFD_KIND_SHMEM, 1 << 20, 1, 1) == 0, "fixture");
	b = sc_reg_body(&r, "abuse");
	CHECK(pipe(p) == 0, "pipe");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	ev = eventfd(0, EFD_CLOEXEC);
	/* A regular file on a disk file system (the build tree). */
	snprintf(path, sizeof(path), "%s/adversarial.file", t_bin(""));
	file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(file >= 0 && ftruncate(file, 1 << 20) == 0, "file");
	nofeat = sc_uffd(0);
	noapi = sc_uffd(-1);

	s = hostile_conn();
	CHECK(sc_hello(s) == 0, "hello");
	{
		int three[3] = { r.uffd, r.memfd, p[0] };

		uffdd_send(s, UFFDD_REGISTER, 9, &b, sizeof(b), NULL, 0);
		expect_error(s, EBADMSG, 1, "REGISTER without descriptors");
		close(s);
		s = hostile_conn();
		sc_hello(s);
		sc_send_msg(s, UFFDD_MAGIC, UFFDD_PROTO_MAX, UFFDD_REGISTER,
			    sizeof(b), &b, sizeof(b), three, 3);
		expect_error(s, EBADMSG, 1, "REGISTER with 3 descriptors");
		close(s);
	}
	for (int i = 0; i < 24; i++)
		fds[i] = p[0];
	s = hostile_conn();
	sc_send_msg(s, UFFDD_MAGIC, UFFDD_PROTO_MAX, UFFDD_REGISTER, sizeof(b),
		    &b, sizeof(b), fds, 24);
	expect_error(s, EBADMSG, 1, "24 descriptors (MSG_CTRUNC)");
	close(s);

	s = hostile_conn();
	CHECK(sc_hello(s) == 0, "hello");
	CHECK_EQ(sc_register(s, &b, p[0], r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	fprintf(stderr, "#   pipe as uffd: %d %s\n", code, text);
	CHECK_EQ(code, EBADF);
	CHECK_EQ(sc_register(s, &b, sv[0], r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EBADF);
	CHECK_EQ(sc_register(s, &b, ev, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	fprintf(stderr, "#   eventfd as uffd: %d %s\n", code, text);
	CHECK_EQ(code, EBADF);
	CHECK_EQ(sc_register(s, &b, r.uffd, file, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	fprintf(stderr, "#   disk file as memfd: %d %s\n", code, text);
	CHECK_EQ(code, EBADF);
	CHECK_EQ(sc_register(s, &b, r.uffd, p[1], &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EBADF);
	CHECK_EQ(sc_register(s, &b, nofeat, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	fprintf(stderr, "#   uffd without MINOR_SHMEM: %d %s\n", code, text);
	CHECK_EQ(code, EINVAL);
	CHECK_EQ(sc_register(s, &b, noapi, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EINVAL);
	CHECK_EQ(sc_register(s, &b, r.memfd, r.uffd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EBADF);
	{
		/* The memfd opened read-only through /proc. */
		char pp[64];
		int ro;

		snprintf(pp, sizeof(pp), "/proc/self/fd/%d", r.memfd);
		ro = open(pp, O_RDONLY | O_CLOEXEC);
		CHECK_EQ(
		    sc_register(s, &b, r.uffd, ro, &code, text, sizeof(text)),
		    UFFDD_ERROR);
		fprintf(stderr, "#   read-only memfd: %d %s\n", code, text);
		close(ro);
	}
	CHECK(logged("REGISTER refused", &mark), "log");
	close(s);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(ev);
	close(file);
	unlink(path);
	close(nofeat);
	close(noapi);
	sc_region_free(&r);
}

static void bad_ranges(void)
{
	struct sc_region r, r2, shortm, other;
	struct uffdd_register b;
	char text[160];
	int s, code, anon_ok;
	int mark = td_log_count(&D, "REGISTER refused");
	void *anon;

	CHECK(sc_region(&r, UFFD_KIND_SHMEM, 2 << 20, 1, 1) == 0, "fixture");
	CHECK(sc_region(&r2, UFFD_KIND_SHMEM, 2 << 20, 1, 1) == 0, "fixture");
	CHECK(sc_region(&other, UFFD_KIND_SHMEM, 1 << 20, 1, 1) == 0,
	      "fixture");
	s = hostile_conn();
	CHECK(sc_hello(s) == 0, "hello");

	/* A memfd shorter than the region. */
	shortm.memfd = sc_memfd(UFFD_KIND_SHMEM, 1 << 20, 1);
	b = sc_reg_body(&r, "short");
	CHECK_EQ(
	    sc_register(s, &b, r.uffd, shortm.memfd, &code, text, sizeof(text)),
	    UFFDD_ERROR);
	fprintf(stderr, "#   memfd too short: %d %s\n", code, text);
	CHECK_EQ(code, EINVAL);
	close(shortm.memfd);

	/* Offset past the end. */
	b = sc_reg_body(&r, "offset");
	b.offset = 1ull << 62;
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EINVAL);

	/* Wrap-around and beyond user space. */
	b = sc_reg_body(&r, "wrap");
	b.start = 0xfffffffffffff000ull;
	b.length = 0x2000;
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	fprintf(stderr, "#   wrap-around: %d %s\n", code, text);
	CHECK_EQ(code, EINVAL);

	/* Not page aligned; zero length; a page size that lies. */
	b = sc_reg_body(&r, "misaligned");
	b.start += 8;
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EINVAL);
	b = sc_reg_body(&r, "empty");
	b.length = 0;
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EINVAL);
	b = sc_reg_body(&r, "psz");
	b.page_size = 2 << 20;
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EINVAL);
	b = sc_reg_body(&r, "kind");
	b.kind = UFFD_KIND_HUGETLB;
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	CHECK_EQ(code, EINVAL);

	/* Unmapped address in the client. */
	b = sc_reg_body(&r, "unmapped");
	b.start = 0x100000000000ull;
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	fprintf(stderr, "#   unmapped range: %d %s\n", code, text);
	CHECK_EQ(code, EINVAL);

	/* Anonymous memory is not the memfd's kind. */
	anon = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = sc_reg_body(&r, "anon");
	b.start = (uintptr_t)anon;
	anon_ok =
	    sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text));
	CHECK_EQ(anon_ok, UFFDD_ERROR);
	fprintf(stderr, "#   anonymous range: %d %s\n", code, text);
	munmap(anon, 2 << 20);

	/* A range registered with another uffd. */
	b = sc_reg_body(&other, "other-uffd");
	CHECK_EQ(
	    sc_register(s, &b, r.uffd, other.memfd, &code, text, sizeof(text)),
	    UFFDD_ERROR);
	fprintf(stderr, "#   another uffd's range: %d %s\n", code, text);
	CHECK_EQ(code, EINVAL);

	/* A real one, then one that overlaps it. */
	b = sc_reg_body(&r, "first");
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_REGISTERED);
	b = sc_reg_body(&r, "overlap");
	b.start += r.page;
	b.length -= r.page;
	CHECK_EQ(sc_register(s, &b, r.uffd, r.memfd, &code, text, sizeof(text)),
		 UFFDD_ERROR);
	fprintf(stderr, "#   overlap: %d %s\n", code, text);
	CHECK_EQ(code, EEXIST);

	/* A mapping the client forgot to register: uffdd registers it (the
	 * uffd it was handed may) and serves it. */
	{
		struct sc_region u;
		volatile char *p;
		int ok = 1;

		void *w;

		CHECK(sc_region(&u, UFFD_KIND_SHMEM, 1 << 20, 0, 1) == 0,
		      "fixture");
		w = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED,
			 u.memfd, 0);
		memset(w, 0x5a, 1 << 20);
		munmap(w, 1 << 20);
		b = sc_reg_body(&u, "unregistered");
		CHECK_EQ(sc_register(s, &b, u.uffd, u.memfd, &code, text,
				     sizeof(text)),
			 UFFDD_REGISTERED);
		/* Its faults reach the daemon and are answered. */
		p = u.addr;
		for (size_t i = 0; i < u.len; i += 4096)
			ok &= p[i] == 0x5a;
		CHECK(ok, "bytes of the range registered by uffdd");
		sc_region_free(&u);
	}
	CHECK(logged("REGISTER refused", &mark), "log");
	close(s);
	sc_region_free(&r);
	sc_region_free(&r2);
	sc_region_free(&other);
}

static void limits_regions(void)
{
	struct sc_region r[10];
	struct uffdd_register b;
	char text[160];
	int s, code, n = 0, mark = td_log_count(&D, "REGISTER refused");

	s = hostile_conn();
	CHECK(sc_hello(s) == 0, "hello");
	for (int i = 0; i < 10; i++) {
		int t;

		CHECK(sc_region(&r[i], UFFD_KIND_SHMEM, 1 << 20, 1, 1) == 0,
		      "fixture");
		b = sc_reg_body(&r[i], "many");
		t = sc_register(s, &b, r[i].uffd, r[i].memfd, &code, text,
				sizeof(text));
		if (t == UFFDD_REGISTERED)
			n++;
		else if (i >= 8)
			CHECK_EQ(code, EMFILE);
	}
	CHECK_EQ(n, 8);
	fprintf(stderr, "#   9th region: %s\n", text);
	for (int i = 0; i < 10; i++)
		sc_region_free(&r[i]);
	close(s);

	s = hostile_conn();
	CHECK(sc_hello(s) == 0, "hello");
	{
		struct sc_region big;

		CHECK(sc_region(&big, UFFD_KIND_SHMEM, 80 << 20, 1, 1) == 0,
		      "fixture");
		b = sc_reg_body(&big, "big");
		CHECK_EQ(sc_register(s, &b, big.uffd, big.memfd, &code, text,
				     sizeof(text)),
			 UFFDD_ERROR);
		fprintf(stderr, "#   80 MiB: %s\n", text);
		CHECK_EQ(code, ENOSPC);
		sc_region_free(&big);
	}
	close(s);
	CHECK(logged("REGISTER refused", &mark), "log");
}

/* Children that drop to another uid run fn and exit with its result. */
static int as_user(uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
		   int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 ||
		    setuid(uid) < 0)
			_exit(99);
		_exit(fn(arg));
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Flood: open many connections; refused ones must say EUSERS. */
static int conn_flood(void *arg)
{
	int n = *(int *)arg, open_ = 0, refused = 0, timed_out = 0;
	int *s = calloc((size_t)n, sizeof(int));

	for (int i = 0; i < n; i++)
		s[i] = sc_connect(D.sock);
	for (int i = 0; i < n; i++) {
		int code, t;

		if (s[i] < 0)
			continue;
		t = sc_reply(s[i], &code, NULL, 0, 2000);
		if (t == UFFDD_ERROR && code == EUSERS)
			refused++;
		else if (t == UFFDD_ERROR && code == ETIMEDOUT)
			timed_out++;
		open_++;
	}
	fprintf(stderr,
		"#   uid %d: %d connections, %d refused (EUSERS), %d "
		"dropped for no HELLO (ETIMEDOUT)\n",
		(int)getuid(), open_, refused, timed_out);
	/* Every one is answered: PER_UID by the HELLO deadline. */
	return refused == n - PER_UID && timed_out == PER_UID ? 0 : 1;
}

static int denied(void *arg)
{
	int code, s = sc_connect(D.sock);

	(void)arg;
	if (s < 0)
		return 2;
	if (sc_reply(s, &code, NULL, 0, 3000) != UFFDD_ERROR || code != EACCES)
		return 1;
	return sc_closed(s, 3000) ? 0 : 3;
}

static void floods(void)
{
	int n = 60, rc;
	int mark = td_log_count(&D, "refused"),
	    markh = td_log_count(&D, "no HELLO within");
	json_object *st;

	rc = as_user(HOSTILE_UID, HOSTILE_UID, NULL, 0, conn_flood, &n);
	CHECK_EQ(rc, 0);
	CHECK(logged("refused", &mark), "refusal logged");
	CHECK(logged("no HELLO within", &markh), "HELLO deadline logged");
	/* Refusals are logged once a second: knock until the line for
	 * this one gets through the throttle (every knock refused). */
	mark = td_log_count(&D, "is denied");
	for (int i = 0; i < 50 && td_log_count(&D, "is denied") == mark; i++) {
		rc = as_user(65534, 65534, NULL, 0, denied, NULL);
		CHECK_EQ(rc, 0);
		if (rc)
			break;
		usleep(100000);
	}
	CHECK(logged("is denied", &mark), "denial logged");
	/* A root client still gets in. */
	{
		int s = hostile_conn();

		CHECK(sc_hello(s) == 0, "root HELLO after the flood");
		close(s);
	}
	st = td_status(&D);
	CHECK(j_int(st, "totals.hello_timeouts") >= PER_UID, "hello_timeouts");
	CHECK(j_int(st, "totals.denied_clients") >= 1, "denied_clients");
	CHECK(j_int(st, "totals.rejected_clients") >= n - PER_UID + 1,
	      "rejected_clients");
	CHECK_EQ(j_int(st, "limits.clients_per_uid"), PER_UID);
	json_object_put(st);
}

static void message_flood(void)
{
	struct uffdd_unregister u = { .region_id = 42 };
	int s, sent = 0, busy = 0, closed = 0;
	int mark = td_log_count(&D, "messages a second");

	s = hostile_conn();
	CHECK(sc_hello(s) == 0, "hello");
	for (int i = 0; i < 20000; i++) {
		if (uffdd_send(s, UFFDD_UNREGISTER, (uint32_t)i, &u, sizeof(u),
			       NULL, 0) < 0)
			break;
		sent++;
		/*
		 * Read the answers as they come: a datagram queue holds only
		 * net.unix.max_dgram_qlen (10 by default) unread messages, and
		 * the daemon does not wait for a client that does not read.
		 */
		{
			int code, t;

			while ((t = sc_reply(s, &code, NULL, 0, 0)) >= 0)
				if (t == UFFDD_ERROR && code == EBUSY)
					busy = 1;
			if (t == -ECONNRESET) {
				closed = 1;
				break;
			}
		}
	}
	for (;;) {
		int code, t = sc_reply(s, &code, NULL, 0, 3000);

		if (t == UFFDD_ERROR && code == EBUSY)
			busy = 1;
		if (t < 0) {
			closed = t == -ECONNRESET;
			break;
		}
	}
	fprintf(stderr, "#   %d messages sent before the daemon hung up\n",
		sent);
	CHECK(busy, "an ERROR EBUSY");
	CHECK(closed, "disconnected");
	CHECK(logged("messages a second", &mark), "log");
	close(s);
}

/* 1 once a ping on the control socket gets its pong (within timeout_ms). */
static int control_answers(int timeout_ms)
{
	uint64_t until = t_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	do {
		json_object *o = td_ask(&D, "ping");
		int pong = o && j_path(o, "pong") != NULL;

		json_object_put(o);
		if (pong)
			return 1;
		usleep(5000);
	} while (t_now_ns() < until);
	return 0;
}

static void control_flood_and_perms(void)
{
	int c[10], mark = td_log_count(&D, "limits.control_connections");

	for (int i = 0; i < 10; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", D.ctl);
		c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(c[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			t_fail_at(__FILE__, __LINE__, "control connect");
		usleep(5000);
	}
	{
		char buf[256];
		struct pollfd p = { .fd = c[9], .events = POLLIN };
		ssize_t n = poll(&p, 1, 2000) == 1
				? read(c[9], buf, sizeof(buf) - 1)
				: -1;

		buf[n > 0 ? n : 0] = '\0';
		CHECK(strstr(buf, "too many control connections") != NULL,
		      "the 10th connection is told why: \"%s\"", buf);
	}
	for (int i = 0; i < 10; i++)
		close(c[i]);
	CHECK(logged("limits.control_connections", &mark), "log");
	/* The next case needs the control socket: wait until the daemon has
	 * closed those and answers again. */
	CHECK(control_answers(5000), "the control socket answers again");
}

struct ctl_case {
	const char *req;
	const char *want; /* substring of the answer */
};

static int ctl_as(void *arg)
{
	struct ctl_case *c = arg;
	json_object *o = sc_control(D.ctl, c->req);
	const char *s = o ? json_object_to_json_string(o) : "(none)";
	int ok = o && strstr(s, c->want) != NULL;

	fprintf(stderr, "#   uid %d gid %d: %s -> %s\n", (int)getuid(),
		(int)getgid(), c->req, s);
	json_object_put(o);
	return ok ? 0 : 1;
}

static void control_perms(void)
{
	struct ctl_case status = { "{\"command\":\"status\"}", "\"totals\"" };
	struct ctl_case kick = {
		"{\"command\":\"disconnect\",\"client\":\"1\"}",
		"needs root or a group in admin_gids"
	};
	struct ctl_case admin = {
		"{\"command\":\"disconnect\",\"client\":\"1\"}", "no client 1"
	};
	gid_t g = ADMIN_GID;
	int mark = td_log_count(&D, "may not run"), ready[2], st;
	char req[128], c;
	json_object *o;
	pid_t pid;

	CHECK_EQ(as_user(HOSTILE_UID, HOSTILE_UID, NULL, 0, ctl_as, &status),
		 0);
	CHECK_EQ(as_user(HOSTILE_UID, HOSTILE_UID, NULL, 0, ctl_as, &kick), 0);
	CHECK(logged("may not run", &mark), "log");
	CHECK_EQ(as_user(HOSTILE_UID, HOSTILE_UID, &g, 1, ctl_as, &admin), 0);
	{
		const char *argv[] = { t_bin("uffdctl"), "-C",	   D.ctl,
				       "disconnect",	 "999999", NULL };

		CHECK_EQ(t_run(NULL, argv), 1); /* "no client 999999" */
	}
	/* Root disconnects a live client (a child); it sees the close. */
	CHECK(pipe(ready) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		int s = sc_connect(D.sock);

		if (sc_hello(s) < 0 || write(ready[1], "x", 1) != 1)
			_exit(2);
		_exit(sc_closed(s, 5000) ? 0 : 1);
	}
	close(ready[1]);
	CHECK(read(ready[0], &c, 1) == 1, "child connected");
	close(ready[0]);
	snprintf(req, sizeof(req),
		 "{\"command\":\"disconnect\",\"client\":\"%d\"}", (int)pid);
	o = sc_control(D.ctl, req);
	CHECK(o && j_int(o, "disconnected") == pid, "disconnect answer %s",
	      o ? json_object_to_json_string(o) : "none");
	json_object_put(o);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the client saw the disconnect (status %#x)", st);
}

/* ------------------------------------------------------------------ */
/* Children using the library: fault storm, held faults, truncation   */

struct storm {
	volatile uint64_t *base;
	size_t page;
	int idx;
	long bad;
};

static void *storm_thread(void *arg)
{
	struct storm *t = arg;

	if (t->base[t->idx * t->page / 8] != (uint64_t)t->idx + 1)
		t->bad++;
	return NULL;
}

static int fault_storm(void *arg)
{
	int nthreads = *(int *)arg;
	struct uffd_region_spec spec = { .kind = UFFD_KIND_SHMEM,
					 .size = (size_t)nthreads * 4096,
					 .name = "storm" };
	struct uffd_client *c;
	struct uffd_region *r;
	struct storm *t = calloc((size_t)nthreads, sizeof(*t));
	pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
	pthread_attr_t at;
	uint64_t *fill;
	long bad = 0;
	int started = 0;

	if (uffd_connect(D.sock, "storm", 0, &c) < 0 ||
	    uffd_region_alloc(c, &spec, &r) < 0)
		return 2;
	fill = uffd_region_fill_addr(r);
	for (int i = 0; i < nthreads; i++)
		fill[(size_t)i * 512] = (uint64_t)i + 1;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 << 10);
	for (int i = 0; i < nthreads; i++) {
		t[i] = (struct storm){ uffd_region_addr(r), 4096, i, 0 };
		if (pthread_create(&th[i], &at, storm_thread, &t[i]) == 0)
			started++;
		else
			th[i] = 0;
	}
	for (int i = 0; i < nthreads; i++)
		if (th[i]) {
			pthread_join(th[i], NULL);
			bad += t[i].bad;
		}
	fprintf(stderr, "#   %d threads faulted at once, %ld bad pages\n",
		started, bad);
	uffd_region_release(r);
	uffd_disconnect(c);
	return bad || started < nthreads / 2 ? 1 : 0;
}

static void storm(void)
{
	int n = 2000;
	pid_t pid;
	int st;

	pid = fork();
	if (pid == 0)
		_exit(fault_storm(&n));
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "storm child status %#x",
	      st);
	CHECK(good_alive(&G), "the good client is still running");
}

static void *held_thread(void *arg)
{
	volatile char *p = arg;

	(void)*p; /* blocks in the gate until killed */
	return NULL;
}

static void held_faults(void)
{
	int ready[2], mark = td_log_count(&D, "limits.pending_faults");
	pid_t pid;
	json_object *st, *reg;
	char c;
	int paused = 0;

	CHECK(pipe(ready) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		struct uffd_region_spec spec = { .kind = UFFD_KIND_SHMEM,
						 .size = 64 * 4096,
						 .name = "held",
						 .policy = "gate" };
		struct uffd_client *cl;
		struct uffd_region *r;
		pthread_t th;

		if (uffd_connect(D.sock, "held", 0, &cl) < 0 ||
		    uffd_region_alloc(cl, &spec, &r) < 0)
			_exit(2);
		for (int i = 0; i < 64; i++)
			pthread_create(&th, NULL, held_thread,
				       (char *)uffd_region_addr(r) + i * 4096);
		if (write(ready[1], "x", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	close(ready[1]);
	CHECK(read(ready[0], &c, 1) == 1, "child ready");
	close(ready[0]);
	for (int i = 0; i < 300 && !paused; i++) {
		st = td_status(&D);
		reg = j_region(st, "held", NULL);
		paused = reg && j_int(reg, "held") >= 8 &&
			 json_object_get_boolean(j_path(reg, "paused"));
		if (paused)
			fprintf(stderr, "#   region \"held\": %s\n",
				json_object_to_json_string(reg));
		json_object_put(st);
		if (!paused)
			usleep(10000);
	}
	CHECK(paused, "reading stopped at 8 held faults");
	CHECK(logged("limits.pending_faults", &mark), "log");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK(good_alive(&G), "the good client is still running");
}

static void crashes(void)
{
	for (int i = 0; i < 20; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			int s = sc_connect(D.sock);

			(void)s;
			if (i & 1)
				usleep(1000);
			kill(getpid(), SIGKILL);
		}
		waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < 20; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			struct sc_region r;
			struct uffdd_register b;
			int fds[2], s = sc_connect(D.sock);

			if (sc_hello(s) < 0 ||
			    sc_region(&r, UFFD_KIND_SHMEM, 1 << 20, 1, 1) < 0)
				_exit(1);
			b = sc_reg_body(&r, "midway");
			fds[0] = r.uffd;
			fds[1] = r.memfd;
			uffdd_send(s, UFFDD_REGISTER, 1, &b, sizeof(b), fds, 2);
			if (i & 1)
				usleep((useconds_t)(i * 50));
			kill(getpid(), SIGKILL);
		}
		waitpid(pid, NULL, 0);
	}
	CHECK(good_alive(&G), "the good client is still running");
}

static void truncation(void)
{
	struct sc_region r;
	struct uffdd_register b;
	char text[160];
	int s, code, st, img, mark = td_log_count(&D, "REGISTER refused");
	pid_t pid;

	img = open(IMG, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
	CHECK(img >= 0 && ftruncate(img, 1 << 20) == 0, "image");
	CHECK(sc_region(&r, UFFD_KIND_SHMEM, 1 << 20, 1, 0) == 0, "fixture");
	s = hostile_conn();
	CHECK(sc_hello(s) == 0, "hello");
	b = sc_reg_body(&r, "unsealed");
	snprintf(b.policy, sizeof(b.policy), "populate:#0");
	b.nfiles = 1;
	CHECK_EQ(sc_register_files(s, &b, r.uffd, r.memfd, &img, 1, &code, text,
				   sizeof(text)),
		 UFFDD_ERROR);
	close(img);
	fprintf(stderr, "#   populate, unsealed memfd: %d %s\n", code, text);
	CHECK_EQ(code, EPERM);
	CHECK(logged("REGISTER refused", &mark), "log");
	close(s);
	sc_region_free(&r);

	/* A client cuts its memfd while faulting: its own threads get SIGBUS
	 * (beyond the end of the file); the daemon does not. */
	pid = fork();
	if (pid == 0) {
		struct uffd_client *c;
		struct uffd_region *ur;
		volatile char *p;
		int fd = sc_memfd(UFFD_KIND_SHMEM, 4 << 20, 0);
		void *a = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, 0);

		if (uffd_connect(D.sock, "trunc", 0, &c) < 0 ||
		    uffd_region_adopt(c, a, 4 << 20, fd, 0, "trunc", NULL,
				      &ur) < 0)
			_exit(2);
		p = a;
		(void)p[0];
		if (ftruncate(fd, 0) < 0)
			_exit(3);
		(void)p[1 << 20]; /* SIGBUS here */
		_exit(0);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS,
	      "the client got SIGBUS (status %#x)", st);
	{
		json_object *o = td_status(&D);

		CHECK(o != NULL, "the daemon answers");
		json_object_put(o);
	}
	CHECK(good_alive(&G), "the good client is still running");
	unlink(IMG);
}

static int fd0;
static long rss0;
static uint64_t good_since_ns;

/* Pages the daemon has mapped since it started. */
static int64_t pages_mapped(void)
{
	json_object *o = td_status(&D);
	int64_t n = o ? j_int(o, "totals.pages_mapped") : -1;

	json_object_put(o);
	return n;
}

static int setup(void)
{
	struct good_result res;
	struct good_client w;

	if (td_setup(&D, config) < 0)
		return -1;
	/* Warm up: one whole client cycle (its 256 pages mapped), so that
	 * first-use allocations (worker arenas, libevent tables) are in the
	 * baseline. */
	if (good_start(&w, D.sock, UFFD_KIND_SHMEM, 1 << 20) < 0)
		return -1;
	for (int i = 0; i < 2000 && pages_mapped() < 256; i++)
		usleep(5000);
	good_stop(&w, &res);
	sc_wait_idle(&D, 5000);
	fd0 = sc_fds_settle(D.pid, -1, 0);
	rss0 = t_rss_kb(D.pid);
	fprintf(stderr, "# baseline: uffdd has %d fds, RSS %ld KiB\n", fd0,
		rss0);
	good_since_ns = t_now_ns();
	return good_start(&G, D.sock, UFFD_KIND_SHMEM, 8 << 20);
}

static void teardown(void)
{
	struct good_result res;
	json_object *st;
	long rss1;
	int fd1;

	/* The cases take less time as the daemon answers faster: give the
	 * good client the time its round count below assumes. */
	while (t_now_ns() - good_since_ns < 2000000000ull)
		usleep(20000);
	CHECK(good_alive(&G), "the good client is still running");
	CHECK(good_stop(&G, &res) == 0, "clean exit");
	fprintf(stderr,
		"#   good client: %ld rounds, %ld pages faulted, %ld bad "
		"words, %ld errors %s\n",
		res.rounds, res.pages, res.bad, res.errors, res.last_error);
	CHECK(res.rounds > (under_tool() ? 0 : 10), "rounds");
	CHECK_EQ(res.bad, 0);
	CHECK_EQ(res.errors, 0);

	CHECK(sc_wait_idle(&D, 10000) == 0, "no clients left");
	fd1 = sc_fds_settle(D.pid, fd0, 5000);
	rss1 = t_rss_kb(D.pid);
	st = td_status(&D);
	printf("# uffdd fds %d -> %d, RSS %ld -> %ld KiB; live regions %lld\n",
	       fd0, fd1, rss0, rss1,
	       (long long)j_int(st, "totals.live_regions"));
	CHECK_EQ(fd1, fd0);
	CHECK_EQ(j_int(st, "totals.live_regions"), 0);
	/* Allocator caches may keep a little: 4 MiB of slack, not growth
	 * proportional to what was thrown at it. */
	if (!under_tool())
		CHECK(rss1 <= rss0 + 4096, "RSS grew by %ld KiB", rss1 - rss0);
	json_object_put(st);
	if (getenv("UFFDD_TEST_DUMP"))
		td_dump_log(&D);
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "malformed",
	  .title = "malformed, truncated, oversized messages, unknown versions "
		   "and types, lengths that lie: ERROR and disconnect",
	  .run = malformed,
	  .needs = T_NEED_ROOT },
	{ .name = "out-of-order",
	  .title =
	      "out-of-order messages and other clients' region ids: ERROR, "
	      "the session goes on",
	  .run = out_of_order,
	  .needs = T_NEED_ROOT },
	{ .name = "fd-abuse",
	  .title = "too many fds, MSG_CTRUNC, fds of the wrong kind: ERROR, "
		   "nothing leaks",
	  .run = fd_abuse,
	  .needs = T_NEED_ROOT },
	{ .name = "bad-ranges",
	  .title = "short memfds, overlaps, wrap-around, misaligned, unmapped, "
		   "anonymous and unregistered ranges",
	  .run = bad_ranges,
	  .needs = T_NEED_ROOT },
	{ .name = "regions-per-client",
	  .title =
	      "a client that registers without end: limits.regions_per_client "
	      "and bytes_per_client",
	  .run = limits_regions,
	  .needs = T_NEED_ROOT },
	{ .name = "floods",
	  .title =
	      "thousands of connections and idle ones that never say HELLO: "
	      "clients_per_uid, hello_timeout_ms; access.deny_uids",
	  .run = floods,
	  .needs = T_NEED_ROOT },
	{ .name = "message-flood",
	  .title =
	      "a message flood: limits.messages_per_second, ERROR EBUSY and "
	      "disconnect",
	  .run = message_flood,
	  .needs = T_NEED_ROOT },
	{ .name = "control-flood",
	  .title = "control socket: connection limit; read-only for anyone, "
		   "disconnect only for root and admin_gids",
	  .run = control_flood_and_perms,
	  .needs = T_NEED_ROOT },
	{ .name = "control-perms",
	  .title = "control: status for anyone; disconnect needs root or "
		   "admin_gids (supplementary groups count)",
	  .run = control_perms,
	  .needs = T_NEED_ROOT },
	{ .name = "storm",
	  .title = "a fault storm from 2000 threads: every page right, others "
		   "served",
	  .run = storm,
	  .needs = T_NEED_ROOT },
	{ .name = "held-faults",
	  .title =
	      "faults held by a policy: limits.pending_faults stops reading; "
	      "the client killed with 64 threads blocked: nothing leaks",
	  .run = held_faults,
	  .needs = T_NEED_ROOT },
	{ .name = "crashes",
	  .title =
	      "clients killed before HELLO and mid-registration (x20 each)",
	  .run = crashes,
	  .needs = T_NEED_ROOT },
	{ .name = "truncation",
	  .title =
	      "memfd without F_SEAL_SHRINK for a policy that maps it: ERROR; "
	      "a memfd truncated after hand-off: the daemon lives on",
	  .run = truncation,
	  .needs = T_NEED_ROOT },
};

int main(int argc, char **argv)
{
	const struct t_suite s = {
		"adversarial",
		T_CASES(cases),
		setup,
		"the good client saw every byte right all along; the daemon's "
		"descriptors and memory are back where they were; it stops "
		"cleanly",
		teardown,
	};

	return t_main(argc, argv, &s);
}
