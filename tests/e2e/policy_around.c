/* SPDX-License-Identifier: MIT */
/*
 * around:N: sequential touches take one fault per aligned window of N
 * pages (exactly 1/N of continue's faults), every byte still right; and a
 * bad policy name or parameter is a clear error at registration.
 */
#include "policy_common.h"

static struct tdaemon D;

/* Touch every page of r in order and check the fill pattern. */
static int touch_all(struct uffd_region *r)
{
	unsigned char *fill = uffd_region_fill_addr(r);
	volatile unsigned char *a = uffd_region_addr(r);
	size_t psz = uffd_region_page_size(r), n = uffd_region_size(r) / psz;
	int bad = 0;

	for (size_t i = 0; i < n; i++)
		fill[i * psz + 7] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < n; i++)
		bad += a[i * psz + 7] != (unsigned char)(i * 7 + 3);
	return bad;
}

/* win: "N" pages, or "BK" bytes; n: the window in pages that makes. */
static void sequential(int kind, size_t size, const char *win, long n)
{
	char name[64], pol[32], t[128];
	struct uffd_client *c;
	struct uffd_region *rc, *ra;
	size_t psz = pc_page(kind), pages = size / psz;

	snprintf(t, sizeof(t),
		 "around:%s on %s, %zu pages touched in order: "
		 "1/%ld the faults of continue",
		 win, pc_kind_name(kind), pages, n);
	t_note("%s", t);
	c = pc_connect(&D, "around");
	CHECK(c != NULL, "connect");
	if (!c)
		return;
	snprintf(name, sizeof(name), "cont-%s", pc_kind_name(kind));
	rc = pc_alloc(c, kind, size, name, "continue");
	snprintf(name, sizeof(name), "around-%s", pc_kind_name(kind));
	snprintf(pol, sizeof(pol), "around:%s", win);
	ra = pc_alloc(c, kind, size, name, pol);
	CHECK(rc && ra, "regions");
	if (rc && ra) {
		int64_t fc, fa, ma;

		CHECK_EQ(touch_all(rc), 0);
		CHECK_EQ(touch_all(ra), 0);
		snprintf(name, sizeof(name), "cont-%s", pc_kind_name(kind));
		fc = pc_region_int(&D, name, "faults");
		snprintf(name, sizeof(name), "around-%s", pc_kind_name(kind));
		fa = pc_region_int(&D, name, "faults");
		ma = pc_region_int(&D, name, "pages_mapped");
		fprintf(stderr,
			"#   continue: %lld faults; %s: %lld faults, "
			"%lld pages mapped\n",
			(long long)fc, pol, (long long)fa, (long long)ma);
		CHECK_EQ(fc, (int64_t)pages);
		CHECK_EQ(fa, (int64_t)pages / n);
		CHECK_EQ(fa * n, fc);
		CHECK_EQ(ma, (int64_t)pages);
		CHECK_EQ(pc_region_int(&D, name, "policy_stats.around_windows"),
			 (int64_t)pages / n);
		CHECK_EQ(pc_region_int(&D, name, "errors"), 0);
	}
	uffd_region_release(rc);
	uffd_region_release(ra);
	uffd_disconnect(c);
}

static void sequential_case(enum t_kind kind, const void *arg)
{
	(void)arg;
	sequential(kind, 64u << 20, kind == T_HUGETLB ? "4" : "16",
		   kind == T_HUGETLB ? 4 : 16);
}

/* The kernel's fault-around window: 16 pages of 4 KiB, one huge page. */
static void bytes_case(enum t_kind kind, const void *arg)
{
	(void)arg;
	sequential(kind, 64u << 20, "64K", kind == T_HUGETLB ? 1 : 16);
}

/* A shuffled touch order still maps each page once, windows overlap. */
static void scattered(void)
{
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(UFFD_KIND_SHMEM), pages = 1024;

	c = pc_connect(&D, "around2");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, pages * psz, "around-back",
			 "around:16")
	      : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		unsigned char *fill = uffd_region_fill_addr(r);
		volatile unsigned char *a = uffd_region_addr(r);
		int bad = 0;

		for (size_t i = 0; i < pages; i++)
			fill[i * psz] = (unsigned char)i;
		for (size_t i = pages; i-- > 0;)
			bad += a[i * psz] != (unsigned char)i;
		CHECK_EQ(bad, 0);
		CHECK_EQ(pc_region_int(&D, "around-back", "faults"),
			 (int64_t)pages / 16);
		CHECK_EQ(pc_region_int(&D, "around-back", "errors"), 0);
	}
	uffd_region_release(r);
	uffd_disconnect(c);
}

static void bad_specs(void)
{
	static const struct {
		const char *spec, *want;
	} cases[] = {
		{ "nosuch", "unknown policy \"nosuch\"" },
		{ "around", "needs a window of N pages" },
		{ "around:3", "power of two" },
		{ "around:0", "power of two" },
		{ "around:1024", "from 1 to 512" },
		{ "around:x", "not \"x\"" },
		{ "around:48K", "power of two" },
		{ "around:2K", "4K to 2M" },
		{ "around:4096K", "4K to 2M" },
		{ "continue:1", "takes no arguments" },
		{ "gate:timeout=abc", "bad timeout" },
		{ "gate:color=red", "unknown parameter" },
		{ "populate", "needs a file" },
		{ "populate:/tmp/uffdd-no-such-image", "cannot open" },
		/* An existing file, so that the daemon reads the offset. */
		{ "populate:/proc/self/exe@zz", "bad offset" },
		{ "populate:#0", "name the file by its path" },
		{ "around:16+around:8", "appears twice" },
		{ "gate+deny", "cannot be composed" },
		{ "continue+", "empty policy" },
		{ "record", "needs a file" },
		{ "prefetch:/tmp/uffdd-no-such-trace", "cannot open" },
	};
	struct uffd_client *c;

	c = pc_connect(&D, "bad");
	CHECK(c != NULL, "connect");
	for (size_t i = 0; c && i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
					       .size = 1 << 20,
					       .name = "bad",
					       .policy = cases[i].spec };
		struct uffd_region *r = NULL;
		int rc = uffd_region_alloc(c, &sp, &r);

		CHECK(rc < 0, "%s was accepted", cases[i].spec);
		CHECK(strstr(uffd_last_error(), cases[i].want) != NULL,
		      "%s: error \"%s\" lacks \"%s\"", cases[i].spec,
		      uffd_last_error(), cases[i].want);
		if (rc == 0)
			uffd_region_release(r);
	}
	if (c)
		CHECK_EQ(uffd_client_check(c), 0); /* the session goes on */
	uffd_disconnect(c);
}

static int setup(void)
{
	return td_setup(&D, PC_CONFIG_ALL);
}

static void teardown(void)
{
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "sequential",
	  .title = "around:N, pages touched in order: 1/N the faults of "
		   "continue (N = 16 on shmem, 4 on hugetlb)",
	  .fn = sequential_case,
	  .kinds = T_KINDS,
	  .hugepages = 64 },
	{ .name = "bytes",
	  .title = "around:64K, pages touched in order: 1/16 the faults of "
		   "continue on shmem, every fault on hugetlb (one page)",
	  .fn = bytes_case,
	  .kinds = T_KINDS,
	  .hugepages = 64 },
	{ .name = "scattered",
	  .title = "around:16, pages touched backwards: every byte right, "
		   "faults = windows, no errors",
	  .run = scattered },
	{ .name = "bad-specs",
	  .title = "bad policy names and parameters: clear errors at "
		   "registration",
	  .run = bad_specs },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "policy-around", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
