/* SPDX-License-Identifier: MIT */
/*
 * record:PATH writes the first-touch order of pages; prefetch:PATH replays
 * it in the background so that the same access pattern then takes (near)
 * zero faults; composed with populate it is a warm restore of an image.
 */
#include "policy_common.h"

static struct tdaemon D;
static char image[96];

/* A fixed pseudo-random order of n distinct pages out of total. */
static void pattern(size_t *out, size_t n, size_t total, unsigned seed)
{
	size_t *all = malloc(total * sizeof(*all));

	for (size_t i = 0; i < total; i++)
		all[i] = i;
	for (size_t i = 0; i < n; i++) {
		size_t k;

		seed = seed * 1103515245u + 12345u;
		k = i + (seed >> 8) % (total - i);
		out[i] = all[k];
		all[k] = all[i];
	}
	free(all);
}

static long touch(struct uffd_region *r, const size_t *pages, size_t n,
		  int from_image)
{
	const volatile unsigned char *a = uffd_region_addr(r);
	unsigned char *fill = uffd_region_fill_addr(r);
	size_t psz = uffd_region_page_size(r);
	long bad = 0;

	for (size_t i = 0; i < n; i++) {
		size_t off = pages[i] * psz + 11;

		if (from_image)
			bad += a[off] != pc_byte(off);
		else
			bad += a[off] != fill[off];
	}
	return bad;
}

static int read_trace(const char *path, size_t *pages, size_t max, size_t *n,
		      unsigned *psz)
{
	FILE *f = fopen(path, "r");
	unsigned long long np, v;
	int ver;

	*n = 0;
	if (!f)
		return -1;
	if (fscanf(f, "uffdd-trace %d\npage_size %u\npages %llu\n", &ver, psz,
		   &np) != 3) {
		fclose(f);
		return -1;
	}
	while (*n < max && fscanf(f, "%llu", &v) == 1)
		pages[(*n)++] = (size_t)v;
	fclose(f);
	return 0;
}

static void record_then_prefetch(int kind, size_t total, size_t n)
{
	char t[200], trace[96], pol[256], rname[32], pname[32];
	size_t *pages = malloc(n * sizeof(*pages)),
	       *got = malloc((n + 8) * sizeof(*got)), ngot = 0;
	size_t psz = pc_page(kind);
	struct uffd_client *c;
	struct uffd_region *r;
	unsigned tpsz = 0;
	int64_t faults;

	snprintf(t, sizeof(t),
		 "record then prefetch on %s: %zu of %zu pages "
		 "in random order; the replay takes no faults",
		 pc_kind_name(kind), n, total);
	t_note("%s", t);
	snprintf(trace, sizeof(trace), "/tmp/uffdd-test-trace.%d.%s",
		 (int)getpid(), pc_kind_name(kind));
	snprintf(rname, sizeof(rname), "rec-%s", pc_kind_name(kind));
	snprintf(pname, sizeof(pname), "pf-%s", pc_kind_name(kind));
	pattern(pages, n, total, 42);
	c = pc_connect(&D, "record");
	CHECK(c != NULL, "connect");
	if (!c)
		goto out;
	/* 1. Record: the trace is the first-touch order, exactly. */
	snprintf(pol, sizeof(pol), "record:%s", trace);
	r = pc_alloc(c, kind, total * psz, rname, pol);
	CHECK(r != NULL, "record region");
	if (!r)
		goto out;
	CHECK_EQ(touch(r, pages, n, 0), 0);
	CHECK_EQ(touch(r, pages, n, 0), 0); /* second touches: no new entries */
	CHECK_EQ(pc_region_int(&D, rname, "policy_stats.pages_recorded"),
		 (int64_t)n);
	CHECK_EQ(pc_region_int(&D, rname, "faults"), (int64_t)n);
	uffd_region_release(r); /* the trace is complete once the region ends */
	CHECK_EQ(read_trace(trace, got, n + 8, &ngot, &tpsz), 0);
	CHECK_EQ(tpsz, psz);
	CHECK_EQ(ngot, n);
	for (size_t i = 0; i < n && i < ngot; i++)
		if (got[i] != pages[i]) {
			CHECK(0, "trace entry %zu is %zu, touched %zu", i,
			      got[i], pages[i]);
			break;
		}
	/* 2. Prefetch from a populated image: wait until it is done, then
	 * the same pattern faults not once. */
	snprintf(pol, sizeof(pol), "populate:%s+prefetch:%s", image, trace);
	r = pc_alloc(c, kind, total * psz, pname, pol);
	CHECK(r != NULL, "prefetch region");
	if (!r)
		goto out;
	CHECK_EQ(pc_wait_region(&D, pname, "policy_stats.prefetch_done",
				(int64_t)n, 10000),
		 (int64_t)n);
	CHECK_EQ(pc_region_int(&D, pname, "policy_stats.prefetch_mapped"),
		 (int64_t)n);
	CHECK_EQ(touch(r, pages, n, 1), 0);
	faults = pc_region_int(&D, pname, "faults");
	fprintf(
	    stderr,
	    "#   record: %zu faults; prefetch: %lld pages mapped "
	    "ahead, %lld faults on replay, bytes_read %lld\n",
	    n,
	    (long long)pc_region_int(&D, pname, "policy_stats.prefetch_mapped"),
	    (long long)faults,
	    (long long)pc_region_int(&D, pname, "policy_stats.bytes_read"));
	CHECK_EQ(faults, 0);
	CHECK_EQ(pc_region_int(&D, pname, "policy_stats.bytes_read"),
		 (int64_t)(n * psz));
	uffd_region_release(r);
	/* 3. Touching at once, racing the prefetch: right bytes, and faults
	 * only for pages the prefetch had not reached. */
	snprintf(pol, sizeof(pol), "populate:%s+prefetch:%s", image, trace);
	r = pc_alloc(c, kind, total * psz, "pf-race", pol);
	CHECK(r != NULL, "race region");
	if (r) {
		CHECK_EQ(touch(r, pages, n, 1), 0);
		faults = pc_region_int(&D, "pf-race", "faults");
		fprintf(stderr, "#   touching at once: %lld faults of %zu\n",
			(long long)faults, n);
		CHECK(faults >= 0 && faults <= (int64_t)n, "faults %lld",
		      (long long)faults);
		CHECK_EQ(pc_region_int(&D, "pf-race", "errors"), 0);
		uffd_region_release(r);
	}
out:
	uffd_disconnect(c);
	unlink(trace);
	free(pages);
	free(got);
}

