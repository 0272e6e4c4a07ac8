/* SPDX-License-Identifier: MIT */
/*
 * uffdd-bench: in one run, on one machine, first-touch fault latency and
 * throughput of
 *   1. the kernel alone (pages in the page cache, fresh mapping: its own
 *      minor fault),
 *   2. a userfaultfd MINOR handler thread in the same process (poll, read,
 *      UFFDIO_CONTINUE), placed on the same or the other CPU, sleeping or
 *      spinning briefly,
 *   3. the uffdd daemon, the region handed off by libuffdclient,
 *   4. uffdd with a window policy, several client threads, several clients,
 * for 2 MiB hugetlb and 4 KiB shmem.  Rounds alternate the modes; the
 * figures reported are medians over rounds.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

enum mode_type { T_NATIVE, T_INPROC, T_UFFDD };

/* Placement of the handler relative to the faulting thread. */
enum place { P_ANY, P_SAME, P_OTHER };

struct mode {
	char name[32];
	char desc[160];
	enum mode_type type;
	enum place place;
	bool spin, yield;
	bool windowed;	 /* uses the window policy */
	bool idle_phase; /* runs while idle clients are connected */
	enum touch_access access;
	unsigned threads, procs;
};

struct config {
	unsigned idle_clients, idle_regions;
	size_t size[KIND_COUNT];
	bool kind_on[KIND_COUNT];
	unsigned rounds, threads, procs, spin_us, timeout_s;
	int workers;
	const char *policy;
	const char *uffdd_bin;
	const char *socket;
	const char *out;
	const char *only;
	bool pin_daemon;
	const char *daemon_args[17];
	unsigned ndaemon_args;
};

static struct mode modes[32];
static size_t nmodes;

static void add_mode(const char *name, const char *desc, enum mode_type type,
		     enum place place, bool spin, bool windowed,
		     enum touch_access access, unsigned threads, unsigned procs)
{
	struct mode *m = &modes[nmodes++];

	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->desc, sizeof(m->desc), "%s", desc);
	m->type = type;
	m->place = place;
	m->spin = spin;
	m->windowed = windowed;
	m->access = access;
	m->threads = threads;
	m->procs = procs;
}

static bool wanted(const struct config *c, const char *name)
{
	char buf[256], *tok, *save = NULL;

	if (!c->only || !*c->only)
		return true;
	snprintf(buf, sizeof(buf), "%s", c->only);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, name) ||
		    (tok[strlen(tok) - 1] == '*' &&
		     !strncmp(tok, name, strlen(tok) - 1)))
			return true;
	return false;
}

