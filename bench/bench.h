/* SPDX-License-Identifier: MIT */
/*
 * uffdd-bench: first-touch fault latency and throughput of the kernel alone,
 * of an in-process userfaultfd handler and of the uffdd daemon, measured on
 * the same machine in one run.  Shared declarations of the bench modules.
 */
#ifndef UFFDD_BENCH_H
#define UFFDD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#define BENCH_MAX_THREADS 64

enum bench_kind { KIND_HUGETLB = 0, KIND_SHMEM = 1, KIND_COUNT };

const char *kind_name(enum bench_kind k);
size_t kind_page_size(enum bench_kind k);

/* ---- util.c: clocks, CPUs, statistics, hugepages ---- */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t thread_cpu_ns(void);
/* The n-th CPU this process may run on, or -1. */
int bench_cpu(int n);
int bench_ncpus(void);
/* Pin the calling thread to cpu (-1: every CPU the process was given). */
int pin_self(int cpu);
int pin_tid(pid_t tid, int cpu);

struct lat_stats {
	uint64_t median, p90, p99, max;
};
/* Sorts v in place. */
void lat_summarise(uint32_t *v, size_t n, struct lat_stats *out);
double median_double(double *v, size_t n);
uint64_t median_u64(uint64_t *v, size_t n);

/* Make sure `pages` 2 MiB hugepages are free; remember what to restore. */
int hugepages_reserve(size_t pages);
void hugepages_restore(void);

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool bench_verbose;

/* ---- watchdog.c: end a run whose measurement hangs ---- */

void watchdog_start(unsigned seconds);
void watchdog_arm(void);
void watchdog_disarm(void);
/* Processes to kill before giving up (the daemon, client processes). */
void watchdog_track(pid_t pid);
void watchdog_untrack(pid_t pid);

/* ---- memory.c: the shared memfd and fresh mappings of it ---- */

struct bench_mem {
	enum bench_kind kind;
	int fd;
	size_t size, page_size, pages;
};

int mem_create(struct bench_mem *m, enum bench_kind kind, size_t size);
void mem_destroy(struct bench_mem *m);
/* A fresh MAP_SHARED mapping: every page is in the page cache, none mapped. */
void *mem_map_fresh(struct bench_mem *m);

/* ---- touch.c: the faulting threads ---- */

enum touch_access { ACCESS_WRITE = 0, ACCESS_READ = 1 };

struct touch_job {
	char *base;
	size_t page_size, pages;
	unsigned threads;
	int cpu; /* -1: do not pin; else every toucher on this CPU */
	enum touch_access access;
	uint32_t *lat; /* pages entries, ns per first touch */
	/* results */
	uint64_t wall_ns; /* first start to last end */
	/*
	 * Page faults the touching threads took (RUSAGE_THREAD around the
	 * touches only).  The kernel counts one per fault whether it resolved
	 * it itself or a uffd handler did; pages mapped ahead by a window
	 * policy take none.
	 */
	long faults;
};

/* Touch every page once from job->threads threads (contiguous slices). */
int touch_run(struct touch_job *job);
/* Touch [first, first+count) in the calling thread; returns elapsed ns. */
uint64_t touch_slice(char *base, size_t page_size, size_t first, size_t count,
		     enum touch_access access, uint32_t *lat);

/* ---- one measurement ---- */

enum mode_status { MODE_OK = 0, MODE_UNAVAILABLE = 1, MODE_FAILED = 2 };

struct round_result {
	enum mode_status status;
	char why[256];
	uint32_t *lat; /* per-page first-touch latency, malloc'ed */
	size_t nlat;
	uint64_t wall_ns; /* time to touch the whole region */
	size_t pages;
	int64_t faults;		/* faults the handler served, -1 unknown */
	int64_t handler_cpu_ns; /* handler / daemon CPU during the touch, -1
				   unknown */
};

/* ---- inproc.c: a handler thread in this process ---- */

