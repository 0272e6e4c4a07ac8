/* SPDX-License-Identifier: MIT */
#include "fdstore.h"
#include "fdcheck.h"
#include "log.h"
#include "policy/policy.h"
#include "region.h"
#include "session.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

int fdstore_enabled(void)
{
	const char *e = getenv("NOTIFY_SOCKET");

	return e && *e;
}

static void store(char tag, uint64_t id, int fd)
{
	char msg[64];
	int rc;

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%c%016" PRIx64, tag, id);
	rc = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (rc <= 0)
		log_warn("cannot keep descriptor %c%016" PRIx64
			 " in the service manager: %s",
			 tag, id, rc < 0 ? strerror(-rc) : "no manager");
}

static void unstore(char tag, uint64_t id)
{
	sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%c%016" PRIx64, tag, id);
}

/* A sealed memfd holding a JSON description. */
static int describe(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s);
	int fd = memfd_create("uffdd-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (write(fd, s, len) != (ssize_t)len ||
	    fcntl(fd, F_ADD_SEALS,
		  F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static json_object *read_description(int fd)
{
	char buf[4096];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return json_tokener_parse(buf);
}

void fdstore_add_session(const struct session *s)
{
	json_object *o;
	int fd;

	if (!fdstore_enabled() || s->sock < 0)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "granted", json_object_new_boolean(s->granted));
	json_object_object_add(o, "uffd_mode", json_object_new_int(s->uffd_mode));
	json_object_object_add(o, "since", json_object_new_int64(s->since));
	fd = describe(o);
	json_object_put(o);
	if (fd < 0) {
		log_warn("cannot describe session %016" PRIx64 ": %s", s->id,
			 strerror(errno));
		return;
	}
	store('S', s->id, s->sock);
	store('s', s->id, fd);
	close(fd);
}

/* The sealed description of r, or -1 (logged). */
static int describe_region(const struct region *r)
{
	json_object *o;
	int fd;

	o = json_object_new_object();
	json_object_object_add(o, "sid", json_object_new_uint64(r->s->id));
	json_object_object_add(o, "start", json_object_new_uint64(r->start));
	json_object_object_add(o, "len", json_object_new_uint64(r->len));
	json_object_object_add(o, "offset", json_object_new_uint64(r->offset));
	json_object_object_add(o, "kind", json_object_new_int(r->kind));
	json_object_object_add(o, "page_size", json_object_new_int64(r->page_size));
	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "policy", json_object_new_string(r->pol->spec));
	fd = describe(o);
	json_object_put(o);
	if (fd < 0)
		log_warn("cannot describe region %016" PRIx64 ": %s", r->id,
			 strerror(errno));
	return fd;
}

void fdstore_add_region(const struct region *r)
{
	int fd;

	if (!fdstore_enabled() || r->s->sock < 0)
		return;
	fd = describe_region(r);
	if (fd < 0)
		return;
	store('U', r->id, r->uffd);
	store('M', r->id, r->memfd);
	store('r', r->id, fd);
	close(fd);
}

void fdstore_update_region(const struct region *r)
{
	int fd;

	if (!fdstore_enabled() || r->s->sock < 0)
		return;
	fd = describe_region(r);
	if (fd < 0)
		return;
	/* FDSTOREREMOVE takes every descriptor of that name: the old one. */
	unstore('r', r->id);
	store('r', r->id, fd);
	close(fd);
}

void fdstore_remove_region(const struct region *r)
{
	if (!fdstore_enabled())
		return;
	unstore('U', r->id);
	unstore('M', r->id);
	unstore('r', r->id);
}

void fdstore_remove_session(const struct session *s)
{
	if (!fdstore_enabled() || s->sock < 0)
		return;
	for (size_t i = 0; i < s->nregions; i++)
		fdstore_remove_region(s->regions[i]);
	unstore('S', s->id);
	unstore('s', s->id);
}

/* Restore ------------------------------------------------------------------ */

struct entry {
	char tag;
	uint64_t id;
	int fd;
};

static int parse_name(const char *name, char *tag, uint64_t *id)
{
	char *end;

	if (!name || strlen(name) != 17 || !strchr("SsUMr", name[0]))
		return -1;
	*tag = name[0];
	*id = strtoull(name + 1, &end, 16);
	return *end ? -1 : 0;
}

static struct entry *find(struct entry *e, int n, char tag, uint64_t id)
{
	for (int i = 0; i < n; i++)
		if (e[i].fd >= 0 && e[i].tag == tag && e[i].id == id)
			return &e[i];
	return NULL;
}

static void drop(struct entry *e)
{
	unstore(e->tag, e->id);
	close(e->fd);
	e->fd = -1;
}

static uint64_t j_u64(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v)
						     : 0;
}

static const char *j_str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
						     : "";
}

/* Rebuild one region of s from its three entries; 0 or -1 (dropped). */
static int restore_region(struct session *s, struct entry *e, int n,
			  struct entry *meta)
{
	struct entry *u = find(e, n, 'U', meta->id), *m = find(e, n, 'M', meta->id);
	json_object *o = read_description(meta->fd);
	struct region_params p;
	struct region *r;
	struct memfd_info mi;
	uint64_t feats;
	char err[256];

