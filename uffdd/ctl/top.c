/* SPDX-License-Identifier: MIT */
/*
 * uffdctl top: every region and its faults per second, busiest first,
 * redrawn in place every interval like top(1); q or Ctrl-C ends it.  Not
 * on a terminal (or with -n), each frame is printed after the previous one.
 */
#include "ctl.h"

#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROWS 4096

/* A region's faults at the last frame, to make a rate of the next. */
struct seen {
	char id[24];
	uint64_t faults;
};

struct top {
	struct seen *prev, *cur;
	size_t nprev, ncur;
	double interval;
	double last; /* when the previous frame's status came (monotonic s) */
	int tty, rows, cols;
};

struct row {
	json_object *r;
	double rate;
};

static volatile sig_atomic_t stop;
static struct termios saved;
static int raw;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void term_restore(void)
{
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	raw = 0;
}

/* Keys without Enter, no echo: q quits. */
static void term_raw(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0)
		return;
	t = saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
		raw = 1;
}

static void screen_size(struct top *t)
{
	struct winsize ws;

	t->rows = 24;
	t->cols = 120;
	if (t->tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row) {
		t->rows = ws.ws_row;
		t->cols = ws.ws_col;
	}
}

static uint64_t prev_faults(const struct top *t, const char *id, int *found)
{
	for (size_t i = 0; i < t->nprev; i++)
		if (!strcmp(t->prev[i].id, id)) {
			*found = 1;
			return t->prev[i].faults;
		}
	*found = 0;
	return 0;
}

static int by_rate(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->rate != y->rate)
		return x->rate < y->rate ? 1 : -1;
	return jint(y->r, "faults") > jint(x->r, "faults") ? 1 : -1;
}

/* Each region with its rate since the last frame; remembers this one. */
static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t rows_of(struct top *t, json_object *regions, struct row *rows)
{
	size_t n = json_object_array_length(regions);
	double now = mono(), dt = t->last ? now - t->last : t->interval;

	t->ncur = 0;
	for (size_t i = 0; i < n && i < MAX_ROWS; i++) {
		json_object *r = json_object_array_get_idx(regions, i);
		uint64_t f = (uint64_t)jint(r, "faults"), p;
		int found;

		p = prev_faults(t, jstr(r, "id"), &found);
		rows[i].r = r;
		rows[i].rate =
		    found && f >= p && dt > 0 ? (double)(f - p) / dt : 0;
		snprintf(t->cur[i].id, sizeof(t->cur[i].id), "%s",
			 jstr(r, "id"));
		t->cur[i].faults = f;
		t->ncur++;
	}
	t->last = now;
	qsort(rows, t->ncur, sizeof(*rows), by_rate);
	return t->ncur;
}

static void line(const struct top *t, const char *s)
{
	printf("%.*s\n", t->cols, s);
}

static void frame(struct top *t, json_object *st, struct row *rows)
{
	json_object *regions = ctl_regions(st);
	size_t n = rows_of(t, regions, rows), shown = 0;
	char buf[512], p99[32], up[32], f[32], b[32];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	snprintf(buf, sizeof(buf),
		 "uffdd %s pid %" PRId64 ", up %s  |  %" PRId64
		 " clients, %" PRId64 " regions  |  %.0f faults/s  |  p99 %s  "
		 "|  %02d:%02d:%02d",
		 jstr(st, "version"), jint(st, "pid"),
		 fmt_age(jdouble(st, "uptime_s"), up, sizeof(up)),
		 jint(st, "totals.clients"), jint(st, "totals.regions"),
		 jdouble(st, "totals.faults_per_s"),
		 fmt_ns((uint64_t)jint(st, "totals.latency_ns.p99"), p99,
			sizeof(p99)),
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (t->tty)
		fputs("\033[H\033[2J", stdout);
	line(t, buf);
	snprintf(buf, sizeof(buf),
		 "%8s %-16s %-20s %-7s %10s %10s %12s %9s  %s", "PID", "REGION",
		 "NAME", "KIND", "BYTES", "FAULTS/S", "FAULTS", "P99",
		 "POLICY");
	line(t, "");
	line(t, buf);
	for (size_t i = 0; i < n && (!t->tty || (int)shown + 4 < t->rows);
	     i++, shown++) {
		json_object *r = rows[i].r;

		snprintf(buf, sizeof(buf),
			 "%8" PRId64
			 " %-16s %-20.20s %-7s %10s %10.0f %12s %9s "
			 " %s",
			 jint(r, "pid"), jstr(r, "id"), jstr(r, "name"),
			 jstr(r, "kind"),
			 fmt_bytes((uint64_t)jint(r, "length"), b, sizeof(b)),
			 rows[i].rate,
			 fmt_count((uint64_t)jint(r, "faults"), f, sizeof(f)),
			 fmt_ns((uint64_t)jint(r, "latency_ns.p99"), p99,
				sizeof(p99)),
			 jstr(r, "policy"));
		line(t, buf);
	}
	if (!t->tty)
		putchar('\n');
	fflush(stdout);
	json_object_put(regions);
	{
		struct seen *s = t->prev;

		t->prev = t->cur;
		t->nprev = t->ncur;
		t->cur = s;
	}
}

/* Sleep the interval; 1 if q was pressed or a signal came. */
static int wait_key(const struct top *t)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	char c;

	if (!raw) {
		struct timespec ts = { (time_t)t->interval,
				       (long)((t->interval -
					       (double)(time_t)t->interval) *
					      1e9) };

		nanosleep(&ts, NULL);
		return stop;
	}
	if (poll(&p, 1, (int)(t->interval * 1000)) == 1 &&
	    read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q'))
		return 1;
	return stop;
}

static int options(int argc, char **argv, double *interval, long *frames)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int o;

	optind = 0; /* 0: GNU getopt starts afresh (a new argv, a new mode) */
	while ((o = getopt_long(argc, argv, "+d:n:", opts, NULL)) != -1) {
		if (o == 'd' && (*interval = strtod(optarg, &end)) >= 0.1 &&
		    !*end)
			continue;
		if (o == 'n' && (*frames = strtol(optarg, &end, 10)) > 0 &&
		    !*end)
			continue;
		fprintf(stderr, "Usage: uffdctl top [-d SECONDS (0.1 or more)] "
				"[-n FRAMES (1 or more)]\n");
		return CTL_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "uffdctl top: unexpected '%s'\n", argv[optind]);
		return CTL_USAGE;
	}
	return CTL_OK;
}

int ctl_top(const struct ctl *c, int argc, char **argv)
{
	struct top t = { .interval = 1.0 };
	struct row *rows;
	long frames = 0, done = 0;
	int rc = options(argc, argv, &t.interval, &frames);

	if (rc)
		return rc;
	t.tty = isatty(STDOUT_FILENO) && !frames;
	rows = calloc(MAX_ROWS, sizeof(*rows));
	t.prev = calloc(MAX_ROWS, sizeof(*t.prev));
	t.cur = calloc(MAX_ROWS, sizeof(*t.cur));
	if (!rows || !t.prev || !t.cur) {
		fprintf(stderr, "uffdctl: out of memory\n");
		rc = CTL_FAILED;
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (t.tty)
		term_raw();
	while (!stop) {
		json_object *st = ctl_ask(c, "status", 0, NULL);

		if (!st) {
			rc = CTL_FAILED;
			break;
		}
		screen_size(&t);
		frame(&t, st, rows);
		json_object_put(st);
		if ((frames && ++done >= frames) || wait_key(&t))
			break;
	}
	term_restore();
out:
	free(rows);
	free(t.prev);
	free(t.cur);
	return rc;
}
