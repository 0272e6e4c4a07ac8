/* SPDX-License-Identifier: MIT */
/* The async-signal-safe client: see client_fork.h for why it exists. */
#include "client_fork.h"
#include "probe.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

int uffd_raw_open(struct uffd_raw *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	int s;

	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	while (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		if (err == EINTR)
			continue;
		close(s);
		return -err;
	}
	c->sock = s;
	return 0;
}

int uffd_raw_hello(struct uffd_raw *c, const char *name, uint32_t flags,
		   uint32_t *seq)
{
	struct uffdd_hello h = {
		.min_version = UFFDD_PROTO_MIN,
		.max_version = UFFDD_PROTO_MAX,
		.flags = flags,
	};

	(void)uffdd_set_str(h.name, sizeof(h.name),
			    name); /* truncation is fine */
	*seq = ++c->seq;
	return uffdd_send(c->sock, UFFDD_HELLO, *seq, &h, sizeof(h), NULL, 0);
}

_Static_assert((int)UFFD_HOW_DEVICE == UFFDD_UFFD_DEVICE &&
		   (int)UFFD_HOW_SYSCALL == UFFDD_UFFD_SYSCALL &&
		   (int)UFFD_HOW_USER_ONLY == UFFDD_UFFD_USER_ONLY,
	       "uffd_create says how in the protocol's numbers");

#define EVENTS                                                                 \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |                  \
	 UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)

/*
 * UFFDIO_API with the minor-fault feature for kind, the faulting thread's
 * id when the kernel has it, and the events asked for that the kernel
 * offers.  EVENT_FORK needs CAP_SYS_PTRACE: without it UFFDIO_API fails
 * with EPERM, and the uffd is asked again without it (a forked child's
 * copy of the region is then served by the kernel).  0 or -errno.
 */
static int api(int uffd, uint64_t features)
{
	/* Fresh each time: a refused UFFDIO_API zeroes the struct. */
	struct uffdio_api a = { .api = UFFD_API, .features = features };

	return ioctl(uffd, UFFDIO_API, &a) < 0 ? -errno : 0;
}

static int handshake(int uffd, int kind, uint64_t kernel_features,
		     uint64_t events)
{
	uint64_t f = kind == UFFDD_KIND_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
						: UFFD_FEATURE_MINOR_SHMEM;
	int rc;

	f |= kernel_features & (UFFD_FEATURE_THREAD_ID | (events & EVENTS));
	rc = api(uffd, f);
	if (rc == -EPERM && (f & UFFD_FEATURE_EVENT_FORK))
		rc = api(uffd, f & ~(uint64_t)UFFD_FEATURE_EVENT_FORK);
	return rc;
}

/* The REGISTER body for r, registered with a uffd made as mode says. */
static int body(const struct uffd_raw_region *r, int mode,
		struct uffdd_register *reg)
{
	memset(reg, 0, sizeof(*reg));
	reg->start = r->start;
	reg->length = r->length;
	reg->offset = r->offset;
	reg->page_size = r->page_size;
	reg->kind = (uint8_t)r->kind;
	reg->uffd_mode = (uint8_t)mode;
	reg->nfiles = (uint8_t)r->nfiles;
	reg->flags = r->reg_flags;
	if (uffdd_set_str(reg->name, sizeof(reg->name),
			  r->name ? r->name : "anon") < 0)
		return -ENAMETOOLONG;
	return uffdd_set_str(reg->policy, sizeof(reg->policy), r->policy);
}

/*
 * A uffd with r's range registered MINOR, and the REGISTER body for it:
 * the uffd, or -errno (out->stage names the step that failed).
 */
static int make_uffd(struct uffd_raw *c, const struct uffd_raw_region *r,
		     int allow_user_only, struct uffd_raw_sent *out,
		     struct uffdd_register *reg)
{
	struct uffdio_register ur = { .mode = UFFDIO_REGISTER_MODE_MINOR };
	int uffd, rc;

	out->stage = "creating a userfaultfd";
	uffd = uffd_create(c->dev_fd, O_CLOEXEC | O_NONBLOCK, allow_user_only,
			   &out->mode);
	if (uffd < 0)
		return uffd;
	out->stage = "UFFDIO_API";
	rc = handshake(uffd, r->kind, c->kernel_features, r->events);
	if (rc < 0)
		goto out;
	if (r->mode)
		ur.mode = r->mode;
	ur.range.start = r->start;
	ur.range.len = r->length;
	out->stage = "UFFDIO_REGISTER";
	if (ioctl(uffd, UFFDIO_REGISTER, &ur) < 0) {
		rc = -errno;
		goto out;
	}
	out->stage = "the region's name or policy";
	rc = body(r, out->mode, reg);
	if (rc == 0)
		return uffd;
	ioctl(uffd, UFFDIO_UNREGISTER, &ur.range);
out:
	close(uffd);
	return rc;
}

