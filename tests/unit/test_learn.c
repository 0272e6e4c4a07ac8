/* SPDX-License-Identifier: MIT */
/*
 * The learned child working sets (uffdd/policy/learn_set.c) without a
 * daemon: what enters a set and what does not, how probes make it decay,
 * and every bound of learn_set.h, per lineage, per uid and in all.
 */
#include "policy/learn_set.h"
#include "report.h"
#include "uffdd_proto.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct learn_key K = {
	.dev = 5, .ino = 77, .parent_id = 9001, .parent_pid = 100, .uid = 1000
};

/* One child of k: registers, touches pages[0..n), ends.  Its plan size. */
static size_t child(const struct learn_key *k, unsigned cap,
		    const uint64_t *pages, size_t n, struct learn_outcome *out)
{
	struct learn_child c;
	struct learn_obs o = { .pages = (uint64_t *)pages, .n = n };
	struct learn_outcome dummy;
	size_t plan;

	CHECK_EQ(learn_begin(k, cap, 0, &c), 0);
	plan = c.nplan + c.nheld;
	learn_end(k, &c, &o, out ? out : &dummy);
	return plan;
}

static uint64_t total(const char *what)
{
	struct learn_totals t;

	learn_totals(&t);
	if (!strcmp(what, "lineages"))
		return t.lineages;
	if (!strcmp(what, "set"))
		return t.set_pages;
	if (!strcmp(what, "entries"))
		return t.entries;
	if (!strcmp(what, "evicted"))
		return t.evicted;
	if (!strcmp(what, "refused"))
		return t.refused;
	if (!strcmp(what, "unused"))
		return t.unused;
	if (!strcmp(what, "hits"))
		return t.hits;
	return (uint64_t)-1;
}

/* Pages i*stride for i < n. */
static uint64_t *pages_of(size_t n, uint64_t stride, uint64_t first)
{
	uint64_t *p = malloc(n * sizeof(*p));

	for (size_t i = 0; p && i < n; i++)
		p[i] = first + i * stride;
	return p;
}

static void test_set(void)
{
	uint64_t *hot = pages_of(100, 7, 3);
	struct learn_child c;
	struct learn_outcome out;
	struct learn_obs none = { 0 };
	int sorted = 1;

	learn_reset();
	CHECK_EQ(child(&K, 4096, hot, 100, &out), 0);
	CHECK_EQ(out.misses, 100);
	CHECK_EQ(child(&K, 4096, hot, 100, &out), 0);
	CHECK_EQ(out.misses, 100);
	/* Touched by two children in a row: the third gets all of it. */
	CHECK_EQ(learn_begin(&K, 4096, 0, &c), 0);
	CHECK_EQ(c.nplan + c.nheld, 100);
	for (size_t i = 1; i < c.nplan; i++)
		sorted &= c.plan[i - 1] < c.plan[i];
	CHECK(sorted, "the plan is in ascending page order");
	CHECK_EQ(c.plan[0], 3);
	learn_end(&K, &c, &none, &out);
	CHECK_EQ(total("set"), 100);
	CHECK_EQ(total("lineages"), 1);
	/* Another parent of the same memfd, or another uid: nothing. */
	{
		struct learn_key k2 = K, k3 = K;

		k2.parent_id = 9002;
		k3.uid = 1001;
		CHECK_EQ(child(&k2, 4096, NULL, 0, NULL), 0);
		CHECK_EQ(child(&k3, 4096, NULL, 0, NULL), 0);
	}
	free(hot);
}

