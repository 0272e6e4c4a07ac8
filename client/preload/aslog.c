/* SPDX-License-Identifier: MIT */
/*
 * Async-signal-safe text: log lines for --verbose and the names sent to
 * the daemon.  snprintf is not safe in a signal handler (nor in a forked
 * child of a threaded program), so these build strings by hand and write
 * them with one write(2).
 */
#include "preload.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void pl_log_start(struct pl_log *l)
{
	l->n = 0;
	pl_log_s(l, "uffd-run[");
	pl_log_u(l, (uint64_t)getpid());
	pl_log_s(l, "]: ");
}

void pl_log_s(struct pl_log *l, const char *s)
{
	while (*s && l->n < sizeof(l->buf) - 2)
		l->buf[l->n++] = *s++;
}

void pl_log_u(struct pl_log *l, uint64_t v)
{
	char t[24];
	int i = 0;

	do
		t[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < (int)sizeof(t));
	while (i > 0 && l->n < sizeof(l->buf) - 2)
		l->buf[l->n++] = t[--i];
}

void pl_log_x(struct pl_log *l, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	char t[20];
	int i = 0;

	do
		t[i++] = hex[v & 15];
	while ((v >>= 4) && i < (int)sizeof(t));
	pl_log_s(l, "0x");
	while (i > 0 && l->n < sizeof(l->buf) - 2)
		l->buf[l->n++] = t[--i];
}

void pl_log_end(struct pl_log *l)
{
	ssize_t rc;

	l->buf[l->n++] = '\n';
	do
		rc = write(2, l->buf, l->n);
	while (rc < 0 && errno == EINTR);
}

/* strerror() may allocate or take the locale lock: names for the usual. */
void pl_errno_name(struct pl_log *l, int err)
{
	static const struct {
		int e;
		const char *s;
	} names[] = {
		{ EPERM, "EPERM" },
		{ ENOENT, "ENOENT" },
		{ EINTR, "EINTR" },
		{ EBADF, "EBADF" },
		{ ENOMEM, "ENOMEM" },
		{ EACCES, "EACCES" },
		{ EFAULT, "EFAULT" },
		{ EBUSY, "EBUSY" },
		{ EEXIST, "EEXIST" },
		{ EINVAL, "EINVAL" },
		{ EMFILE, "EMFILE" },
		{ ENOSPC, "ENOSPC" },
		{ EPIPE, "EPIPE" },
		{ EAGAIN, "EAGAIN" },
		{ ENOSYS, "ENOSYS" },
		{ EPROTO, "EPROTO" },
		{ EOPNOTSUPP, "EOPNOTSUPP" },
		{ ECONNRESET, "ECONNRESET" },
		{ ECONNREFUSED, "ECONNREFUSED" },
		{ ETIMEDOUT, "ETIMEDOUT" },
		{ ENAMETOOLONG, "ENAMETOOLONG" },
		{ ESRCH, "ESRCH" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == err) {
			pl_log_s(l, names[i].s);
			return;
		}
	pl_log_s(l, "errno ");
	pl_log_u(l, (uint64_t)err);
}

static void copy_out(const struct pl_log *l, char *buf, size_t len)
{
	size_t n = l->n < len - 1 ? l->n : len - 1;

	memcpy(buf, l->buf, n);
	buf[n] = '\0';
}

void pl_region_name(const struct pl_region *e, char *buf, size_t len)
{
	struct pl_log l = { .n = 0 };

	pl_log_s(&l, pl_cfg.comm);
	pl_log_s(&l, "[");
	pl_log_u(&l, (uint64_t)e->creator);
	pl_log_s(&l,
		 e->kind == UFFDD_KIND_HUGETLB ? "] hugetlb #" : "] shmem #");
	pl_log_u(&l, e->serial);
	if (e->offset) {
		pl_log_s(&l, " @");
		pl_log_u(&l, (uint64_t)e->offset >> 10);
		pl_log_s(&l, "k");
	}
	copy_out(&l, buf, len);
}

void pl_session_name(char *buf, size_t len, pid_t parent)
{
	struct pl_log l = { .n = 0 };

	pl_log_s(&l, pl_cfg.comm);
	if (parent > 0) {
		pl_log_s(&l, " ppid=");
		pl_log_u(&l, (uint64_t)parent);
	}
	copy_out(&l, buf, len);
}
