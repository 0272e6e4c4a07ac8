/* SPDX-License-Identifier: MIT */
/*
 * Protocol unit tests over real SOCK_SEQPACKET socketpairs with real
 * descriptors: every message round-trips; every malformed datagram is
 * refused with the right error and leaks no descriptor.
 */
#include "fdcheck.h"
#include "harness.h"
#include "probe.h"
#include "uffd_uapi.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static int sp[2];

static void pair(void)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
}

static void unpair(void)
{
	close(sp[0]);
	close(sp[1]);
}

/* Send raw bytes with optional fds, bypassing the encoder. */
static void raw_send(const void *buf, size_t len, const int *fds, int nfds)
{
	if (t_send_raw(sp[0], buf, len, fds, nfds) < 0)
		perror("sendmsg");
}

static void round_trip(uint16_t type, const void *body, size_t len, int nfds)
{
	struct uffdd_msg m;
	char err[160] = "";
	int fds[UFFDD_MAX_FDS], before, rc;

	for (int i = 0; i < UFFDD_MAX_FDS; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	pair();
	before = t_fd_count(getpid());
	CHECK_EQ(uffdd_send(sp[0], type, 77, body, len, fds, nfds), 0);
	rc = uffdd_recv(sp[1], &m, err, sizeof(err));
	CHECK(rc == 0, "%s: %s", uffdd_type_name(type), err);
	if (rc == 0) {
		CHECK_EQ(m.hdr.type, type);
		CHECK_EQ(m.hdr.seq, 77);
		CHECK_EQ(m.hdr.length, len);
		CHECK_EQ(m.nfds, nfds);
		CHECK_EQ(m.hdr.version, UFFDD_PROTO_MAX);
		CHECK(len == 0 || memcmp(&m.u, body, len) == 0, "body differs");
		CHECK_EQ(t_fd_count(getpid()), before + nfds);
		uffdd_msg_close_fds(&m);
	}
	CHECK_EQ(t_fd_count(getpid()), before);
	for (int i = 0; i < UFFDD_MAX_FDS; i++)
		close(fds[i]);
	unpair();
}

static void test_round_trips(void)
{
	struct uffdd_hello h = { 2, 2, UFFDD_HELLO_WANT_GRANT, "app", 3, 0 };
	struct uffdd_welcome w = { .version = 2,
				   .kernel_features = 0x600,
				   .session_id = 42,
				   .max_regions = 9 };
	struct uffdd_welcome wg = w;
	struct uffdd_register r = { .start = 0x200000,
				    .length = 0x400000,
				    .offset = 4096,
				    .page_size = 4096,
				    .kind = UFFDD_KIND_SHMEM,
				    .uffd_mode = 1,
				    .name = "reg",
				    .policy = "continue" };
	struct uffdd_register rf = r;
	struct uffdd_registered rd = { .region_id = 0x1234567890abcdefULL };
	struct uffdd_registered rc = { .region_id = 7,
				       .flags = UFFDD_REG_CONTENT };
	struct uffdd_unregister u = { 0xfeedULL };
	struct uffdd_publish p = { 1, 2, 3 };
	struct uffdd_error e = { EINVAL, UFFDD_REGISTER, 0, "nope" };
	struct uffdd_image_open io = { .version = 0,
				       .flags = UFFDD_IMAGE_RECORD,
				       .name = "vm.img" };
	struct uffdd_image im = { .image_id = 3,
				  .version = 2,
				  .size = 5000,
				  .map_len = 8192,
				  .page_size = 4096,
				  .fetch_size = 65536,
				  .timeout_ms = 10000 };
	struct uffdd_forked f = { .hello = { 2, 2, UFFDD_HELLO_WANT_GRANT,
					     "child", 0, 0 } };

	f.reg = r;
	wg.flags = UFFDD_WELCOME_GRANT;
	round_trip(UFFDD_HELLO, &h, sizeof(h), 0);
	round_trip(UFFDD_WELCOME, &w, sizeof(w), 0);
	round_trip(UFFDD_WELCOME, &wg, sizeof(wg), 1);
	round_trip(UFFDD_REGISTER, &r, sizeof(r), 2);
	/* Version 2: the policy's files after the uffd and the memfd. */
	rf.nfiles = 1;
	snprintf(rf.policy, sizeof(rf.policy), "populate:#0");
	round_trip(UFFDD_REGISTER, &rf, sizeof(rf), 3);
	round_trip(UFFDD_REGISTERED, &rd, sizeof(rd), 0);
	/* ...and the page-state file of a region the daemon fills. */
	round_trip(UFFDD_REGISTERED, &rc, sizeof(rc), 1);
	round_trip(UFFDD_UNREGISTER, &u, sizeof(u), 0);
	round_trip(UFFDD_OK, NULL, 0, 0);
	round_trip(UFFDD_ERROR, &e, sizeof(e), 0);
	round_trip(UFFDD_PUBLISH, &p, sizeof(p), 0);
	round_trip(UFFDD_IMAGE_OPEN, &io, sizeof(io), 0);
	round_trip(UFFDD_IMAGE, &im, sizeof(im), 1);
	round_trip(UFFDD_FORKED, &f, sizeof(f), 3);
}

#define V UFFDD_PROTO_MAX

struct bad_case {
	const char *what;
	int want; /* negative errno */
};

/* Build a datagram: header + body bytes as given. */
static size_t frame(unsigned char *buf, uint32_t magic, uint16_t ver,
		    uint16_t type, uint32_t hdr_len, const void *body,
		    size_t body_len)
{
	struct uffdd_hdr h = { magic, ver, type, hdr_len, 1 };

	memcpy(buf, &h, sizeof(h));
	if (body_len)
		memcpy(buf + sizeof(h), body, body_len);
	return sizeof(h) + body_len;
}

static void expect_refused(const char *what, const void *buf, size_t len,
			   const int *fds, int nfds, int want)
{
	struct uffdd_msg m;
	char err[160] = "";
	int before, rc;

	pair();
	before = t_fd_count(getpid());
	raw_send(buf, len, fds, nfds);
	rc = uffdd_recv(sp[1], &m, err, sizeof(err));
	CHECK(rc == want, "%s: got %d (%s), want %d", what, rc, err, want);
	CHECK(rc == 0 || err[0], "%s: no error text", what);
	/* A refused message must not leave its descriptors behind. */
	CHECK(t_fd_count(getpid()) == before, "%s: fd leak", what);
	if (rc == 0)
		uffdd_msg_close_fds(&m);
	unpair();
	fprintf(stderr, "#   %-40s -> %s\n", what, err);
}

static void expect_accepted(const char *what, const void *buf, size_t len)
{
	struct uffdd_msg m;
	char err[160] = "";
	int rc;

	pair();
	raw_send(buf, len, NULL, 0);
	rc = uffdd_recv(sp[1], &m, err, sizeof(err));
	CHECK(rc == 0, "%s: refused (%s)", what, err);
	if (rc == 0)
		uffdd_msg_close_fds(&m);
	unpair();
}

/* Image names a client may not send: each would reach a store's object
 * name, a file name or a log line. */
static const struct {
	const char *what;
	const char *s;
	size_t len;
	int rc;
} bad_names[] = {
#define NAME(w, lit, rc)                                                       \
	{                                                                      \
		w, lit, sizeof(lit) - 1, rc                                    \
	}
	NAME("empty", "", -EINVAL),
	NAME("with a slash", "a/b", -EINVAL),
	NAME("traversal", "../etc/passwd", -EINVAL),
	NAME("\"..\"", "..", -EINVAL),
	NAME("starting with a dot", ".hidden", -EINVAL),
	NAME("starting with a dash", "-rf", -EINVAL),
	NAME("with a version sign", "vm@3", -EINVAL),
	NAME("with a space", "vm 1", -EINVAL),
	NAME("with a newline", "vm\nroot", -EINVAL),
	NAME("with an escape", "vm\033[2J", -EINVAL),
	NAME("with a byte above 127", "vm\xc3\xa9", -EINVAL),
	NAME(
	    "of 65 bytes",
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    -EINVAL),
	NAME("with bytes after its NUL", "vm\0junk", -EBADMSG),
#undef NAME
};

static void test_malformed(void)
{
	unsigned char buf[2048];
	struct uffdd_hello h = { 2, 2, 0, "x", 0, 0 };
	struct uffdd_registered rd = { .region_id = 1,
				       .flags = UFFDD_REG_CONTENT };
	struct uffdd_register r = { .name = "n",
				    .policy = "p",
				    .page_size = 4096 };
	struct uffdd_error e = { 1, 0, 0, "" };
	struct uffdd_image_open io = { .name = "img" };
	struct uffdd_image im = { .page_size = 4096 };
	int efd[20];
	size_t n;

	for (int i = 0; i < 20; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC);

	memset(buf, 0xa5, sizeof(buf));
	expect_refused("garbage bytes", buf, 100, NULL, 0, -EBADMSG);
	expect_refused("shorter than the header", buf, 5, NULL, 0, -EBADMSG);
	expect_refused("empty datagram with a descriptor", buf, 0, efd, 1,
		       -EBADMSG);
	n = frame(buf, 0x12345678, V, UFFDD_HELLO, sizeof(h), &h, sizeof(h));
	expect_refused("bad magic", buf, n, NULL, 0, -EBADMSG);
	n = frame(buf, UFFDD_MAGIC, 9, UFFDD_HELLO, sizeof(h), &h, sizeof(h));
	expect_refused("unknown version", buf, n, NULL, 0, -EPROTONOSUPPORT);
	/* Version 1 named files by path: no longer spoken. */
	n = frame(buf, UFFDD_MAGIC, 1, UFFDD_HELLO, sizeof(h), &h, sizeof(h));
	expect_refused("version 1", buf, n, NULL, 0, -EPROTONOSUPPORT);
	n = frame(buf, UFFDD_MAGIC, V, 99, sizeof(h), &h, sizeof(h));
	expect_refused("unknown type", buf, n, NULL, 0, -EBADMSG);
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_HELLO, 1000, &h, sizeof(h));
	expect_refused("length that lies (too big)", buf, n, NULL, 0, -EBADMSG);
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_HELLO, 8, &h, sizeof(h));
	expect_refused("length that lies (too small)", buf, n, NULL, 0,
		       -EBADMSG);
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_HELLO, 8, &h, 8);
	expect_refused("short body for the type", buf, n, NULL, 0, -EBADMSG);
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_REGISTER, sizeof(r), &r,
		  sizeof(r));
	expect_refused("REGISTER without descriptors", buf, n, NULL, 0,
		       -EBADMSG);
	expect_refused("REGISTER with one descriptor", buf, n, efd, 1,
		       -EBADMSG);
	expect_refused("REGISTER with three descriptors", buf, n, efd, 3,
		       -EBADMSG);
	expect_refused("REGISTER with 20 descriptors", buf, n, efd, 20,
		       -EBADMSG);
	r.nfiles = 2;
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_REGISTER, sizeof(r), &r,
		  sizeof(r));
	expect_refused("REGISTER: 2 files said, 1 sent", buf, n, efd, 3,
		       -EBADMSG);
	expect_refused("REGISTER: 2 files said, 3 sent", buf, n, efd, 5,
		       -EBADMSG);
	r.nfiles = UFFDD_MAX_FILES + 1;
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_REGISTER, sizeof(r), &r,
		  sizeof(r));
	expect_refused("REGISTER: more files than allowed", buf, n, efd,
		       2 + UFFDD_MAX_FILES + 1, -EBADMSG);
	r.nfiles = 0;
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_REGISTERED, sizeof(rd), &rd,
		  sizeof(rd));
	expect_refused("REGISTERED CONTENT without its file", buf, n, NULL, 0,
		       -EBADMSG);
	rd.flags = 0x10;
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_REGISTERED, sizeof(rd), &rd,
		  sizeof(rd));
	expect_refused("REGISTERED with an unknown flag", buf, n, NULL, 0,
		       -EINVAL);
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_HELLO, sizeof(h), &h, sizeof(h));
	expect_refused("HELLO with a descriptor", buf, n, efd, 1, -EBADMSG);
	memset(r.name, 'x', sizeof(r.name));
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_REGISTER, sizeof(r), &r,
		  sizeof(r));
	expect_refused("unterminated name", buf, n, efd, 2, -EBADMSG);
	memset(e.message, 'y', sizeof(e.message));
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_ERROR, sizeof(e), &e, sizeof(e));
	expect_refused("unterminated error text", buf, n, NULL, 0, -EBADMSG);
	h.min_version = 3;
	h.max_version = 2;
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_HELLO, sizeof(h), &h, sizeof(h));
	expect_refused("empty version range", buf, n, NULL, 0, -EBADMSG);
	n = frame(buf, UFFDD_MAGIC, 1, UFFDD_IMAGE_OPEN, sizeof(io), &io,
		  sizeof(io));
	expect_refused("IMAGE_OPEN in a version 1 message", buf, n, NULL, 0,
		       -EPROTONOSUPPORT);
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_IMAGE, sizeof(im), &im,
		  sizeof(im));
	expect_refused("IMAGE without its descriptor", buf, n, NULL, 0,
		       -EBADMSG);
	expect_refused("IMAGE with two descriptors", buf, n, efd, 2, -EBADMSG);
	io.flags = 0x100;
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_IMAGE_OPEN, sizeof(io), &io,
		  sizeof(io));
	expect_refused("IMAGE_OPEN with an unknown flag", buf, n, NULL, 0,
		       -EINVAL);
	io.flags = 0;
	io.reserved = 1;
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_IMAGE_OPEN, sizeof(io), &io,
		  sizeof(io));
	expect_refused("IMAGE_OPEN with reserved set", buf, n, NULL, 0,
		       -EINVAL);
	io.reserved = 0;
	io.version = 1ull << 63;
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_IMAGE_OPEN, sizeof(io), &io,
		  sizeof(io));
	expect_refused("IMAGE_OPEN version beyond 2^63-1", buf, n, NULL, 0,
		       -EINVAL);
	io.version = 0;
	for (size_t k = 0; k < sizeof(bad_names) / sizeof(bad_names[0]); k++) {
		char what[96];

		memset(io.name, 0, sizeof(io.name));
		memcpy(io.name, bad_names[k].s, bad_names[k].len);
		n = frame(buf, UFFDD_MAGIC, V, UFFDD_IMAGE_OPEN, sizeof(io),
			  &io, sizeof(io));
		snprintf(what, sizeof(what), "IMAGE_OPEN name %s",
			 bad_names[k].what);
		expect_refused(what, buf, n, NULL, 0, bad_names[k].rc);
	}
	memset(io.name, 0, sizeof(io.name));
	memset(io.name, 'n', UFFDD_IMAGE_NAME_MAX);
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_IMAGE_OPEN, sizeof(io), &io,
		  sizeof(io));
	expect_accepted("IMAGE_OPEN name of 64 bytes", buf, n);
	memset(io.name, 'z', sizeof(io.name));
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_IMAGE_OPEN, sizeof(io), &io,
		  sizeof(io));
	expect_refused("IMAGE_OPEN name unterminated", buf, n, NULL, 0,
		       -EBADMSG);
	n = frame(buf, UFFDD_MAGIC, V, UFFDD_HELLO, 1500, buf + 16, 1500);
	expect_refused("oversized datagram", buf, n, NULL, 0, -EMSGSIZE);
	{
		struct uffdd_forked f = {
			.hello = { 2, 2, 0, "c", 0, 0 },
			.reg = { .name = "n", .policy = "p", .page_size = 4096 }
		};

		n = frame(buf, UFFDD_MAGIC, 2, UFFDD_FORKED, sizeof(f), &f,
			  sizeof(f));
		expect_refused("FORKED with two descriptors", buf, n, efd, 2,
			       -EBADMSG);
		expect_refused("FORKED with four descriptors", buf, n, efd, 4,
			       -EBADMSG);
		f.reg.nfiles = 1;
		n = frame(buf, UFFDD_MAGIC, 2, UFFDD_FORKED, sizeof(f), &f,
			  sizeof(f));
		expect_refused("FORKED with a policy file", buf, n, efd, 4,
			       -EBADMSG);
		f.reg.nfiles = 0;
		f.hello.min_version = 3;
		n = frame(buf, UFFDD_MAGIC, 2, UFFDD_FORKED, sizeof(f), &f,
			  sizeof(f));
		expect_refused("FORKED: empty version range", buf, n, efd, 3,
			       -EBADMSG);
		f.hello.min_version = 2;
		memset(f.reg.policy, 'z', sizeof(f.reg.policy));
		n = frame(buf, UFFDD_MAGIC, 2, UFFDD_FORKED, sizeof(f), &f,
			  sizeof(f));
		expect_refused("FORKED: unterminated policy", buf, n, efd, 3,
			       -EBADMSG);
		/* A type a build leaves out of its table (a gap) is no
		 * type, whatever its length (none today). */
		for (unsigned t = 1; t < UFFDD_TYPE_MAX; t++) {
			if (strcmp(uffdd_type_name(t), "UNKNOWN"))
				continue;
			n = frame(buf, UFFDD_MAGIC, 2, (uint16_t)t, 0, NULL, 0);
			expect_refused("a type in a gap of the table", buf, n,
				       NULL, 0, -EBADMSG);
			break;
		}
	}
	for (int i = 0; i < 20; i++)
		close(efd[i]);
}

