/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the security tests (adversarial.c, crash.c, soak.c,
 * sec_perms.c): raw protocol connections that say exactly what a hostile
 * client would, real uffds and memfds to lie with, and a well-behaved
 * client process that keeps faulting and checking its bytes.
 */
#ifndef UFFDD_TEST_SEC_COMMON_H
#define UFFDD_TEST_SEC_COMMON_H

#include "harness.h"
#include "uffd/client.h"
#include "uffd_uapi.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * 1 when uffdd runs under a tool (UFFDD_TEST_WRAPPER, e.g. valgrind): its
 * RSS is then the tool's, and everything is slower.
 */
/*
 * Under valgrind or a sanitizer build the daemon's RSS says nothing about
 * leaks (shadow memory, quarantine); LeakSanitizer and valgrind check
 * those instead.
 */
static inline int under_tool(void)
{
	const char *w = getenv("UFFDD_TEST_WRAPPER");
	const char *s = getenv("UFFDD_SANITIZED");

	return (w && *w) || (s && *s && strcmp(s, "0") != 0);
}

/* A raw connection to the data socket, or -1. */
static inline int sc_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Send a raw datagram with fds (any number). */
static inline int sc_send_raw(int sock, const void *buf, size_t n,
			      const int *fds, int nfds)
{
	return t_send_raw(sock, buf, n, fds, nfds);
}

/* A header + body as the protocol lays it out (possibly lying). */
static inline int sc_send_msg(int sock, uint32_t magic, uint16_t version,
			      uint16_t type, uint32_t length, const void *body,
			      size_t body_len, const int *fds, int nfds)
{
	unsigned char buf[8192];
	struct uffdd_hdr h = { magic, version, type, length, 7 };

	if (sizeof(h) + body_len > sizeof(buf))
		return -EMSGSIZE;
	memcpy(buf, &h, sizeof(h));
	if (body_len)
		memcpy(buf + sizeof(h), body, body_len);
	return sc_send_raw(sock, buf, sizeof(h) + body_len, fds, nfds);
}

/*
 * The next message from the daemon: its type (UFFDD_ERROR with *code set
 * to the error's code), -ECONNRESET when the daemon closed, -ETIMEDOUT.
 */
static inline int sc_reply(int sock, int *code, char *text, size_t len,
			   int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	struct uffdd_msg m;
	char err[160];
	int rc;

	if (code)
		*code = 0;
	if (text && len)
		text[0] = '\0';
	for (;;) {
		rc = poll(&p, 1, timeout_ms);
		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0 && errno == EINTR)
			continue;
		rc = uffdd_recv(sock, &m, err, sizeof(err));
		if (rc == -EAGAIN)
			continue;
		if (rc < 0)
			return rc == -ECONNRESET ? rc : -EPROTO;
		uffdd_msg_close_fds(&m);
		if (m.hdr.type == UFFDD_ERROR) {
			if (code)
				*code = m.u.error.code;
			if (text && len)
				snprintf(text, len, "%s", m.u.error.message);
		}
		return m.hdr.type;
	}
}

/* 1 once the daemon has closed sock (reads until EOF or timeout). */
static inline int sc_closed(int sock, int timeout_ms)
{
	for (;;) {
		int rc = sc_reply(sock, NULL, NULL, 0, timeout_ms);

		if (rc == -ECONNRESET)
			return 1;
		if (rc == -ETIMEDOUT)
			return 0;
	}
}

static inline int sc_hello(int sock)
{
	struct uffdd_hello h = { .min_version = UFFDD_PROTO_MIN,
				 .max_version = UFFDD_PROTO_MAX };
	int rc;

	snprintf(h.name, sizeof(h.name), "hostile");
	rc = uffdd_send(sock, UFFDD_HELLO, 1, &h, sizeof(h), NULL, 0);
	if (rc < 0)
		return rc;
	return sc_reply(sock, NULL, NULL, 0, 5000) == UFFDD_WELCOME ? 0
								    : -EPROTO;
}

/* A memfd of kind with len bytes, every page in the page cache. */
static inline int sc_memfd(int kind, size_t len, int seal)
{
	int fd = memfd_create(
	    "sec", MFD_CLOEXEC | MFD_ALLOW_SEALING |
		       (kind == UFFD_KIND_HUGETLB ? MFD_HUGETLB : 0));

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)len) < 0 ||
	    fallocate(fd, 0, 0, (off_t)len) < 0) {
		close(fd);
		return -1;
	}
	if (seal)
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	return fd;
}