static void build_modes(const struct config *c)
{
	char n[32], d[160];
	const char *w = c->policy;
	unsigned t = c->threads, p = c->procs;

#define ADD(...) add_mode(__VA_ARGS__)
	ADD("native",
	    "kernel minor fault, write touch (one fault per page), no "
	    "userfaultfd",
	    T_NATIVE, P_ANY, false, false, ACCESS_WRITE, 1, 1);
	ADD("native-read",
	    "kernel minor fault, read touch (kernel fault-around applies)",
	    T_NATIVE, P_ANY, false, false, ACCESS_READ, 1, 1);
	snprintf(n, sizeof(n), "native-t%u", t);
	snprintf(d, sizeof(d), "kernel minor fault, %u threads", t);
	ADD(n, d, T_NATIVE, P_ANY, false, false, ACCESS_WRITE, t, 1);
	ADD("inproc",
	    "in-process handler thread, placement left to the scheduler",
	    T_INPROC, P_ANY, false, false, ACCESS_WRITE, 1, 1);
	ADD("inproc-same-cpu",
	    "in-process handler pinned to the faulting thread's CPU", T_INPROC,
	    P_SAME, false, false, ACCESS_WRITE, 1, 1);
	ADD("inproc-other-cpu", "in-process handler pinned to the other CPU",
	    T_INPROC, P_OTHER, false, false, ACCESS_WRITE, 1, 1);
	snprintf(d, sizeof(d),
		 "in-process handler spinning %u us before sleeping, unpinned",
		 c->spin_us);
	ADD("inproc-spin", d, T_INPROC, P_ANY, true, false, ACCESS_WRITE, 1, 1);
	snprintf(d, sizeof(d),
		 "in-process handler spinning %u us before sleeping, other CPU",
		 c->spin_us);
	ADD("inproc-spin-other-cpu", d, T_INPROC, P_OTHER, true, false,
	    ACCESS_WRITE, 1, 1);
	snprintf(d, sizeof(d),
		 "in-process handler spinning %u us with sched_yield, unpinned",
		 c->spin_us);
	ADD("inproc-spin-yield", d, T_INPROC, P_ANY, true, false, ACCESS_WRITE,
	    1, 1);
	modes[nmodes - 1].yield = true;
	snprintf(n, sizeof(n), "inproc-t%u", t);
	snprintf(d, sizeof(d), "in-process handler, %u faulting threads", t);
	ADD(n, d, T_INPROC, P_ANY, false, false, ACCESS_WRITE, t, 1);
	ADD("uffdd", "uffdd, default policy, one client thread", T_UFFDD, P_ANY,
	    false, false, ACCESS_WRITE, 1, 1);
	ADD("uffdd-same-cpu",
	    "uffdd, every daemon thread pinned to the faulting thread's CPU",
	    T_UFFDD, P_SAME, false, false, ACCESS_WRITE, 1, 1);
	ADD("uffdd-other-cpu",
	    "uffdd, every daemon thread pinned to the other CPU", T_UFFDD,
	    P_OTHER, false, false, ACCESS_WRITE, 1, 1);
	snprintf(n, sizeof(n), "uffdd-t%u", t);
	snprintf(d, sizeof(d), "uffdd, default policy, %u client threads", t);
	ADD(n, d, T_UFFDD, P_ANY, false, false, ACCESS_WRITE, t, 1);
	snprintf(n, sizeof(n), "uffdd-p%u", p);
	snprintf(d, sizeof(d), "uffdd, default policy, %u client processes", p);
	ADD(n, d, T_UFFDD, P_ANY, false, false, ACCESS_WRITE, 1, p);
	snprintf(n, sizeof(n), "uffdd-%s", w);
	snprintf(d, sizeof(d), "uffdd, policy %s, one client thread", w);
	ADD(n, d, T_UFFDD, P_ANY, false, true, ACCESS_WRITE, 1, 1);
	snprintf(n, sizeof(n), "uffdd-%s-same-cpu", w);
	snprintf(d, sizeof(d),
		 "uffdd, policy %s, daemon pinned to the faulting thread's CPU",
		 w);
	ADD(n, d, T_UFFDD, P_SAME, false, true, ACCESS_WRITE, 1, 1);
	snprintf(n, sizeof(n), "uffdd-%s-t%u", w, t);
	snprintf(d, sizeof(d), "uffdd, policy %s, %u client threads", w, t);
	ADD(n, d, T_UFFDD, P_ANY, false, true, ACCESS_WRITE, t, 1);
	snprintf(n, sizeof(n), "uffdd-%s-p%u", w, p);
	snprintf(d, sizeof(d), "uffdd, policy %s, %u client processes", w, p);
	ADD(n, d, T_UFFDD, P_ANY, false, true, ACCESS_WRITE, 1, p);
	if (c->idle_clients) {
		snprintf(n, sizeof(n), "uffdd-idle%ux%u", c->idle_clients,
			 c->idle_regions);
		snprintf(
		    d, sizeof(d),
		    "uffdd, one client thread, while %u other clients hold "
		    "%u regions each",
		    c->idle_clients, c->idle_regions);
		ADD(n, d, T_UFFDD, P_ANY, false, false, ACCESS_WRITE, 1, 1);
		modes[nmodes - 1].idle_phase = true;
		/* Pinned as uffdd-same-cpu: the regions' cost without placement
		 * noise. */
		snprintf(n, sizeof(n), "uffdd-idle%ux%u-same-cpu",
			 c->idle_clients, c->idle_regions);
		snprintf(
		    d, sizeof(d),
		    "uffdd-same-cpu, while %u other clients hold %u regions "
		    "each",
		    c->idle_clients, c->idle_regions);
		ADD(n, d, T_UFFDD, P_SAME, false, false, ACCESS_WRITE, 1, 1);
		modes[nmodes - 1].idle_phase = true;
	}
#undef ADD
	/* Names are printed with ':' replaced: they end up in file names. */
	for (size_t i = 0; i < nmodes; i++)
		for (char *s = modes[i].name; *s; s++)
			if (*s == ':')
				*s = '-';
}

static size_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'k':
	case 'K':
		v *= 1024;
		break;
	case 'm':
	case 'M':
		v *= 1024 * 1024;
		break;
	case 'g':
	case 'G':
		v *= 1024.0 * 1024 * 1024;
		break;
	case 0:
		break;
	default:
		die("bad size '%s'", s);
	}
	if (v <= 0)
		die("bad size '%s'", s);
	return (size_t)v;
}