	if (!o || !u || !m || fd_check_uffd(u->fd, &feats, err, sizeof(err)) < 0 ||
	    fd_check_memfd(m->fd, &mi, err, sizeof(err)) < 0) {
		log_warn("stored region %016" PRIx64 " is incomplete; dropped",
			 meta->id);
		json_object_put(o);
		if (u)
			drop(u);
		if (m)
			drop(m);
		drop(meta);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	p.id = meta->id;
	p.start = j_u64(o, "start");
	p.len = j_u64(o, "len");
	p.offset = j_u64(o, "offset");
	p.kind = (uint8_t)j_u64(o, "kind");
	p.page_size = (uint32_t)j_u64(o, "page_size");
	p.uffd_features = feats;
	snprintf(p.name, sizeof(p.name), "%s", j_str(o, "name"));
	snprintf(p.policy, sizeof(p.policy), "%s", j_str(o, "policy"));
	json_object_put(o);
	r = region_make(s, &p, err, sizeof(err));
	if (!r || region_insert(s, r) < 0) {
		log_warn("stored region %016" PRIx64 " cannot be rebuilt: %s",
			 meta->id, r ? "overlap" : err);
		if (r)
			region_free(r);
		drop(u);
		drop(m);
		drop(meta);
		return -1;
	}
	r->uffd = u->fd;
	r->memfd = m->fd;
	s->bytes += r->len;
	u->fd = m->fd = -1;
	close(meta->fd);
	meta->fd = -1;
	return 0;
}

static int restore_session(struct daemon *d, struct entry *e, int n,
			   struct entry *meta)
{
	struct entry *sk = find(e, n, 'S', meta->id);
	json_object *o = read_description(meta->fd);
	struct pollfd pfd;
	struct session *s;

	if (sk) {
		pfd.fd = sk->fd;
		pfd.events = POLLIN;
		/* A client that exited while we were down: its end is shut. */
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR))) {
			drop(sk);
			sk = NULL;
		}
	}
	s = sk && o ? session_new(d, sk->fd) : NULL;
	if (!s) {
		/* systemd already closed the connection of a client that
		 * exited: its uffds and memfds must go too, or they pin its
		 * memory (hugepages) for ever. */
		log_info("session %016" PRIx64 " ended while uffdd was down; "
			 "releasing what it left in the store",
			 meta->id);
		for (int i = 0; i < n; i++) {
			json_object *ro;

			if (e[i].fd < 0 || e[i].tag != 'r')
				continue;
			ro = read_description(e[i].fd);
			if (ro && j_u64(ro, "sid") == meta->id) {
				struct entry *u = find(e, n, 'U', e[i].id);
				struct entry *m = find(e, n, 'M', e[i].id);

				if (u)
					drop(u);
				if (m)
					drop(m);
				drop(&e[i]);
			}
			json_object_put(ro);
		}
		if (sk)
			drop(sk);
		drop(meta);
		json_object_put(o);
		return -1;
	}
	s->id = meta->id;
	s->hello_done = 1;
	s->restored = 1;
	snprintf(s->name, sizeof(s->name), "%s", j_str(o, "name"));
	s->granted = (int)j_u64(o, "granted");
	s->uffd_mode = (int)j_u64(o, "uffd_mode");
	s->since = (time_t)j_u64(o, "since");
	json_object_put(o);
	sk->fd = -1;
	close(meta->fd);
	meta->fd = -1;

	for (int i = 0; i < n; i++) {
		json_object *ro;
		uint64_t sid;

		if (e[i].fd < 0 || e[i].tag != 'r')
			continue;
		ro = read_description(e[i].fd);
		sid = ro ? j_u64(ro, "sid") : 0;
		json_object_put(ro);
		if (sid == s->id)
			restore_region(s, e, n, &e[i]);
	}
	__atomic_add_fetch(&d->clients, 1, __ATOMIC_RELAXED);
	log_notice("client %d (%s): session %016" PRIx64
		   " restored with %zu region%s",
		   (int)s->pid, s->comm, s->id, s->nregions,
		   s->nregions == 1 ? "" : "s");
	worker_assign(d, s);
	return 0;
}

int fdstore_restore(struct daemon *d, int *fds, char **names, int n)
{
	struct entry *e = calloc((size_t)n + 1, sizeof(*e));
	int restored = 0;

	if (!e)
		return 0;
	for (int i = 0; i < n; i++) {
		e[i].fd = -1;
		if (fds[i] < 0)
			continue;
		if (parse_name(names[i], &e[i].tag, &e[i].id) < 0) {
			log_warn("unknown stored descriptor \"%s\"; dropped",
				 names[i] ? names[i] : "");
			sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s",
				   names[i] ? names[i] : "");
			close(fds[i]);
		} else {
			e[i].fd = fds[i];
		}
		fds[i] = -1;
	}
	for (int i = 0; i < n; i++)
		if (e[i].fd >= 0 && e[i].tag == 's' &&
		    restore_session(d, e, n, &e[i]) == 0)
			restored++;
	/* Whatever no session claimed. */
	for (int i = 0; i < n; i++)
		if (e[i].fd >= 0) {
			log_info("stored descriptor %c%016" PRIx64
				 " belongs to no session; dropped",
				 e[i].tag, e[i].id);
			drop(&e[i]);
		}
	free(e);
	return restored;
}