/* A uffd with the given UFFDIO_API features (-1: no UFFDIO_API at all). */
static inline int sc_uffd(long long features)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API };

	if (fd < 0)
		return -1;
	if (features >= 0) {
		api.features = (uint64_t)features;
		if (ioctl(fd, UFFDIO_API, &api) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* A real registration for the lies to start from. */
struct sc_region {
	int kind;
	int memfd, uffd;
	void *addr;
	size_t len, page;
};

static inline size_t sc_page(int kind)
{
	if (kind == UFFD_KIND_HUGETLB)
		return t_huge_page_size();
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* reg: also UFFDIO_REGISTER the mapping MINOR on the uffd. */
static inline int sc_region(struct sc_region *r, int kind, size_t len, int reg,
			    int seal)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->page = sc_page(kind);
	r->len = len;
	r->memfd = sc_memfd(kind, len, seal);
	r->uffd =
	    sc_uffd(kind == UFFD_KIND_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
					      : UFFD_FEATURE_MINOR_SHMEM);
	if (r->memfd < 0 || r->uffd < 0)
		return -1;
	r->addr =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
	if (r->addr == MAP_FAILED)
		return -1;
	if (reg) {
		struct uffdio_register ur = {
			.range = { (uintptr_t)r->addr, len },
			.mode = UFFDIO_REGISTER_MODE_MINOR,
		};

		if (ioctl(r->uffd, UFFDIO_REGISTER, &ur) < 0)
			return -1;
	}
	return 0;
}

static inline void sc_region_free(struct sc_region *r)
{
	if (r->addr && r->addr != MAP_FAILED)
		munmap(r->addr, r->len);
	if (r->memfd >= 0)
		close(r->memfd);
	if (r->uffd >= 0)
		close(r->uffd);
	memset(r, 0, sizeof(*r));
	r->memfd = r->uffd = -1;
}

static inline struct uffdd_register sc_reg_body(const struct sc_region *r,
						const char *name)
{
	struct uffdd_register b;

	memset(&b, 0, sizeof(b));
	b.start = (uintptr_t)r->addr;
	b.length = r->len;
	b.page_size = (uint32_t)r->page;
	b.kind = (uint8_t)r->kind;
	snprintf(b.name, sizeof(b.name), "%s", name);
	return b;
}

/* REGISTER body b with fds; the reply's type, *code for an ERROR. */
static inline int sc_register(int sock, const struct uffdd_register *b, int fd0,
			      int fd1, int *code, char *text, size_t len)
{
	int fds[2] = { fd0, fd1 };
	int rc;

	*code = 0;
	rc = uffdd_send(sock, UFFDD_REGISTER, 9, b, sizeof(*b), fds, 2);
	if (rc < 0)
		return rc;
	return sc_reply(sock, code, text, len, 5000);
}

/* The same with the policy's files after the uffd and memfd (b->nfiles
 * says how many the body claims; n is how many are sent). */
static inline int sc_register_files(int sock, const struct uffdd_register *b,
				    int fd0, int fd1, const int *files, int n,
				    int *code, char *text, size_t len)
{
	int fds[UFFDD_SENDMSG_MAX_FDS] = { fd0, fd1 };
	unsigned char buf[sizeof(struct uffdd_hdr) + sizeof(*b)];
	struct uffdd_hdr h = { UFFDD_MAGIC, UFFDD_PROTO_MAX, UFFDD_REGISTER,
			       sizeof(*b), 9 };
	int rc;

	*code = 0;
	for (int i = 0; i < n && i + 2 < UFFDD_SENDMSG_MAX_FDS; i++)
		fds[2 + i] = files[i];
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), b, sizeof(*b));
	rc = sc_send_raw(sock, buf, sizeof(buf), fds, 2 + n);
	if (rc < 0)
		return rc;
	return sc_reply(sock, code, text, len, 5000);
}

/* ---------------------------------------------------------------------- */
/* A well-behaved client: a child that allocates, fills, faults, verifies */

struct good_result {
	long rounds;
	long pages;
	long bad;    /* words that were not what was written */
	long errors; /* library calls that failed */
	char last_error[200];
};

