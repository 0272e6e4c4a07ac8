/* SPDX-License-Identifier: MIT */
#include "log.h"
#include "clock.h"
#include "peer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

/* Uids tracked at once; beyond, the idlest entry is reused, or all the
 * rest share one bucket (so a busy table still bounds the lines). */
#define RATE_SLOTS  512
#define RATE_IDLE_S 10

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

/*
 * Whatever a line carries (a client's name, a policy string, a path, a
 * control request), it stays one line: control characters become '?'.
 */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void emit(int prio, pid_t pid, uint64_t region, const char *fmt,
		 va_list ap)
{
	static const char *tag[] = { "emerg",	"alert",  "crit", "error",
				     "warning", "notice", "info", "debug" };
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	printable(msg);
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

static void emitf(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void emitf(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > level)
		return;
	va_start(ap, fmt);
	emit(prio, 0, 0, fmt, ap);
	va_end(ap);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > level)
		return;
	va_start(ap, fmt);
	emit(prio, 0, 0, fmt, ap);
	va_end(ap);
}

/* Rate limits ---------------------------------------------------------------
 */

/* A token bucket with what it held back since the last summary. */
struct bucket {
	double tokens;
	uint64_t last_ns; /* 0: never used (full) */
	uint64_t held, held_since_ns;
};

struct slot {
	int used;
	uid_t uid;
	struct bucket b;
};

static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[RATE_SLOTS];
static struct slot overflow; /* the uids that found no slot */
static struct bucket all;    /* every uid but root */
static uint64_t held_total;  /* atomic */

static int take(struct bucket *b, unsigned rate, unsigned burst, uint64_t now)
{
	if (!b->last_ns)
		b->tokens = burst;
	else
		b->tokens += (double)(now - b->last_ns) * rate / 1e9;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_ns = now;
	if (b->tokens < 1)
		return 0;
	b->tokens -= 1;
	return 1;
}

static void hold(struct bucket *b, uint64_t now)
{
	if (!b->held)
		b->held_since_ns = now;
	b->held++;
	__atomic_add_fetch(&held_total, 1, __ATOMIC_RELAXED);
}

/* uid's slot: its own, a free one, the idlest one, or the shared one. */
static struct slot *slot_of(uid_t uid, uint64_t now)
{
	struct slot *free_ = NULL, *idle = NULL;
	size_t h = ((size_t)uid * 2654435761u) % RATE_SLOTS;

	for (size_t i = 0; i < RATE_SLOTS; i++) {
		struct slot *s = &slots[(h + i) % RATE_SLOTS];

		if (s->used && s->uid == uid)
			return s;
		if (!s->used && !free_)
			free_ = s;
		else if (s->used && !idle && !s->b.held &&
			 now - s->b.last_ns > RATE_IDLE_S * 1000000000ull)
			idle = s;
	}
	if (!free_)
		free_ = idle;
	if (!free_)
		return &overflow;
	memset(free_, 0, sizeof(*free_));
	free_->used = 1;
	free_->uid = uid;
	return free_;
}

/* May uid log one more line now?  Held back lines are counted. */
static int allowed(uid_t uid)
{
	uint64_t now = now_ns();
	struct slot *s;
	int ok = 0;

	if (uid == 0)
		return 1;
	pthread_mutex_lock(&rate_lock);
	s = slot_of(uid, now);
	if (!take(&s->b, LOG_UID_RATE, LOG_UID_BURST, now))
		hold(&s->b, now);
	else if (!take(&all, LOG_ALL_RATE, LOG_ALL_BURST, now))
		hold(&all, now);
	else
		ok = 1;
	pthread_mutex_unlock(&rate_lock);
	return ok;
}

static void client_line(int prio, uid_t uid, pid_t pid, uint64_t region,
			const char *fmt, va_list ap)
{
	if (prio > level || !allowed(uid))
		return;
	emit(prio, pid, region, fmt, ap);
}

void log_client(int prio, const struct peer_id *who, uint64_t region,
		const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (who)
		client_line(prio, who->uid, who->pid, region, fmt, ap);
	else if (prio <= level)
		emit(prio, 0, region, fmt, ap);
	va_end(ap);
}

void log_uid(int prio, uid_t uid, pid_t pid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	client_line(prio, uid, pid, 0, fmt, ap);
	va_end(ap);
}

static void summary(struct bucket *b, const char *whose, uint64_t now)
{
	if (!b->held || LOG_NOTICE > level)
		return;
	emitf(LOG_NOTICE,
	      "%s: %" PRIu64 " log lines held back in the last %.1f s (at most "
	      "%d a second per uid, %d for all uids)",
	      whose, b->held, (double)(now - b->held_since_ns) / 1e9,
	      LOG_UID_RATE, LOG_ALL_RATE);
	b->held = 0;
}

void log_flush(void)
{
	static uint64_t last;
	uint64_t now = now_ns();
	char whose[48];

	/* A summary a second per uid at most: it is a line a client caused. */
	if (now - last < 1000000000ull)
		return;
	last = now;
	pthread_mutex_lock(&rate_lock);
	for (size_t i = 0; i < RATE_SLOTS; i++)
		if (slots[i].used && slots[i].b.held) {
			snprintf(whose, sizeof(whose), "uid %u",
				 (unsigned)slots[i].uid);
			summary(&slots[i].b, whose, now);
		}
	summary(&overflow.b, "other uids", now);
	summary(&all, "all uids", now);
	pthread_mutex_unlock(&rate_lock);
}

uint64_t log_held_total(void)
{
	return __atomic_load_n(&held_total, __ATOMIC_RELAXED);
}
