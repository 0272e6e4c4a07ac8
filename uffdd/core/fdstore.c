/* SPDX-License-Identifier: MIT */
#include "fdstore.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

/* Whether a service manager is there to hold descriptors for us. */
static int enabled(void)
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

/* A sealed memfd holding o as JSON (o is put), or -1. */
static int describe(json_object *o)
{
	const char *s =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s);
	int fd = memfd_create("uffdd-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd >= 0 && (write(fd, s, len) != (ssize_t)len ||
			fcntl(fd, F_ADD_SEALS,
			      F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
				  F_SEAL_SEAL) < 0)) {
		close(fd);
		fd = -1;
	}
	json_object_put(o);
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

void fdstore_keep_session(uint64_t sid, int sock,
			  const struct fdstore_session *d)
{
	json_object *o;
	int fd;

	if (!enabled() || sock < 0)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "granted",
			       json_object_new_boolean(d->granted));
	json_object_object_add(o, "uffd_mode",
			       json_object_new_int(d->uffd_mode));
	json_object_object_add(o, "since", json_object_new_int64(d->since));
	fd = describe(o);
	if (fd < 0) {
		log_warn("cannot describe session %016" PRIx64 ": %s", sid,
			 strerror(errno));
		return;
	}
	store('S', sid, sock);
	store('s', sid, fd);
	close(fd);
}

void fdstore_forget_session(uint64_t sid)
{
	if (!enabled())
		return;
	unstore('S', sid);
	unstore('s', sid);
}

/* The sealed description of a region, or -1 (logged). */
static int describe_region(uint64_t rid, const struct fdstore_region *d)
{
	json_object *o = json_object_new_object();
	int fd;

	json_object_object_add(o, "sid", json_object_new_uint64(d->sid));
	json_object_object_add(o, "start", json_object_new_uint64(d->start));
	json_object_object_add(o, "len", json_object_new_uint64(d->len));
	json_object_object_add(o, "offset", json_object_new_uint64(d->offset));
	json_object_object_add(o, "kind", json_object_new_int(d->kind));
	json_object_object_add(o, "page_size",
			       json_object_new_int64(d->page_size));
	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "policy", json_object_new_string(d->policy));
	fd = describe(o);
	if (fd < 0)
		log_warn("cannot describe region %016" PRIx64 ": %s", rid,
			 strerror(errno));
	return fd;
}

/* Keep region rid's description (again: the old one goes first). */
static int store_description(uint64_t rid, const struct fdstore_region *d,
			     int again)
{
	int fd = describe_region(rid, d);

	if (fd < 0)
		return -1;
	/* FDSTOREREMOVE takes every descriptor of that name: the old one. */
	if (again)
		unstore('r', rid);
	store('r', rid, fd);
	close(fd);
	return 0;
}

static void store_files(uint64_t rid, const struct fdstore_fds *fds)
{
	for (int i = 0; i < fds->nfiles; i++)
		store((char)('0' + i), rid, fds->files[i]);
}

static void unstore_files(uint64_t rid)
{
	for (int i = 0; i < UFFDD_MAX_FILES; i++)
		unstore((char)('0' + i), rid);
}

void fdstore_keep_region(uint64_t rid, const struct fdstore_fds *fds,
			 const struct fdstore_region *d)
{
	if (!enabled())
		return;
	/* The description first: without it, the descriptors are useless. */
	if (store_description(rid, d, 0) < 0)
		return;
	store('U', rid, fds->uffd);
	store('M', rid, fds->memfd);
	store_files(rid, fds);
	if (fds->pages >= 0)
		store('P', rid, fds->pages);
}

void fdstore_update_region(uint64_t rid, const struct fdstore_fds *fds,
			   const struct fdstore_region *d)
{
	if (!enabled())
		return;
	unstore_files(rid);
	store_files(rid, fds);
	store_description(rid, d, 1);
}

void fdstore_forget_region(uint64_t rid)
{
	if (!enabled())
		return;
	unstore('U', rid);
	unstore('M', rid);
	unstore('r', rid);
	unstore('P', rid);
	unstore_files(rid);
}

/* Restore ------------------------------------------------------------------ */

static int parse_name(const char *name, char *tag, uint64_t *id)
{
	char *end;

	if (!name || strlen(name) != 17 || !strchr("SsUMrP012", name[0]))
		return -1;
	*tag = name[0];
	*id = strtoull(name + 1, &end, 16);
	return *end ? -1 : 0;
}

int fdstore_open_set(struct fdstore_set *set, int *fds, char **names, int n)
{
	set->e = calloc((size_t)n + 1, sizeof(*set->e));
	set->n = n;
	if (!set->e)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct fdstore_entry *e = &set->e[i];

		e->fd = -1;
		if (fds[i] < 0)
			continue;
		if (parse_name(names[i], &e->tag, &e->id) < 0) {
			log_warn("unknown stored descriptor \"%s\"; dropped",
				 names[i] ? names[i] : "");
			sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s",
				   names[i] ? names[i] : "");
			close(fds[i]);
		} else {
			e->fd = fds[i];
		}
		fds[i] = -1;
	}
	return 0;
}

struct fdstore_entry *fdstore_get(struct fdstore_set *set, char tag,
				  uint64_t id)
{
	for (int i = 0; i < set->n; i++)
		if (set->e[i].fd >= 0 && set->e[i].tag == tag &&
		    set->e[i].id == id)
			return &set->e[i];
	return NULL;
}

void fdstore_drop(struct fdstore_entry *e)
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

static void j_str(json_object *o, const char *key, char *dst, size_t size)
{
	json_object *v;

	snprintf(dst, size, "%s",
		 json_object_object_get_ex(o, key, &v)
		     ? json_object_get_string(v)
		     : "");
}

int fdstore_read_session(const struct fdstore_entry *e,
			 struct fdstore_session *d)
{
	json_object *o = read_description(e->fd);

	if (!o)
		return -1;
	j_str(o, "name", d->name, sizeof(d->name));
	d->granted = (int)j_u64(o, "granted");
	d->uffd_mode = (int)j_u64(o, "uffd_mode");
	d->since = (time_t)j_u64(o, "since");
	json_object_put(o);
	return 0;
}

int fdstore_read_region(const struct fdstore_entry *e, struct fdstore_region *d)
{
	json_object *o = read_description(e->fd);

	if (!o)
		return -1;
	d->sid = j_u64(o, "sid");
	d->start = j_u64(o, "start");
	d->len = j_u64(o, "len");
	d->offset = j_u64(o, "offset");
	d->kind = (int)j_u64(o, "kind");
	d->page_size = (uint32_t)j_u64(o, "page_size");
	j_str(o, "name", d->name, sizeof(d->name));
	j_str(o, "policy", d->policy, sizeof(d->policy));
	json_object_put(o);
	return 0;
}

void fdstore_close_set(struct fdstore_set *set)
{
	for (int i = 0; i < set->n; i++)
		if (set->e[i].fd >= 0) {
			log_info("stored descriptor %c%016" PRIx64
				 " belongs to no session; dropped",
				 set->e[i].tag, set->e[i].id);
			fdstore_drop(&set->e[i]);
		}
	free(set->e);
	set->e = NULL;
	set->n = 0;
}
