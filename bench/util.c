/* SPDX-License-Identifier: MIT */
/* Clocks, CPU placement, order statistics and the hugepage reservation. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

bool bench_verbose;

const char *kind_name(enum bench_kind k)
{
	return k == KIND_HUGETLB ? "hugetlb" : "shmem";
}

size_t kind_page_size(enum bench_kind k)
{
	return k == KIND_HUGETLB ? 2u << 20 : (size_t)sysconf(_SC_PAGESIZE);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("uffdd-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	hugepages_restore();
	exit(1);
}

void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("uffdd-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The CPU set the process started with: pinning is always within it. */
static cpu_set_t start_set;
static int start_set_ok;

static void load_start_set(void)
{
	if (start_set_ok)
		return;
	CPU_ZERO(&start_set);
	if (sched_getaffinity(0, sizeof(start_set), &start_set) < 0)
		die("sched_getaffinity: %s", strerror(errno));
	start_set_ok = 1;
}

int bench_ncpus(void)
{
	load_start_set();
	return CPU_COUNT(&start_set);
}

int bench_cpu(int n)
{
	load_start_set();
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &start_set) && n-- == 0)
			return c;
	return -1;
}

int pin_tid(pid_t tid, int cpu)
{
	cpu_set_t set;

	load_start_set();
	if (cpu < 0) {
		set = start_set;
	} else {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
	}
	return sched_setaffinity(tid, sizeof(set), &set) < 0 ? -errno : 0;
}

int pin_self(int cpu)
{
	return pin_tid(0, cpu);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint64_t pct(const uint32_t *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

void lat_summarise(uint32_t *v, size_t n, struct lat_stats *out)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	out->median = pct(v, n, 50);
	out->p90 = pct(v, n, 90);
	out->p99 = pct(v, n, 99);
	out->max = n ? v[n - 1] : 0;
}

double median_double(double *v, size_t n)
{
	if (!n)
		return -1;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t median_u64(uint64_t *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Hugepages: raise vm.nr_hugepages when too few are free, and put the old
 * value back at exit only if it was changed here (another user of the
 * machine may have reserved them on purpose).
 */
static long hp_saved = -1;

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static long hp_free(void)
{
	return read_long(
	    "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fprintf(f, "%ld\n", v) > 0;
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -EIO;
}

int hugepages_reserve(size_t pages)
{
	const char *nr =
	    "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
	long total = read_long(nr), fr = hp_free();

	if (total < 0 || fr < 0)
		return -ENOENT;
	if ((size_t)fr >= pages)
		return 0;
	if (hp_saved < 0)
		hp_saved = total;
	if (write_long(nr, total + (long)pages - fr) < 0)
		return -EPERM;
	fr = hp_free();
	return (size_t)fr >= pages ? 0 : -ENOMEM;
}

void hugepages_restore(void)
{
	if (hp_saved < 0)
		return;
	write_long("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
		   hp_saved);
	hp_saved = -1;
}
