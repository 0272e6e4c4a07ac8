/* SPDX-License-Identifier: MIT */
#include "control.h"
#include "commands.h"
#include "core/access.h"
#include "core/bounds.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/share.h"
#include "image/cache.h"
#include "metrics.h"
#include "status.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQUEST	  4096
#define REQUEST_TIMEOUT_S 5

static struct event *accept_ev;
static struct daemon *daemon_;

struct conn {
	struct bufferevent *bev; /* writes the answer */
	struct event *rev;	 /* reads the request and its descriptors */
	struct evbuffer *in;
	struct control_fds fds;
	struct peer peer;    /* credentials and supplementary groups */
	struct share *share; /* its uid's control connections */
	int replied;
};

/* The answer to a state-changing command c may not run, logged once. */
static json_object *denied(const struct conn *c, const char *cmd)
{
	log_uid(LOG_NOTICE, c->peer.cr.uid, c->peer.cr.pid,
		"control: pid %d uid %u may not run \"%.32s\": it needs root "
		"or a group in admin_gids",
		(int)c->peer.cr.pid, (unsigned)c->peer.cr.uid, cmd);
	return control_error("\"%.32s\" needs root or a group in admin_gids",
			     cmd);
}

static void conn_free(struct conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->in)
		evbuffer_free(c->in);
	control_fds_close(&c->fds);
	bufferevent_free(c->bev);
	share_give(c->share, SHARE_CONTROL, 1);
	share_put(c->share);
	free(c);
}

static void reply(struct conn *c, json_object *o)
{
	const char *s =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	bufferevent_write(c->bev, s, strlen(s));
	bufferevent_write(c->bev, "\n", 1);
	c->replied = 1;
	event_del(c->rev);
}

/* {"metrics": "the text"}: the control protocol is JSON lines. */
static json_object *metrics(struct daemon *d)
{
	char *text = metrics_text(d);
	json_object *o;

	if (!text)
		return control_error("out of memory");
	o = json_object_new_object();
	json_object_object_add(o, "metrics", json_object_new_string(text));
	free(text);
	return o;
}

/* The host's image cache and every image in it (`uffdctl images`). */
static json_object *control_images(void)
{
	struct image_cache *ic = image_cache_global();
	json_object *o;

	if (ic)
		return image_cache_status(ic);
	o = json_object_new_object();
	json_object_object_add(o, "store", json_object_new_string(""));
	json_object_object_add(o, "images", json_object_new_array());
	return o;
}

static json_object *command(struct conn *c, const char *name, json_object *req)
{
	json_object *out;

	if (strcmp(name, "status") == 0)
		return status_build(daemon_);
	if (strcmp(name, "metrics") == 0)
		return metrics(daemon_);
	out = control_region(daemon_, &c->peer, name, req, &c->fds);
	if (out) /* publish, policy */
		return out;
	if (strcmp(name, "disconnect") == 0)
		return access_is_admin(&daemon_->conf.cfg.access, &c->peer)
			   ? control_disconnect(daemon_, &c->peer, req)
			   : denied(c, name);
	if (strcmp(name, "images") == 0)
		return control_images();
	if (strcmp(name, "ping") == 0) {
		out = json_object_new_object();
		json_object_object_add(out, "pong", json_object_new_boolean(1));
		return out;
	}
	return control_error("unknown command \"%.64s\"", name);
}

static void handle(struct conn *c, const char *line)
{
	json_object *req = json_tokener_parse(line), *cmd, *out;

	if (c->fds.excess)
		out = control_error("a request carries at most %d "
				    "descriptors",
				    UFFDD_MAX_FILES);
	else if (!req || !json_object_is_type(req, json_type_object) ||
		 !json_object_object_get_ex(req, "command", &cmd) ||
		 !json_object_is_type(cmd, json_type_string))
		out = control_error("request must be a JSON object with a "
				    "string \"command\"");
	else
		out = command(c, json_object_get_string(cmd), req);
	reply(c, out);
	json_object_put(out);
	json_object_put(req);
	control_fds_close(&c->fds); /* those no command took */
}