/* Pages touched by chance stay out; what most children touch gets in. */
static void test_share(void)
{
	uint64_t hot[16], pick[20];
	unsigned seed = 7;
	size_t plan = 0;

	learn_reset();
	for (int i = 0; i < 16; i++)
		hot[i] = 1000000 + (uint64_t)i;
	for (int n = 0; n < 3000; n++) {
		for (int i = 0; i < 16; i++)
			pick[i] = hot[i];
		/* Four random pages of a million, and one page of eight
		 * picked round robin (each touched by one child in eight). */
		for (int i = 16; i < 19; i++)
			pick[i] = (uint64_t)rand_r(&seed) % 1000000;
		pick[19] = 2000000 + (uint64_t)(n % 8);
		plan = child(&K, 4096, pick, 20, NULL);
	}
	CHECK(plan == 16,
	      "the set holds the 16 pages every child touches, not "
	      "%zu",
	      plan);
	CHECK(total("entries") < 200,
	      "candidates fade: %llu entries after 3000 children",
	      (unsigned long long)total("entries"));
}

/* Probes: an unused page of the set leaves it; a used one stays. */
static void test_decay(void)
{
	uint64_t *used = pages_of(64, 1, 0), *unused = pages_of(64, 1, 500);
	uint64_t both[128];
	size_t plan = 0;
	int n;

	learn_reset();
	memcpy(both, used, 64 * sizeof(*both));
	memcpy(both + 64, unused, 64 * sizeof(*both));
	child(&K, 4096, both, 128, NULL);
	CHECK_EQ(child(&K, 4096, both, 128, NULL), 0);
	CHECK_EQ(total("set"), 128);
	/* From now on children touch only the first 64 pages; mapped ahead,
	 * nothing shows which are unused but what the probes hold. */
	for (n = 0; n < 16 * 32 * 8 && total("set") > 64; n++)
		plan = child(&K, 4096, used, 64, NULL);
	CHECK(total("set") == 64,
	      "after %d children the set is %llu pages (want the 64 used)", n,
	      (unsigned long long)total("set"));
	CHECK(total("unused") > 0 && total("hits") > 0,
	      "probes saw %llu unused and %llu used pages",
	      (unsigned long long)total("unused"),
	      (unsigned long long)total("hits"));
	CHECK(plan <= 128, "plan %zu", plan);
	free(used);
	free(unused);
}

/* A lineage holds at most its `pages`, keeping the set over candidates. */
static void test_bound_lineage(void)
{
	uint64_t *hot = pages_of(12, 1, 0), *many = pages_of(1000, 3, 100);
	struct learn_totals t;

	learn_reset();
	child(&K, 16, hot, 12, NULL);
	child(&K, 16, hot, 12, NULL);
	for (int i = 0; i < 50; i++) {
		many[0] = 100 + (uint64_t)i; /* keep changing */
		child(&K, 16, many, 1000, NULL);
		child(&K, 16, hot, 12, NULL);
	}
	learn_totals(&t);
	CHECK(t.entries <= 16, "%llu entries, at most 16",
	      (unsigned long long)t.entries);
	CHECK(t.set_pages >= 12, "the 12 hot pages stay: set %llu",
	      (unsigned long long)t.set_pages);
	CHECK(t.dropped > 0, "dropped %llu", (unsigned long long)t.dropped);
	free(hot);
	free(many);
}

/* 64 lineages per uid, 1024 in all; the LRU goes, other uids' stay. */
static void test_bound_lineages(void)
{
	uint64_t page = 1;
	struct learn_key k = K, other = K;

	learn_reset();
	other.uid = 4242;
	child(&other, 4096, &page, 1, NULL);
	for (int i = 0; i < 70; i++) {
		k.ino = 1000 + (uint64_t)i;
		child(&k, 4096, &page, 1, NULL);
	}
	CHECK_EQ(total("lineages"), LEARN_UID_LINEAGES + 1);
	CHECK_EQ(total("evicted"), 70 - LEARN_UID_LINEAGES);
	/* The other uid's lineage is still there: it has a set next time. */
	child(&other, 4096, &page, 1, NULL);
	CHECK_EQ(child(&other, 4096, &page, 1, NULL), 1);
	for (uint32_t u = 0; u < 20; u++)
		for (int i = 0; i < LEARN_UID_LINEAGES; i++) {
			k.uid = 20000 + u;
			k.ino = 5000 + (uint64_t)i;
			child(&k, 4096, &page, 1, NULL);
		}
	CHECK_EQ(total("lineages"), LEARN_LINEAGES);
}

