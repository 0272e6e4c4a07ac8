/* SPDX-License-Identifier: MIT */
/* The async-signal-safe client: see client_fork.h for why it exists. */
#include "client_fork.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

int uffd_raw_new_uffd(int dev_fd, int allow_user_only, int *mode)
{
	int flags = O_CLOEXEC | O_NONBLOCK, fd, err;

	if (dev_fd >= 0) {
		fd = ioctl(dev_fd, USERFAULTFD_IOC_NEW, flags);
		if (fd >= 0) {
			*mode = UFFDD_UFFD_DEVICE;
			return fd;
		}
	}
	fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd >= 0) {
		*mode = UFFDD_UFFD_SYSCALL;
		return fd;
	}
	err = errno;
	if (!allow_user_only)
		return -err;
	fd = (int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return -errno;
	*mode = UFFDD_UFFD_USER_ONLY;
	return fd;
}

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

	(void)uffdd_set_str(h.name, sizeof(h.name), name); /* truncation is fine */
	*seq = ++c->seq;
	return uffdd_send(c->sock, UFFDD_HELLO, *seq, &h, sizeof(h), NULL, 0);
}

int uffd_raw_register(struct uffd_raw *c, const struct uffd_raw_region *r,
		      int allow_user_only, uint32_t *seq, int *mode,
		      const char **stage)
{
	struct uffdd_register reg = { 0 };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register ur = { 0 };
	int uffd, rc, fds[2];

	*stage = "creating a userfaultfd";
	uffd = uffd_raw_new_uffd(c->dev_fd, allow_user_only, mode);
	if (uffd < 0)
		return uffd;
	api.features = r->kind == UFFDD_KIND_HUGETLB ? UFFD_FEATURE_MINOR_HUGETLBFS
						     : UFFD_FEATURE_MINOR_SHMEM;
	if (c->kernel_features & UFFD_FEATURE_THREAD_ID)
		api.features |= UFFD_FEATURE_THREAD_ID;
	*stage = "UFFDIO_API";
	if (ioctl(uffd, UFFDIO_API, &api) < 0) {
		rc = -errno;
		goto out;
	}
	ur.range.start = r->start;
	ur.range.len = r->length;
	ur.mode = UFFDIO_REGISTER_MODE_MINOR;
	*stage = "UFFDIO_REGISTER";
	if (ioctl(uffd, UFFDIO_REGISTER, &ur) < 0) {
		rc = -errno;
		goto out;
	}
	reg.start = r->start;
	reg.length = r->length;
	reg.offset = r->offset;
	reg.page_size = r->page_size;
	reg.kind = (uint8_t)r->kind;
	reg.uffd_mode = (uint8_t)*mode;
	(void)uffdd_set_str(reg.name, sizeof(reg.name), r->name);
	if (uffdd_set_str(reg.policy, sizeof(reg.policy), r->policy) < 0) {
		*stage = "policy name";
		rc = -ENAMETOOLONG;
		goto unreg;
	}
	fds[0] = uffd;
	fds[1] = r->memfd;
	*seq = ++c->seq;
	*stage = "sending REGISTER";
	rc = uffdd_send(c->sock, UFFDD_REGISTER, *seq, &reg, sizeof(reg), fds, 2);
	if (rc == 0)
		goto out;
unreg:
	ioctl(uffd, UFFDIO_UNREGISTER, &ur.range);
out:
	close(uffd);
	return rc;
}

int uffd_raw_unregister(struct uffd_raw *c, uint64_t id, uint32_t *seq)
{
	struct uffdd_unregister u = { .region_id = id };

	*seq = ++c->seq;
	return uffdd_send(c->sock, UFFDD_UNREGISTER, *seq, &u, sizeof(u), NULL, 0);
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

void uffd_raw_close(struct uffd_raw *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}