/* The request line in c->in, if it is complete (or ended by EOF). */
static void try_line(struct conn *c, int eof)
{
	size_t n = evbuffer_get_length(c->in);
	char *line = evbuffer_readln(c->in, &n, EVBUFFER_EOL_LF);

	/* A request without a final newline, ended by shutdown(SHUT_WR). */
	if (!line && eof && (n = evbuffer_get_length(c->in)) > 0 &&
	    (line = malloc(n + 1))) {
		evbuffer_remove(c->in, line, n);
		line[n] = '\0';
	}
	if (line) {
		handle(c, line);
		free(line);
	} else if (evbuffer_get_length(c->in) > MAX_REQUEST) {
		json_object *e = control_error("request too long");

		reply(c, e);
		json_object_put(e);
	}
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char buf[MAX_REQUEST + 1];
	ssize_t n;

	if (what & EV_TIMEOUT) {
		conn_free(c);
		return;
	}
	n = control_recv((int)fd, buf, sizeof(buf), &c->fds);
	if (n == -EAGAIN)
		return;
	if (n > 0)
		evbuffer_add(c->in, buf, (size_t)n);
	if (!c->replied)
		try_line(c, n <= 0);
	/* Ended without a request, or the answer is out already. */
	if (n <= 0 && !c->replied)
		conn_free(c);
	else if (n <= 0 || c->replied)
		event_del(c->rev);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->replied)
		conn_free(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_free(arg);
}

/* limits.control_connections, or the peer's share of it: say which, and
 * hang up. */
static void busy(int s, const struct peer *p, const char *why)
{
	json_object *o = control_error("too many control connections: %s", why);
	const char *msg =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	log_uid(LOG_WARNING, p->cr.uid, p->cr.pid,
		"control: connection from pid %d uid %u refused: %s",
		(int)p->cr.pid, (unsigned)p->cr.uid, why);
	if (write(s, msg, strlen(msg)) < 0 || write(s, "\n", 1) < 0) {
		/* the peer will see the close */
	}
	json_object_put(o);
	close(s);
}

/*
 * A connection, within its uid's share of limits.control_connections (root
 * and admin_gids may use the reserve: a locked-out administrator is what a
 * flood of status requests would otherwise buy).
 */
static struct conn *conn_new(int s)
{
	struct conn *c = calloc(1, sizeof(*c));
	char why[256];

	if (!c)
		return NULL;
	if (peer_read(s, &c->peer) < 0) {
		/* Unknown peer: uid -1 is nobody's, so no privilege. */
		c->peer.cr.uid = (uid_t)-1;
		c->peer.cr.gid = (gid_t)-1;
	}
	c->share = share_get(c->peer.cr.uid);
	if (c->share &&
	    share_take(c->share, SHARE_CONTROL, 1,
		       access_is_admin(&daemon_->conf.cfg.access, &c->peer),
		       why, sizeof(why)) < 0) {
		busy(s, &c->peer, why);
		share_put(c->share);
		free(c);
		return NULL;
	}
	if (!c->share) {
		close(s);
		free(c);
		return NULL;
	}
	return c;
}

static void accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tmo = { REQUEST_TIMEOUT_S, 0 };
	struct conn *c;
	int s;

	(void)what;
	(void)arg;
	s = accept4((int)fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (s < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control socket accept: %s", strerror(errno));
		return;
	}
	c = conn_new(s);
	if (!c)
		return;
	c->bev =
	    bufferevent_socket_new(daemon_->base, s, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(s);
		share_give(c->share, SHARE_CONTROL, 1);
		share_put(c->share);
		free(c);
		return;
	}
	c->rev = event_new(daemon_->base, s, EV_READ | EV_PERSIST, read_cb, c);
	c->in = evbuffer_new();
	if (!c->rev || !c->in) {
		conn_free(c);
		return;
	}
	bufferevent_setcb(c->bev, NULL, write_cb, event_cb, c);
	bufferevent_set_timeouts(c->bev, NULL, &tmo);
	bufferevent_enable(c->bev, EV_WRITE);
	event_add(c->rev, &tmo);
}

int control_start(struct daemon *d)
{
	daemon_ = d;
	accept_ev = event_new(d->base, d->sock.control_fd, EV_READ | EV_PERSIST,
			      accept_cb, d);
	if (!accept_ev)
		return -ENOMEM;
	return event_add(accept_ev, NULL);
}

void control_stop(void)
{
	if (accept_ev)
		event_free(accept_ev);
	accept_ev = NULL;
}
