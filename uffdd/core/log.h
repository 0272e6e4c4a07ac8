/* SPDX-License-Identifier: MIT */
/*
 * Logging: the journal with structured fields when stderr is the journal,
 * plain lines on stderr otherwise.  Every line is made printable on its way
 * out (a control character from a client's string cannot start a forged
 * line), and the lines a client can cause are rate-limited per uid and for
 * all uids together (root's pass), so that neither new sessions nor many
 * clients of one user can flood the log: what is held back is counted and
 * said in one summary line per uid (log_flush).
 */
#ifndef UFFDD_LOG_H
#define UFFDD_LOG_H

#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

struct peer_id;

/* A client uid's lines: LOG_UID_BURST at once, then LOG_UID_RATE a second;
 * all uids but root together: LOG_ALL_BURST, then LOG_ALL_RATE a second. */
#define LOG_UID_RATE  20
#define LOG_UID_BURST 100
#define LOG_ALL_RATE  100
#define LOG_ALL_BURST 500

void log_init(int max_level);
void log_set_level(int max_level);

void log_msg(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A line a client caused: its pid and a region id (0: none) as journal
 * fields, counted against its uid's rate (who NULL: a line of the daemon's
 * own, never held back).
 */
void log_client(int prio, const struct peer_id *who, uint64_t region,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The same for a peer known only by its credentials (a refused connect,
 * a control request). */
void log_uid(int prio, uid_t uid, pid_t pid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Main thread, about once a second: one line per uid (and one for the
 * global limit) saying how many lines were held back since the last.
 */
void log_flush(void);

/* Lines held back since start (status: totals.log_lines_held). */
uint64_t log_held_total(void);

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
