/* SPDX-License-Identifier: MIT */
/*
 * The table of policies (from POLICY_LIST), their names and allow-list
 * bits, and the calls a policy makes into the core, forwarded to the host
 * the core gave at start-up.
 */
#include "policy.h"
#include "table.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define POLICY_ENTRY(n, client) { &policy_ops_##n, client },
static const struct {
	const struct policy_ops *ops;
	int client; /* a client may ask for it by default */
} all[] = { POLICY_LIST(POLICY_ENTRY) };
#undef POLICY_ENTRY

#define NPOLICIES (sizeof(all) / sizeof(all[0]))
_Static_assert(NPOLICIES <= 32, "a policy is a bit in a uint32_t");

static const struct policy_host *host;

void policy_set_host(const struct policy_host *h)
{
	host = h;
}

long policy_map(struct policy_region *r, uint64_t start, uint64_t len, int soft)
{
	return host->map(r, start, len, soft);
}

long policy_map_present(struct policy_region *r, uint64_t *pos, uint64_t end,
			uint64_t budget_ns)
{
	return host->map_present(r, pos, end, budget_ns);
}

int policy_deny(struct policy_region *r, uint64_t addr, uint32_t tid)
{
	return host->deny(r, addr, tid);
}

void policy_wake(struct policy_region *r, uint64_t start, uint64_t len)
{
	host->wake(r, start, len);
}

void policy_held_done(struct policy_region *r, unsigned n)
{
	host->held_done(r, n);
}

void policy_unmap(void *addr, size_t len)
{
	if (host)
		host->unmap(addr, len);
	else
		munmap(addr, len);
}

struct event_base *policy_loop(const struct policy_region *r)
{
	return host->loop(r);
}

const struct uffd_caps *policy_caps(const struct policy_region *r)
{
	return host->caps(r);
}

pid_t policy_pid(const struct policy_region *r)
{
	return host->pid(r);
}

int policy_open_file(const struct policy_region *r, const char *arg,
		     enum policy_file_use use, char *err, size_t errlen)
{
	return host->open_file(r, arg, use, err, errlen);
}

void policy_client(const struct policy_region *r, struct policy_client *out)
{
	host->client(r, out);
}

uint64_t policy_now_ns(void)
{
	return host->now();
}

void policy_log(const struct policy_region *r, int prio, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	host->log(r, prio, msg);
}

const char *policy_names(void)
{
	static char buf[512];

	if (!buf[0])
		for (size_t i = 0; i < NPOLICIES; i++) {
			size_t n = strlen(buf);

			snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? " " : "",
				 all[i].ops->usage);
		}
	return buf;
}

uint32_t policy_bit(const char *name, size_t n)
{
	for (size_t i = 0; i < NPOLICIES; i++)
		if (strlen(all[i].ops->name) == n &&
		    strncmp(all[i].ops->name, name, n) == 0)
			return 1u << i;
	return 0;
}

const struct policy_ops *policy_lookup(const char *name, size_t n)
{
	for (size_t i = 0; i < NPOLICIES; i++)
		if (strlen(all[i].ops->name) == n &&
		    strncmp(all[i].ops->name, name, n) == 0)
			return all[i].ops;
	return NULL;
}

uint32_t policy_client_default(void)
{
	uint32_t bits = 0;

	for (size_t i = 0; i < NPOLICIES; i++)
		if (all[i].client)
			bits |= 1u << i;
	return bits;
}

const char *policy_bit_names(uint32_t bits, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NPOLICIES; i++)
		if ((bits & (1u << i)) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
					      n ? " " : "", all[i].ops->name);
	if (!buf[0])
		snprintf(buf, len, "(none)");
	return buf;
}

int policy_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'G':
	case 'g':
		v <<= 10;
		/* fall through */
	case 'M':
	case 'm':
		v <<= 10;
		/* fall through */
	case 'K':
	case 'k':
		v <<= 10;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

int policy_file_arg(const struct policy_ops *ops, const char *args, size_t len,
		    char *out, size_t size, char *err, size_t errlen)
{
	int client = args && len == 2 && args[0] == '#' && args[1] >= '0' &&
		     args[1] <= '9';

	if (!args || (!client && args[0] != '/')) {
		snprintf(err, errlen,
			 "policy \"%s\" needs a file: #N (the client's file "
			 "N) or an absolute path (usage: %s)",
			 ops->name, ops->usage);
		return -EINVAL;
	}
	if (len >= size) {
		snprintf(err, errlen, "%s: path too long", ops->name);
		return -EINVAL;
	}
	memcpy(out, args, len);
	out[len] = '\0';
	return 0;
}

int policy_file_index(const char *arg)
{
	return arg[0] == '#' ? arg[1] - '0' : -1;
}

/* A "." or ".." component in path? */
static int dotted(const char *path)
{
	for (const char *p = path; p; p = strchr(p, '/')) {
		p += *p == '/';
		if ((p[0] == '.' && (!p[1] || p[1] == '/')) ||
		    (p[0] == '.' && p[1] == '.' && (!p[2] || p[2] == '/')))
			return 1;
	}
	return 0;
}

const char *policy_path_under(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '/')
		n = 0;
	if (strncmp(path, dir, n) != 0 || path[n] != '/' || !path[n + 1] ||
	    dotted(path + n))
		return NULL;
	return path + n + 1;
}

const char *policy_file(const struct policy_ops *ops, const void *state)
{
	return (const char *)state + ops->file_path;
}

void policy_json_count(struct json_object *o, const char *key,
		       const uint64_t *v)
{
	uint64_t n = __atomic_load_n(v, __ATOMIC_RELAXED);

	json_object_object_add(
	    o, key,
	    json_object_new_int64(n > INT64_MAX ? INT64_MAX : (int64_t)n));
}
