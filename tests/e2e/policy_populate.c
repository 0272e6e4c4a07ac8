/* SPDX-License-Identifier: MIT */
/*
 * populate:PATH[@OFFSET]: touched pages hold the image's bytes, and only
 * touched pages are read (bytes_read counts them exactly); composed with
 * around:N a fault reads its window; a short or missing image, a file that
 * is not a regular file, an unsealed memfd or a policy the client may not
 * ask for are clear errors at registration.  (The client opens the image;
 * tests/e2e/sec_files.c has the attacks that named files used to allow.)
 */
#include "policy_common.h"

#include <sys/mman.h>

static struct tdaemon D;
static char image[96];

/* Touch every step-th page; count bytes that differ from the image. */
static long touch_check(struct uffd_region *r, size_t step, uint64_t file_off,
			size_t *touched)
{
	const volatile unsigned char *a = uffd_region_addr(r);
	size_t psz = uffd_region_page_size(r), n = uffd_region_size(r) / psz;
	long bad = 0;

	*touched = 0;
	for (size_t i = 0; i < n; i += step) {
		const volatile unsigned char *p = a + i * psz;

		(*touched)++;
		for (size_t k = 0; k < psz; k += 61)
			bad += p[k] != pc_byte(file_off + i * psz + k);
		bad += p[psz - 1] != pc_byte(file_off + i * psz + psz - 1);
	}
	return bad;
}

static void lazy(int kind, size_t size, size_t step, uint64_t off)
{
	char t[160], pol[160], name[32];
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(kind), touched = 0;

	snprintf(t, sizeof(t),
		 "populate on %s: every %zu-th page touched has "
		 "the image's bytes (offset %llu); only those pages are read",
		 pc_kind_name(kind), step, (unsigned long long)off);
	t_note("%s", t);
	snprintf(name, sizeof(name), "pop-%s-%zu", pc_kind_name(kind), step);
	if (off)
		snprintf(pol, sizeof(pol), "populate:%s@%llu", image,
			 (unsigned long long)off);
	else
		snprintf(pol, sizeof(pol), "populate:%s", image);
	c = pc_connect(&D, "populate");
	r = c ? pc_alloc(c, kind, size, name, pol) : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		CHECK_EQ(pc_region_int(&D, name, "policy_stats.bytes_read"), 0);
		CHECK_EQ(touch_check(r, step, off, &touched), 0);
		fprintf(stderr,
			"#   %zu of %zu pages touched: faults %lld, "
			"pages_populated %lld, bytes_read %lld\n",
			touched, size / psz,
			(long long)pc_region_int(&D, name, "faults"),
			(long long)pc_region_int(
			    &D, name, "policy_stats.pages_populated"),
			(long long)pc_region_int(&D, name,
						 "policy_stats.bytes_read"));
		CHECK_EQ(pc_region_int(&D, name, "faults"), (int64_t)touched);
		CHECK_EQ(
		    pc_region_int(&D, name, "policy_stats.pages_populated"),
		    (int64_t)touched);
		CHECK_EQ(pc_region_int(&D, name, "policy_stats.bytes_read"),
			 (int64_t)(touched * psz));
		/* A second pass reads nothing more and faults no more. */
		CHECK_EQ(touch_check(r, step, off, &touched), 0);
		CHECK_EQ(pc_region_int(&D, name, "policy_stats.bytes_read"),
			 (int64_t)(touched * psz));
		CHECK_EQ(pc_region_int(&D, name, "faults"), (int64_t)touched);
		CHECK_EQ(pc_region_int(&D, name, "errors"), 0);
	}
	uffd_region_release(r);
	uffd_disconnect(c);
}

/* shmem 16 MiB, every 7th page; hugetlb 32 MiB, every 3rd. */
static void lazy_case(enum t_kind kind, const void *arg)
{
	(void)arg;
	if (kind == T_HUGETLB)
		lazy(UFFD_KIND_HUGETLB, 32u << 20, 3, 0);
	else
		lazy(UFFD_KIND_SHMEM, 16u << 20, 7, 0);
}

/* From an offset in the image: 12 KiB on shmem, 2 MiB on hugetlb. */
static void lazy_offset_case(enum t_kind kind, const void *arg)
{
	(void)arg;
	if (kind == T_HUGETLB)
		lazy(UFFD_KIND_HUGETLB, 16u << 20, 2, 2u << 20);
	else
		lazy(UFFD_KIND_SHMEM, 8u << 20, 3, 12288);
}