/* After the send (rc): keep the uffd for the caller, or let it go. */
static int sent(int rc, int uffd, const struct uffd_raw_region *r,
		struct uffd_raw_sent *out)
{
	struct uffdio_range range = { .start = r->start, .len = r->length };

	if (rc == 0 && out->uffd) {
		*out->uffd = uffd; /* the caller's, until the answer */
		return 0;
	}
	if (rc < 0)
		ioctl(uffd, UFFDIO_UNREGISTER, &range);
	close(uffd);
	return rc;
}

int uffd_raw_register(struct uffd_raw *c, const struct uffd_raw_region *r,
		      int allow_user_only, struct uffd_raw_sent *out)
{
	struct uffdd_register reg;
	int uffd, fds[UFFDD_MAX_FDS];

	out->stage = "the policy's files";
	if (r->nfiles < 0 || r->nfiles > UFFDD_MAX_FILES)
		return -E2BIG;
	uffd = make_uffd(c, r, allow_user_only, out, &reg);
	if (uffd < 0)
		return uffd;
	fds[0] = uffd;
	fds[1] = r->memfd;
	for (int i = 0; i < r->nfiles; i++)
		fds[2 + i] = r->files[i];
	out->seq = ++c->seq;
	out->stage = "sending REGISTER";
	return sent(uffdd_send(c->sock, UFFDD_REGISTER, out->seq, &reg,
			       sizeof(reg), fds, 2 + r->nfiles),
		    uffd, r, out);
}

int uffd_raw_forked(struct uffd_raw *c, const char *name, uint32_t flags,
		    const struct uffd_raw_region *r, int allow_user_only,
		    struct uffd_raw_sent *out)
{
	struct uffdd_forked f;
	int sv[2], uffd, fds[3], rc;

	out->stage = "the policy's files";
	if (r->nfiles)
		return -E2BIG; /* FORKED carries none */
	memset(&f, 0, sizeof(f));
	f.hello.min_version = 2;
	f.hello.max_version = UFFDD_PROTO_MAX;
	f.hello.flags = flags;
	(void)uffdd_set_str(f.hello.name, sizeof(f.hello.name), name);
	out->stage = "socketpair";
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	uffd = make_uffd(c, r, allow_user_only, out, &f.reg);
	if (uffd < 0) {
		close(sv[0]);
		close(sv[1]);
		return uffd;
	}
	fds[0] = sv[1];
	fds[1] = uffd;
	fds[2] = r->memfd;
	out->seq = ++c->seq;
	out->stage = "sending FORKED";
	rc = uffdd_send(c->sock, UFFDD_FORKED, out->seq, &f, sizeof(f), fds, 3);
	/* The daemon has its end now (or never will): ours is sv[0]. */
	close(sv[1]);
	if (rc < 0) {
		close(sv[0]);
		return sent(rc, uffd, r, out);
	}
	c->sock = sv[0];
	c->version = 2;
	return sent(0, uffd, r, out);
}

int uffd_raw_spec_has_file(const char *spec)
{
	static const char *const names[] = { "populate:", "record:",
					     "prefetch:" };

	for (const char *s = spec; s && *s; s = strchr(s, '+')) {
		s += *s == '+';
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strncmp(s, names[i], strlen(names[i])))
				return 1;
	}
	return 0;
}

int uffd_raw_unregister(struct uffd_raw *c, uint64_t id, uint32_t *seq)
{
	struct uffdd_unregister u = { .region_id = id };

	*seq = ++c->seq;
	return uffdd_send(c->sock, UFFDD_UNREGISTER, *seq, &u, sizeof(u), NULL,
			  0);
}

int uffd_raw_recv(struct uffd_raw *c, struct uffdd_msg *m, int timeout_ms)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	int rc;

	for (;;) {
		rc = uffdd_recv(c->sock, m, NULL, 0);
		if (rc != -EAGAIN || timeout_ms <= 0)
			return rc;
		rc = poll(&p, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -EAGAIN;
		/* One wait only: the caller counts its own deadline. */
		return uffdd_recv(c->sock, m, NULL, 0);
	}
}