static void test_end_of_stream(void)
{
	struct uffdd_msg m;
	char err[64];

	pair();
	CHECK_EQ(uffdd_recv(sp[1], &m, err, sizeof(err)), -EAGAIN);
	close(sp[0]);
	CHECK_EQ(uffdd_recv(sp[1], &m, err, sizeof(err)), -ECONNRESET);
	close(sp[1]);
}

static void test_fd_kinds(void)
{
	char err[256];
	struct memfd_info mi;
	uint64_t feats;
	int pipefd[2], efd, sock[2], file, mfd, hfd, uffd;
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_MINOR_SHMEM };

	if (pipe2(pipefd, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sock) < 0)
		abort();
	efd = eventfd(0, EFD_CLOEXEC);
	file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	mfd = memfd_create("t", MFD_CLOEXEC);
	CHECK(ftruncate(mfd, 1 << 20) == 0, "ftruncate");
	uffd = uffd_create(-1, O_CLOEXEC, 1, NULL);
	CHECK(uffd >= 0, "uffd_create");
	CHECK(ioctl(uffd, UFFDIO_API, &api) == 0, "UFFDIO_API");

	CHECK_EQ(fd_check_uffd(uffd, &feats, err, sizeof(err)), 0);
	CHECK(feats & UFFD_FEATURE_MINOR_SHMEM, "features %#llx",
	      (unsigned long long)feats);
	CHECK_EQ(fd_check_uffd(pipefd[0], NULL, err, sizeof(err)), -ENOTTY);
	CHECK(strstr(err, "pipe:") != NULL, "pipe described: %s", err);
	CHECK_EQ(fd_check_uffd(efd, NULL, err, sizeof(err)), -ENOTTY);
	CHECK(strstr(err, "eventfd") != NULL, "eventfd described: %s", err);
	CHECK_EQ(fd_check_uffd(sock[0], NULL, err, sizeof(err)), -ENOTTY);
	CHECK_EQ(fd_check_uffd(mfd, NULL, err, sizeof(err)), -ENOTTY);

	CHECK_EQ(fd_check_memfd(mfd, &mi, err, sizeof(err)), 0);
	CHECK_EQ(mi.kind, UFFDD_KIND_SHMEM);
	CHECK_EQ(mi.size, 1 << 20);
	CHECK_EQ(mi.page_size, 4096);
	CHECK_EQ(fd_check_memfd(pipefd[0], &mi, err, sizeof(err)), -EINVAL);
	CHECK_EQ(fd_check_memfd(efd, &mi, err, sizeof(err)), -EINVAL);
	CHECK_EQ(fd_check_memfd(file, &mi, err, sizeof(err)), -EINVAL);
	CHECK_EQ(fd_check_memfd(uffd, &mi, err, sizeof(err)), -EINVAL);
	hfd = memfd_create("h", MFD_CLOEXEC | MFD_HUGETLB);
	if (hfd >= 0) {
		CHECK_EQ(fd_check_memfd(hfd, &mi, err, sizeof(err)), 0);
		CHECK_EQ(mi.kind, UFFDD_KIND_HUGETLB);
		CHECK_EQ(mi.page_size, 2 << 20);
		close(hfd);
	}
	close(pipefd[0]);
	close(pipefd[1]);
	close(sock[0]);
	close(sock[1]);
	close(efd);
	close(file);
	close(mfd);
	close(uffd);
}

static const struct t_case cases[] = {
	{ .name = "round-trips",
	  .title = "every message type round-trips with its descriptors",
	  .run = test_round_trips },
	{ .name = "malformed",
	  .title = "malformed datagrams are refused and leak nothing",
	  .run = test_malformed },
	{ .name = "end-of-stream",
	  .title = "end of stream and empty queue are told apart",
	  .run = test_end_of_stream },
	{ .name = "fd-kinds",
	  .title = "descriptor kinds are told apart",
	  .run = test_fd_kinds },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "proto", T_CASES(cases), NULL, NULL, NULL };

	return t_main(argc, argv, &s);
}
