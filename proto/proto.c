/* SPDX-License-Identifier: MIT */
/* Framing, validation and descriptor passing for the uffdd protocol. */
#include "uffdd_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

_Static_assert(sizeof(struct uffdd_hdr) == 16, "header is 16 bytes");
_Static_assert(sizeof(struct uffdd_hello) == 48, "hello is 48 bytes");
_Static_assert(sizeof(struct uffdd_welcome) == 32, "welcome is 32 bytes");
_Static_assert(sizeof(struct uffdd_register) == 224, "register is 224 bytes");
_Static_assert(sizeof(struct uffdd_error) == 128, "error is 128 bytes");
_Static_assert(sizeof(struct uffdd_publish) == 24, "publish is 24 bytes");
_Static_assert(sizeof(struct uffdd_image_open) == 96, "image_open is 96 bytes");
_Static_assert(sizeof(struct uffdd_image) == 64, "image is 64 bytes");
_Static_assert(sizeof(struct uffdd_registered) == 16, "registered is 16 bytes");
_Static_assert(sizeof(struct uffdd_pages_hdr) == 64, "page-state header is 64");
_Static_assert(sizeof(struct uffdd_forked) == 272, "forked is 272 bytes");
_Static_assert(offsetof(struct uffdd_forked, reg) == 48,
	       "forked: the register body follows the hello body");

static const struct {
	const char *name; /* NULL: no such type */
	long len;
	int fds; /* -1: depends on the body */
} types[UFFDD_TYPE_MAX + 1] = {
	[UFFDD_HELLO] = { "HELLO", sizeof(struct uffdd_hello), 0 },
	[UFFDD_WELCOME] = { "WELCOME", sizeof(struct uffdd_welcome), -1 },
	[UFFDD_REGISTER] = { "REGISTER", sizeof(struct uffdd_register), -1 },
	[UFFDD_REGISTERED] = { "REGISTERED", sizeof(struct uffdd_registered),
			       -1 },
	[UFFDD_UNREGISTER] = { "UNREGISTER", sizeof(struct uffdd_unregister),
			       0 },
	[UFFDD_OK] = { "OK", 0, 0 },
	[UFFDD_ERROR] = { "ERROR", sizeof(struct uffdd_error), 0 },
	[UFFDD_PUBLISH] = { "PUBLISH", sizeof(struct uffdd_publish), 0 },
	[UFFDD_IMAGE_OPEN] = { "IMAGE_OPEN", sizeof(struct uffdd_image_open),
			       0 },
	[UFFDD_IMAGE] = { "IMAGE", sizeof(struct uffdd_image), 1 },
	[UFFDD_FORKED] = { "FORKED", sizeof(struct uffdd_forked), -1 },
};

/* A type this build has (a type a build leaves out has no name). */
static int known(unsigned type)
{
	return type > 0 && type <= UFFDD_TYPE_MAX && types[type].name;
}

const char *uffdd_type_name(unsigned type)
{
	return known(type) ? types[type].name : "UNKNOWN";
}

static long body_len(unsigned type)
{
	return known(type) ? types[type].len : -1;
}

/* The descriptors m must carry (its type known), -1 if its body is wrong. */
static int fds_of(const struct uffdd_msg *m)
{
	switch (m->hdr.type) {
	case UFFDD_WELCOME:
		return (m->u.welcome.flags & UFFDD_WELCOME_GRANT) ? 1 : 0;
	case UFFDD_REGISTER:
		return m->u.reg.nfiles <= UFFDD_MAX_FILES
			   ? 2 + (int)m->u.reg.nfiles
			   : -1;
	case UFFDD_REGISTERED:
		return (m->u.registered.flags &
			(UFFDD_REG_CONTENT | UFFDD_REG_BOARD))
			   ? 1
			   : 0;
	case UFFDD_FORKED: /* its socket, uffd and memfd; no policy files */
		return m->u.forked.reg.nfiles == 0 ? 3 : -1;
	default:
		return types[m->hdr.type].fds;
	}
}

int uffdd_set_str(char *field, size_t size, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	int rc = 0;

	memset(field, 0, size);
	if (n >= size) {
		n = size - 1;
		rc = -ENAMETOOLONG;
	}
	if (n)
		memcpy(field, s, n);
	return rc;
}

static int bad(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -code;
}

static int str_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/*
 * An image's name is used to build object and file names in the store: one
 * rule (uffdd_image_name_valid), and every byte after it zero, so that no
 * byte a client chose reaches a store, a path or a log unchecked.
 */