static void usage(FILE *f)
{
	fputs(
	    "usage: uffdd-bench [options]\n"
	    "  --kinds LIST        hugetlb,shmem (default both)\n"
	    "  --hugetlb-size N    region size for 2 MiB hugetlb (default "
	    "256M)\n"
	    "  --shmem-size N      region size for 4 KiB shmem (default 64M)\n"
	    "  --rounds N          rounds, modes alternate within each "
	    "(default 5)\n"
	    "  --threads N         client threads of the -tN modes (default "
	    "4)\n"
	    "  --procs N           client processes of the -pN modes (default "
	    "4)\n"
	    "  --spin-us N         spin budget of the spinning handler "
	    "(default 50)\n"
	    "  --policy P          window policy of the windowed modes "
	    "(default around:16)\n"
	    "  --uffdd PATH        daemon to spawn (default build/uffdd)\n"
	    "  --workers N         pass --workers N to the spawned daemon\n"
	    "  --daemon-arg ARG    one more argument for the spawned daemon "
	    "(repeatable)\n"
	    "  --socket PATH       use a running daemon instead of spawning "
	    "one\n"
	    "  --pin-daemon        allow pinning a daemon that was not spawned "
	    "here\n"
	    "  --idle-clients N    clients connected for the idle phase "
	    "(default 1000, 0: none)\n"
	    "  --idle-regions N    4 KiB shmem regions per idle client "
	    "(default 4)\n"
	    "  --modes LIST        only these modes (comma list, trailing * = "
	    "prefix)\n"
	    "  --out DIR           results directory (default bench/results)\n"
	    "  --timeout S         give up when one measurement takes longer "
	    "(default 300)\n"
	    "  --verbose           progress on stderr, keep the daemon log\n"
	    "Environment: BENCH_HUGETLB_SIZE, BENCH_SHMEM_SIZE, "
	    "BENCH_ROUNDS.\n",
	    f);
}

