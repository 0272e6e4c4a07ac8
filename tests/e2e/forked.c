/* SPDX-License-Identifier: MIT */
/*
 * FORKED (protocol 2): a forked child registers its copy of its parent's
 * region in one message on the connection it inherited, with one end of a
 * socketpair of its own, and waits for at most one answer, which comes on
 * its own socket.  The parent's connection never hears of it, even when it
 * is refused or malformed in what it carries.  Driven through the
 * async-signal-safe client libuffdpreload uses (client_fork.h), against a
 * real uffdd, real memfds, real children.
 */
#include "client_fork.h"
#include "policy_common.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>

#ifndef F_ADD_SEALS
#define F_ADD_SEALS   1033
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW   0x0004
#endif

static struct tdaemon D;

/* A parent as libuffdpreload makes one: a raw connection, one region. */
struct parent {
	struct uffd_raw c;
	int memfd, kind;
	size_t len, psz;
	unsigned char *addr;
	uint64_t region;
};

/* The answer to seq on sock within 2 s (other answers skipped): 0 ok. */
static int answer(struct uffd_raw *c, uint32_t seq, struct uffdd_msg *m)
{
	for (int i = 0; i < 20; i++) {
		int rc = uffd_raw_recv(c, m, 100);

		if (rc == -EAGAIN)
			continue;
		if (rc < 0)
			return rc;
		if (m->hdr.seq == seq)
			return 0;
		uffdd_msg_close_fds(m);
	}
	return -ETIMEDOUT;
}

static int parent_open(struct parent *p, int kind, size_t len,
		       const char *policy)
{
	struct uffd_raw_sent sent = { .stage = "" };
	struct uffd_raw_region r;
	struct uffdd_msg m;
	uint32_t seq;

	memset(p, 0, sizeof(*p));
	p->c.sock = p->c.dev_fd = p->memfd = -1;
	p->kind = kind;
	p->len = len;
	p->psz = pc_page(kind);
	if (uffd_raw_open(&p->c, D.sock) < 0 ||
	    uffd_raw_hello(&p->c, "forked-parent", UFFDD_HELLO_WANT_GRANT,
			   &seq) < 0 ||
	    answer(&p->c, seq, &m) < 0 || m.hdr.type != UFFDD_WELCOME)
		return -1;
	p->c.kernel_features = m.u.welcome.kernel_features;
	p->c.version = m.u.welcome.version;
	if (m.nfds == 1) {
		p->c.dev_fd = m.fds[0];
		m.nfds = 0;
	}
	p->memfd = memfd_create(
	    "forked", MFD_CLOEXEC | MFD_ALLOW_SEALING |
			  (kind == UFFD_KIND_HUGETLB ? MFD_HUGETLB : 0));
	if (p->memfd < 0 || ftruncate(p->memfd, (off_t)len) < 0 ||
	    fallocate(p->memfd, 0, 0, (off_t)len) < 0)
		return -1;
	fcntl(p->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	p->addr =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, p->memfd, 0);
	if (p->addr == MAP_FAILED)
		return -1;
	for (size_t i = 0; i < len / p->psz; i++)
		p->addr[i * p->psz + 5] = (unsigned char)(i * 7 + 3);
	r = (struct uffd_raw_region){ .start = (uintptr_t)p->addr,
				      .length = len,
				      .page_size = (uint32_t)p->psz,
				      .kind = kind,
				      .memfd = p->memfd,
				      .name = "forked-region",
				      .policy = policy };
	if (uffd_raw_register(&p->c, &r, 0, &sent) < 0 ||
	    answer(&p->c, sent.seq, &m) < 0 || m.hdr.type != UFFDD_REGISTERED)
		return -1;
	p->region = m.u.registered.region_id;
	return 0;
}

static void parent_close(struct parent *p)
{
	if (p->addr && p->addr != MAP_FAILED)
		munmap(p->addr, p->len);
	if (p->memfd >= 0)
		close(p->memfd);
	if (p->c.dev_fd >= 0)
		close(p->c.dev_fd);
	if (p->c.sock >= 0)
		close(p->c.sock);
}

/*
 * In the child: FORKED for the whole region with policy (NULL: the
 * parent's), then touch `touch` pages (every stride-th) and check them.
 * Exit 0 served and right; 1 a wrong byte; 2 FORKED not answered with
 * REGISTERED; 3 refused (ERROR with ref_type FORKED, as expected_error
 * asks); 4 other.
 */
