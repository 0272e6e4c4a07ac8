/* SPDX-License-Identifier: MIT */
/*
 * The status for people: a summary like `systemctl status` (what runs,
 * how busy, how fast, what went wrong, which limits are close), then the
 * busiest clients; and tables of clients and regions.  -j gives the JSON.
 */
#include "ctl.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOP_CLIENTS  10
#define NEAR_PERCENT 80

json_object *jget(json_object *o, const char *path)
{
	char part[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		snprintf(part, sizeof(part), "%.*s", (int)n, path);
		if (!json_object_object_get_ex(o, part, &o))
			return NULL;
		path += n + (path[n] == '.');
	}
	return o;
}

int64_t jint(json_object *o, const char *path)
{
	return json_object_get_int64(jget(o, path));
}

double jdouble(json_object *o, const char *path)
{
	return json_object_get_double(jget(o, path));
}

const char *jstr(json_object *o, const char *path)
{
	json_object *v = jget(o, path);

	return v ? json_object_get_string(v) : "";
}

const char *fmt_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

const char *fmt_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 " ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", (double)ns / 1e9);
	return buf;
}

const char *fmt_age(double s, char *buf, size_t len)
{
	long t = (long)s;

	if (t < 120)
		snprintf(buf, len, "%ld s", t);
	else if (t < 7200)
		snprintf(buf, len, "%ld min", t / 60);
	else if (t < 172800)
		snprintf(buf, len, "%ld h %02ld min", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, len, "%ld days %ld h", t / 86400,
			 t % 86400 / 3600);
	return buf;
}