static void parse_args(struct config *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kinds", 1, 0, 'k' },
		{ "hugetlb-size", 1, 0, 'H' },
		{ "shmem-size", 1, 0, 'S' },
		{ "rounds", 1, 0, 'r' },
		{ "threads", 1, 0, 't' },
		{ "procs", 1, 0, 'p' },
		{ "spin-us", 1, 0, 's' },
		{ "policy", 1, 0, 'P' },
		{ "uffdd", 1, 0, 'u' },
		{ "workers", 1, 0, 'w' },
		{ "socket", 1, 0, 'x' },
		{ "pin-daemon", 0, 0, 'D' },
		{ "modes", 1, 0, 'm' },
		{ "out", 1, 0, 'o' },
		{ "idle-clients", 1, 0, 'I' },
		{ "idle-regions", 1, 0, 'R' },
		{ "daemon-arg", 1, 0, 'A' },
		{ "timeout", 1, 0, 'T' },
		{ "verbose", 0, 0, 'v' },
		{ "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *e;
	int o;

	c->size[KIND_HUGETLB] = 256u << 20;
	c->size[KIND_SHMEM] = 64u << 20;
	c->kind_on[KIND_HUGETLB] = c->kind_on[KIND_SHMEM] = true;
	c->rounds = 5;
	c->threads = 4;
	c->procs = 4;
	c->spin_us = 50;
	c->timeout_s = 300;
	c->idle_clients = 1000;
	c->idle_regions = 4;
	c->policy = "around:16";
	c->uffdd_bin = "build/uffdd";
	c->out = "bench/results";
	if ((e = getenv("BENCH_HUGETLB_SIZE")) && *e)
		c->size[KIND_HUGETLB] = parse_size(e);
	if ((e = getenv("BENCH_SHMEM_SIZE")) && *e)
		c->size[KIND_SHMEM] = parse_size(e);
	if ((e = getenv("BENCH_ROUNDS")) && *e)
		c->rounds = (unsigned)atoi(e);

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'k':
			c->kind_on[KIND_HUGETLB] =
			    strstr(optarg, "hugetlb") != NULL;
			c->kind_on[KIND_SHMEM] =
			    strstr(optarg, "shmem") != NULL;
			break;
		case 'H':
			c->size[KIND_HUGETLB] = parse_size(optarg);
			break;
		case 'S':
			c->size[KIND_SHMEM] = parse_size(optarg);
			break;
		case 'r':
			c->rounds = (unsigned)atoi(optarg);
			break;
		case 't':
			c->threads = (unsigned)atoi(optarg);
			break;
		case 'p':
			c->procs = (unsigned)atoi(optarg);
			break;
		case 's':
			c->spin_us = (unsigned)atoi(optarg);
			break;
		case 'P':
			c->policy = optarg;
			break;
		case 'u':
			c->uffdd_bin = optarg;
			break;
		case 'w':
			c->workers = atoi(optarg);
			break;
		case 'x':
			c->socket = optarg;
			break;
		case 'D':
			c->pin_daemon = true;
			break;
		case 'm':
			c->only = optarg;
			break;
		case 'o':
			c->out = optarg;
			break;
		case 'I':
			c->idle_clients = (unsigned)atoi(optarg);
			break;
		case 'R':
			c->idle_regions = (unsigned)atoi(optarg);
			break;
		case 'A':
			if (c->ndaemon_args >= 16)
				die("too many --daemon-arg");
			c->daemon_args[c->ndaemon_args++] = optarg;
			break;
		case 'T':
			c->timeout_s = (unsigned)atoi(optarg);
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
	if (c->idle_clients && !c->idle_regions)
		c->idle_regions = 1;
	if (!c->rounds || c->rounds > 64 || !c->timeout_s || !c->threads ||
	    c->threads > BENCH_MAX_THREADS || !c->procs ||
	    c->procs > BENCH_MAX_THREADS)
		die("rounds must be 1..64, threads and procs 1..%d",
		    BENCH_MAX_THREADS);
}

struct cell {
	struct round_result *r; /* one per round */
	bool skip;
	char why[256];
	enum mode_status status;
};

static void run_one(const struct config *c, const struct mode *m,
		    struct bench_mem *mem, struct daemon *d, bool have_daemon,
		    const char *dwhy, struct round_result *r)
{
	int c0 = bench_cpu(0), c1 = bench_cpu(1);

	r->faults = -1;
	r->handler_cpu_ns = -1;
	if (m->place == P_OTHER && c1 < 0) {
		r->status = MODE_UNAVAILABLE;
		snprintf(r->why, sizeof(r->why), "needs two CPUs");
		return;
	}
	switch (m->type) {
	case T_NATIVE: {
		struct touch_job job = { 0 };
		char *p = mem_map_fresh(mem);

		if (!p)
			die("mmap: %s", strerror(errno));
		job.base = p;
		job.page_size = mem->page_size;
		job.pages = mem->pages;
		job.threads = m->threads;
		job.cpu = -1;
		job.access = m->access;
		job.lat = r->lat;
		touch_run(&job);
		munmap(p, mem->size);
		r->status = MODE_OK;
		r->wall_ns = job.wall_ns;
		r->pages = r->nlat = mem->pages;
		r->faults = job.faults;
		break;
	}
	case T_INPROC: {
		struct inproc_opts o = {
			.handler_cpu = m->place == P_SAME    ? c0
				       : m->place == P_OTHER ? c1
							     : -1,
			.toucher_cpu = m->place == P_ANY ? -1 : c0,
			.spin_us = m->spin ? c->spin_us : 0,
			.spin_yield = m->yield,
			.threads = m->threads,
			.access = m->access,
		};

		inproc_round(mem, &o, r);
		break;
	}
	case T_UFFDD: {
		struct uffdd_opts o = {
			.policy = m->windowed ? c->policy : NULL,
			.threads = m->threads,
			.procs = m->procs,
			.toucher_cpu = m->place == P_ANY ? -1 : c0,
			.daemon_cpu = m->place == P_SAME    ? c0
				      : m->place == P_OTHER ? c1
							    : -2,
			.access = m->access,
		};

		if (!have_daemon) {
			r->status = MODE_UNAVAILABLE;
			snprintf(r->why, sizeof(r->why), "%s", dwhy);
			return;
		}
		if (m->place != P_ANY && !d->spawned && !c->pin_daemon) {
			r->status = MODE_UNAVAILABLE;
			snprintf(r->why, sizeof(r->why),
				 "daemon not spawned here (pass --pin-daemon "
				 "to pin it)");
			return;
		}
		uffdd_round(d, mem->kind, mem->size, &o, r);
		break;
	}
	}
}

/* One mode, one kind, one round. */
static void measure(const struct config *c, const struct mode *m,
		    struct bench_mem *mem, struct daemon *d, bool *have_daemon,
		    char *dwhy, size_t dwhylen, struct cell *cl, unsigned round)
{
	struct round_result *r = &cl->r[round];
	uint64_t t;

	/* Unavailable once is unavailable: do not retry. */
	if (round && cl->r[0].status == MODE_UNAVAILABLE) {
		*r = cl->r[0];
		r->lat = NULL;
		return;
	}
	r->lat = malloc(mem->pages * sizeof(uint32_t));
	if (!r->lat)
		die("out of memory");
	memset(r->lat, 0, mem->pages * sizeof(uint32_t));
	t = now_ns();
	watchdog_arm();
	run_one(c, m, mem, d, *have_daemon, dwhy, r);
	watchdog_disarm();
	if (bench_verbose)
		note("round %u %s %-24s %s %.2fs %s", round + 1,
		     kind_name(mem->kind), m->name,
		     r->status == MODE_OK ? "ok" : "--", (now_ns() - t) / 1e9,
		     r->why);
	if (m->type == T_UFFDD && *have_daemon && !daemon_alive(d)) {
		note("uffdd died during %s/%s", kind_name(mem->kind), m->name);
		snprintf(dwhy, dwhylen, "uffdd died during %s/%s",
			 kind_name(mem->kind), m->name);
		*have_daemon = false;
	}
}

/*
 * The idle phase: connect many clients with a few regions each, then
 * measure the idle-phase modes (a single faulting client) while they stay.
 */
static void idle_phase(const struct config *c, struct bench_mem *mem,
		       struct cell cells[KIND_COUNT][32], struct daemon *d,
		       bool *have_daemon, char *dwhy, size_t dwhylen,
		       struct idle_report *rep)
{
	struct idle_set *set;
	bool any = false;

	memset(rep, 0, sizeof(*rep));
	for (int k = 0; k < KIND_COUNT; k++)
		for (size_t i = 0; i < nmodes; i++)
			if (modes[i].idle_phase && !cells[k][i].skip)
				any = true;
	if (!any)
		return;
	if (!*have_daemon) {
		snprintf(rep->why, sizeof(rep->why), "%s", dwhy);
		rep->clients = c->idle_clients;
		rep->regions_per_client = c->idle_regions;
		return;
	}
	if (bench_verbose)
		note("idle phase: connecting %u clients with %u regions each",
		     c->idle_clients, c->idle_regions);
	watchdog_arm();
	set = idle_setup(d, c->idle_clients, c->idle_regions, rep);
	watchdog_disarm();
	if (!rep->ok) {
		note("idle phase: %s", rep->why);
		idle_teardown(set);
		for (int k = 0; k < KIND_COUNT; k++)
			for (size_t i = 0; i < nmodes; i++)
				if (modes[i].idle_phase)
					for (unsigned r = 0; r < c->rounds; r++)
						snprintf(
						    cells[k][i].r[r].why,
						    sizeof(
							cells[k][i].r[r].why),
						    "%s", rep->why);
		return;
	}
	for (unsigned round = 0; round < c->rounds; round++)
		for (int k = 0; k < KIND_COUNT; k++)
			for (size_t i = 0; i < nmodes; i++)
				if (modes[i].idle_phase && !cells[k][i].skip &&
				    c->kind_on[k])
					measure(c, &modes[i], &mem[k], d,
						have_daemon, dwhy, dwhylen,
						&cells[k][i], round);
	watchdog_arm();
	idle_teardown(set);
	watchdog_disarm();
}

static void idle_report_out(FILE *f, bool json, const struct idle_report *r)
{
	double nc = r->clients, nr = (double)r->clients * r->regions_per_client;

	if (!r->clients)
		return;
	if (json) {
		fprintf(f,
			"{\"kind\":\"daemon-memory\",\"status\":\"%s\","
			"\"clients\":%u,"
			"\"regions_per_client\":%u",
			r->ok ? "ok" : "unavailable", r->clients,
			r->regions_per_client);
		if (r->ok && r->rss_kb_before >= 0)
			fprintf(
			    f,
			    ",\"rss_kb_before\":%ld,\"rss_kb_clients\":%ld,"
			    "\"rss_kb_regions\":%ld,\"bytes_per_client\":%.0f,"
			    "\"bytes_per_region\":%.0f,\"connect_us_per_"
			    "client\":%.1f,"
			    "\"register_us_per_region\":%.1f",
			    r->rss_kb_before, r->rss_kb_clients,
			    r->rss_kb_regions,
			    (r->rss_kb_clients - r->rss_kb_before) * 1024.0 /
				nc,
			    (r->rss_kb_regions - r->rss_kb_clients) * 1024.0 /
				nr,
			    r->connect_ns / 1e3 / nc,
			    r->register_ns / 1e3 / nr);
		else
			fprintf(f, ",\"why\":\"%s\"", r->why);
		fputs("}\n", f);
		return;
	}
	if (!r->ok) {
		fprintf(
		    f,
		    "\nidle phase (%u clients x %u regions): unavailable: %s\n",
		    r->clients, r->regions_per_client, r->why);
		return;
	}
	fprintf(f,
		"\ndaemon memory (VmRSS): %ld KiB idle, %ld KiB with %u "
		"clients, %ld KiB with "
		"%u regions more:\n  %.0f bytes per client, %.0f bytes per "
		"region; connect %.1f us "
		"per client, register %.1f us per region\n",
		r->rss_kb_before, r->rss_kb_clients, r->clients,
		r->rss_kb_regions, r->clients * r->regions_per_client,
		(r->rss_kb_clients - r->rss_kb_before) * 1024.0 / nc,
		(r->rss_kb_regions - r->rss_kb_clients) * 1024.0 / nr,
		r->connect_ns / 1e3 / nc, r->register_ns / 1e3 / nr);
}

static void summarise(const struct config *c, const struct mode *m,
		      enum bench_kind k, struct cell *cell,
		      struct mode_summary *s)
{
	uint64_t med[64], p90[64], p99[64], mx[64];
	double npp[64], fpp[64], cpf[64], cpp[64], fmed[64];
	unsigned ok = 0, nf = 0, nc = 0, ncp = 0, nfm = 0;

	memset(s, 0, sizeof(*s));
	s->name = m->name;
	s->desc = m->desc;
	s->kind = k;
	s->threads = m->threads;
	s->procs = m->procs;
	s->page_size = kind_page_size(k);
	s->status = MODE_UNAVAILABLE;
	s->faults_per_page = s->cpu_ns_per_fault = s->cpu_ns_per_page = -1;
	s->fault_median_ns = -1;
	for (unsigned i = 0; i < c->rounds; i++) {
		struct round_result *r = &cell->r[i];
		struct lat_stats st;

		if (r->status != MODE_OK) {
			if (!ok && s->status != MODE_FAILED) {
				s->status = r->status;
				snprintf(s->why, sizeof(s->why), "%s", r->why);
			}
			continue;
		}
		s->all_lat =
		    realloc(s->all_lat, (s->nall + r->nlat) * sizeof(uint32_t));
		memcpy(s->all_lat + s->nall, r->lat,
		       r->nlat * sizeof(uint32_t));
		s->nall += r->nlat;
		lat_summarise(r->lat, r->nlat, &st);
		med[ok] = st.median;
		p90[ok] = st.p90;
		p99[ok] = st.p99;
		mx[ok] = st.max;
		npp[ok] = (double)r->wall_ns / (double)r->pages;
		s->pages = r->pages;
		if (r->faults >= 0)
			fpp[nf++] = (double)r->faults / (double)r->pages;
		/* lat_summarise sorted r->lat: the faults are at the end. */
		if (r->faults > 0 && (size_t)r->faults <= r->nlat)
			fmed[nfm++] =
			    r->lat[r->nlat - (size_t)r->faults / 2 - 1];
		if (r->handler_cpu_ns >= 0) {
			cpp[ncp++] =
			    (double)r->handler_cpu_ns / (double)r->pages;
			if (r->faults > 0)
				cpf[nc++] = (double)r->handler_cpu_ns /
					    (double)r->faults;
		}
		ok++;
	}
	/* A mode that failed in some rounds is reported on the rounds that
	 * worked. */
	if (!ok)
		return;
	if (ok < c->rounds)
		note("%s/%s: %u of %u rounds failed (%s)", kind_name(k),
		     m->name, c->rounds - ok, c->rounds, s->why);
	s->status = MODE_OK;
	s->rounds_ok = ok;
	s->lat.median = median_u64(med, ok);
	s->lat.p90 = median_u64(p90, ok);
	s->lat.p99 = median_u64(p99, ok);
	s->lat.max = median_u64(mx, ok);
	s->ns_per_page = median_double(npp, ok);
	s->pages_per_sec = 1e9 / s->ns_per_page;
	if (nf)
		s->faults_per_page = median_double(fpp, nf);
	if (nfm)
		s->fault_median_ns = median_double(fmed, nfm);
	if (nc)
		s->cpu_ns_per_fault = median_double(cpf, nc);
	if (ncp)
		s->cpu_ns_per_page = median_double(cpp, ncp);
	lat_summarise(s->all_lat, s->nall, &(struct lat_stats){ 0 });
}

static const struct mode_summary *find(const struct mode_summary *s, size_t n,
				       const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s[i].name, name))
			return &s[i];
	return NULL;
}