static int image_open_ok(const struct uffdd_image_open *io, char *err,
			 size_t errlen)
{
	size_t n = strnlen(io->name, sizeof(io->name));

	if (n == sizeof(io->name))
		return bad(err, errlen, EBADMSG,
			   "IMAGE_OPEN name is not NUL-terminated");
	for (size_t i = n; i < sizeof(io->name); i++)
		if (io->name[i])
			return bad(err, errlen, EBADMSG,
				   "IMAGE_OPEN name is not NUL-padded");
	if (!uffdd_image_name_valid(io->name))
		return bad(err, errlen, EINVAL,
			   "IMAGE_OPEN name is not an image name (1-%d of "
			   "[A-Za-z0-9._-], starting with a letter or a "
			   "digit)",
			   UFFDD_IMAGE_NAME_MAX);
	if (io->flags & ~(UFFDD_IMAGE_HUGETLB | UFFDD_IMAGE_RECORD))
		return bad(err, errlen, EINVAL,
			   "IMAGE_OPEN flags 0x%x not supported", io->flags);
	if (io->reserved)
		return bad(err, errlen, EINVAL,
			   "IMAGE_OPEN reserved field is not 0");
	if (io->version > UFFDD_IMAGE_VERSION_MAX)
		return bad(err, errlen, EINVAL,
			   "IMAGE_OPEN version %llu is out of range",
			   (unsigned long long)io->version);
	return 0;
}

/* HELLO's body, in HELLO and FORKED. */
static int hello_ok(const struct uffdd_hello *h, const char *what, char *err,
		    size_t errlen)
{
	if (!str_ok(h->name, sizeof(h->name)))
		return bad(err, errlen, EBADMSG,
			   "%s name is not NUL-terminated", what);
	if (h->min_version > h->max_version)
		return bad(err, errlen, EBADMSG,
			   "%s version range %u..%u is empty", what,
			   h->min_version, h->max_version);
	return 0;
}

/* REGISTER's body, in REGISTER and FORKED. */
static int register_ok(const struct uffdd_register *r, const char *what,
		       char *err, size_t errlen)
{
	if (!str_ok(r->name, sizeof(r->name)))
		return bad(err, errlen, EBADMSG,
			   "%s name is not NUL-terminated", what);
	if (!str_ok(r->policy, sizeof(r->policy)))
		return bad(err, errlen, EBADMSG,
			   "%s policy is not NUL-terminated", what);
	if (r->flags & ~UFFDD_REGF_ALL)
		return bad(err, errlen, EINVAL, "%s flags 0x%x not supported",
			   what, r->flags);
	return 0;
}

int uffdd_validate(const struct uffdd_msg *m, char *err, size_t errlen)
{
	const struct uffdd_hdr *h = &m->hdr;
	int want_fds;

	if (h->magic != UFFDD_MAGIC)
		return bad(err, errlen, EBADMSG, "bad magic 0x%08x", h->magic);
	if (h->version < UFFDD_PROTO_MIN || h->version > UFFDD_PROTO_MAX)
		return bad(err, errlen, EPROTONOSUPPORT,
			   "protocol version %u not supported (%u..%u)",
			   h->version, UFFDD_PROTO_MIN, UFFDD_PROTO_MAX);
	if (body_len(h->type) < 0)
		return bad(err, errlen, EBADMSG, "unknown message type %u",
			   h->type);
	if (h->length != (uint32_t)body_len(h->type))
		return bad(
		    err, errlen, EBADMSG, "%s body is %u bytes, expected %ld",
		    uffdd_type_name(h->type), h->length, body_len(h->type));

	want_fds = fds_of(m);
	if (want_fds < 0 && h->type == UFFDD_FORKED)
		return bad(err, errlen, EBADMSG,
			   "FORKED carries %u files, none allowed",
			   m->u.forked.reg.nfiles);
	if (want_fds < 0)
		return bad(err, errlen, EBADMSG,
			   "REGISTER carries %u files, at most %d",
			   m->u.reg.nfiles, UFFDD_MAX_FILES);
	if (m->nfds != want_fds)
		return bad(err, errlen, EBADMSG,
			   "%s carries %d descriptors, expected %d",
			   uffdd_type_name(h->type), m->nfds, want_fds);

	switch (h->type) {
	case UFFDD_HELLO:
		return hello_ok(&m->u.hello, "HELLO", err, errlen);
	case UFFDD_REGISTER:
		return register_ok(&m->u.reg, "REGISTER", err, errlen);
	case UFFDD_FORKED: {
		int rc = hello_ok(&m->u.forked.hello, "FORKED", err, errlen);

		return rc < 0 ? rc
			      : register_ok(&m->u.forked.reg, "FORKED", err,
					    errlen);
	}
	case UFFDD_IMAGE_OPEN:
		return image_open_ok(&m->u.image_open, err, errlen);
	case UFFDD_REGISTERED:
		if ((m->u.registered.flags &
		     ~(UFFDD_REG_CONTENT | UFFDD_REG_BOARD)) ||
		    (m->u.registered.flags & UFFDD_REG_CONTENT &&
		     m->u.registered.flags & UFFDD_REG_BOARD))
			return bad(err, errlen, EINVAL,
				   "REGISTERED flags 0x%x not known",
				   m->u.registered.flags);
		break;
	case UFFDD_ERROR:
		if (!str_ok(m->u.error.message, sizeof(m->u.error.message)))
			return bad(err, errlen, EBADMSG,
				   "ERROR message is not NUL-terminated");
		break;
	default:
		break;
	}
	return 0;
}

