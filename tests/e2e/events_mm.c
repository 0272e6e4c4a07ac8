/* SPDX-License-Identifier: MIT */
/*
 * mremap, munmap and madvise on a served region: the daemon follows a
 * moved region (whole or in part), splits, shrinks or drops a region whose
 * pages are unmapped, and reads MADV_REMOVE / MADV_DONTNEED events at once
 * (the client never waits on them).
 */
#include "policy_common.h"

#include <sys/mman.h>

static struct tdaemon D;

static json_object *regions_named(json_object *st, const char *name, int *n)
{
	json_object *cl = j_client(st, getpid()), *rs = j_path(cl, "regions");
	json_object *out = json_object_new_array();

	*n = 0;
	for (size_t i = 0; rs && i < json_object_array_length(rs); i++) {
		json_object *r = json_object_array_get_idx(rs, i);

		if (strcmp(json_object_get_string(j_path(r, "name")), name) ==
		    0) {
			json_object_array_add(out, json_object_get(r));
			(*n)++;
		}
	}
	return out;
}

/*
 * The status once the daemon has applied the client's event number
 * `count` of kind `event` ("events.remap", "events.unmap": counted once
 * the regions show it), and the regions named name in it.
 */
static json_object *settled(json_object **st, const char *event, int64_t count,
			    const char *name, int *n)
{
	json_object *rs = NULL;

	for (int i = 0; i < 500; i++) {
		json_object_put(*st);
		*st = td_status(&D);
		if (j_int(j_client(*st, getpid()), event) >= count)
			break;
		usleep(5000);
	}
	rs = regions_named(*st, name, n);
	return rs;
}

static uint64_t hexval(json_object *r, const char *key)
{
	return strtoull(json_object_get_string(j_path(r, key)), NULL, 16);
}

/* A free stretch of address space of len bytes aligned to align. */
static void *reserve(size_t len, size_t align)
{
	char *p = mmap(NULL, len + align, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
	return (void *)a;
}

static void remap(enum t_kind kind, const void *arg)
{
	char t[160], name[32];
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(kind), pages = 16, len = pages * psz;

	(void)arg;
	snprintf(t, sizeof(t),
		 "mremap on %s: the whole region moved, then "
		 "half of it: faults at the new addresses are served",
		 pc_kind_name(kind));
	t_note("%s", t);
	snprintf(name, sizeof(name), "remap-%s", pc_kind_name(kind));
	c = pc_connect(&D, "remap");
	r = c ? pc_alloc(c, kind, len, name, "continue") : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		unsigned char *fill = uffd_region_fill_addr(r);
		void *to = reserve(2 * len, psz), *to2;
		volatile unsigned char *m;
		json_object *st, *rs;
		int n;

		for (size_t i = 0; i < pages; i++)
			fill[i * psz] = (unsigned char)(0x30 + i);
		m = mremap(uffd_region_addr(r), len, len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, to);
		CHECK(m == to, "mremap: %s", strerror(errno));
		if (m != to)
			goto done;
		/* Hold the old place: release will munmap it. */
		mmap(uffd_region_addr(r), len, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		for (size_t i = 0; i < pages / 2; i++)
			CHECK_EQ(m[i * psz], 0x30 + i);
		st = NULL;
		rs = settled(&st, "events.remap", 1, name, &n);
		CHECK_EQ(n, 1);
		if (n == 1) {
			json_object *rg = json_object_array_get_idx(rs, 0);

			CHECK_EQ(hexval(rg, "start"), (uintptr_t)to);
			CHECK_EQ(j_int(rg, "faults"), (int64_t)pages / 2);
		}
		CHECK_EQ(j_int(j_client(st, getpid()), "events.remap"), 1);
		json_object_put(rs);
		json_object_put(st);
		/* Move the upper half only: the region splits. */
		to2 = (char *)to + len;
		CHECK((void *)mremap((char *)to + len / 2, len / 2, len / 2,
				     MREMAP_MAYMOVE | MREMAP_FIXED, to2) == to2,
		      "mremap half: %s", strerror(errno));
		for (size_t i = pages / 2; i < pages; i++)
			CHECK_EQ(((volatile unsigned char *)
				      to2)[(i - pages / 2) * psz],
				 0x30 + i);
		st = NULL;
		rs = settled(&st, "events.remap", 2, name, &n);
		CHECK_EQ(n, 2);
		if (n == 2) {
			json_object *lo = json_object_array_get_idx(rs, 0),
				    *hi = json_object_array_get_idx(rs, 1);

			CHECK_EQ(hexval(lo, "start"), (uintptr_t)to);
			CHECK_EQ(j_int(lo, "length"), (int64_t)len / 2);
			CHECK_EQ(hexval(hi, "start"), (uintptr_t)to2);
			CHECK_EQ(j_int(hi, "length"), (int64_t)len / 2);
			CHECK_EQ(j_int(hi, "offset"), (int64_t)len / 2);
			CHECK_EQ(j_int(hi, "faults"), (int64_t)pages / 2);
		}
		json_object_put(rs);
		json_object_put(st);
		munmap(to, len / 2);
		munmap(to2, len / 2);
		CHECK_EQ(td_wait_total(&D, "totals.regions", 0, 2000), 0);
	}
done:
	uffd_region_release(r);
	uffd_disconnect(c);
}

static void unmap(enum t_kind kind, const void *arg)
{
	char t[160], name[32];
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(kind), pages = 16, len = pages * psz;

	(void)arg;
	snprintf(t, sizeof(t),
		 "munmap on %s: a hole splits the region, the "
		 "rest is still served; unmapping all of it drops it",
		 pc_kind_name(kind));
	t_note("%s", t);
	snprintf(name, sizeof(name), "unmap-%s", pc_kind_name(kind));
	c = pc_connect(&D, "unmap");
	r = c ? pc_alloc(c, kind, len, name, "continue") : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		unsigned char *fill = uffd_region_fill_addr(r);
		volatile unsigned char *a = uffd_region_addr(r);
		json_object *st, *rs;
		int n;

		for (size_t i = 0; i < pages; i++)
			fill[i * psz] = (unsigned char)(0x50 + i);
		CHECK_EQ(munmap((char *)a + 4 * psz, 8 * psz), 0);
		st = NULL;
		rs = settled(&st, "events.unmap", 1, name, &n);
		CHECK_EQ(n, 2);
		if (n == 2) {
			CHECK_EQ(
			    j_int(json_object_array_get_idx(rs, 0), "length"),
			    (int64_t)(4 * psz));
			CHECK_EQ(
			    j_int(json_object_array_get_idx(rs, 1), "length"),
			    (int64_t)(4 * psz));
			CHECK_EQ(
			    hexval(json_object_array_get_idx(rs, 1), "start"),
			    (uintptr_t)a + 12 * psz);
		}
		CHECK_EQ(j_int(j_client(st, getpid()), "events.unmap"), 1);
		json_object_put(rs);
		json_object_put(st);
		for (size_t i = 0; i < 4; i++)
			CHECK_EQ(a[i * psz], 0x50 + i);
		for (size_t i = 12; i < pages; i++)
			CHECK_EQ(a[i * psz], 0x50 + i);
		CHECK_EQ(pc_region_int(&D, name, "faults"), 4);
		/* Unmap the rest: both pieces go; the session stays. */
		CHECK_EQ(munmap((void *)a, len), 0);
		CHECK_EQ(td_wait_total(&D, "totals.regions", 0, 2000), 0);
		CHECK_EQ(td_wait_total(&D, "totals.clients", 1, 2000), 0);
	}
	/* The region is gone: release says so, and frees what it owns. */
	CHECK(uffd_region_release(r) == -ENOENT, "release of a dropped region");
	uffd_disconnect(c);
}

