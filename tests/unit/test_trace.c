/* SPDX-License-Identifier: MIT */
/*
 * The working-set trace format (policy/trace.c), the one reader of record:,
 * prefetch: and the image cache: what it writes it reads back, whatever
 * the pieces the input comes in; a line that is not exactly a trace's is
 * refused, never taken for another number.
 */
#include "harness.h"
#include "policy/trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read all of buf, cut into pieces of step bytes; the pages read into
 * out (at most max), their count or -errno. */
static long read_pieces(const char *buf, size_t len, size_t step, uint64_t *out,
			size_t max, uint32_t *psz, uint64_t *npages, char *err,
			size_t errlen)
{
	struct trace_reader t;
	size_t n = 0, at = 0;
	uint64_t idx;
	int rc, header = 0;

	trace_reader_init(&t);
	while (at < len) {
		size_t piece = len - at < step ? len - at : step, pos = 0;

		while ((rc = trace_read(&t, buf + at, piece, &pos, &idx, err,
					errlen)) != TRACE_MORE) {
			if (rc < 0)
				return rc;
			if (rc == TRACE_HEADER)
				header++;
			else if (n < max)
				out[n++] = idx;
		}
		at += piece;
	}
	rc = trace_read_end(&t, &idx, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == TRACE_PAGE && n < max)
		out[n++] = idx;
	*psz = t.page_size;
	*npages = t.npages;
	return header == 1 ? (long)n : -EPROTO;
}

static void test_round_trip(void)
{
	static const uint64_t pages[] = { 17, 0, (1ull << 26) - 1, 18, 123456 };
	struct trace_rec r;
	uint64_t out[8], npages;
	uint32_t psz;
	char *buf, err[128];
	size_t len;

	CHECK_EQ(trace_rec_init(&r, 1ull << 26, 4096), 0);
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		CHECK_EQ(trace_rec_touch(&r, pages[i]), 1);
	CHECK_EQ(trace_rec_touch(&r, 17), 0); /* once */
	CHECK_EQ(trace_rec_encode(&r, &buf, &len), 0);
	trace_rec_free(&r);
	{
		static const char hdr[] =
		    "uffdd-trace 1\npage_size 4096\npages 67108864\n";

		CHECK(!strncmp(buf, hdr, sizeof(hdr) - 1), "header: %.60s",
		      buf);
	}
	/* Any cut of the input reads the same. */
	for (size_t step = 1; step <= len;
	     step = step < 8 ? step + 1 : step * 3) {
		long n = read_pieces(buf, len, step, out, 8, &psz, &npages, err,
				     sizeof(err));

		CHECK_EQ(n, 5);
		CHECK_EQ(psz, 4096);
		CHECK_EQ(npages, 1ull << 26);
		for (int i = 0; i < 5 && n == 5; i++)
			CHECK_EQ(out[i], pages[i]);
	}
	/* A last line without its newline (a writer killed mid-line). */
	CHECK_EQ(read_pieces(buf, len - 1, 7, out, 8, &psz, &npages, err,
			     sizeof(err)),
		 5);
	free(buf);
}

static void test_refused(void)
{
	static const struct {
		const char *what, *text;
	} bad[] = {
		{ "no header", "17\n18\n" },
		{ "another version",
		  "uffdd-trace 2\npage_size 4096\npages 1\n" },
		{ "a page size not a power of two",
		  "uffdd-trace 1\npage_size 4095\npages 1\n" },
		{ "a page size below 4096",
		  "uffdd-trace 1\npage_size 512\npages 1\n" },
		{ "a header cut short", "uffdd-trace 1\npage_size 4096\n" },
		{ "a sign", "uffdd-trace 1\npage_size 4096\npages 9\n+5\n" },
		{ "a minus", "uffdd-trace 1\npage_size 4096\npages 9\n-1\n" },
		{ "a space", "uffdd-trace 1\npage_size 4096\npages 9\n 5\n" },
		{ "a trailing space",
		  "uffdd-trace 1\npage_size 4096\npages 9\n5 \n" },
		{ "an empty line",
		  "uffdd-trace 1\npage_size 4096\npages 9\n\n" },
		{ "hex", "uffdd-trace 1\npage_size 4096\npages 9\n0x10\n" },
		{ "beyond 64 bits", "uffdd-trace 1\npage_size 4096\npages "
				    "9\n18446744073709551616\n" },
		{ "a line too long",
		  "uffdd-trace 1\npage_size 4096\npages 9\n"
		  "000000000000000000000000000000000000000000000000001\n" },
		{ "a NUL", "uffdd-trace 1\npage_size 4096\npages 9\n1\0002\n" },
	};
	uint64_t out[8], npages;
	uint32_t psz;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i].text);
		long n;

		if (!strcmp(bad[i].what, "a NUL"))
			len = 44;
		err[0] = 0;
		n = read_pieces(bad[i].text, len, 5, out, 8, &psz, &npages, err,
				sizeof(err));
		CHECK(n == -EBADMSG, "%s: read %ld", bad[i].what, n);
		CHECK(err[0], "%s: no reason", bad[i].what);
		fprintf(stderr, "#   %-32s -> %s\n", bad[i].what, err);
	}
}

static void test_parse(void)
{
	static const char text[] = "uffdd-trace 1\npage_size 2097152\npages "
				   "8\n3\n9\n1\n3\n7\n";
	uint64_t *idx = NULL, n = 0;
	uint32_t psz = 0;
	char err[128];

	/* Beyond the header's count (9), beyond the limit in bytes (7 pages
	 * and a bit: page 7 starts below it) and repeats are dropped, the
	 * order kept. */
	CHECK_EQ(trace_parse(text, sizeof(text) - 1, 7 * 2097152 + 4096, &psz,
			     &idx, &n, err, sizeof(err)),
		 0);
	CHECK_EQ(psz, 2097152);
	CHECK_EQ(n, 3);
	if (n == 3) {
		CHECK_EQ(idx[0], 3);
		CHECK_EQ(idx[1], 1);
		CHECK_EQ(idx[2], 7);
	}
	free(idx);
	/* The same bound, one byte short of page 7. */
	CHECK_EQ(trace_parse(text, sizeof(text) - 1, 7 * 2097152, &psz, &idx,
			     &n, err, sizeof(err)),
		 0);
	CHECK_EQ(n, 2);
	free(idx);
	CHECK_EQ(trace_parse("uffdd-trace 1\n", 14, 8 << 21, &psz, &idx, &n,
			     err, sizeof(err)),
		 -EBADMSG);
}

static const struct t_case cases[] = {
	{ .name = "round-trip",
	  .title = "what the recorder writes is read back, in any pieces",
	  .run = test_round_trip },
	{ .name = "refused",
	  .title = "a line that is not exactly a trace's is refused",
	  .run = test_refused },
	{ .name = "parse",
	  .title = "a whole trace: repeats and pages beyond the image dropped",
	  .run = test_parse },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "trace", T_CASES(cases), NULL, NULL, NULL };

	return t_main(argc, argv, &s);
}
