/* SPDX-License-Identifier: MIT */
#include "report.h"
#include "uffd_uapi.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct {
	int pass, fail, skip, tests;
	int running, failed, skipped;
	char title[256];
	int stray;	    /* checks made while no test was running */
	char stray_at[160]; /* where the first one was */
	int summed;	    /* the summary line is out */
} R;

uint64_t t_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *t_kind_name(enum t_kind kind)
{
	return kind == T_HUGETLB ? "hugetlb" : kind == T_SHMEM ? "shmem" : "";
}

static void begin(const char *name, enum t_kind kind, const char *title)
{
	R.tests++;
	R.running = 1;
	R.failed = R.skipped = 0;
	snprintf(R.title, sizeof(R.title), "%s%s%s: %s", name, kind ? "/" : "",
		 t_kind_name(kind), title);
	fprintf(stderr, "# %s\n", R.title);
}

static void finish(void)
{
	/* A skip never hides a failure that came before it. */
	if (R.skipped && R.failed) {
		R.skipped = 0;
		R.skip--;
	}
	if (!R.skipped) {
		printf("%s %d - %s\n", R.failed ? "not ok" : "ok", R.tests,
		       R.title);
		if (R.failed)
			R.fail++;
		else
			R.pass++;
	}
	fflush(stdout);
	R.running = 0;
}

void t_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "#   %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (R.running) {
		R.failed++;
		return;
	}
	/* Nobody would read a counter no test ends: fail the run. */
	if (!R.stray++)
		snprintf(R.stray_at, sizeof(R.stray_at), "%s:%d", file, line);
	if (R.summed) {
		printf("not ok - a check failed after the summary (%s:%d)\n",
		       file, line);
		fflush(stdout);
	}
}

/* A check that failed after the summary still fails the run. */
static void exit_check(void)
{
	if (R.summed && R.stray) {
		fflush(NULL);
		_exit(1);
	}
}

void t_note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "#     ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void t_skip(const char *fmt, ...)
{
	va_list ap;

	if (!R.running || R.skipped)
		return;
	R.skipped = 1;
	R.skip++;
	printf("ok %d - %s # SKIP ", R.tests, R.title);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int t_failed(void)
{
	return R.failed != 0;
}

int t_failures(void)
{
	return R.fail + (R.failed != 0);
}

bool t_check_at(const char *file, int line, bool ok, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ok)
		fprintf(stderr, "#   ok: %s\n", what);
	else
		t_fail_at(file, line, "not so: %s", what);
	return ok;
}

/* System facts ------------------------------------------------------------- */

static long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	size_t kl = strlen(key);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

size_t t_huge_page_size(void)
{
	long kb = meminfo("Hugepagesize");

	return (size_t)(kb > 0 ? kb : 2048) << 10;
}

int t_need_hugepages(long n)
{
	long free_ = meminfo("HugePages_Free"),
	     total = meminfo("HugePages_Total");
	FILE *f;

	if (free_ >= n)
		return 0;
	f = fopen("/proc/sys/vm/nr_hugepages", "we");
	if (!f)
		return -1;
	fprintf(f, "%ld\n", total + (n - free_));
	fclose(f);
	return meminfo("HugePages_Free") >= n ? 0 : -1;
}

uint64_t t_kernel_features(void)
{
	static int probed;
	static uint64_t features;
	struct uffdio_api api = { .api = UFFD_API };
	int fd;

	if (probed)
		return features;
	probed = 1;
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	/* vm.unprivileged_userfaultfd=0: user-mode-only uffds still work. */
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd,
				  O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return 0;
	if (ioctl(fd, UFFDIO_API, &api) == 0)
		features = api.features;
	close(fd);
	return features;
}

int t_uffd_blocked(int pid, int tid)
{
	char path[96], buf[64] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strcmp(buf, "handle_userfault") == 0;
}

static int count_blocked(int pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n += t_uffd_blocked(pid, atoi(e->d_name));
	closedir(d);
	return n;
}

int t_wait_uffd_blocked(int pid, int n, int timeout_ms)
{
	uint64_t until = t_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int got;

	while ((got = count_blocked(pid)) < n && t_now_ns() < until)
		usleep(2000);
	return got;
}

/* The runner ----------------------------------------------------------------
 */

static int selected(const struct t_case *c, enum t_kind kind, char **pats,
		    int npats)
{
	char full[160];

	if (!npats)
		return 1;
	snprintf(full, sizeof(full), "%s%s%s", c->name, kind ? "/" : "",
		 t_kind_name(kind));
	for (int i = 0; i < npats; i++)
		if (!fnmatch(pats[i], c->name, 0) || !fnmatch(pats[i], full, 0))
			return 1;
	return 0;
}