int uffdd_decode(const void *buf, size_t n, int nfds, struct uffdd_msg *m,
		 char *err, size_t errlen)
{
	if (n < sizeof(struct uffdd_hdr))
		return bad(err, errlen, EBADMSG,
			   "message of %zu bytes is shorter than the header",
			   n);
	if (n > sizeof(struct uffdd_hdr) + sizeof(m->u))
		return bad(err, errlen, EMSGSIZE,
			   "message of %zu bytes is too long", n);
	memcpy(&m->hdr, buf, sizeof(m->hdr));
	if (m->hdr.length != n - sizeof(struct uffdd_hdr))
		return bad(err, errlen, EBADMSG,
			   "header says %u body bytes, datagram has %zu",
			   m->hdr.length, n - sizeof(struct uffdd_hdr));
	memset(&m->u, 0, sizeof(m->u));
	memcpy(&m->u, (const char *)buf + sizeof(m->hdr), m->hdr.length);
	m->nfds = nfds;
	return uffdd_validate(m, err, errlen);
}

void uffdd_msg_close_fds(struct uffdd_msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

ssize_t uffdd_sendmsg(int sock, const struct iovec *iov, int niov,
		      const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * UFFDD_SENDMSG_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct msghdr mh = { .msg_iov = (struct iovec *)iov,
			     .msg_iovlen = (size_t)niov };
	ssize_t n;

	if (nfds < 0 || nfds > UFFDD_SENDMSG_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int uffdd_send(int sock, uint16_t type, uint32_t seq, const void *body,
	       size_t len, const int *fds, int nfds)
{
	struct uffdd_hdr h = {
		.magic = UFFDD_MAGIC,
		.version = UFFDD_PROTO_MAX,
		.type = type,
		.length = (uint32_t)len,
		.seq = seq,
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)body, .iov_len = len },
	};
	ssize_t n;

	if (nfds < 0 || nfds > UFFDD_MAX_FDS || len > UFFDD_MAX_MSG)
		return -EINVAL;
	n = uffdd_sendmsg(sock, iov, len ? 2 : 1, fds, nfds);
	if (n < 0)
		return (int)n;
	if ((size_t)n != sizeof(h) + len)
		return -EMSGSIZE;
	return 0;
}

int uffdd_send_error(int sock, uint32_t seq, uint16_t ref_type, int code,
		     const char *fmt, ...)
{
	struct uffdd_error e = { .code = code, .ref_type = ref_type };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	return uffdd_send(sock, UFFDD_ERROR, seq, &e, sizeof(e), NULL, 0);
}

/*
 * Pull every descriptor out of the control data, whatever it claims to be,
 * so that a refused message never leaks one into our table.
 */
static int collect_fds(struct msghdr *mh, int *fds, int max, int *extra)
{
	int n = 0;

	*extra = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t cnt;
		int *p;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < cnt; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof(fd));
			if (n < max)
				fds[n++] = fd;
			else {
				close(fd);
				(*extra)++;
			}
		}
	}
	return n;
}

int uffdd_recv(int sock, struct uffdd_msg *m, char *err, size_t errlen)
{
	unsigned char buf[sizeof(struct uffdd_hdr) + sizeof(m->u) + 1];
	/* Room for more fds than allowed, so that extra ones are seen. */
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf.buf),
	};
	int fds[UFFDD_MAX_FDS], extra, nfds, rc;
	ssize_t n;

	m->nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		return bad(err, errlen, errno, "recvmsg: %s", strerror(errno));
	}
	nfds = collect_fds(&mh, fds, UFFDD_MAX_FDS, &extra);
	if (n == 0 && nfds == 0)
		return -ECONNRESET;

	if (mh.msg_flags & MSG_CTRUNC)
		rc = bad(err, errlen, EBADMSG,
			 "control data truncated (too many descriptors)");
	else if (mh.msg_flags & MSG_TRUNC)
		rc = bad(err, errlen, EMSGSIZE,
			 "datagram larger than %zu bytes", sizeof(buf) - 1);
	else if (extra)
		rc = bad(err, errlen, EBADMSG,
			 "%d descriptors attached, at most %d allowed",
			 nfds + extra, UFFDD_MAX_FDS);
	else
		rc = uffdd_decode(buf, (size_t)n, nfds, m, err, errlen);

	memcpy(m->fds, fds, sizeof(int) * (size_t)nfds);
	m->nfds = nfds;
	if (rc < 0)
		uffdd_msg_close_fds(m);
	return rc;
}
