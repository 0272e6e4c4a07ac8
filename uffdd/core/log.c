/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

static int level = LOG_INFO;
static int to_journal;

/* systemd sets JOURNAL_STREAM to "dev:ino" of the stream it gave us. */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(int max_level)
{
	level = max_level;
	to_journal = stderr_is_journal();
}

void log_set_level(int max_level)
{
	level = max_level;
}

/*
 * Local time with the date and the offset from UTC (RFC 3339), so that a
 * line of a log file kept for days, or read on another machine, says when:
 * 2026-11-29T20:08:52.967+01:00.
 */
static const char *stamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char zone[8];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(zone, sizeof(zone), "%z", &tm); /* +0100 */
	snprintf(buf + n, len - n, ".%03ld%.3s:%.2s", ts.tv_nsec / 1000000,
		 zone, zone + 3);
	return buf;
}

static void emit(int prio, pid_t pid, uint64_t region, const char *fmt,
		 va_list ap)
{
	static const char *tag[] = { "emerg",	"alert",  "crit", "error",
				     "warning", "notice", "info", "debug" };
	char msg[1024];

	if (prio > level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (to_journal) {
		char rid[32] = "";

		if (region)
			snprintf(rid, sizeof(rid), "%016" PRIx64, region);
		if (pid && region)
			sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio,
					"UFFDD_CLIENT_PID=%d", (int)pid,
					"UFFDD_REGION=%s", rid, NULL);
		else if (pid)
			sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio,
					"UFFDD_CLIENT_PID=%d", (int)pid, NULL);
		else
			sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio,
					NULL);
		return;
	}
	char when[48];

	fprintf(stderr, "%s uffdd[%d] %s: %s\n", stamp(when, sizeof(when)),
		(int)getpid(), tag[prio & 7], msg);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(prio, 0, 0, fmt, ap);
	va_end(ap);
}

void log_client(int prio, pid_t pid, uint64_t region, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(prio, pid, region, fmt, ap);
	va_end(ap);
}
