/* SPDX-License-Identifier: MIT */
/*
 * Reading a control request with the descriptors it carries.  A stream
 * socket read with read() drops SCM_RIGHTS; recvmsg keeps them, and every
 * descriptor beyond what a request may carry is closed at once, so that a
 * peer cannot fill our table.
 */
#include "commands.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_IN 16 /* one recvmsg takes this many; the rest are cut */

void control_fds_close(struct control_fds *f)
{
	for (int i = 0; i < f->n; i++)
		close(f->fd[i]);
	f->n = 0;
}

/* Keep fd in f, or close it. */
static void keep(struct control_fds *f, int fd)
{
	if (f->n < UFFDD_MAX_FILES) {
		f->fd[f->n++] = fd;
		return;
	}
	close(fd);
	f->excess++;
}

ssize_t control_recv(int sock, void *buf, size_t len, struct control_fds *f)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_IN)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf) };
	ssize_t n;

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
	     c = CMSG_NXTHDR(&mh, c)) {
		size_t cnt;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			keep(f, fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		f->excess++;
	return n;
}
