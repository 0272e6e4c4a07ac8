/* SPDX-License-Identifier: MIT */
/*
 * uffdd-bench-restore: the restore benchmark (`make bench-restore`).
 *
 * For each image (1 GiB of 2 MiB hugetlb pages, 256 MiB of 4 KiB shmem
 * pages, kept in files) and each access pattern (every page in order; a
 * fixed random 10%), runs every mode a few times, the page cache dropped
 * before each cold run, and reports medians: time to start, time to
 * finish (also as a ratio to warm), faults uffdd served, the workload's
 * minor faults, bytes read from the image, and what bounds the time.
 * Then says whether the goals of the restore benchmark are met.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "restore.h"

struct conf {
	const char *uffdd, *out, *cache, *config_extra;
	unsigned reps, timeout_s, seed;
	int pin_cpu; /* -1: the workload thread is not pinned */
	size_t size[KIND_COUNT];
	bool kind_on[KIND_COUNT], pat_on[PAT_COUNT], mode_on[RM_COUNT];
};

static void usage(FILE *f)
{
	fputs(
	    "usage: uffdd-bench-restore [options]\n"
	    "  --uffdd PATH          daemon to spawn (default build/uffdd)\n"
	    "  --out DIR             results: DIR/restore.{jsonl,txt} (default "
	    "bench/results)\n"
	    "  --cache DIR           where the images and traces live\n"
	    "                        (default /var/cache/uffdd/bench)\n"
	    "  --reps N              repetitions per mode, medians reported "
	    "(default 5)\n"
	    "  --kinds LIST          hugetlb,shmem (default both)\n"
	    "  --patterns LIST       seq,rand10 (default both)\n"
	    "  --modes LIST          "
	    "warm,eager,lazy,record,prefetch,prefetch-wait\n"
	    "                        (default all; prefetch needs the record "
	    "run, which\n"
	    "                        runs whenever a prefetch mode is on)\n"
	    "  --hugetlb-size SIZE   default 1G\n"
	    "  --shmem-size SIZE     default 256M\n"
	    "  --seed N              of the random 10%% working set (default "
	    "42)\n"
	    "  --timeout S           give up when one run takes longer "
	    "(default 300)\n"
	    "  --daemon-config JSON  more keys for the daemon's config, e.g.\n"
	    "                        "
	    "'\"placement\":\"pinned\",\"spin_us\":50'\n"
	    "  --pin-workload CPU    pin the restoring thread (after the "
	    "daemon\n"
	    "                        started); default: the scheduler places "
	    "it\n"
	    "  -v, --verbose         keep the daemon's log\n",
	    f);
}

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G':
	case 'g':
		v <<= 30;
		break;
	case 'M':
	case 'm':
		v <<= 20;
		break;
	case 'K':
	case 'k':
		v <<= 10;
		break;
	case 0:
		break;
	default:
		die("bad size %s", s);
	}
	return (size_t)v;
}

static void parse_list(const char *arg, const char *const *names, size_t n,
		       bool *on, const char *what)
{
	char buf[256], *save = NULL, *tok;

	memset(on, 0, n * sizeof(*on));
	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < n; i++)
			if (names[i] && strcmp(tok, names[i]) == 0)
				break;
		if (i == n)
			die("unknown %s \"%s\"", what, tok);
		on[i] = true;
	}
}

