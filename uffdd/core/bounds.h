/* SPDX-License-Identifier: MIT */
/*
 * The arithmetic of limits a client cannot talk its way past (SECURITY.md):
 * a message-rate token bucket, the count of regions in the daemon, how many
 * fault messages a region may read while it holds some, and a log throttle
 * so that a flood costs one line a second, not one per attempt.  It knows
 * no sessions: the modules that own them decide what a refusal does.
 */
#ifndef UFFDD_BOUNDS_H
#define UFFDD_BOUNDS_H

#include <stdint.h>

struct config_limits;
struct json_object;

/* One log line a second at most; the rest are counted into the next. */
struct throttle {
	uint64_t last_ns;
	unsigned suppressed;
};

void throttle_log(struct throttle *t, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A token bucket holding at most one second's worth of tokens. */
struct rate {
	double tokens;
	uint64_t last_ns; /* 0: full */
};

/* Take one token at per_second; 1 if there was one, 0 if not. */
int rate_take(struct rate *r, unsigned per_second);

/*
 * How many fault messages a region that holds `held` unanswered faults
 * may read now, at most batch: 0 once it holds limit (reading stops until
 * the policy lets some go).
 */
int bounds_fault_budget(unsigned held, unsigned limit, int batch);

/* Regions alive in the daemon (made and freed by region.c). */
void bounds_region_made(void);
void bounds_region_freed(void);
unsigned bounds_regions(void);

/* Refusals and pauses, counted for status (any thread). */
enum bounds_event {
	BOUNDS_HELLO_TIMEOUT, /* sessions dropped for a missing HELLO */
	BOUNDS_RATE_LIMITED,  /* sessions dropped for their message rate */
	BOUNDS_FAULT_PAUSE,   /* times a uffd was paused: pending_faults */
	BOUNDS_NEVENTS,
};
void bounds_count(enum bounds_event e);

/* Start-up: warn if RLIMIT_NOFILE cannot hold what the limits allow. */
void bounds_check_nofile(const struct config_limits *c);

/* The limits and the counters above into status' "limits" and "totals". */
void bounds_status(const struct config_limits *c, struct json_object *lim,
		   struct json_object *tot);

#endif