const char *fmt_count(uint64_t n, char *buf, size_t len)
{
	char raw[32];
	size_t r, o = 0;

	r = (size_t)snprintf(raw, sizeof(raw), "%" PRIu64, n);
	for (size_t i = 0; i < r && o + 2 < len; i++) {
		if (i && (r - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = raw[i];
	}
	buf[o] = '\0';
	return buf;
}

json_object *ctl_regions(json_object *status)
{
	json_object *clients = jget(status, "clients"),
		    *out = json_object_new_array();

	for (size_t i = 0; clients && i < json_object_array_length(clients);
	     i++) {
		json_object *c = json_object_array_get_idx(clients, i);
		json_object *rs = jget(c, "regions");

		for (size_t j = 0; rs && j < json_object_array_length(rs);
		     j++) {
			json_object *r = json_object_array_get_idx(rs, j);

			json_object_object_add(r, "pid",
					       json_object_get(jget(c, "pid")));
			json_object_array_add(out, json_object_get(r));
		}
	}
	return out;
}

/* Bytes registered by client c. */
static uint64_t client_bytes(json_object *c)
{
	json_object *rs = jget(c, "regions");
	uint64_t n = 0;

	for (size_t j = 0; rs && j < json_object_array_length(rs); j++)
		n += (uint64_t)jint(json_object_array_get_idx(rs, j), "length");
	return n;
}

/* Faults of client c, over its regions. */
static uint64_t client_faults(json_object *c)
{
	json_object *rs = jget(c, "regions");
	uint64_t n = 0;

	for (size_t j = 0; rs && j < json_object_array_length(rs); j++)
		n += (uint64_t)jint(json_object_array_get_idx(rs, j), "faults");
	return n;
}

static void header(json_object *st)
{
	char up[32];
	json_object *k = jget(st, "kernel");

	printf("uffdd %s (pid %" PRId64 "), up %s; kernel %s, minor faults "
	       "on %s%s%s\n",
	       jstr(st, "version"), jint(st, "pid"),
	       fmt_age(jdouble(st, "uptime_s"), up, sizeof(up)),
	       jstr(k, "release"),
	       json_object_get_boolean(jget(k, "minor_hugetlbfs")) ? "hugetlbfs"
								   : "",
	       json_object_get_boolean(jget(k, "minor_shmem"))
		   ? (json_object_get_boolean(jget(k, "minor_hugetlbfs"))
			  ? " and shmem"
			  : "shmem")
		   : "",
	       json_object_get_boolean(jget(k, "poison")) ? ", poison" : "");
}

static void config_line(json_object *st)
{
	json_object *cfg = jget(st, "config"),
		    *keys = jget(cfg, "restart_needed");
	int64_t when = jint(cfg, "reloaded");
	char ago[32];

	printf("Config:   %s", jstr(cfg, "source"));
	if (when)
		printf(", reloaded %s ago",
		       fmt_age((double)(time(NULL) - when), ago, sizeof(ago)));
	if (jget(cfg, "reload_error"))
		printf("; LAST RELOAD FAILED, old configuration kept: %s",
		       jstr(cfg, "reload_error"));
	if (keys && json_object_array_length(keys)) {
		printf("; restart to apply:");
		for (size_t i = 0; i < json_object_array_length(keys); i++)
			printf("%s %s", i ? "," : "",
			       json_object_get_string(
				   json_object_array_get_idx(keys, i)));
	}
	putchar('\n');
}

static void activity_lines(json_object *st)
{
	json_object *t = jget(st, "totals"), *cl = jget(st, "clients");
	uint64_t bytes = 0, granted = 0;
	char a[32], b[32], c[32];

	for (size_t i = 0; cl && i < json_object_array_length(cl); i++) {
		json_object *x = json_object_array_get_idx(cl, i);

		bytes += client_bytes(x);
		granted += json_object_get_boolean(jget(x, "granted"));
	}
	printf("Clients:  %" PRId64 " of %" PRId64 " (%" PRIu64
	       " with a /dev/userfaultfd grant)\n",
	       jint(t, "clients"), jint(st, "limits.clients"), granted);
	printf("Regions:  %" PRId64 " of %" PRId64 ", %s\n", jint(t, "regions"),
	       jint(st, "limits.regions"), fmt_bytes(bytes, a, sizeof(a)));
	printf("Faults:   %s/s; %s since start, %s pages mapped\n",
	       fmt_count((uint64_t)(jdouble(t, "faults_per_s") + 0.5), c,
			 sizeof(c)),
	       fmt_count((uint64_t)jint(t, "faults"), a, sizeof(a)),
	       fmt_count((uint64_t)jint(t, "pages_mapped"), b, sizeof(b)));
	printf("Latency:  p50 %s, p99 %s, max %s (every fault since start)\n",
	       fmt_ns((uint64_t)jint(t, "latency_ns.p50"), a, sizeof(a)),
	       fmt_ns((uint64_t)jint(t, "latency_ns.p99"), b, sizeof(b)),
	       fmt_ns((uint64_t)jint(t, "latency_ns.max"), c, sizeof(c)));
	printf("Errors:   %" PRId64 " faults failed, %" PRId64
	       " races; refused %" PRId64 " clients, %" PRId64
	       " regions; %" PRId64 " rate-limited, %" PRId64
	       " hello timeouts\n",
	       jint(t, "errors"), jint(t, "races"),
	       jint(t, "rejected_clients") + jint(t, "denied_clients"),
	       jint(t, "regions_refused"), jint(t, "rate_limited"),
	       jint(t, "hello_timeouts"));
}

/* One "near" entry when used is at least NEAR_PERCENT of limit. */
static int near(const char *what, uint64_t used, uint64_t limit,
		const char *who, int shown)
{
	char u[32], l[32];
	int bytes = strstr(what, "bytes") != NULL;

	if (!limit || used * 100 < limit * NEAR_PERCENT)
		return shown;
	printf("%s %s %s of %s (%" PRIu64 "%%)%s%s",
	       shown ? "," : "Near:    ", what,
	       bytes ? fmt_bytes(used, u, sizeof(u))
		     : fmt_count(used, u, sizeof(u)),
	       bytes ? fmt_bytes(limit, l, sizeof(l))
		     : fmt_count(limit, l, sizeof(l)),
	       used * 100 / limit, who[0] ? " " : "", who);
	return 1;
}

/* Limits whose use is close to their bound, per daemon and per client. */
static void near_limits(json_object *st)
{
	json_object *cl = jget(st, "clients"), *l = jget(st, "limits");
	int shown = 0;

	shown = near("clients", (uint64_t)jint(st, "totals.clients"),
		     (uint64_t)jint(l, "clients"), "", shown);
	shown = near("regions", (uint64_t)jint(st, "totals.regions"),
		     (uint64_t)jint(l, "regions"), "", shown);
	for (size_t i = 0; cl && i < json_object_array_length(cl); i++) {
		json_object *c = json_object_array_get_idx(cl, i);
		uint64_t same = 0;
		char who[96];

		snprintf(who, sizeof(who), "(pid %" PRId64 " %s)",
			 jint(c, "pid"), jstr(c, "comm"));
		size_t first = i;

		for (size_t j = 0; j < json_object_array_length(cl); j++) {
			json_object *o = json_object_array_get_idx(cl, j);

			if (jint(o, "uid") != jint(c, "uid"))
				continue;
			same++;
			first = j < first ? j : first;
		}
		if (first == i) /* once per uid */
			shown = near("clients of its uid", same,
				     (uint64_t)jint(l, "clients_per_uid"), who,
				     shown);
		shown =
		    near("regions_per_client",
			 json_object_array_length(jget(c, "regions")),
			 (uint64_t)jint(l, "regions_per_client"), who, shown);
		shown = near("bytes_per_client", client_bytes(c),
			     (uint64_t)jint(l, "bytes_per_client"), who, shown);
	}
	if (shown)
		putchar('\n');
}

static int by_faults(const void *a, const void *b)
{
	uint64_t fa = client_faults(*(json_object *const *)a),
		 fb = client_faults(*(json_object *const *)b);

	return fa < fb ? 1 : fa > fb ? -1 : 0;
}

/* Clients as a table, busiest first; at most max rows (0: all). */
static void client_table(json_object *cl, size_t max)
{
	size_t n = cl ? json_object_array_length(cl) : 0;
	json_object **v = calloc(n ? n : 1, sizeof(*v));
	char b[32], f[32];

	for (size_t i = 0; i < n; i++)
		v[i] = json_object_array_get_idx(cl, i);
	qsort(v, n, sizeof(*v), by_faults);
	printf("%8s %6s  %-16s %-6s %7s %10s %12s  %s\n", "PID", "UID",
	       "CLIENT", "UFFD", "REGIONS", "BYTES", "FAULTS", "SESSION");
	for (size_t i = 0; i < n && (!max || i < max); i++)
		printf("%8" PRId64 " %6" PRId64 "  %-16.16s %-6.6s %7zu %10s "
		       "%12s  %s\n",
		       jint(v[i], "pid"), jint(v[i], "uid"),
		       jstr(v[i], "name")[0] ? jstr(v[i], "name")
					     : jstr(v[i], "comm"),
		       jstr(v[i], "uffd"),
		       json_object_array_length(jget(v[i], "regions")),
		       fmt_bytes(client_bytes(v[i]), b, sizeof(b)),
		       fmt_count(client_faults(v[i]), f, sizeof(f)),
		       jstr(v[i], "session"));
	if (max && n > max)
		printf("... and %zu more (uffdctl clients)\n", n - max);
	free(v);
}

void show_status(json_object *st)
{
	header(st);
	config_line(st);
	activity_lines(st);
	near_limits(st);
	putchar('\n');
	client_table(jget(st, "clients"), TOP_CLIENTS);
}

void show_clients(json_object *st)
{
	client_table(jget(st, "clients"), 0);
}

void show_regions(json_object *st)
{
	json_object *rs = ctl_regions(st);
	char b[32], f[32], p50[32], p99[32];

	printf("%-16s %-20s %8s %-7s %10s %12s %9s %9s %5s  %s\n", "REGION",
	       "NAME", "PID", "KIND", "BYTES", "FAULTS", "P50", "P99", "HELD",
	       "POLICY");
	for (size_t i = 0; i < json_object_array_length(rs); i++) {
		json_object *r = json_object_array_get_idx(rs, i);

		printf("%-16s %-20.20s %8" PRId64 " %-7s %10s %12s %9s %9s "
		       "%5" PRId64 "  %s\n",
		       jstr(r, "id"), jstr(r, "name"), jint(r, "pid"),
		       jstr(r, "kind"),
		       fmt_bytes((uint64_t)jint(r, "length"), b, sizeof(b)),
		       fmt_count((uint64_t)jint(r, "faults"), f, sizeof(f)),
		       fmt_ns((uint64_t)jint(r, "latency_ns.p50"), p50,
			      sizeof(p50)),
		       fmt_ns((uint64_t)jint(r, "latency_ns.p99"), p99,
			      sizeof(p99)),
		       jint(r, "held"), jstr(r, "policy"));
	}
	json_object_put(rs);
}