static int child(struct parent *p, const char *policy, int expect_error,
		 size_t touch, size_t stride, int wait_ms)
{
	struct uffd_raw_sent sent = { .stage = "" };
	struct uffd_raw_region r = { .start = (uintptr_t)p->addr,
				     .length = p->len,
				     .page_size = (uint32_t)p->psz,
				     .kind = p->kind,
				     .memfd = p->memfd,
				     .name = "forked-region",
				     .policy = policy };
	int parent_sock = p->c.sock;
	struct uffdd_msg m;
	long bad = 0;

	if (uffd_raw_forked(&p->c, "forked-child", UFFDD_HELLO_WANT_GRANT, &r,
			    0, &sent) < 0)
		return 4;
	if (p->c.sock == parent_sock)
		return 4;
	close(parent_sock);
	if (answer(&p->c, sent.seq, &m) < 0)
		return 2;
	if (expect_error)
		return m.hdr.type == UFFDD_ERROR &&
			       m.u.error.ref_type == UFFDD_FORKED
			   ? 3
			   : 4;
	if (m.hdr.type != UFFDD_REGISTERED || !m.u.registered.region_id)
		return 2;
	if (wait_ms)
		usleep((useconds_t)wait_ms * 1000);
	for (size_t i = 0; i < touch; i++) {
		size_t pg = (i * stride) % (p->len / p->psz);

		bad += p->addr[pg * p->psz + 5] != (unsigned char)(pg * 7 + 3);
	}
	return bad ? 1 : 0;
}

struct child_args {
	struct parent *p;
	const char *policy;
	int expect_error;
	size_t touch, stride;
	int wait_ms;
};

static int child_main(void *arg)
{
	struct child_args *a = arg;

	return child(a->p, a->policy, a->expect_error, a->touch, a->stride,
		     a->wait_ms);
}

/* Is the parent's connection still fine?  An UNREGISTER-free probe: a
 * PUBLISH on a continue region answers with an ERROR, and nothing else
 * must be queued before it. */
static int parent_alive(struct parent *p)
{
	struct uffdd_publish pb = { .region_id = p->region,
				    .offset = 0,
				    .length = p->psz };
	struct uffdd_msg m;
	uint32_t seq = ++p->c.seq;
	int rc;

	if (uffdd_send(p->c.sock, UFFDD_PUBLISH, seq, &pb, sizeof(pb), NULL,
		       0) < 0)
		return 0;
	rc = uffd_raw_recv(&p->c, &m, 2000);
	uffdd_msg_close_fds(&m);
	return rc == 0 && m.hdr.seq == seq;
}

/* The child's own session, named by it, its parent's pid known. */
static void served(enum t_kind kind, const void *arg)
{
	struct parent p;
	struct child_args a = { .p = &p, .touch = 64, .stride = 37 };
	json_object *st;
	int64_t f0, k0, c0;
	int rc, logged = td_log_count(&D, "forked from client");

	(void)arg;
	CHECK(parent_open(&p, (int)kind, 16 << 20, "continue") == 0,
	      "the parent's region");
	if (!p.region)
		goto out;
	if (kind == T_HUGETLB) {
		a.touch = 8;
		a.stride = 1;
	}
	f0 = j_int(st = td_status(&D), "totals.faults");
	k0 = j_int(st, "totals.forked");
	c0 = j_int(st, "totals.child_clients");
	json_object_put(st);
	rc = pc_in_child(child_main, &a);
	CHECK_EQ(rc, 0);
	CHECK_EQ(td_log_count(&D, "forked from client") - logged, 1);
	st = td_status(&D);
	CHECK_EQ(j_int(st, "totals.faults") - f0, (int64_t)a.touch);
	CHECK_EQ(j_int(st, "totals.forked") - k0, 1);
	CHECK_EQ(j_int(st, "totals.child_clients") - c0, 0); /* FORKED only */
	CHECK_EQ(j_int(st, "totals.errors"), 0);
	json_object_put(st);
	CHECK(parent_alive(&p), "the parent's connection answers as before");
out:
	parent_close(&p);
}

/* Refused: the answer on the child's socket, none on the parent's. */
static void refused(void)
{
	struct parent p;
	struct child_args a = { .p = &p,
				.policy = "populate:/etc/passwd",
				.expect_error = 1 };

	CHECK(parent_open(&p, UFFD_KIND_SHMEM, 1 << 20, "continue") == 0,
	      "the parent's region");
	if (!p.region)
		goto out;
	CHECK_EQ(pc_in_child(child_main, &a), 3);
	CHECK(parent_alive(&p), "nothing about it on the parent's connection");
out:
	parent_close(&p);
}

