/* SPDX-License-Identifier: MIT */
/*
 * eager: every resident page is mapped at registration, so touching the
 * whole region afterwards takes no fault at all; pages not in the page
 * cache are left to the kernel.
 */
#include "policy_common.h"

static struct tdaemon D;

static void run(int kind, size_t size, const char *name)
{
	struct uffd_client *c = pc_connect(&D, name);
	struct uffd_region *r = c ? pc_alloc(c, kind, size, name, "eager") : NULL;
	size_t psz = pc_page(kind), pages = size / psz;
	volatile unsigned char *p;
	unsigned char *fill;
	uint64_t bad = 0;

	CHECK(r != NULL, "allocation");
	if (!r) {
		uffd_disconnect(c);
		return;
	}
	/* Mapped before the REGISTER was answered: no fault at all. */
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

int main(void)
{
	if (td_start(&D, NULL, NULL) < 0) {
		td_dump_log(&D);
		return 1;
	}
	t_start("eager on shmem: 2048 pages mapped at registration, 0 faults");
	run(UFFD_KIND_SHMEM, 8 << 20, "eager-shmem");
	t_end();
	t_start("eager on hugetlb: 8 pages mapped at registration, 0 faults");
	if (t_need_hugepages(8) < 0)
		t_skip("no hugepages");
	else {
		run(UFFD_KIND_HUGETLB, 16 << 20, "eager-huge");
		t_end();
	}
	CHECK_EQ(td_stop(&D), 0);
	return t_summary();
}
