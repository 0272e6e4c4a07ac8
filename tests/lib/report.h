/* SPDX-License-Identifier: MIT */
/*
 * The one reporting core of every test binary (unit, end-to-end, kernel
 * ABI, preload): TAP-like lines, checks that can always fail, and a table
 * of named cases run over the memory kinds each one supports, in the shape
 * of the kernel's tools/testing/selftests/mm/uffd-unit-tests.c.
 *
 *   prog -l              list the cases, their kinds and what they need
 *   prog [PATTERN...]    run the cases whose name (or name/kind) matches a
 *                        glob; none given: all of them
 *
 * Output: "ok N - name/kind: title", "not ok N - ...", "ok N - ... # SKIP
 * why", and last "N passed, N failed[, N skipped]" (tools/check.sh adds
 * these up).  Exit status 0, 1 on any failure, 77 when every case was
 * skipped.  A check made while no test is running (after the last one, in
 * a helper called from main) is a failure of the run, never lost.
 */
#ifndef UFFDD_TEST_REPORT_H
#define UFFDD_TEST_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define T_EXIT_SKIP 77

/* Memory kinds (the kernel's "mem types"). */
enum t_kind {
	T_NOKIND = 0, /* a case about no memory in particular */
	T_SHMEM = 1u << 0,
	T_HUGETLB = 1u << 1,
};
#define T_KINDS (T_SHMEM | T_HUGETLB)

/* What a case needs; the runner skips it, saying which, if it is missing. */
#define T_NEED_ROOT  0x1u /* euid 0 (setuid to other users, nr_hugepages) */
#define T_NEED_MINOR 0x2u /* the kernel has minor faults on some kind */
/* Run on a kind even if the kernel lacks its minor feature: the case
 * checks that registration is then refused. */
#define T_ANY_FEATURE 0x4u

struct t_case {
	const char *name;  /* short and unique: what -l lists, a glob picks */
	const char *title; /* what it proves, for the report */
	/* kind: one of the case's kinds (T_NOKIND if it has none). */
	void (*fn)(enum t_kind kind, const void *arg);
	unsigned kinds;	   /* T_SHMEM | T_HUGETLB, or 0 to run once */
	long hugepages;	   /* free hugepages its hugetlb run needs */
	unsigned needs;	   /* T_NEED_* */
	const void *arg;   /* handed to fn: one function, several cases */
	void (*run)(void); /* instead of fn, for a case with no kind or arg */
};

struct t_suite {
	const char *name;
	const struct t_case *cases;
	size_t ncases;
	/* Before the first case runs; < 0 fails every selected case. */
	int (*setup)(void);
	/* After the last case, as a test of its own (it may CHECK). */
	const char *teardown_title;
	void (*teardown)(void);
};

#define T_CASES(a) (a), (sizeof(a) / sizeof((a)[0]))

/* Parse the command line, run the selected cases; the exit status. */
int t_main(int argc, char **argv, const struct t_suite *s);

/* "shmem" or "hugetlb" (or "" for T_NOKIND). */
const char *t_kind_name(enum t_kind kind);

/* Inside a case ------------------------------------------------------------ */

/* Record a failure of the running test; the test goes on. */
void t_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A detail line under the last failure (or a diagnostic). */
void t_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Skip the running test with a reason (it then counts as skipped). */
void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 once the running test has failed. */
int t_failed(void);
/* Tests failed so far in this run (a teardown dumps a log when any did). */
int t_failures(void);
/* Give up: the running test fails with why, the run ends here (a thread
 * left blocked, a state no later case could start from). */
void t_bail(const char *why) __attribute__((noreturn));

/* One named assertion: a "#   ok: what" diagnostic line, or a failure. */
bool t_check_at(const char *file, int line, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define t_check(ok, ...) t_check_at(__FILE__, __LINE__, (ok), __VA_ARGS__)

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			t_fail_at(__FILE__, __LINE__, "check failed: %s",      \
				  #cond);                                      \
			t_note(__VA_ARGS__);                                   \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_)                                                  \
			t_fail_at(__FILE__, __LINE__,                          \
				  "%s == %lld, expected %s == %lld", #a, a_,   \
				  #b, b_);                                     \
	} while (0)

/* Small system facts every kind of test asks --------------------------------
 */

uint64_t t_now_ns(void);
/* The default hugepage size in bytes (Hugepagesize in /proc/meminfo). */
size_t t_huge_page_size(void);
/* Make sure n hugepages are free (raising nr_hugepages if root).  0 or -1. */
int t_need_hugepages(long n);
/* UFFD_FEATURE_* the running kernel offers (UFFDIO_API with 0), 0 if none. */
uint64_t t_kernel_features(void);

/*
 * Wait until at least n threads of process pid are blocked in a userfault
 * (their /proc/PID/task/TID/wchan is handle_userfault), at most timeout_ms.
 * Returns how many were, so a caller can check against n.
 */
int t_wait_uffd_blocked(int pid, int n, int timeout_ms);
/* 1 if thread tid of process pid is blocked in a userfault now. */
int t_uffd_blocked(int pid, int tid);

#endif