/* One uid's pages: at most LEARN_UID_ENTRIES over all its lineages. */
static void test_bound_entries(void)
{
	uint64_t *chunk = malloc(LEARN_OBS_PAGES * sizeof(*chunk));
	struct learn_key k = K;
	struct learn_totals t;

	learn_reset();
	for (int l = 0; l < 5; l++) {
		k.ino = 300 + (uint64_t)l;
		/* 64 chunks of 1024 pages, each touched by two children in a
		 * row: 65536 pages in the set. */
		for (int c = 0; c < 64; c++) {
			for (int i = 0; i < LEARN_OBS_PAGES; i++)
				chunk[i] =
				    (uint64_t)c * LEARN_OBS_PAGES + (uint64_t)i;
			child(&k, 65536, chunk, LEARN_OBS_PAGES, NULL);
			child(&k, 65536, chunk, LEARN_OBS_PAGES, NULL);
		}
	}
	learn_totals(&t);
	CHECK(t.entries <= LEARN_UID_ENTRIES,
	      "uid holds %llu pages, at most %u", (unsigned long long)t.entries,
	      LEARN_UID_ENTRIES);
	CHECK(t.entries >= LEARN_UID_ENTRIES / 2, "and uses them: %llu",
	      (unsigned long long)t.entries);
	free(chunk);
}

/* Sets being mapped into children: LEARN_PLAN_BYTES at most. */
static void test_bound_plans(void)
{
	uint64_t *chunk = malloc(LEARN_OBS_PAGES * sizeof(*chunk));
	enum { MAXC = 64 };
	struct learn_child *c = calloc(MAXC, sizeof(*c));
	struct learn_outcome out;
	struct learn_obs none = { 0 };
	size_t planned = 0;
	int n = 0;

	learn_reset();
	for (int ch = 0; ch < 64; ch++) {
		for (int i = 0; i < LEARN_OBS_PAGES; i++)
			chunk[i] = (uint64_t)ch * LEARN_OBS_PAGES + (uint64_t)i;
		child(&K, 65536, chunk, LEARN_OBS_PAGES, NULL);
		child(&K, 65536, chunk, LEARN_OBS_PAGES, NULL);
	}
	/* 65536 pages of 8 bytes: 512 KiB a plan, 32 fit in 16 MiB. */
	for (n = 0; n < MAXC; n++) {
		learn_begin(&K, 65536, 0, &c[n]);
		if (!c[n].plan)
			break;
		planned++;
	}
	CHECK(planned * 65536 * 8 <= LEARN_PLAN_BYTES && planned >= 30,
	      "%zu plans of 512 KiB at once", planned);
	CHECK(total("refused") >= 1, "refused %llu",
	      (unsigned long long)total("refused"));
	for (int i = 0; i <= n && i < MAXC; i++)
		learn_end(&K, &c[i], &none, &out);
	free(c);
	free(chunk);
}

static double ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * The work under the lineages' lock at a child's registration (a copy of
 * the set) and at the end of its first moments (a merge, and giving up the
 * weakest when full) is linear in the lineage's size: measured on the
 * largest lineage (65536 pages), it stays far from a worker's 2 ms turn.
 */
