/* SPDX-License-Identifier: MIT */
#include "bounds.h"
#include "clock.h"
#include "config/config.h"
#include "log.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>

static uint64_t counts[BOUNDS_NEVENTS];
static unsigned live_regions;

void throttle_log(struct throttle *t, int prio, const char *fmt, ...)
{
	uint64_t now = now_ns();
	char msg[512];
	va_list ap;

	if (t->last_ns && now - t->last_ns < 1000000000ull) {
		t->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t->suppressed)
		log_msg(prio, "%s (and %u more like it in the last second)",
			msg, t->suppressed);
	else
		log_msg(prio, "%s", msg);
	t->suppressed = 0;
	t->last_ns = now;
}

int rate_take(struct rate *r, unsigned per_second)
{
	uint64_t now = now_ns();

	/* Refill: per_second tokens a second, at most one second's worth. */
	if (!r->last_ns) {
		r->tokens = per_second;
	} else {
		double add = (double)(now - r->last_ns) * per_second / 1e9;

		r->tokens =
		    r->tokens + add > per_second ? per_second : r->tokens + add;
	}
	r->last_ns = now;
	if (r->tokens < 1)
		return 0;
	r->tokens -= 1;
	return 1;
}

int bounds_fault_budget(unsigned held, unsigned limit, int batch)
{
	if (held >= limit)
		return 0;
	return limit - held < (unsigned)batch ? (int)(limit - held) : batch;
}

void bounds_region_made(void)
{
	__atomic_add_fetch(&live_regions, 1, __ATOMIC_RELAXED);
}

void bounds_region_freed(void)
{
	__atomic_sub_fetch(&live_regions, 1, __ATOMIC_RELAXED);
}

unsigned bounds_regions(void)
{
	return __atomic_load_n(&live_regions, __ATOMIC_RELAXED);
}

void bounds_count(enum bounds_event e)
{
	__atomic_add_fetch(&counts[e], 1, __ATOMIC_RELAXED);
}

void bounds_check_nofile(const struct config_limits *c)
{
	struct rlimit rl;
	uint64_t need = (uint64_t)c->clients + 2ull * c->regions +
			(uint64_t)c->control_conns + 64;

	/* Every client holds a socket, every region a uffd and a memfd. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warn("RLIMIT_NOFILE is %llu but the limits allow %llu "
			 "descriptors (clients + 2 x regions + control); "
			 "lower limits.regions or raise LimitNOFILE=",
			 (unsigned long long)rl.rlim_cur,
			 (unsigned long long)need);
}

static json_object *num(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static uint64_t count(enum bounds_event e)
{
	return __atomic_load_n(&counts[e], __ATOMIC_RELAXED);
}

void bounds_status(const struct config_limits *c, json_object *lim,
		   json_object *tot)
{
	json_object_object_add(lim, "clients", num(c->clients));
	json_object_object_add(lim, "regions_per_client",
			       num(c->regions_per_client));
	json_object_object_add(lim, "bytes", num(c->bytes));
	json_object_object_add(lim, "bytes_per_client",
			       num(c->bytes_per_client));
	json_object_object_add(lim, "clients_per_uid", num(c->clients_per_uid));
	json_object_object_add(lim, "regions", num(c->regions));
	json_object_object_add(lim, "messages_per_second", num(c->msg_rate));
	json_object_object_add(lim, "pending_faults", num(c->pending_faults));
	json_object_object_add(lim, "pending_faults_total",
			       num(c->pending_faults_total));
	json_object_object_add(lim, "hello_timeout_ms",
			       num(c->hello_timeout_ms));
	json_object_object_add(lim, "control_connections",
			       num(c->control_conns));
	json_object_object_add(tot, "hello_timeouts",
			       num(count(BOUNDS_HELLO_TIMEOUT)));
	json_object_object_add(tot, "rate_limited",
			       num(count(BOUNDS_RATE_LIMITED)));
	json_object_object_add(tot, "fault_pauses",
			       num(count(BOUNDS_FAULT_PAUSE)));
	json_object_object_add(tot, "live_regions", num(bounds_regions()));
}
