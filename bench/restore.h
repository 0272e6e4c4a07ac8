/* SPDX-License-Identifier: MIT */
/*
 * uffdd-bench-restore: starting a program from a memory image kept in a
 * file, end to end: eager (read it all, then run), lazy (populate: start at
 * once, pages filled on first touch), lazy + prefetch (replay of the trace
 * that record wrote) and warm (already resident).  Shared declarations of
 * the restore modules; the process, hugepage and timing helpers come from
 * bench.h (util.c, daemon.c, watchdog.c of `make bench`).
 */
#ifndef UFFDD_BENCH_RESTORE_H
#define UFFDD_BENCH_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench.h"

struct uffd_client;

/* ---- restore_image.c: the image, the access patterns, the workload ---- */

struct image {
	enum bench_kind kind;
	char path[512];
	size_t size, page_size, pages;
};

/* Create the image under dir once (kept across runs), or reuse it. */
int image_prepare(struct image *im, const char *dir, enum bench_kind kind,
		  size_t size);

enum pattern { PAT_SEQ = 0, PAT_RAND10 = 1, PAT_COUNT };
const char *pattern_name(enum pattern p);

struct access {
	enum pattern pat;
	size_t *pages; /* page indexes, in touch order */
	size_t n;
};

/* seq: every page in order; rand10: a fixed random 10% in random order. */
void access_make(struct access *a, enum pattern p, size_t pages, unsigned seed);
void access_free(struct access *a);

/*
 * The workload: read every byte of each page of the pattern, folding them
 * into a checksum (work proportional to the data, as a restored program
 * does).  Returns the checksum.
 */
uint64_t workload(const char *base, size_t page_size, const struct access *a);
/* The same checksum computed from the file with pread (the reference). */
int workload_reference(const struct image *im, const struct access *a,
		       uint64_t *sum);

/* sync + echo 3 > /proc/sys/vm/drop_caches; 0 or -errno. */
int drop_caches(void);

/* ---- restore_status.c: counters from the daemon's control socket ---- */

struct region_counters {
	bool found;
	int64_t faults, pages_mapped, errors;
	int64_t bytes_read, pages_populated, read_errors;
	int64_t prefetch_total, prefetch_done, prefetch_mapped;
	int64_t pages_recorded;
};

/* -1 in every counter the daemon does not report for the region. */
int region_counters(const char *control, const char *name,
		    struct region_counters *out);
/* Wait until prefetch_done == prefetch_total (or timeout); 0 when done. */
int wait_prefetch(const char *control, const char *name, int timeout_ms,
		  struct region_counters *out);

/* ---- restore_run.c: one timed run of one mode ---- */

enum rmode {
	RM_WARM = 0,
	RM_EAGER,
	RM_LAZY,
	RM_RECORD,	  /* lazy with record: writes the trace */
	RM_PREFETCH,	  /* lazy + prefetch, started at once */
	RM_PREFETCH_WAIT, /* lazy + prefetch, started once the prefetch is done
			   */
	RM_COUNT
};
const char *rmode_name(enum rmode m);

struct run_ctx {
	struct daemon *d;
	const struct image *im;
	const struct access *acc;
	const char *trace; /* record writes / prefetch reads this */
	uint64_t want_sum; /* the reference checksum */
	int rep;
};

struct run_result {
	bool ok;
	char why[256];
	double start_ms;  /* from the restore's first step to the workload's */
	double finish_ms; /* from the first step to the workload's end */
	double alloc_ms;  /* the region's allocation (+ registration) */
	double work_ms;	  /* the workload alone */
	int64_t faults;	  /* faults uffdd served (-1: no uffdd) */
	long minflt;	  /* minor faults of the workload thread, start..end */
	int64_t bytes_read;	      /* bytes read from the image file */
	int64_t prefetch_done_at_end; /* prefetched pages when the work ended */
};

void run_mode(enum rmode m, const struct run_ctx *c, struct run_result *r);

/* ---- restore_report.c ---- */

struct rsummary {
	enum bench_kind kind;
	enum pattern pat;
	enum rmode mode;
	size_t size, page_size, touched;
	unsigned reps, reps_ok;
	char why[256];
	/* medians over the successful repetitions */
	double start_ms, finish_ms, alloc_ms, work_ms;
	double faults, minflt, bytes_read;
	double start_runs[64], finish_runs[64]; /* every successful run */
	double finish_vs_warm, start_vs_warm;	/* -1 unknown */
	double prefetch_done_at_end;		/* median, -1 none */
	char bound[160]; /* what bounds the time, in words */
};

struct goal {
	const char *name;
	int met; /* 1 met, 0 not met, -1 not measured */
	char detail[512];
};

void report_run_line(FILE *f, const char *host_info);
void report_summary_json(FILE *f, const struct rsummary *s);
void report_goal_json(FILE *f, const struct goal *g);
void report_restore_table(FILE *f, const struct rsummary *s, size_t n);
void report_goals_text(FILE *f, const struct goal *g, size_t n);

#endif
