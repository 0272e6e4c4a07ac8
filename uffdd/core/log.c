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
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld uffdd[%d] %s: %s\n", when,
		ts.tv_nsec / 1000000, (int)getpid(), tag[prio & 7], msg);
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
