/* SPDX-License-Identifier: MIT */
/*
 * Fair shares of the daemon's global limits (SECURITY.md).  What each uid
 * holds of the five things every client competes for -- connections,
 * regions, registered bytes, control connections and faults held by
 * policies -- is counted here, so that no uid other than root and the
 * admin_gids takes more than limits.uid_share_percent of any of them, and
 * the last limits.admin_reserve_percent of each is left for root and
 * admin_gids whatever the others hold.  A refusal says which limit and
 * whose share.
 *
 * Any thread: the counts are atomic; the table of uids is locked only
 * when an account is made or let go.
 */
#ifndef UFFDD_SHARE_H
#define UFFDD_SHARE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config_limits;
struct json_object;

enum share_res {
	SHARE_CLIENTS, /* limits.clients (and clients_per_uid) */
	SHARE_REGIONS, /* limits.regions */
	SHARE_BYTES,   /* limits.bytes: registered bytes */
	SHARE_CONTROL, /* limits.control_connections */
	SHARE_HELD,    /* limits.pending_faults_total: faults held */
	SHARE_NRES,
};

struct share; /* one uid's account */

/* The limits in force (start-up and every reload; main thread). */
void share_configure(const struct config_limits *c);

/* uid's account, with a reference; NULL when out of memory. */
struct share *share_get(uid_t uid);
/* Another reference to a (something that may outlive its holder). */
struct share *share_ref(struct share *a);
void share_put(struct share *a);
uid_t share_uid(const struct share *a);

/*
 * Take n of res for a's uid.  admin: root or a member of admin_gids, who
 * has no share but may use the reserve.  0, or -EDQUOT (the uid's share is
 * full) or -ENOSPC (the daemon's limit, or all of it but the reserve, is
 * taken), with why naming the limit and the share.
 */
int share_take(struct share *a, enum share_res res, uint64_t n, int admin,
	       char *why, size_t len);
/* Take n without a check: what a restarted daemon finds already held. */
void share_force(struct share *a, enum share_res res, uint64_t n);
void share_give(struct share *a, enum share_res res, uint64_t n);
/* How much more of res a may take now (0: none). */
uint64_t share_room(const struct share *a, enum share_res res, int admin);

/* Totals, refusals and every uid that holds something, for status. */
void share_status(struct json_object *limits, struct json_object *totals,
		  struct json_object *uids);

#endif