static void parse(int argc, char **argv, struct conf *c)
{
	static const struct option opts[] = {
		{ "uffdd", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'o' },
		{ "cache", required_argument, NULL, 'c' },
		{ "reps", required_argument, NULL, 'r' },
		{ "kinds", required_argument, NULL, 'k' },
		{ "patterns", required_argument, NULL, 'p' },
		{ "modes", required_argument, NULL, 'm' },
		{ "hugetlb-size", required_argument, NULL, 'H' },
		{ "shmem-size", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "daemon-config", required_argument, NULL, 'C' },
		{ "pin-workload", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static const char *const kinds[] = { "hugetlb", "shmem" };
	static const char *const pats[] = { "seq", "rand10" };
	static const char *const modes[] = { "warm",	 "eager",
					     "lazy",	 "record",
					     "prefetch", "prefetch-wait" };
	int o;

	*c = (struct conf){ .uffdd = "build/uffdd",
			    .out = "bench/results",
			    .cache = "/var/cache/uffdd/bench",
			    .reps = 5,
			    .timeout_s = 300,
			    .seed = 42,
			    .pin_cpu = -1,
			    .size = { 1u << 30, 256u << 20 } };
	for (int i = 0; i < KIND_COUNT; i++)
		c->kind_on[i] = true;
	for (int i = 0; i < PAT_COUNT; i++)
		c->pat_on[i] = true;
	for (int i = 0; i < RM_COUNT; i++)
		c->mode_on[i] = true;
	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case 'u':
			c->uffdd = optarg;
			break;
		case 'o':
			c->out = optarg;
			break;
		case 'c':
			c->cache = optarg;
			break;
		case 'r':
			c->reps = (unsigned)atoi(optarg);
			break;
		case 'k':
			parse_list(optarg, kinds, KIND_COUNT, c->kind_on,
				   "kind");
			break;
		case 'p':
			parse_list(optarg, pats, PAT_COUNT, c->pat_on,
				   "pattern");
			break;
		case 'm':
			parse_list(optarg, modes, RM_COUNT, c->mode_on, "mode");
			break;
		case 'H':
			c->size[KIND_HUGETLB] = parse_size(optarg);
			break;
		case 'S':
			c->size[KIND_SHMEM] = parse_size(optarg);
			break;
		case 's':
			c->seed = (unsigned)atoi(optarg);
			break;
		case 't':
			c->timeout_s = (unsigned)atoi(optarg);
			break;
		case 'C':
			c->config_extra = optarg;
			break;
		case 'P':
			c->pin_cpu = atoi(optarg);
			break;
		case 'v':
			bench_verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (!c->reps)
		c->reps = 1;
	/* The prefetch runs replay the trace the record run writes. */
	if (c->mode_on[RM_PREFETCH] || c->mode_on[RM_PREFETCH_WAIT])
		c->mode_on[RM_RECORD] = true;
}

static double med_field(struct run_result *rs, size_t n, size_t off)
{
	double v[64];
	size_t k = 0;

	for (size_t i = 0; i < n && k < 64; i++) {
		double x;

		if (!rs[i].ok)
			continue;
		if (off == offsetof(struct run_result, faults) ||
		    off == offsetof(struct run_result, bytes_read) ||
		    off == offsetof(struct run_result, prefetch_done_at_end))
			x = (double)*(int64_t *)((char *)&rs[i] + off);
		else if (off == offsetof(struct run_result, minflt))
			x = (double)*(long *)((char *)&rs[i] + off);
		else
			x = *(double *)((char *)&rs[i] + off);
		if (x < 0)
			return -1; /* unknown in one run: unknown */
		v[k++] = x;
	}
	return k ? median_double(v, k) : -1;
}

static void summarise(struct rsummary *s, const struct image *im,
		      const struct access *a, enum rmode m,
		      struct run_result *rs, size_t n)
{
	memset(s, 0, sizeof(*s));
	s->kind = im->kind;
	s->pat = a->pat;
	s->mode = m;
	s->size = im->size;
	s->page_size = im->page_size;
	s->touched = a->n;
	s->reps = (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		if (rs[i].ok && s->reps_ok < 64) {
			s->start_runs[s->reps_ok] = rs[i].start_ms;
			s->finish_runs[s->reps_ok] = rs[i].finish_ms;
			s->reps_ok++;
		} else if (!s->why[0])
			snprintf(s->why, sizeof(s->why), "%s", rs[i].why);
	}
#define MED(f) med_field(rs, n, offsetof(struct run_result, f))
	s->start_ms = MED(start_ms);
	s->finish_ms = MED(finish_ms);
	s->alloc_ms = MED(alloc_ms);
	s->work_ms = MED(work_ms);
	s->faults = MED(faults);
	s->minflt = MED(minflt);
	s->bytes_read = MED(bytes_read);
	s->prefetch_done_at_end = MED(prefetch_done_at_end);
#undef MED
	s->finish_vs_warm = s->start_vs_warm = -1;
}

/*
 * Say in words what bounds the time, from the figures of the row: the
 * image read (disk into the page cache, then a copy), the faults (each a
 * round trip to the daemon), or waiting on the prefetch.  The image read
 * rate is eager's, measured on the same image in the same run.
 */
static void explain(struct rsummary *s, const struct rsummary *warm,
		    const struct rsummary *eager)
{
	double touched = (double)s->touched * (double)s->page_size;
	double wwork = warm && warm->reps_ok ? warm->work_ms : 0;
	double eager_mbs = -1, run_ms, extra, io, io_ms;

	if (warm && warm->reps_ok && warm->finish_ms > 0 && s->reps_ok) {
		s->finish_vs_warm = s->finish_ms / warm->finish_ms;
		s->start_vs_warm = s->start_ms / warm->finish_ms;
	}
	if (!s->reps_ok)
		return;
	if (eager && eager->reps_ok && eager->start_ms > eager->alloc_ms)
		eager_mbs = (double)eager->size /
			    ((eager->start_ms - eager->alloc_ms) * 1e3);
	run_ms = s->finish_ms - s->alloc_ms; /* after the allocation */
	extra = run_ms - wwork;		     /* beyond the work itself */
	io = s->bytes_read > 0 && run_ms > 0 ? s->bytes_read / (run_ms * 1e3)
					     : 0;
	/* How long the bytes it read take at eager's (sequential) rate. */
	io_ms = eager_mbs > 0 && s->bytes_read > 0
		    ? s->bytes_read / (eager_mbs * 1e3)
		    : 0;
	switch (s->mode) {
	case RM_WARM:
		snprintf(s->bound, sizeof(s->bound),
			 "memory: checksum at %.1f GB/s",
			 touched / (s->work_ms * 1e6));
		break;
	case RM_EAGER:
		snprintf(
		    s->bound, sizeof(s->bound),
		    "image read (disk -> page cache -> copy) at %.0f MB/s: "
		    "%.0f%% of the time; alloc %.0f ms",
		    eager_mbs, 100 * (s->start_ms - s->alloc_ms) / s->finish_ms,
		    s->alloc_ms);
		break;
	case RM_PREFETCH_WAIT:
		snprintf(
		    s->bound, sizeof(s->bound),
		    "prefetch before start: %.0f ms, %.0f MB/s in trace order "
		    "(eager reads at %.0f)",
		    s->start_ms - s->alloc_ms,
		    s->bytes_read / ((s->start_ms - s->alloc_ms) * 1e3),
		    eager_mbs);
		break;
	case RM_PREFETCH:
		if (s->minflt >= 0.03 * (double)s->touched)
			snprintf(s->bound, sizeof(s->bound),
				 "waits on the prefetch's reads (%.0f MB/s, "
				 "one at a "
				 "time in trace order): %.0f faults taken, "
				 "uffdd read %.0f "
				 "(the prefetch mapped the page first)",
				 io, s->minflt, s->faults);
		else
			snprintf(s->bound, sizeof(s->bound),
				 "page-cache fill by the prefetch at %.0f MB/s "
				 "(eager "
				 "reads at %.0f)",
				 io, eager_mbs);
		break;
	default: /* lazy, record */
		snprintf(s->bound, sizeof(s->bound),
			 "%s: %.0f faults, %.0f us each beyond the work; the "
			 "bytes read would take %.0f of those %.0f ms at "
			 "eager's rate",
			 io_ms > 0.5 * extra
			     ? "page-cache fill (reads in the fault path)"
			     : "fault round trips",
			 s->faults, s->faults > 0 ? extra * 1e3 / s->faults : 0,
			 io_ms, extra);
		break;
	}
}

static const struct rsummary *find(const struct rsummary *s, size_t n,
				   enum bench_kind k, enum pattern p,
				   enum rmode m)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].kind == k && s[i].pat == p && s[i].mode == m &&
		    s[i].reps_ok)
			return &s[i];
	return NULL;
}