static void with_around(void)
{
	char pol[160];
	struct uffd_client *c;
	struct uffd_region *r;
	size_t psz = pc_page(UFFD_KIND_SHMEM), touched = 0;

	snprintf(pol, sizeof(pol), "around:16+populate:%s", image);
	c = pc_connect(&D, "populate2");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 256 * psz, "pop-around", pol)
	      : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		const volatile unsigned char *a = uffd_region_addr(r);

		CHECK_EQ(a[5 * psz + 9], pc_byte(5 * psz + 9));
		CHECK_EQ(pc_region_int(&D, "pop-around", "faults"), 1);
		CHECK_EQ(
		    pc_region_int(&D, "pop-around", "policy_stats.bytes_read"),
		    (int64_t)(16 * psz));
		CHECK_EQ(touch_check(r, 1, 0, &touched), 0);
		CHECK_EQ(pc_region_int(&D, "pop-around", "faults"), 16);
		CHECK_EQ(
		    pc_region_int(&D, "pop-around", "policy_stats.bytes_read"),
		    (int64_t)(256 * psz));
	}
	uffd_region_release(r);
	/* The other order of writing it composes the same way. */
	snprintf(pol, sizeof(pol), "populate:%s+around:16", image);
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 256 * psz, "pop-around2", pol)
	      : NULL;
	CHECK(r != NULL, "region 2");
	if (r) {
		CHECK_EQ(touch_check(r, 1, 0, &touched), 0);
		CHECK_EQ(pc_region_int(&D, "pop-around2", "faults"), 16);
	}
	uffd_region_release(r);
	uffd_disconnect(c);
}

static void expect_refused(struct uffd_client *c, const char *pol,
			   const char *want)
{
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = 8u << 20,
				       .name = "refused",
				       .policy = pol };
	struct uffd_region *r = NULL;
	int rc = uffd_region_alloc(c, &sp, &r);

	CHECK(rc < 0, "%s accepted", pol);
	CHECK(strstr(uffd_last_error(), want) != NULL,
	      "%s: \"%s\" lacks \"%s\"", pol, uffd_last_error(), want);
	fprintf(stderr, "#   %s -> %s\n", pol, uffd_last_error());
	if (rc == 0)
		uffd_region_release(r);
}

static void refusals(void)
{
	char pol[200], small[128];
	struct uffd_client *c;
	struct tdaemon d2;

	snprintf(small, sizeof(small), "%s.small", image);
	pc_write_image(small, 1u << 20);
	c = pc_connect(&D, "refusals");
	CHECK(c != NULL, "connect");
	if (c) {
		snprintf(pol, sizeof(pol), "populate:%s", small);
		expect_refused(c, pol,
			       "image holds 1048576 bytes, region "
			       "needs 8388608");
		snprintf(pol, sizeof(pol), "populate:%s@%u", image, 60u << 20);
		expect_refused(c, pol, "from offset 62914560");
		expect_refused(c, "populate:/tmp/uffdd-test-absent.img",
			       "No such file");
		expect_refused(c, "populate:/dev/null", "not a regular file");
		expect_refused(c, "populate:/proc/self/maps",
			       "is not a local disk or memory one");
		/* An adopted memfd without F_SEAL_SHRINK cannot be mapped
		 * safely by the daemon. */
		{
			size_t sz = 1u << 20;
			int fd = memfd_create("unsealed", MFD_CLOEXEC);
			void *m;
			struct uffd_region *r = NULL;
			int rc;

			CHECK(fd >= 0 && ftruncate(fd, (off_t)sz) == 0,
			      "memfd");
			m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED,
				 fd, 0);
			snprintf(pol, sizeof(pol), "populate:%s", image);
			rc = uffd_region_adopt(c, m, sz, fd, 0, "unsealed", pol,
					       &r);
			CHECK(rc < 0, "unsealed memfd accepted");
			CHECK(strstr(uffd_last_error(), "F_SEAL_SHRINK") !=
				  NULL,
			      "\"%s\"", uffd_last_error());
			fprintf(stderr, "#   unsealed -> %s\n",
				uffd_last_error());
			if (rc == 0)
				uffd_region_release(r);
			munmap(m, sz);
			close(fd);
		}
		CHECK_EQ(uffd_client_check(c), 0);
	}
	uffd_disconnect(c);
	/* A daemon whose clients may ask for two policies only. */
	if (td_start(&d2, "{\"client_policies\":[\"continue\",\"around\"]}",
		     NULL) == 0) {
		c = pc_connect(&d2, "notallowed");
		if (c) {
			snprintf(pol, sizeof(pol), "populate:%s+around:4",
				 image);
			expect_refused(c, pol, "policy populate not permitted");
			expect_refused(c, "record:/tmp/x.trace",
				       "policy record not permitted");
		}
		uffd_disconnect(c);
		CHECK_EQ(td_stop(&d2), 0);
	} else {
		CHECK(0, "second daemon");
	}
	unlink(small);
}

static int setup(void)
{
	snprintf(image, sizeof(image), "/tmp/uffdd-test-image.%d",
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
	{ .name = "lazy",
	  .title = "every n-th page touched has the image's bytes; only those "
		   "pages are read",
	  .fn = lazy_case,
	  .kinds = T_KINDS,
	  .hugepages = 18 },
	{ .name = "lazy-offset",
	  .title = "the same from an offset in the image",
	  .fn = lazy_offset_case,
	  .kinds = T_KINDS,
	  .hugepages = 10 },
	{ .name = "around",
	  .title = "populate+around:16 on shmem: one fault reads and maps its "
		   "16-page window; written in either order",
	  .run = with_around },
	{ .name = "refusals",
	  .title = "populate: short or missing image, not a regular file or "
		   "on procfs, unsealed memfd, not permitted: clear errors",
	  .run = refusals },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "policy-populate", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