static void test_lock_time(void)
{
	uint64_t *chunk = malloc(LEARN_OBS_PAGES * sizeof(*chunk));
	struct learn_child c;
	struct learn_obs o = { .pages = chunk, .n = LEARN_OBS_PAGES };
	struct learn_outcome out;
	double worst_begin = 0, worst_end = 0, t0;

	learn_reset();
	for (int ch = 0; ch < 80; ch++) {
		for (int i = 0; i < LEARN_OBS_PAGES; i++)
			chunk[i] = (uint64_t)ch * LEARN_OBS_PAGES + (uint64_t)i;
		for (int twice = 0; twice < 2; twice++) {
			t0 = ms_now();
			learn_begin(&K, 65536, 0, &c);
			if (ms_now() - t0 > worst_begin)
				worst_begin = ms_now() - t0;
			t0 = ms_now();
			learn_end(&K, &c, &o, &out);
			if (ms_now() - t0 > worst_end)
				worst_end = ms_now() - t0;
		}
	}
	t_note("65536-page lineage: begin at most %.3f ms, end (merge, "
	       "giving up the weakest) at most %.3f ms",
	       worst_begin, worst_end);
	CHECK(total("entries") <= 65536, "%llu entries",
	      (unsigned long long)total("entries"));
	/* A sanitized build's allocator and checks are slower than a worker
	 * would ever be: there the figure is printed, not judged. */
	if (!getenv("UFFDD_SANITIZED") ||
	    strcmp(getenv("UFFDD_SANITIZED"), "1"))
		CHECK(worst_begin < 20 && worst_end < 20,
		      "begin %.3f ms, end %.3f ms", worst_begin, worst_end);
	free(chunk);
}

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
	return fake_now;
}

/* A lineage nobody forked from for LEARN_IDLE_NS goes. */
static void test_idle(void)
{
	uint64_t page = 3;
	struct learn_key k2 = K;

	learn_reset();
	fake_now = 1000;
	learn_set_clock(fake_clock);
	child(&K, 4096, &page, 1, NULL);
	child(&K, 4096, &page, 1, NULL);
	CHECK_EQ(total("lineages"), 1);
	fake_now += LEARN_IDLE_NS - 1000;
	k2.ino = 99;
	child(&k2, 4096, &page, 1, NULL);
	CHECK_EQ(total("lineages"), 2);
	fake_now += 2000;
	CHECK_EQ(total("lineages"), 1);
	CHECK_EQ(child(&K, 4096, &page, 1, NULL), 0);
	learn_set_clock(NULL);
}

/* The board of k, mapped read-only as a client maps it (NULL: none). */
static const struct uffdd_board_hdr *board_map(const struct learn_key *k,
					       unsigned teach, size_t *len)
{
	struct stat st;
	void *p;
	int fd = learn_board(k, 4096, 4096, teach);

	CHECK(fd >= 0, "learn_board: %d", fd);
	if (fd < 0)
		return NULL;
	/* Sealed: the daemon's mapping is the only writer. */
	CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) ==
		  MAP_FAILED,
	      "a board can be mapped writable");
	CHECK(ftruncate(fd, 0) < 0, "a board can be shrunk");
	fstat(fd, &st);
	*len = (size_t)st.st_size;
	p = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* The pages on board h, expanded, ascending. */
static size_t board_pages(const struct uffdd_board_hdr *h, uint64_t *out,
			  size_t max)
{
	const struct uffdd_board_run *run = (const void *)(h + 1);
	size_t n = 0;

	for (uint64_t i = 0; i < h->nruns; i++)
		for (uint64_t p = 0; p < run[i].count && n < max; p++)
			out[n++] = run[i].first + p;
	return n;
}