/*
 * Mode (2), "the best userfaultfd itself allows": of the single-threaded
 * in-process handlers that sleep in poll() (spinning ones burn a CPU: they
 * are measured for comparison, not as the reference), the one with the
 * lowest median.  Which one wins depends on where the scheduler puts the
 * threads, so it is chosen per run and named in the output; the unpinned
 * "inproc" alone flips between ~6 and ~35 us from one run to the next.
 */
static const struct mode_summary *best_inproc(const struct mode_summary *s,
					      size_t n)
{
	const struct mode_summary *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (!strncmp(s[i].name, "inproc", 6) &&
		    !strstr(s[i].name, "spin") && s[i].threads == 1 &&
		    s[i].procs == 1 && s[i].status == MODE_OK &&
		    s[i].rounds_ok &&
		    (!best || s[i].lat.median < best->lat.median))
			best = &s[i];
	return best;
}

static char key_window[40], key_window_same[60];
static const char *key_modes[] = {
	"native",
	"inproc-same-cpu",
	"inproc-other-cpu",
	"inproc-spin-other-cpu",
	"uffdd",
	"uffdd-same-cpu",
	"uffdd-other-cpu",
	key_window,
	key_window_same,
	NULL,
};

static double loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

int main(int argc, char **argv)
{
	struct config c = { 0 };
	struct bench_mem mem[KIND_COUNT];
	struct cell cells[KIND_COUNT][32];
	struct mode_summary sum[KIND_COUNT][32];
	struct daemon d = { 0 };
	struct idle_report idle = { 0 };
	char dwhy[512] = "", path[512];
	bool have_daemon;
	double load0 = loadavg(), load1;
	struct utsname un;
	FILE *jf, *tf;
	time_t t0 = time(NULL);
	char date[64];

	parse_args(&c, argc, argv);
	build_modes(&c);
	snprintf(key_window, sizeof(key_window), "uffdd-%s", c.policy);
	for (char *p = key_window; *p; p++)
		if (*p == ':')
			*p = '-';
	snprintf(key_window_same, sizeof(key_window_same), "%s-same-cpu",
		 key_window);
	watchdog_start(c.timeout_s);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (c.kind_on[KIND_HUGETLB]) {
		size_t hp = c.size[KIND_HUGETLB] / (2u << 20) + 1;

		/* The shared memfd plus one daemon-served region at a time. */
		int err = hugepages_reserve(2 * hp + 4);

		if (err)
			note("cannot reserve %zu hugepages (%s): hugetlb may "
			     "fail",
			     2 * hp + 4, strerror(-err));
	}
	for (int k = 0; k < KIND_COUNT; k++) {
		char why[256];
		int err;

		mem[k].fd = -1;
		if (!c.kind_on[k])
			continue;
		if (!inproc_supported(k, why, sizeof(why)))
			note("%s: %s (userfaultfd modes will be unavailable)",
			     kind_name(k), why);
		err = mem_create(&mem[k], k, c.size[k]);
		if (err)
			die("%s memfd of %zu bytes: %s", kind_name(k),
			    c.size[k], strerror(-err));
	}

	/* Before spawning: the daemon inherits the descriptor limit. */
	if (c.idle_clients)
		idle_raise_nofile();
	if (!uffdd_linked())
		snprintf(dwhy, sizeof(dwhy), "built without libuffdclient");
	else if (c.socket)
		daemon_attach(&d, c.socket, dwhy, sizeof(dwhy));
	else if (c.idle_clients) {
		char cfg[256];

		/*
		 * Room for the idle clients, all of this uid.  A daemon that
		 * does not know these limits refuses the file: then it runs
		 * with its defaults and the idle phase says what it hit.
		 */
		snprintf(
		    cfg, sizeof(cfg),
		    "{\"limits\": {\"clients\": %u, \"clients_per_uid\": %u, "
		    "\"regions\": %u}}\n",
		    c.idle_clients + 64, c.idle_clients + 64,
		    c.idle_clients * c.idle_regions + 1024);
		if (daemon_start(&d, c.uffdd_bin, c.workers, c.daemon_args, cfg,
				 dwhy, sizeof(dwhy)) < 0) {
			note("uffdd refused the bench's limits (%s): starting "
			     "it with its defaults",
			     dwhy);
			daemon_start(&d, c.uffdd_bin, c.workers, c.daemon_args,
				     NULL, dwhy, sizeof(dwhy));
		}
	} else {
		daemon_start(&d, c.uffdd_bin, c.workers, c.daemon_args, NULL,
			     dwhy, sizeof(dwhy));
	}
	have_daemon = uffdd_linked() && d.pid > 0;
	if (!have_daemon)
		note("uffdd modes unavailable: %s", dwhy);

	for (int k = 0; k < KIND_COUNT; k++)
		for (size_t i = 0; i < nmodes; i++) {
			struct cell *cl = &cells[k][i];

			memset(cl, 0, sizeof(*cl));
			cl->skip = !c.kind_on[k] || !wanted(&c, modes[i].name);
			cl->r = calloc(c.rounds, sizeof(*cl->r));
			if (!cl->r)
				die("out of memory");
			for (unsigned r = 0; r < c.rounds; r++) {
				cl->r[r].status = MODE_UNAVAILABLE;
				snprintf(cl->r[r].why, sizeof(cl->r[r].why),
					 "not run");
			}
		}

	/* Rounds alternate modes; each round starts one mode later. */
	for (unsigned round = 0; round < c.rounds; round++) {
		for (int k = 0; k < KIND_COUNT; k++) {
			if (!c.kind_on[k])
				continue;
			for (size_t j = 0; j < nmodes; j++) {
				size_t i = (j + round) % nmodes;
				struct cell *cl = &cells[k][i];

				if (cl->skip || modes[i].idle_phase)
					continue;
				measure(&c, &modes[i], &mem[k], &d,
					&have_daemon, dwhy, sizeof(dwhy), cl,
					round);
			}
		}
		if (!bench_verbose)
			fprintf(stderr, "uffdd-bench: round %u/%u done\n",
				round + 1, c.rounds);
	}
	idle_phase(&c, mem, cells, &d, &have_daemon, dwhy, sizeof(dwhy), &idle);
	daemon_stop(&d);
	for (int k = 0; k < KIND_COUNT; k++)
		mem_destroy(&mem[k]);
	hugepages_restore();
	load1 = loadavg();

	mkdir(c.out, 0755);
	snprintf(path, sizeof(path), "%s/latest.jsonl", c.out);
	jf = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/latest.txt", c.out);
	tf = fopen(path, "w");
	if (!jf || !tf)
		die("cannot write results under %s: %s", c.out,
		    strerror(errno));
	uname(&un);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t0));

	for (int pass = 0; pass < 2; pass++) {
		FILE *f = pass ? jf : stdout;

		fprintf(
		    f,
		    "{\"bench\":\"uffdd-bench\",\"date\":\"%s\",\"kernel\":\"%"
		    "s\","
		    "\"cpus\":%d,\"loadavg_start\":%.2f,\"loadavg_end\":%.2f,"
		    "\"rounds\":%u,\"hugetlb_size\":%zu,\"shmem_size\":%zu,"
		    "\"threads\":%u,"
		    "\"procs\":%u,\"spin_us\":%u,\"policy\":\"%s\",\"daemon\":"
		    "\"%s\"}\n",
		    date, un.release, bench_ncpus(), load0, load1, c.rounds,
		    c.size[KIND_HUGETLB], c.size[KIND_SHMEM], c.threads,
		    c.procs, c.spin_us, c.policy,
		    c.socket   ? "attached"
		    : d.dir[0] ? "spawned"
			       : "none");
	}
	for (int pass = 0; pass < 2; pass++) {
		FILE *f = pass ? tf : stdout;

		fprintf(f,
			"uffdd-bench %s, kernel %s, %d CPUs, load average %.2f "
			"-> %.2f\n",
			date, un.release, bench_ncpus(), load0, load1);
		fprintf(f, "ratios: med/nat = median latency / native's "
			   "median; med/inp and "
			   "p99/inp = against the best\n        "
			   "single-threaded in-process handler "
			   "(named per table); t/nat = time per page over\n    "
			   "    the whole region / "
			   "native's; flt/pg = faults per page; flt-med = "
			   "median of the touches that faulted\n"
			   "        (the slowest flt/pg of them); cpu/flt = "
			   "handler (daemon) CPU us per fault\n");
	}
	for (int k = 0; k < KIND_COUNT; k++) {
		const struct mode_summary *nat, *inp, *unp;
		size_t n = 0;

		if (!c.kind_on[k])
			continue;
		for (size_t i = 0; i < nmodes; i++)
			if (!cells[k][i].skip)
				summarise(&c, &modes[i], k, &cells[k][i],
					  &sum[k][n++]);
		nat = find(sum[k], n, "native");
		inp = best_inproc(sum[k], n);
		unp = find(sum[k], n, "inproc");
		for (size_t i = 0; i < n; i++) {
			report_json(stdout, &sum[k][i], nat, inp, unp);
			report_json(jf, &sum[k][i], nat, inp, unp);
		}
		report_table(stdout, sum[k], n, nat, inp);
		report_table(tf, sum[k], n, nat, inp);
		snprintf(path, sizeof(path), "%s/cdf-%s.dat", c.out,
			 kind_name(k));
		report_cdf(path, sum[k], n, NULL);
		/* The chart a person looks at first: floor, reference, daemon.
		 */
		snprintf(path, sizeof(path), "%s/cdf-%s-key.dat", c.out,
			 kind_name(k));
		report_cdf(path, sum[k], n, key_modes);
	}
	idle_report_out(stdout, true, &idle);
	idle_report_out(jf, true, &idle);
	idle_report_out(stdout, false, &idle);
	idle_report_out(tf, false, &idle);
	fclose(jf);
	fclose(tf);
	fprintf(stderr,
		"uffdd-bench: results in %s/latest.{jsonl,txt}, CDF data in "
		"%s/cdf-*.dat\n",
		c.out, c.out);
	return 0;
}
