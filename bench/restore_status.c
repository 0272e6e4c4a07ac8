/* SPDX-License-Identifier: MIT */
/*
 * A region's counters, asked of the daemon's control socket (one JSON line
 * in, one out: what `uffdctl status` prints): faults served, and the
 * policies' own counters (bytes read from the image, pages prefetched).
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "restore.h"

static json_object *ask_status(const char *control)
{
	static const char req[] = "{\"command\":\"status\"}\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = 0, cap = 1 << 16;
	json_object *o = NULL;
	char *buf;
	int fd;

	if (strlen(control) >= sizeof(sa.sun_path))
		return NULL;
	strcpy(sa.sun_path, control);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000) <= 0)
			break;
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (buf[len - 1] == '\n')
			break; /* one line out */
	}
	close(fd);
	if (buf && len) {
		buf[len] = 0;
		o = json_tokener_parse(buf);
	}
	free(buf);
	return o;
}

static int64_t get_int(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return -1;
	return json_object_get_int64(v);
}

static json_object *find_region(json_object *st, const char *name)
{
	json_object *clients, *regions, *n;

	if (!json_object_object_get_ex(st, "clients", &clients))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(clients); i++) {
		json_object *c = json_object_array_get_idx(clients, i);

		if (!json_object_object_get_ex(c, "regions", &regions))
			continue;
		for (size_t k = 0; k < json_object_array_length(regions); k++) {
			json_object *r = json_object_array_get_idx(regions, k);

			if (json_object_object_get_ex(r, "name", &n) &&
			    strcmp(json_object_get_string(n), name) == 0)
				return r;
		}
	}
	return NULL;
}

int region_counters(const char *control, const char *name,
		    struct region_counters *out)
{
	json_object *st = ask_status(control), *r, *ps = NULL;

	memset(out, 0xff, sizeof(*out)); /* every counter -1 */
	out->found = false;
	if (!st)
		return -ECONNREFUSED;
	r = find_region(st, name);
	if (!r) {
		json_object_put(st);
		return -ENOENT;
	}
	out->found = true;
	out->faults = get_int(r, "faults");
	out->pages_mapped = get_int(r, "pages_mapped");
	out->errors = get_int(r, "errors");
	if (json_object_object_get_ex(r, "policy_stats", &ps)) {
		out->bytes_read = get_int(ps, "bytes_read");
		out->pages_populated = get_int(ps, "pages_populated");
		out->read_errors = get_int(ps, "read_errors");
		out->prefetch_total = get_int(ps, "prefetch_total");
		out->prefetch_done = get_int(ps, "prefetch_done");
		out->prefetch_mapped = get_int(ps, "prefetch_mapped");
		out->pages_recorded = get_int(ps, "pages_recorded");
	}
	json_object_put(st);
	return 0;
}

int wait_prefetch(const char *control, const char *name, int timeout_ms,
		  struct region_counters *out)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		int rc = region_counters(control, name, out);

		if (rc < 0)
			return rc;
		if (out->prefetch_total < 0)
			return -ENOENT; /* no prefetch in this region */
		if (out->prefetch_done >= out->prefetch_total)
			return 0;
		if (now_ns() > end)
			return -ETIMEDOUT;
		/* 1 ms: fine enough for a start time of tens of ms, and the
		 * status walk is on the daemon's main thread, not the worker
		 * doing the prefetch. */
		usleep(1000);
	}
}