/* Why c cannot run on kind here, or NULL. */
static const char *missing(const struct t_case *c, enum t_kind kind, char *buf,
			   size_t len)
{
	uint64_t f;

	if ((c->needs & T_NEED_ROOT) && geteuid() != 0)
		return "needs root";
	f = t_kernel_features();
	if ((c->needs & T_NEED_MINOR) &&
	    !(f & (UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_MINOR_HUGETLBFS)))
		return "the kernel has no userfaultfd minor faults";
	if (!kind)
		return NULL;
	if (kind == T_HUGETLB && t_need_hugepages(c->hugepages) < 0) {
		snprintf(buf, len, "needs %ld free hugepages, %ld are",
			 c->hugepages, meminfo("HugePages_Free"));
		return buf;
	}
	if (c->needs & T_ANY_FEATURE)
		return NULL;
	if (kind == T_SHMEM && !(f & UFFD_FEATURE_MINOR_SHMEM))
		return "the kernel lacks UFFD_FEATURE_MINOR_SHMEM (Linux "
		       "5.14+)";
	if (kind == T_HUGETLB && !(f & UFFD_FEATURE_MINOR_HUGETLBFS))
		return "the kernel lacks UFFD_FEATURE_MINOR_HUGETLBFS (Linux "
		       "5.13+)";
	return NULL;
}

static void list(const struct t_suite *s)
{
	for (size_t i = 0; i < s->ncases; i++) {
		const struct t_case *c = &s->cases[i];

		printf("%-24s %-15s %s", c->name,
		       c->kinds == T_KINDS    ? "shmem,hugetlb"
		       : c->kinds & T_SHMEM   ? "shmem"
		       : c->kinds & T_HUGETLB ? "hugetlb"
					      : "-",
		       c->title);
		if (c->hugepages)
			printf(" [hugetlb: %ld hugepages]", c->hugepages);
		if (c->needs & T_NEED_ROOT)
			printf(" [root]");
		putchar('\n');
	}
}

/* 1 once the suite's setup has run (0 if it failed, or never ran). */
static int set_up;
static int setup_failed;

static void run_case(const struct t_suite *s, const struct t_case *c,
		     enum t_kind kind)
{
	char why[160];
	const char *no;

	begin(c->name, kind, c->title);
	if ((no = missing(c, kind, why, sizeof(why)))) {
		t_skip("%s", no);
		finish();
		return;
	}
	/* Only once a case will really run: a run that skips everything
	 * starts no daemon. */
	if (!set_up && !setup_failed && s->setup) {
		if (s->setup() < 0)
			setup_failed = 1;
		else
			set_up = 1;
	}
	if (setup_failed)
		t_fail_at(__FILE__, __LINE__, "the suite's setup failed");
	else if (c->run)
		c->run();
	else
		c->fn(kind, c->arg);
	finish();
}

static int summary(void);

void t_bail(const char *why)
{
	t_fail_at(__FILE__, __LINE__, "giving up: %s", why);
	if (R.running)
		finish();
	summary();
	exit(1);
}

static int summary(void)
{
	if (R.stray) {
		printf("not ok %d - %d check%s made outside any test (first at "
		       "%s)\n",
		       ++R.tests, R.stray, R.stray == 1 ? "" : "s", R.stray_at);
		R.fail++;
	}
	R.summed = 1;
	R.stray = 0; /* counted above; a later one fails the exit status */
	printf("1..%d\n", R.tests);
	if (R.skip)
		printf("%d passed, %d failed, %d skipped\n", R.pass, R.fail,
		       R.skip);
	else
		printf("%d passed, %d failed\n", R.pass, R.fail);
	fflush(stdout);
	if (R.fail)
		return 1;
	return !R.pass && R.skip ? T_EXIT_SKIP : 0;
}

static void usage(const char *prog)
{
	printf("Usage: %s [-l] [PATTERN...]\n"
	       "  -l        list the cases (name, memory kinds, title)\n"
	       "  PATTERN   run only the cases whose name, or name/kind, "
	       "matches this glob\n",
	       prog);
}

int t_main(int argc, char **argv, const struct t_suite *s)
{
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	atexit(exit_check);
	while ((opt = getopt(argc, argv, "lh")) != -1) {
		if (opt == 'l') {
			list(s);
			return 0;
		}
		usage(argv[0]);
		return opt == 'h' ? 0 : 2;
	}
	for (size_t i = 0; i < s->ncases; i++) {
		const struct t_case *c = &s->cases[i];

		for (unsigned k = c->kinds ? T_SHMEM : 0; k <= T_HUGETLB;
		     k = k ? k << 1 : T_HUGETLB + 1) {
			if (c->kinds && !(c->kinds & k))
				continue;
			if (selected(c, (enum t_kind)k, argv + optind,
				     argc - optind))
				run_case(s, c, (enum t_kind)k);
		}
	}
	if (set_up && s->teardown) {
		begin("teardown", T_NOKIND,
		      s->teardown_title ? s->teardown_title : "clean end");
		s->teardown();
		finish();
	}
	return summary();
}