struct good_client {
	pid_t pid;
	int stop_w;   /* parent closes: stop */
	int result_r; /* child writes struct good_result */
};

static inline uint64_t good_word(long round, size_t off)
{
	return ((uint64_t)round << 40) ^ (off * 0x9e3779b97f4a7c15ULL);
}

static inline void good_loop(const char *sock, int stop_r, int result_w,
			     int kind, size_t size)
{
	struct good_result res = { 0 };
	struct uffd_client *c = NULL;
	struct pollfd p = { .fd = stop_r, .events = POLLIN };

	if (uffd_connect(sock, "good", 0, &c) < 0) {
		res.errors++;
		snprintf(res.last_error, sizeof(res.last_error), "connect: %s",
			 uffd_last_error());
		goto out;
	}
	while (poll(&p, 1, 0) == 0) {
		struct uffd_region_spec spec = { .kind = kind,
						 .size = size,
						 .name = "good" };
		struct uffd_region *r;
		volatile uint64_t *served;
		uint64_t *fill;
		size_t n, psz;

		if (uffd_region_alloc(c, &spec, &r) < 0) {
			res.errors++;
			snprintf(res.last_error, sizeof(res.last_error),
				 "alloc: %s", uffd_last_error());
			usleep(20000);
			if (uffd_client_check(c) < 0)
				break;
			continue;
		}
		fill = uffd_region_fill_addr(r);
		served = uffd_region_addr(r);
		n = uffd_region_size(r) / sizeof(uint64_t);
		psz = uffd_region_page_size(r);
		for (size_t i = 0; i < n; i++)
			fill[i] = good_word(res.rounds, i);
		/* Every page is a minor fault the daemon must resolve. */
		for (size_t i = 0; i < n; i++)
			if (served[i] != good_word(res.rounds, i))
				res.bad++;
		res.pages += (long)(uffd_region_size(r) / psz);
		if (uffd_region_release(r) < 0) {
			res.errors++;
			snprintf(res.last_error, sizeof(res.last_error),
				 "release: %s", uffd_last_error());
		}
		res.rounds++;
	}
	uffd_disconnect(c);
out:
	if (write(result_w, &res, sizeof(res)) != sizeof(res))
		_exit(3);
	_exit(0);
}

static inline int good_start(struct good_client *g, const char *sock, int kind,
			     size_t size)
{
	int stop[2], result[2];

	if (pipe(stop) < 0 || pipe(result) < 0)
		return -1;
	g->pid = fork();
	if (g->pid < 0)
		return -1;
	if (g->pid == 0) {
		close(stop[1]);
		close(result[0]);
		good_loop(sock, stop[0], result[1], kind, size);
	}
	close(stop[0]);
	close(result[1]);
	g->stop_w = stop[1];
	g->result_r = result[0];
	return 0;
}

static inline int good_stop(struct good_client *g, struct good_result *res)
{
	int st = 0;

	memset(res, 0, sizeof(*res));
	close(g->stop_w);
	if (read(g->result_r, res, sizeof(*res)) != sizeof(*res))
		res->errors = -1;
	close(g->result_r);
	waitpid(g->pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* 1 while the good client's process is still running. */
static inline int good_alive(const struct good_client *g)
{
	return waitpid(g->pid, NULL, WNOHANG) == 0;
}

/* Raw control request (JSON line) as whoever we are; the parsed reply. */
static inline json_object *sc_control(const char *ctl, const char *json)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536];
	size_t len = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctl);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, json, strlen(json)) < 0 || write(fd, "\n", 1) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000) <= 0 || len + 1 >= sizeof(buf))
			break;
		n = read(fd, buf + len, sizeof(buf) - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return len ? json_tokener_parse(buf) : NULL;
}

/* Wait until the daemon has no clients (all sessions freed). */
static inline int sc_wait_idle(const struct tdaemon *d, int timeout_ms)
{
	return td_wait_total(d, "totals.clients", 0, timeout_ms);
}

/* The daemon's fd count once it settles (it may still be closing). */
static inline int sc_fds_settle(pid_t pid, int want, int timeout_ms)
{
	int n = t_fd_count(pid);

	for (int i = 0; i < timeout_ms / 10 && n != want; i++) {
		usleep(10000);
		n = t_fd_count(pid);
	}
	return n;
}

#endif