/* shmem: 2000 of 8192 pages; hugetlb: 12 of 32. */
static void record_case(enum t_kind kind, const void *arg)
{
	(void)arg;
	if (kind == T_HUGETLB)
		record_then_prefetch(UFFD_KIND_HUGETLB, 32, 12);
	else
		record_then_prefetch(UFFD_KIND_SHMEM, 8192, 2000);
}

static void bad_traces(void)
{
	char trace[96], pol[160];
	struct uffd_client *c;
	FILE *f;
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = 1 << 20,
				       .name = "badtrace",
				       .policy = pol };
	struct uffd_region *r = NULL;

	snprintf(trace, sizeof(trace), "/tmp/uffdd-test-badtrace.%d",
		 (int)getpid());
	snprintf(pol, sizeof(pol), "prefetch:%s", trace);
	c = pc_connect(&D, "badtrace");
	f = fopen(trace, "w");
	fprintf(f, "uffdd-trace 1\npage_size 2097152\npages 4\n0\n1\n");
	fclose(f);
	CHECK(uffd_region_alloc(c, &sp, &r) < 0, "accepted");
	CHECK(strstr(uffd_last_error(), "2097152-byte pages") != NULL, "%s",
	      uffd_last_error());
	f = fopen(trace, "w");
	fprintf(f, "hello\n");
	fclose(f);
	CHECK(uffd_region_alloc(c, &sp, &r) < 0, "accepted");
	CHECK(strstr(uffd_last_error(), "not a uffdd trace") != NULL, "%s",
	      uffd_last_error());
	f = fopen(trace, "w");
	fprintf(f, "uffdd-trace 1\npage_size 4096\npages 99999\n3\n99998\n5\n");
	fclose(f);
	CHECK(uffd_region_alloc(c, &sp, &r) == 0, "%s", uffd_last_error());
	CHECK_EQ(pc_wait_region(&D, "badtrace", "policy_stats.prefetch_done", 2,
				3000),
		 2);
	CHECK_EQ(pc_region_int(&D, "badtrace", "policy_stats.prefetch_ignored"),
		 1);
	uffd_region_release(r);
	uffd_disconnect(c);
	unlink(trace);
}

static int setup(void)
{
	snprintf(image, sizeof(image), "/tmp/uffdd-test-rimage.%d",
		 (int)getpid());
	if (pc_write_image(image, 64u << 20) < 0) {
		perror(image);
		return -1;
	}
	return td_setup(&D, PC_CONFIG_ALL);
}

static void teardown(void)
{
	td_teardown(&D);
	unlink(image);
}

static const struct t_case cases[] = {
	{ .name = "record-prefetch",
	  .title = "pages touched in random order are recorded; the replay "
		   "takes no faults",
	  .fn = record_case,
	  .kinds = T_KINDS,
	  .hugepages = 34 },
	{ .name = "bad-traces",
	  .title = "prefetch: a trace of another page size or not a trace is a "
		   "clear error at registration; entries beyond the region are "
		   "ignored",
	  .run = bad_traces },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "policy-record", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
