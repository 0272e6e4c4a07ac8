/* SPDX-License-Identifier: MIT */
/*
 * uffdctl's side of the control socket: one JSON request line out, one
 * JSON answer back.  When that fails, the message says what to do about
 * it: who may use the socket, how to start the daemon.
 */
#include "ctl.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REPLY  (64u << 20)
#define TIMEOUT_MS 10000

/* Why connect(2) to the control socket failed, and what to do. */
static void connect_failed(const char *path, int err)
{
	fprintf(stderr, "uffdctl: cannot connect to %s: %s\n", path,
		strerror(err));
	if (err == EACCES || err == EPERM)
		fprintf(stderr,
			"uffdctl: the control socket is for root and the "
			"uffdadm group: run uffdctl as root (sudo), or join "
			"the group (usermod -aG uffdadm USER, then log in "
			"again)\n");
	else if (err == ENOENT || err == ECONNREFUSED)
		fprintf(stderr,
			"uffdctl: uffdd is not listening there: systemctl "
			"start uffdd.socket uffdd-control.socket (or give "
			"the daemon's --control-socket with -C or "
			"UFFDD_CONTROL_SOCKET)\n");
}

/* A connection to the control socket at path, or -1 (said why). */
static int connect_control(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "uffdctl: control socket path too long: %s\n",
			path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "uffdctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		connect_failed(path, err);
		return -1;
	}
	return fd;
}

/* Room for 64 KiB more in *buf; 0 or -1. */
static int grow(char **buf, size_t len, size_t *cap)
{
	char *nb;

	if (*cap - len >= 65536)
		return 0;
	*cap = *cap ? *cap * 2 : 65536 * 2;
	if (*cap > MAX_REPLY || !(nb = realloc(*buf, *cap)))
		return -1;
	*buf = nb;
	return 0;
}

/* Everything the daemon writes until it closes, NUL-terminated, or NULL. */
static char *read_answer(int fd)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			fprintf(stderr, "uffdctl: uffdd did not answer within "
					"10 s\n");
			break;
		}
		if (grow(&buf, len, &cap) < 0) {
			fprintf(stderr, "uffdctl: uffdd's answer is too "
					"large\n");
			break;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "uffdctl: reading from uffdd: %s\n",
				strerror(errno));
			break;
		}
		if (n == 0 && len == 0) {
			fprintf(stderr, "uffdctl: uffdd closed without "
					"answering\n");
			break;
		}
		if (n == 0) {
			buf[len] = '\0';
			return buf;
		}
		len += (size_t)n;
	}
	free(buf);
	return NULL;
}

/* What to add to the daemon's refusal, so that it says what to do. */
static const char *hint(const char *err)
{
	if (strstr(err, "admin_gids"))
		return " (run uffdctl as root, or add one of your groups to "
		       "admin_gids in /etc/uffdd/uffdd.json and reload)";
	if (strstr(err, "control_connections"))
		return " (try again, or raise limits.control_connections)";
	return "";
}

/* The request line, with fds attached to its first byte.  0 or -1. */
static int send_line(int fd, const char *line, const int *fds, int nfds)
{
	struct iovec iov[2] = { { (void *)line, strlen(line) }, { "\n", 1 } };

	if (nfds)
		return uffdd_sendmsg(fd, iov, 2, fds, nfds) < 0 ? -1 : 0;
	return write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0 ? -1
									   : 0;
}

json_object *ctl_ask(const struct ctl *c, const char *cmd, int nkv,
		     const char *const *kv)
{
	return ctl_ask_fds(c, cmd, nkv, kv, NULL, 0);
}

json_object *ctl_ask_fds(const struct ctl *c, const char *cmd, int nkv,
			 const char *const *kv, const int *fds, int nfds)
{
	json_object *req = json_object_new_object(), *o = NULL, *err;
	const char *line;
	char *answer = NULL;
	int fd;

	json_object_object_add(req, "command", json_object_new_string(cmd));
	for (int i = 0; i < nkv; i++)
		json_object_object_add(req, kv[2 * i],
				       json_object_new_string(kv[2 * i + 1]));
	line = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	fd = connect_control(c->path);
	if (fd >= 0 && send_line(fd, line, fds, nfds) < 0)
		fprintf(stderr, "uffdctl: sending to uffdd: %s\n",
			strerror(errno));
	else if (fd >= 0)
		answer = read_answer(fd);
	if (fd >= 0)
		close(fd);
	json_object_put(req);
	if (answer && !(o = json_tokener_parse(answer)))
		fprintf(stderr, "uffdctl: uffdd's answer is not JSON\n");
	free(answer);
	if (o && json_object_object_get_ex(o, "error", &err)) {
		fprintf(stderr, "uffdctl: uffdd refused: %s%s\n",
			json_object_get_string(err),
			hint(json_object_get_string(err)));
		json_object_put(o);
		o = NULL;
	}
	return o;
}
