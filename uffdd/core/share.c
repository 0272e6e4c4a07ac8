/* SPDX-License-Identifier: MIT */
#include "share.h"
#include "config/config.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define BUCKETS 256

struct share {
	uid_t uid;
	unsigned refs; /* under the table lock */
	uint64_t held[SHARE_NRES];
	struct share *next;
};

/* What each resource is called in the configuration and in a refusal. */
static const struct {
	const char *key, *what;
} names[SHARE_NRES] = {
	[SHARE_CLIENTS] = { "clients", "connections" },
	[SHARE_REGIONS] = { "regions", "regions" },
	[SHARE_BYTES] = { "bytes", "registered bytes" },
	[SHARE_CONTROL] = { "control_connections", "control connections" },
	[SHARE_HELD] = { "pending_faults_total", "held faults" },
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct share *table[BUCKETS];

/* The limits in force: words written by the main thread, read anywhere. */
static uint64_t limit[SHARE_NRES], per_uid_cap[SHARE_NRES];
static unsigned share_pct, reserve_pct;

static uint64_t total[SHARE_NRES];   /* held by everyone */
static uint64_t refused[SHARE_NRES]; /* requests refused */

#define LD(x)	  __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v)  __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define ADD(x, v) __atomic_add_fetch(&(x), (v), __ATOMIC_RELAXED)
#define SUB(x, v) __atomic_sub_fetch(&(x), (v), __ATOMIC_RELAXED)

void share_configure(const struct config_limits *c)
{
	ST(limit[SHARE_CLIENTS], c->clients);
	ST(limit[SHARE_REGIONS], c->regions);
	ST(limit[SHARE_BYTES], c->bytes);
	ST(limit[SHARE_CONTROL], c->control_conns);
	ST(limit[SHARE_HELD], c->pending_faults_total);
	for (int i = 0; i < SHARE_NRES; i++)
		ST(per_uid_cap[i], UINT64_MAX);
	ST(per_uid_cap[SHARE_CLIENTS], c->clients_per_uid);
	ST(share_pct, c->uid_share_percent);
	ST(reserve_pct, c->admin_reserve_percent);
}

/* What the reserve keeps of res: rounded up, so that it is never 0 when
 * a reserve is configured. */
static uint64_t reserve_of(enum share_res res)
{
	uint64_t l = LD(limit[res]), pct = LD(reserve_pct);

	return l / 100 * pct + (l % 100 * pct + 99) / 100;
}

/* One uid's share of res: at least 1, at most a per-uid limit. */
static uint64_t share_of(enum share_res res)
{
	uint64_t l = LD(limit[res]), pct = LD(share_pct);
	uint64_t s = l / 100 * pct + l % 100 * pct / 100;

	if (s < 1)
		s = 1;
	return s < LD(per_uid_cap[res]) ? s : LD(per_uid_cap[res]);
}

/* Add n to *v if it stays at most cap; 1 if it did. */
static int add_upto(uint64_t *v, uint64_t n, uint64_t cap)
{
	uint64_t cur = LD(*v);

	do {
		if (cur > cap || n > cap - cur)
			return 0;
	} while (!__atomic_compare_exchange_n(
	    v, &cur, cur + n, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return 1;
}

struct share *share_get(uid_t uid)
{
	struct share **b = &table[uid % BUCKETS], *a;

	pthread_mutex_lock(&lock);
	for (a = *b; a && a->uid != uid; a = a->next)
		;
	if (!a && (a = calloc(1, sizeof(*a)))) {
		a->uid = uid;
		a->next = *b;
		*b = a;
	}
	if (a)
		a->refs++;
	pthread_mutex_unlock(&lock);
	return a;
}

struct share *share_ref(struct share *a)
{
	pthread_mutex_lock(&lock);
	a->refs++;
	pthread_mutex_unlock(&lock);
	return a;
}

void share_put(struct share *a)
{
	struct share **p;

	if (!a)
		return;
	pthread_mutex_lock(&lock);
	/* Whoever holds a count holds a reference: at 0 there is none. */
	if (--a->refs == 0) {
		for (p = &table[a->uid % BUCKETS]; *p != a; p = &(*p)->next)
			;
		*p = a->next;
		free(a);
	}
	pthread_mutex_unlock(&lock);
}

uid_t share_uid(const struct share *a)
{
	return a->uid;
}

static int refuse(struct share *a, enum share_res res, int code, int admin,
		  char *why, size_t len)
{
	uint64_t l = LD(limit[res]);

	ADD(refused[res], 1);
	if (code == -EDQUOT && share_of(res) == LD(per_uid_cap[res]))
		snprintf(why, len,
			 "uid %u holds %" PRIu64 " %s, all it may "
			 "(limits.clients_per_uid)",
			 (unsigned)a->uid, LD(a->held[res]), names[res].what);
	else if (code == -EDQUOT)
		snprintf(why, len,
			 "uid %u holds %" PRIu64 " %s, its whole share "
			 "(limits.uid_share_percent %u%% of limits.%s "
			 "%" PRIu64 ")",
			 (unsigned)a->uid, LD(a->held[res]), names[res].what,
			 LD(share_pct), names[res].key, l);
	else if (!admin && reserve_of(res) &&
		 LD(total[res]) + reserve_of(res) >= l)
		snprintf(why, len,
			 "uffdd holds %" PRIu64 " %s; the last %" PRIu64
			 " of limits.%s (%" PRIu64 ") are kept for root and "
			 "admin_gids (limits.admin_reserve_percent %u%%)",
			 LD(total[res]), names[res].what, reserve_of(res),
			 names[res].key, l, LD(reserve_pct));
	else
		snprintf(why, len,
			 "uffdd holds %" PRIu64 " %s, its limit "
			 "(limits.%s %" PRIu64 ")",
			 LD(total[res]), names[res].what, names[res].key, l);
	return code;
}

int share_take(struct share *a, enum share_res res, uint64_t n, int admin,
	       char *why, size_t len)
{
	uint64_t cap = LD(limit[res]);

	if (!admin) {
		uint64_t r = reserve_of(res);

		cap = cap > r ? cap - r : 0;
		if (!add_upto(&a->held[res], n, share_of(res)))
			return refuse(a, res, -EDQUOT, admin, why, len);
	} else {
		ADD(a->held[res], n);
	}
	if (!add_upto(&total[res], n, cap)) {
		SUB(a->held[res], n);
		return refuse(a, res, -ENOSPC, admin, why, len);
	}
	return 0;
}

void share_force(struct share *a, enum share_res res, uint64_t n)
{
	ADD(a->held[res], n);
	ADD(total[res], n);
}

void share_give(struct share *a, enum share_res res, uint64_t n)
{
	SUB(a->held[res], n);
	SUB(total[res], n);
}

uint64_t share_room(const struct share *a, enum share_res res, int admin)
{
	uint64_t cap = LD(limit[res]), t = LD(total[res]), room;

	if (!admin) {
		uint64_t r = reserve_of(res), s = share_of(res),
			 mine = LD(a->held[res]);

		cap = cap > r ? cap - r : 0;
		if (mine >= s)
			return 0;
		room = s - mine;
	} else {
		room = UINT64_MAX;
	}
	if (t >= cap)
		return 0;
	return cap - t < room ? cap - t : room;
}

static json_object *num(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static json_object *holdings(const uint64_t *h, uid_t uid, int with_uid)
{
	json_object *o = json_object_new_object();

	if (with_uid)
		json_object_object_add(o, "uid", num(uid));
	for (int i = 0; i < SHARE_NRES; i++)
		json_object_object_add(o, names[i].key, num(LD(h[i])));
	return o;
}

void share_status(json_object *limits, json_object *totals, json_object *uids)
{
	json_object *ref = json_object_new_object();

	json_object_object_add(limits, "uid_share_percent", num(LD(share_pct)));
	json_object_object_add(limits, "admin_reserve_percent",
			       num(LD(reserve_pct)));
	json_object_object_add(totals, "held", holdings(total, 0, 0));
	for (int i = 0; i < SHARE_NRES; i++)
		json_object_object_add(ref, names[i].key, num(LD(refused[i])));
	json_object_object_add(totals, "share_refusals", ref);
	/* The name status had before shares: REGISTERs refused for regions. */
	json_object_object_add(totals, "regions_refused",
			       num(LD(refused[SHARE_REGIONS])));
	pthread_mutex_lock(&lock);
	for (int b = 0; b < BUCKETS; b++)
		for (struct share *a = table[b]; a; a = a->next)
			json_object_array_add(uids,
					      holdings(a->held, a->uid, 1));
	pthread_mutex_unlock(&lock);
}
