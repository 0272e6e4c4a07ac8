/* SPDX-License-Identifier: MIT */
#include "listen.h"
#include "access.h"
#include "bounds.h"
#include "daemon.h"
#include "log.h"
#include "session.h"
#include "session_proto.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
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

/* socket_owner/socket_group (config_sockets.c); -1 keeps ours. */
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
	struct daemon_stored *st = &d->stored;
	int *nf = realloc(st->fds, sizeof(int) * (size_t)(st->n + 1));
	char **nn;

	if (nf)
		st->fds = nf;
	nn = realloc(st->names, sizeof(char *) * (size_t)(st->n + 1));
	if (nn)
		st->names = nn;
	if (!nf || !nn) {
		close(fd);
		return;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	st->fds[st->n] = fd;
	st->names[st->n] = strdup(name);
	st->n++;
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

		if (listening && t == SOCK_SEQPACKET && d->sock.data_fd < 0 &&
		    (!strcmp(name, "data") || !named))
			d->sock.data_fd = fd;
		else if (listening && t == SOCK_STREAM &&
			 d->sock.control_fd < 0 &&
			 (!strcmp(name, "control") || !named))
			d->sock.control_fd = fd;
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
	if (d->sock.data_fd >= 0)
		fcntl(d->sock.data_fd, F_SETFL,
		      fcntl(d->sock.data_fd, F_GETFL) | O_NONBLOCK);
	if (d->sock.control_fd >= 0)
		fcntl(d->sock.control_fd, F_SETFL,
		      fcntl(d->sock.control_fd, F_GETFL) | O_NONBLOCK);
}

/* A socket made here (unless systemd gave one): made, chmod'ed, chown'ed. */
static int own_socket(int *fd, int *own, const char *path, int type,
		      unsigned mode, int64_t uid, int64_t gid)
{
	if (*fd >= 0)
		return 0;
	*fd = make_socket(path, type, mode);
	if (*fd < 0)
		return *fd;
	*own = 1;
	return set_owner(path, uid, gid) < 0 ? -EPERM : 0;
}

int listen_open(struct daemon *d)
{
	const struct config_sockets *c = &d->conf.cfg.sock;
	int rc;

	d->sock.data_fd = d->sock.control_fd = -1;
	from_systemd(d);
	rc = own_socket(&d->sock.data_fd, &d->sock.own_data, c->data_path,
			SOCK_SEQPACKET, c->data_mode, c->data_uid, c->data_gid);
	if (rc == 0)
		rc = own_socket(&d->sock.control_fd, &d->sock.own_control,
				c->control_path, SOCK_STREAM, c->control_mode,
				c->control_uid, c->control_gid);
	return rc;
}

void listen_close(struct daemon *d)
{
	if (d->sock.data_fd >= 0)
		close(d->sock.data_fd);
	if (d->sock.control_fd >= 0)
		close(d->sock.control_fd);
	if (d->sock.own_data)
		unlink(d->conf.cfg.sock.data_path);
	if (d->sock.own_control)
		unlink(d->conf.cfg.sock.control_path);
}

/* The accept loop --------------------------------------------------------- */

static struct event *data_ev, *pause_ev;

/* Say no to a connection: an ERROR with why, a line, the socket closed. */
static void refuse(struct daemon *d, int sock, uid_t uid, pid_t pid, int code,
		   const char *why)
{
	__atomic_add_fetch(&d->n.rejected_clients, 1, __ATOMIC_RELAXED);
	uffdd_send_error(sock, 0, 0, code, "%s", why);
	close(sock);
	log_uid(LOG_WARNING, uid, pid,
		"connection from pid %d uid %u refused: %s", (int)pid,
		(unsigned)uid, why);
}

int listen_admit(struct daemon *d, int sock, int *admin, char *why, size_t len)
{
	const struct config *c = &d->conf.cfg;
	struct peer p = { .cr = { .uid = (uid_t)-1, .gid = (gid_t)-1 } };
	int code = 0;

	if (peer_read(sock, &p) < 0) {
		code = EPROTO;
		snprintf(why, len, "no peer credentials");
	} else if (access_data_allowed(&c->access, &p, why, len) < 0) {
		code = EACCES;
		__atomic_add_fetch(&d->n.denied_clients, 1, __ATOMIC_RELAXED);
	}
	*admin = access_is_admin(&c->access, &p);
	return code;
}

/*
 * May the peer of a connection just accepted come in (access)?  0 to go
 * on, with *admin set; -1 refused (the peer got an ERROR, the refusal is
 * logged within its uid's rate, sock is closed).
 */
static int admit(struct daemon *d, int sock, int *admin)
{
	struct peer p = { .cr = { .uid = (uid_t)-1, .gid = (gid_t)-1 } };
	char why[160];
	int code = listen_admit(d, sock, admin, why, sizeof(why));

	if (!code)
		return 0;
	peer_read(sock, &p);
	refuse(d, sock, p.cr.uid, p.cr.pid, code, why);
	return -1;
}

/*
 * A connection admitted: its session, within its uid's share of
 * limits.clients, served by the least loaded worker.
 */
static void serve(struct daemon *d, int c, int admin)
{
	struct session *s = session_new(c);
	char why[256];

	if (!s) {
		close(c);
		return;
	}
	s->admin = admin;
	if (session_count_in(s, 0, why, sizeof(why)) < 0) {
		s->proto.sock = -1; /* refuse closes it */
		refuse(d, c, s->who.uid, s->who.pid, EUSERS, why);
		session_discard(s);
		return;
	}
	if (session_serve(s, worker_pick(d->workers)) < 0)
		session_discard(s);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_add(data_ev, NULL);
}

/* accept failed with errno: say so, at most once a second; pause when
 * out of descriptors. */
static void accept_failed(void)
{
	static struct throttle t;

	if (errno == EMFILE || errno == ENFILE) {
		/* The backlog stays readable: without a pause this callback
		 * would spin. */
		struct timeval tv = { 0, 100000 };

		throttle_log(&t, LOG_WARNING,
			     "accept: %s (raise LimitNOFILE=); not accepting "
			     "for 100 ms",
			     strerror(errno));
		event_del(data_ev);
		event_add(pause_ev, &tv);
	} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
		throttle_log(&t, LOG_WARNING, "accept: %s", strerror(errno));
	}
}

static void accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	for (int i = 0; i < 64; i++) {
		int admin, c = accept4((int)fd, NULL, NULL,
				       SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0) {
			accept_failed();
			return;
		}
		if (admit(d, c, &admin) == 0)
			serve(d, c, admin);
	}
}

int listen_start(struct daemon *d)
{
	data_ev = event_new(d->base, d->sock.data_fd, EV_READ | EV_PERSIST,
			    accept_cb, d);
	pause_ev = evtimer_new(d->base, resume_cb, NULL);
	if (!data_ev || !pause_ev)
		return -ENOMEM;
	return event_add(data_ev, NULL);
}

void listen_stop(void)
{
	if (data_ev)
		event_free(data_ev);
	if (pause_ev)
		event_free(pause_ev);
	data_ev = pause_ev = NULL;
}
