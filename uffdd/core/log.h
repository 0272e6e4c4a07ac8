/* SPDX-License-Identifier: MIT */
/* Logging: the journal with structured fields when stderr is the journal,
 * plain lines on stderr otherwise. */
#ifndef UFFDD_LOG_H
#define UFFDD_LOG_H

#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

void log_init(int max_level);
void log_set_level(int max_level);

void log_msg(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* With the client's pid and a region id (0: none) as journal fields. */
void log_client(int prio, pid_t pid, uint64_t region, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