static void test_board(void)
{
	uint64_t *hot = pages_of(100, 3, 10), got[256];
	uint64_t run3[3] = { 500, 501, 502 };
	const struct uffdd_board_hdr *h;
	struct learn_child c;
	struct learn_outcome out;
	struct learn_obs none = { 0 };
	uint32_t seq;
	size_t len = 0, n;
	int same = 1;

	learn_reset();
	h = board_map(&K, 1, &len);
	if (!h) {
		free(hot);
		return;
	}
	CHECK_EQ(h->magic, UFFDD_BOARD_MAGIC);
	CHECK_EQ(h->page_size, 4096);
	CHECK_EQ(h->nruns, 0);
	CHECK_EQ(h->seq % 2, 0);
	CHECK(h->max_runs >= 4096, "room for %llu runs",
	      (unsigned long long)h->max_runs);
	CHECK_EQ(total("lineages"), 1); /* made by the board */
	child(&K, 4096, hot, 100, NULL);
	CHECK_EQ(h->nruns, 0); /* a candidate is not in the set */
	child(&K, 4096, hot, 100, NULL);
	/* In the set now: on the board, one run per page 3 apart. */
	CHECK_EQ(h->nruns, 100);
	n = board_pages(h, got, 256);
	CHECK_EQ(n, 100);
	for (size_t i = 0; i < n; i++)
		same &= got[i] == hot[i];
	CHECK(same, "the board holds the pages touched");
	/* Consecutive pages are one run. */
	child(&K, 4096, run3, 3, NULL);
	child(&K, 4096, run3, 3, NULL);
	CHECK_EQ(h->nruns, 101);
	n = board_pages(h, got, 256);
	CHECK_EQ(n, 103);
	/* An unchanged set is not rewritten (a reader sees one seq). */
	seq = h->seq;
	child(&K, 4096, run3, 3, NULL);
	CHECK_EQ(h->seq, seq);
	/* A child that mapped the board itself gets no plan; a probe by its
	 * pid holds exactly the pages the board's rule gives it. */
	for (uint32_t pid = 1000; pid < 1400; pid++) {
		size_t want = 0;
		int probe = uffdd_board_mix(pid) % h->probe_every == 0;

		for (size_t i = 0; i < n; i++)
			want += probe &&
				uffdd_board_held(got[i], pid, h->probe_slices);
		CHECK_EQ(learn_begin(&K, 4096, pid, &c), 0);
		CHECK_EQ(c.nplan, 0);
		CHECK_EQ(c.nheld, want);
		learn_end(&K, &c, &none, &out);
		CHECK_EQ(out.unused, want);
		if (want)
			break; /* one probe: its unused pages decay */
	}
	CHECK_EQ(h->teach_every, 1);
	/* Given up: the board empties, the mapping stays readable. */
	learn_reset();
	CHECK_EQ(h->nruns, 0);
	CHECK_EQ(h->seq % 2, 0);
	munmap((void *)h, len);
	h = board_map(&K, 16, &len);
	if (h) {
		CHECK_EQ(h->teach_every, 16);
		munmap((void *)h, len);
	}
	learn_reset();
	free(hot);
}

static const struct t_case cases[] = {
	{ .name = "set",
	  .title = "pages two children touched are mapped into the third, "
		   "per lineage (memfd, parent, uid)",
	  .run = test_set },
	{ .name = "share",
	  .title = "pages touched by chance stay out of the set and fade",
	  .run = test_share },
	{ .name = "decay",
	  .title = "probes take unused pages out of the set, keep used ones",
	  .run = test_decay },
	{ .name = "bound-lineage",
	  .title = "a lineage holds at most pages=N, the set before "
		   "candidates",
	  .run = test_bound_lineage },
	{ .name = "bound-lineages",
	  .title = "64 lineages per uid, 1024 in all; the least recently "
		   "used goes",
	  .run = test_bound_lineages },
	{ .name = "bound-entries",
	  .title = "a uid's lineages hold at most 262144 pages together",
	  .run = test_bound_entries },
	{ .name = "bound-plans",
	  .title = "sets being mapped into children take 16 MiB at most",
	  .run = test_bound_plans },
	{ .name = "lock-time",
	  .title = "a child's begin and end on a 65536-page lineage take "
		   "linear time (printed)",
	  .run = test_lock_time },
	{ .name = "idle",
	  .title = "a lineage idle for 10 minutes is forgotten",
	  .run = test_idle },
	{ .name = "board",
	  .title = "the board: the set in runs, sealed, rewritten on change "
		   "only, emptied when given up; probes by pid",
	  .run = test_board },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "learn", T_CASES(cases), NULL, NULL, NULL };

	return t_main(argc, argv, &s);
}
