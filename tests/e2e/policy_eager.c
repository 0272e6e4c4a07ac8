/* SPDX-License-Identifier: MIT */
/*
 * eager: every resident page is mapped from registration on (in the
 * background), so touching the whole region once the walk is done takes no
 * fault at all; pages not in the page cache are left to the kernel.
 */
#include "policy_common.h"

static struct tdaemon D;

static void run(int kind, size_t size, const char *name)
{
	struct uffd_client *c = pc_connect(&D, name);
	struct uffd_region *r =
	    c ? pc_alloc(c, kind, size, name, "eager") : NULL;
	size_t psz = pc_page(kind), pages = size / psz;
	volatile unsigned char *p;
	unsigned char *fill;
	uint64_t bad = 0;

	CHECK(r != NULL, "allocation");
	if (!r) {
		uffd_disconnect(c);
		return;
	}
	/* The walk runs in the background: once it is done, every page is
	 * mapped without a fault. */
	for (int i = 0;
	     i < 500 && pc_region_int(&D, name, "policy_stats.eager_walking");
	     i++)
		usleep(10000);
	CHECK_EQ(pc_region_int(&D, name, "policy_stats.eager_walking"), 0);
	CHECK_EQ(pc_region_int(&D, name, "pages_mapped"), pages);
	CHECK_EQ(pc_region_int(&D, name, "policy_stats.eager_pages"), pages);
	fill = uffd_region_fill_addr(r);
	for (size_t i = 0; i < pages; i++)
		fill[i * psz + 7] = (unsigned char)(i * 3 + 1);
	p = uffd_region_addr(r);
	for (size_t i = 0; i < pages; i++)
		if (p[i * psz + 7] != (unsigned char)(i * 3 + 1))
			bad++;
	CHECK_EQ(bad, 0);
	CHECK_EQ(pc_region_int(&D, name, "faults"), 0);
	CHECK_EQ(pc_region_int(&D, name, "errors"), 0);
	uffd_region_release(r);
	uffd_disconnect(c);
}

/* shmem: 8 MiB, 2048 pages; hugetlb: 16 MiB, 8 pages. */
static void eager(enum t_kind kind, const void *arg)
{
	(void)arg;
	if (kind == T_HUGETLB)
		run(UFFD_KIND_HUGETLB, 16 << 20, "eager-huge");
	else
		run(UFFD_KIND_SHMEM, 8 << 20, "eager-shmem");
}

static int setup(void)
{
	return td_setup(&D, NULL);
}

static void teardown(void)
{
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "eager",
	  .title = "every resident page mapped at registration (2048 on shmem, "
		   "8 on hugetlb), 0 faults",
	  .fn = eager,
	  .kinds = T_KINDS,
	  .hugepages = 8 },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "policy-eager", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