struct inproc_opts {
	int handler_cpu;  /* -1: not pinned */
	int toucher_cpu;  /* -1: not pinned */
	unsigned spin_us; /* spin this long before sleeping (0: never) */
	bool spin_yield;  /* sched_yield() between polls while spinning */
	unsigned threads;
	enum touch_access access;
};

int inproc_supported(enum bench_kind kind, char *why, size_t whylen);
void inproc_round(struct bench_mem *m, const struct inproc_opts *o,
		  struct round_result *r);

/* ---- daemon.c: the uffdd process ---- */

struct daemon {
	pid_t pid; /* the daemon (spawned or found via SO_PEERCRED) */
	bool spawned;
	char dir[256]; /* temp dir of a spawned daemon */
	char socket[300];
	char control[300];
	char log[300];
	char config[300];
};

/*
 * extra: more arguments for the daemon (NULL-terminated, may be NULL);
 * config: JSON written to a file passed with --config (NULL: none).
 */
int daemon_start(struct daemon *d, const char *bin, int workers,
		 const char *const *extra, const char *config, char *why,
		 size_t whylen);
int daemon_attach(struct daemon *d, const char *socket, char *why,
		  size_t whylen);
void daemon_stop(struct daemon *d);
bool daemon_alive(const struct daemon *d);
/* CPU time of every thread of the daemon, ns (-1 if unreadable). */
int64_t daemon_cpu_ns(const struct daemon *d);
/* Pin every thread of the daemon to cpu (-1: all CPUs). */
int daemon_pin(const struct daemon *d, int cpu);

/* ---- uffdd_mode.c: regions served by uffdd through libuffdclient ---- */

struct uffdd_opts {
	const char *policy; /* NULL: the daemon's default */
	unsigned threads;   /* client threads in one process */
	unsigned procs;	    /* client processes (each with `threads` threads) */
	int toucher_cpu;    /* -1: not pinned */
	int daemon_cpu; /* -2: leave alone; -1 unpin; else pin daemon there */
	enum touch_access access;
};

void uffdd_round(struct daemon *d, enum bench_kind kind, size_t size,
		 const struct uffdd_opts *o, struct round_result *r);
bool uffdd_linked(void);

/* ---- idle.c: many idle clients and regions held by the daemon ---- */

struct idle_report {
	bool ok;
	char why[256];
	unsigned clients, regions_per_client;
	long rss_kb_before, rss_kb_clients, rss_kb_regions; /* daemon VmRSS */
	uint64_t connect_ns, register_ns;
};

struct idle_set;
void idle_raise_nofile(void);
struct idle_set *idle_setup(struct daemon *d, unsigned clients,
			    unsigned regions, struct idle_report *rep);
void idle_teardown(struct idle_set *s);

/* ---- report.c ---- */

struct mode_summary {
	const char *name;
	const char *desc;
	enum bench_kind kind;
	enum mode_status status;
	char why[256];
	unsigned threads, procs, rounds_ok;
	size_t pages, page_size;
	struct lat_stats lat; /* medians over rounds */
	double ns_per_page;   /* median over rounds of wall/pages */
	double pages_per_sec;
	double faults_per_page; /* -1 unknown */
	/*
	 * Median latency of the touches that faulted, taken as the slowest
	 * `faults` touches of each round: with a window policy most touches
	 * find their page mapped, and this is what a fault itself costs.
	 */
	double fault_median_ns;	 /* -1 unknown */
	double cpu_ns_per_fault; /* -1 unknown */
	double cpu_ns_per_page;	 /* -1 unknown */
	uint32_t *all_lat;	 /* every sample of every round, sorted */
	size_t nall;
};

void report_json(FILE *f, const struct mode_summary *s,
		 const struct mode_summary *native,
		 const struct mode_summary *inproc,
		 const struct mode_summary *inproc_unpinned);
void report_table(FILE *f, const struct mode_summary *s, size_t n,
		  const struct mode_summary *native,
		  const struct mode_summary *inproc);
int report_cdf(const char *path, const struct mode_summary *s, size_t n,
	       const char *const *only);

#endif
