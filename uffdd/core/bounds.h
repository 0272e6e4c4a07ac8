/* SPDX-License-Identifier: MIT */
/*
 * Limits a client cannot talk its way past (SECURITY.md): the message
 * rate, the HELLO deadline, the faults a policy may hold, the regions of
 * the whole daemon; and a log throttle so that a flood costs one line a
 * second, not one per attempt.
 */
#ifndef UFFDD_BOUNDS_H
#define UFFDD_BOUNDS_H

#include <stdint.h>

struct session;
struct region;
struct daemon;

/* One log line a second at most; the rest are counted into the next. */
struct throttle {
	uint64_t last_ns;
	unsigned suppressed;
};

void throttle_log(struct throttle *t, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Worker: may s send one more message (limits.messages_per_second,
 * token bucket of one second's worth)?  1 yes; 0 no: the client got an
 * ERROR (EBUSY), it is logged, and the session is dropped.
 */
int limits_msg_allow(struct session *s);

/* Worker, session_attach: drop s if it says no HELLO within
 * limits.hello_timeout_ms. */
int limits_hello_arm(struct session *s);
/* Worker, session_drop: free what the limits keep for s. */
void limits_session_end(struct session *s);

/*
 * Worker, fault_cb before each read of r's uffd (fd): how many fault
 * messages it may read now (at most batch).  0 means r already holds
 * limits.pending_faults unanswered faults: reading stops until the policy
 * lets some go (checked every 50 ms), logged once per pause.
 */
int limits_fault_budget(struct region *r, int fd, int batch);
/* Worker, region_free. */
void limits_region_end(struct region *r);

/* Regions alive in the daemon (region_make / region_free count them). */
void limits_region_made(void);
void limits_region_freed(void);
unsigned limits_regions(void);

/* Start-up: warn if RLIMIT_NOFILE cannot hold what the limits allow. */
struct config;
void limits_check_nofile(const struct config *c);

/* status.c: the limits above and their refusal counters, into the
 * "limits" and "totals" objects; a region's held faults and pause. */
struct json_object;
void limits_status(struct daemon *d, struct json_object *lim,
		   struct json_object *tot);
void limits_region_status(const struct region *r, struct json_object *o);

/* Counters for status (atomic). */
struct limits_stats {
	uint64_t hello_timeouts;  /* sessions dropped for a missing HELLO */
	uint64_t rate_limited;    /* sessions dropped for their message rate */
	uint64_t fault_pauses;    /* times a uffd was paused: pending_faults */
	uint64_t regions_refused; /* REGISTERs refused by limits.regions */
};
extern struct limits_stats limits_st;

#endif
