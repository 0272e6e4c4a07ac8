/* SPDX-License-Identifier: MIT */
#include "listen.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

static int mkdir_parent(const char *path)
{
	char dir[108];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A socket file nobody listens on is left over from a crash: remove it. */
static int clear_stale(const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (errno == ECONNREFUSED)
		unlink(path);
	return 0;
}

static int make_socket(const char *path, int type, unsigned mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	rc = mkdir_parent(path);
	if (rc < 0) {
		log_err("cannot create the directory of %s: %s", path,
			strerror(-rc));
		return rc;
	}
	rc = clear_stale(path, type);
	if (rc == -EADDRINUSE) {
		log_err("%s: another daemon is already listening there", path);
		return rc;
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, mode) < 0 || listen(fd, 128) < 0) {
		rc = -errno;
		log_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

/* socket_owner/socket_group (config_security.c); -1 keeps ours. */
static int set_owner(const char *path, int64_t uid, int64_t gid)
{
	if (uid < 0 && gid < 0)
		return 0;
	if (chown(path, uid < 0 ? (uid_t)-1 : (uid_t)uid,
		  gid < 0 ? (gid_t)-1 : (gid_t)gid) < 0) {
		log_err("cannot give %s to uid %lld gid %lld: %s", path,
			(long long)uid, (long long)gid, strerror(errno));
		return -1;
	}
	return 0;
}

static int is_listening(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

static int sock_type(int fd)
{
	int t = 0;
	socklen_t len = sizeof(t);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &len) < 0)
		return -1;
	return t;
}

/* Anything else systemd hands us comes from the fd store (fdstore.c). */
static void keep_stored(struct daemon *d, int fd, const char *name)
{
	int *nf = realloc(d->stored_fds, sizeof(int) * (size_t)(d->nstored + 1));
	char **nn;

	if (nf)
		d->stored_fds = nf;
	nn = realloc(d->stored_names, sizeof(char *) * (size_t)(d->nstored + 1));
	if (nn)
		d->stored_names = nn;
	if (!nf || !nn) {
		close(fd);
		return;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	d->stored_fds[d->nstored] = fd;
	d->stored_names[d->nstored] = strdup(name);
	d->nstored++;
}

static void from_systemd(struct daemon *d)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);

	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names && names[i] ? names[i] : "";
		int t = sock_type(fd), listening = is_listening(fd);
		int named = !strcmp(name, "data") || !strcmp(name, "control");

		if (listening && t == SOCK_SEQPACKET && d->data_fd < 0 &&
		    (!strcmp(name, "data") || !named))
			d->data_fd = fd;
		else if (listening && t == SOCK_STREAM && d->control_fd < 0 &&
			 (!strcmp(name, "control") || !named))
			d->control_fd = fd;
		else if (!named && !listening)
			keep_stored(d, fd, name); /* from the fd store */
		else {
			log_warn("ignoring unexpected socket %d (\"%s\") from "
				 "systemd",
				 fd, name);
			close(fd);
		}
	}
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	if (d->data_fd >= 0)
		fcntl(d->data_fd, F_SETFL,
		      fcntl(d->data_fd, F_GETFL) | O_NONBLOCK);
	if (d->control_fd >= 0)
		fcntl(d->control_fd, F_SETFL,
		      fcntl(d->control_fd, F_GETFL) | O_NONBLOCK);
}

int listen_open(struct daemon *d)
{
	d->data_fd = d->control_fd = -1;
	from_systemd(d);
	if (d->data_fd < 0) {
		d->data_fd = make_socket(d->cfg.socket_path, SOCK_SEQPACKET,
					 d->cfg.socket_mode);
		if (d->data_fd < 0)
			return d->data_fd;
		d->own_data_sock = 1;
		if (set_owner(d->cfg.socket_path, d->cfg.socket_uid,
			      d->cfg.socket_gid) < 0)
			return -EPERM;
	}
	if (d->control_fd < 0) {
		d->control_fd = make_socket(d->cfg.control_path, SOCK_STREAM,
					    d->cfg.control_mode);
		if (d->control_fd < 0)
			return d->control_fd;
		d->own_control_sock = 1;
		if (set_owner(d->cfg.control_path, d->cfg.control_uid,
			      d->cfg.control_gid) < 0)
			return -EPERM;
	}
	return 0;
}

void listen_close(struct daemon *d)
{
	if (d->data_fd >= 0)
		close(d->data_fd);
	if (d->control_fd >= 0)
		close(d->control_fd);
	if (d->own_data_sock)
		unlink(d->cfg.socket_path);
	if (d->own_control_sock)
		unlink(d->cfg.control_path);
}