/* What a FORKED carries is checked: not a socket, nothing answered. */
static void not_a_socket(void)
{
	struct parent p;
	struct uffdd_forked f;
	int pfd[2], fds[3];

	CHECK(parent_open(&p, UFFD_KIND_SHMEM, 1 << 20, "continue") == 0,
	      "the parent's region");
	if (!p.region || pipe(pfd) < 0)
		goto out;
	memset(&f, 0, sizeof(f));
	f.hello.min_version = 2;
	f.hello.max_version = 2;
	fds[0] = pfd[0];
	fds[1] = pfd[1]; /* not a uffd either */
	fds[2] = p.memfd;
	CHECK_EQ(uffdd_send(p.c.sock, UFFDD_FORKED, 999, &f, sizeof(f), fds, 3),
		 0);
	CHECK(parent_alive(&p),
	      "the parent's next answer is its own, the connection stays");
	CHECK_EQ(td_log_count(&D, "a forked child's FORKED refused"), 1);
	close(pfd[0]);
	close(pfd[1]);
out:
	parent_close(&p);
}

/*
 * Each FORKED makes a session like a connection does: limits.clients
 * holds (for root as for anyone; other uids also have their share).
 */
static void limited(void)
{
	struct tdaemon d2;
	struct tdaemon saved = D;
	struct parent p;
	struct child_args a = { .p = &p, .expect_error = 1 };

	if (td_start(&d2, "{\"limits\":{\"clients\":1}}", NULL) < 0) {
		CHECK(0, "a second daemon");
		return;
	}
	D = d2; /* parent_open and the children talk to it */
	CHECK(parent_open(&p, UFFD_KIND_SHMEM, 1 << 20, "continue") == 0,
	      "the parent's region");
	if (p.region) {
		CHECK_EQ(pc_in_child(child_main, &a), 3);
		CHECK_EQ(td_log_count(&d2, "(limits.clients 1)"), 1);
		CHECK(parent_alive(&p), "the parent is served on");
	}
	parent_close(&p);
	D = saved;
	CHECK_EQ(td_stop(&d2), 0);
}

/* In a child: a connection of its own and HELLO, answered.  0 welcomed. */
static int own_hello(void *arg)
{
	struct uffd_raw c = { .sock = -1, .dev_fd = -1 };
	struct uffdd_msg m;
	uint32_t seq;

	(void)arg;
	if (uffd_raw_open(&c, D.sock) < 0 ||
	    uffd_raw_hello(&c, "forked-own", 0, &seq) < 0 ||
	    answer(&c, seq, &m) < 0)
		return 2;
	uffdd_msg_close_fds(&m);
	return m.hdr.type == UFFDD_WELCOME ? 0 : 1;
}

/*
 * Forks followed are counted from what the kernel says (status, never the
 * log, which throttles): a child of a client that connects itself counts,
 * a second connection of a client whose parent is none does not.
 */
static void counted(void)
{
	struct parent p;
	json_object *st;
	int64_t k0;

	CHECK(parent_open(&p, UFFD_KIND_SHMEM, 1 << 20, "continue") == 0,
	      "the parent's region");
	k0 = j_int(st = td_status(&D), "totals.child_clients");
	json_object_put(st);
	CHECK_EQ(pc_in_child(own_hello, NULL), 0);
	CHECK_EQ(pc_in_child(own_hello, NULL), 0);
	CHECK_EQ(own_hello(NULL), 0); /* ours: our parent is no client */
	st = td_status(&D);
	CHECK_EQ(j_int(st, "totals.child_clients") - k0, 2);
	json_object_put(st);
	parent_close(&p);
}

static int setup(void)
{
	return td_setup(&D, NULL);
}

static void teardown(void)
{
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "served",
	  .title = "a child registers with one FORKED on its parent's "
		   "connection and is served in a session of its own",
	  .fn = served,
	  .kinds = T_KINDS,
	  .hugepages = 8 },
	{ .name = "refused",
	  .title = "a refused FORKED is answered on the child's socket, never "
		   "on the parent's",
	  .run = refused },
	{ .name = "not-a-socket",
	  .title = "a FORKED whose first descriptor is no socket is dropped, "
		   "the parent's connection stays",
	  .run = not_a_socket },
	{ .name = "counted",
	  .title = "a client's child that connects itself counts as a fork "
		   "followed, another client's connection does not",
	  .run = counted },
	{ .name = "limited",
	  .title = "limits.clients counts a FORKED child as a connection",
	  .run = limited },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "forked", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