static void append(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used >= len - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* Goal met (1), not (0) or not measured (-1) in every kind x pattern. */
static void and_met(struct goal *g, int met)
{
	if (met < 0)
		return;
	g->met = g->met < 0 ? met : g->met && met;
}

static size_t goals(const struct rsummary *s, size_t n, struct goal *g)
{
	static const enum rmode pf[2] = { RM_PREFETCH, RM_PREFETCH_WAIT };
	size_t ng = 0;

	for (int v = 0; v < 2; v++) {
		struct goal *fg = &g[ng++], *tg = &g[ng++];

		fg->name =
		    v ? "lazy+prefetch-wait (REAP's way: run once the "
			"working set is in) takes >=97% fewer faults than lazy"
		      : "lazy+prefetch takes >=97% fewer faults than lazy";
		tg->name =
		    v ? "lazy+prefetch-wait finishes sooner than eager and lazy"
		      : "lazy+prefetch finishes sooner than eager and lazy";
		fg->met = tg->met = -1;
		fg->detail[0] = tg->detail[0] = 0;
		for (int k = 0; k < KIND_COUNT; k++)
			for (int p = 0; p < PAT_COUNT; p++) {
				const struct rsummary *l = find(s, n, k, p,
								RM_LAZY),
						      *e = find(s, n, k, p,
								RM_EAGER),
						      *x = find(s, n, k, p,
								pf[v]);

				if (!x || !l)
					continue;
				/* Faults the workload took (the kernel's
				 * count): one the prefetch resolved while the
				 * thread waited is a fault all the same, though
				 * uffdd never read its message. */
				if (l->minflt > 0) {
					double cut = 1 - x->minflt / l->minflt;
					int met = cut >= 0.97;

					and_met(fg, met);
					append(fg->detail, sizeof(fg->detail),
					       "%s%s/%s %.0f -> %.0f (%+.1f%%, "
					       "%s; uffdd served %.0f -> %.0f)",
					       fg->detail[0] ? "; " : "",
					       kind_name(k), pattern_name(p),
					       l->minflt, x->minflt, -100 * cut,
					       met ? "yes" : "no", l->faults,
					       x->faults);
				}
				if (e) {
					int met = x->finish_ms < e->finish_ms &&
						  x->finish_ms < l->finish_ms;

					and_met(tg, met);
					append(tg->detail, sizeof(tg->detail),
					       "%s%s/%s %.0f ms vs eager %.0f, "
					       "lazy %.0f (%s)",
					       tg->detail[0] ? "; " : "",
					       kind_name(k), pattern_name(p),
					       x->finish_ms, e->finish_ms,
					       l->finish_ms,
					       met ? "yes" : "no");
				}
			}
	}
	/* The start goal is about the big hugetlb image. */
	{
		struct goal *sg = &g[ng++];

		sg->name = "lazy starts >=10x sooner than eager on the hugetlb "
			   "(1 GiB) image";
		sg->met = -1;
		sg->detail[0] = 0;
		for (int p = 0; p < PAT_COUNT; p++) {
			const struct rsummary *l = find(s, n, KIND_HUGETLB, p,
							RM_LAZY),
					      *e = find(s, n, KIND_HUGETLB, p,
							RM_EAGER);

			if (!l || !e || l->start_ms <= 0)
				continue;
			and_met(sg, e->start_ms >= 10 * l->start_ms);
			append(sg->detail, sizeof(sg->detail),
			       "%s%s: eager %.1f ms / lazy %.1f ms = %.1fx "
			       "(%s); lazy's "
			       "start is connect + allocate (eager's own "
			       "allocation: "
			       "%.1f ms) + register",
			       sg->detail[0] ? "; " : "", pattern_name(p),
			       e->start_ms, l->start_ms,
			       e->start_ms / l->start_ms,
			       e->start_ms >= 10 * l->start_ms ? "yes" : "no",
			       e->alloc_ms);
		}
	}
	return ng;
}

int main(int argc, char **argv)
{
	/* The client opens its images and traces and passes them (protocol
	 * 2): the configuration names no directory for them. */
	static const char config_fmt[] =
	    "{\"client_policies\":[\"continue\",\"around\",\"populate\","
	    "\"record\",\"prefetch\"]%s%s}";
	static const enum rmode order[] = { RM_WARM, RM_EAGER, RM_LAZY,
					    RM_PREFETCH, RM_PREFETCH_WAIT };
	const size_t norder = sizeof(order) / sizeof(order[0]);
	struct rsummary sums[KIND_COUNT * PAT_COUNT * RM_COUNT];
	struct goal gl[8];
	size_t nsum = 0, ngoal;
	char config[1024], why[512], info[1800], path[600],
	    pin[32] = "not pinned";
	struct utsname un;
	struct daemon d;
	struct conf c;
	FILE *jf, *tf;
	uint64_t t_begin = now_ns();

	parse(argc, argv, &c);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0)
		die("run as root: it drops the page cache and reserves "
		    "hugepages");
	watchdog_start(c.timeout_s);
	if (c.kind_on[KIND_HUGETLB]) {
		size_t hp = c.size[KIND_HUGETLB] / kind_page_size(KIND_HUGETLB);
		/* Two regions' worth: the daemon lets go of the previous run's
		 * memory asynchronously. */
		int err = hugepages_reserve(2 * hp + 8);

		if (err < 0)
			die("cannot reserve %zu hugepages: %s", 2 * hp + 8,
			    strerror(-err));
	}
	snprintf(config, sizeof(config), config_fmt, c.config_extra ? "," : "",
		 c.config_extra ? c.config_extra : "");
	/* The images live in the cache dir. */
	{
		struct image tmp[KIND_COUNT];

		for (int k = 0; k < KIND_COUNT; k++)
			if (c.kind_on[k])
				image_prepare(&tmp[k], c.cache, k, c.size[k]);
	}
	if (daemon_start(&d, c.uffdd, 0, NULL, config, why, sizeof(why)) < 0)
		die("cannot start the daemon: %s", why);

	/* After the daemon started: it must not inherit the pinning. */
	if (c.pin_cpu >= 0 && pin_self(c.pin_cpu) < 0)
		die("cannot pin to CPU %d", c.pin_cpu);
	uname(&un);
	if (c.pin_cpu >= 0)
		snprintf(pin, sizeof(pin), "pinned to CPU %d", c.pin_cpu);
	snprintf(info, sizeof(info),
		 "kernel %s, %d CPUs, reps %u, seed %u, workload %s, "
		 "cache %s, daemon config %s",
		 un.release, bench_ncpus(), c.reps, c.seed, pin, c.cache,
		 config);
	printf("uffdd-bench-restore: %s\n", info);

	for (int k = 0; k < KIND_COUNT; k++) {
		struct image im;

		if (!c.kind_on[k])
			continue;
		image_prepare(&im, c.cache, k, c.size[k]);
		for (int p = 0; p < PAT_COUNT; p++) {
			struct run_result rs[RM_COUNT][64];
			size_t nrs[RM_COUNT] = { 0 };
			struct access a;
			struct run_ctx ctx = { .d = &d, .im = &im, .acc = &a };
			char trace[600];
			const struct rsummary *warm = NULL;
			size_t first = nsum;

			if (!c.pat_on[p])
				continue;
			access_make(&a, p, im.pages, c.seed);
			if (workload_reference(&im, &a, &ctx.want_sum) < 0)
				die("reading %s: %s", im.path, strerror(errno));
			snprintf(trace, sizeof(trace), "%s/restore-%s-%s.trace",
				 c.cache, kind_name(k), pattern_name(p));
			ctx.trace = trace;
			printf("%s %s: %zu of %zu pages ...\n", kind_name(k),
			       pattern_name(p), a.n, im.pages);
			if (c.mode_on[RM_RECORD]) {
				ctx.rep = 0;
				run_mode(RM_RECORD, &ctx,
					 &rs[RM_RECORD][nrs[RM_RECORD]++]);
				if (!rs[RM_RECORD][0].ok)
					note("record: %s",
					     rs[RM_RECORD][0].why);
			}
			/* Rotate the order so no mode always runs first. */
			for (unsigned r = 0; r < c.reps && r < 64; r++)
				for (size_t j = 0; j < norder; j++) {
					enum rmode m = order[(j + r) % norder];

					if (!c.mode_on[m])
						continue;
					ctx.rep = (int)r;
					run_mode(m, &ctx, &rs[m][nrs[m]++]);
					if (!rs[m][nrs[m] - 1].ok)
						note("%s %s %s: %s",
						     kind_name(k),
						     pattern_name(p),
						     rmode_name(m),
						     rs[m][nrs[m] - 1].why);
					if (!daemon_alive(&d))
						die("the daemon died; its log: "
						    "%s",
						    d.log);
				}
			for (int m = 0; m < RM_COUNT; m++) {
				if (!nrs[m])
					continue;
				summarise(&sums[nsum], &im, &a, m, rs[m],
					  nrs[m]);
				if (m == RM_WARM)
					warm = &sums[nsum];
				nsum++;
			}
			for (size_t i = first; i < nsum; i++)
				explain(&sums[i], warm,
					find(sums, nsum, k, p, RM_EAGER));
			access_free(&a);
		}
	}
	daemon_stop(&d);
	hugepages_restore();
	ngoal = goals(sums, nsum, gl);

	snprintf(path, sizeof(path), "%s/restore.jsonl", c.out);
	jf = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/restore.txt", c.out);
	tf = fopen(path, "w");
	if (!jf || !tf)
		die("%s: %s", path, strerror(errno));
	report_run_line(jf, info);
	for (size_t i = 0; i < nsum; i++)
		report_summary_json(jf, &sums[i]);
	for (size_t i = 0; i < ngoal; i++)
		report_goal_json(jf, &gl[i]);
	fprintf(tf, "uffdd-bench-restore: %s\n", info);
	fprintf(tf,
		"medians of %u runs (record: 1 run); times in ms from the "
		"restore's first step; x-warm = finish / warm's finish;\n"
		"faults = faults the workload thread took (getrusage minflt: "
		"the kernel's count), uffd-flt = faults uffdd read and served "
		"(status);\nthe page cache is dropped before every cold run\n",
		c.reps);
	report_restore_table(tf, sums, nsum);
	report_goals_text(tf, gl, ngoal);
	fprintf(tf, "\n(run took %.0f s)\n",
		(double)(now_ns() - t_begin) / 1e9);
	fclose(jf);
	fclose(tf);
	/* And the same on stdout. */
	tf = fopen(path, "r");
	if (tf) {
		char line[1024];

		while (fgets(line, sizeof(line), tf))
			fputs(line, stdout);
		fclose(tf);
	}
	printf("\nuffdd-bench-restore: results in %s/restore.{jsonl,txt}\n",
	       c.out);
	return 0;
}