static void madv(enum t_kind kind, const void *arg)
{
	char t[160], name[32];
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(kind), pages = 16, len = pages * psz;

	(void)arg;
	snprintf(t, sizeof(t),
		 "MADV_REMOVE and MADV_DONTNEED on %s: events "
		 "read at once, removed pages read zeros, kept pages are "
		 "served again",
		 pc_kind_name(kind));
	t_note("%s", t);
	snprintf(name, sizeof(name), "madv-%s", pc_kind_name(kind));
	c = pc_connect(&D, "madv");
	r = c ? pc_alloc(c, kind, len, name, "continue") : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		unsigned char *fill = uffd_region_fill_addr(r);
		volatile unsigned char *a = uffd_region_addr(r);
		uint64_t t0;

		for (size_t i = 0; i < pages; i++)
			fill[i * psz] = (unsigned char)(0x70 + i);
		for (size_t i = 0; i < pages; i++)
			(void)a[i * psz];
		CHECK_EQ(pc_region_int(&D, name, "faults"), (int64_t)pages);
		t0 = t_now_ns();
		CHECK_EQ(madvise((void *)a, 4 * psz, MADV_REMOVE), 0);
		CHECK_EQ(madvise((char *)a + 8 * psz, 4 * psz, MADV_DONTNEED),
			 0);
		fprintf(stderr, "#   two madvise calls took %.3f ms\n",
			(double)(t_now_ns() - t0) / 1e6);
		/* Removed: the page cache lost them (missing faults, which
		 * the kernel serves with zeros). */
		for (size_t i = 0; i < 4; i++)
			CHECK_EQ(a[i * psz], 0);
		/* Dropped from the page tables only: minor faults again. */
		for (size_t i = 8; i < 12; i++)
			CHECK_EQ(a[i * psz], 0x70 + i);
		CHECK_EQ(pc_region_int(&D, name, "faults"), (int64_t)pages + 4);
		{
			json_object *st = td_status(&D);

			CHECK_EQ(j_int(j_client(st, getpid()), "events.remove"),
				 2);
			json_object_put(st);
		}
		CHECK_EQ(pc_region_int(&D, name, "length"), (int64_t)len);
	}
	uffd_region_release(r);
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
	{ .name = "remap",
	  .title = "mremap: the whole region moved, then half of it: faults at "
		   "the new addresses are served",
	  .fn = remap,
	  .kinds = T_KINDS,
	  .hugepages = 18 },
	{ .name = "unmap",
	  .title = "munmap: a hole splits the region, the rest is still "
		   "served; unmapping all of it drops it",
	  .fn = unmap,
	  .kinds = T_KINDS,
	  .hugepages = 18 },
	{ .name = "madvise",
	  .title = "MADV_REMOVE and MADV_DONTNEED: events read at once, "
		   "removed pages read zeros, kept pages are served again",
	  .fn = madv,
	  .kinds = T_KINDS,
	  .hugepages = 18 },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "events-mm", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
