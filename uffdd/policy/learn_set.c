/* SPDX-License-Identifier: MIT */
/*
 * The learned sets (learn_set.h): a lineage is a sorted array of pages,
 * each with its share: how often the lineage's children touch it in their
 * first moments, a moving average over children (fixed point, SHARE_ONE
 * is every child).  A candidate's share moves 1/8 of the way towards
 * "touched" or "not touched" with every child (lazily: the children that
 * did not touch it are counted when it is next looked at); from SHARE_IN
 * (one child in five) it is in the set.  Mapped ahead, a page of the set
 * no longer faults, so only probes tell whether it is still used: each
 * probe that held it moves its share half the way; below SHARE_OUT it is
 * a candidate again.  A page that two children touched by chance among
 * thousands stays a candidate, and candidates are what a full lineage
 * gives up first.
 *
 * All under one mutex, taken when a child registers and when its first
 * moments end; the work under it is a copy of the set and a merge of two
 * sorted arrays (a few microseconds for thousands of pages).
 */
#include "learn_set.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SHARE_ONE 65535u
#define SHARE_IN  (SHARE_ONE / 5)
#define SHARE_OUT (SHARE_ONE / 10)
/* A candidate this rare is forgotten: about 16 children without a touch. */
#define SHARE_FLOOR (SHARE_ONE / 64)
#define DECAY_MAX   128
#define BUCKETS	    2048

struct entry {
	uint64_t page;
	uint32_t seen;	/* the child (gen) its share is up to date with */
	uint16_t share; /* of SHARE_ONE */
	uint8_t in;	/* in the set */
	uint8_t pad;
};

/* (7/8)^d, for d up to DECAY_MAX. */
static double decay[DECAY_MAX + 1];

/* A candidate's share as of child gen: 7/8 of it per child since. */
static uint32_t share_at(const struct entry *e, uint64_t gen)
{
	uint64_t d = (uint32_t)gen - e->seen;

	if (e->in)
		return e->share;
	if (d > DECAY_MAX)
		return 0;
	if (!decay[0]) { /* under the lock */
		decay[0] = 1.0;
		for (int i = 1; i <= DECAY_MAX; i++)
			decay[i] = decay[i - 1] * 0.875;
	}
	return (uint32_t)(e->share * decay[d]);
}

/* A uid with lineages; records stay put (lineages point to theirs). */
struct uidrec {
	uint32_t uid;
	int used;
	unsigned lineages;
	size_t entries;
};

struct lineage {
	struct learn_key key;
	struct entry *e; /* ascending by page */
	size_t n;
	size_t nset;   /* entries in the set */
	unsigned max;  /* entries at most */
	uint64_t gen;  /* children begun */
	uint64_t used; /* ns, last begin or end */
	struct uidrec *u;
	struct uffdd_board_hdr *board; /* mapped read-write; NULL: none */
	size_t board_size;
	int board_fd;
	struct lineage *hnext, *newer, *older;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct lineage *buckets[BUCKETS];
static struct lineage *newest, *oldest;
static struct uidrec uids[LEARN_LINEAGES];
static unsigned nuids, nlineages;
static size_t nentries, nset_all, plan_bytes;
/* Counters: written under the lock or atomically, read relaxed. */
static struct learn_totals tot;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t (*now_ns)(void) = mono_ns;

void learn_set_clock(uint64_t (*now)(void))
{
	pthread_mutex_lock(&lock);
	now_ns = now ? now : mono_ns;
	pthread_mutex_unlock(&lock);
}

static void count(uint64_t *c, uint64_t v)
{
	__atomic_add_fetch(c, v, __ATOMIC_RELAXED);
}

static size_t bucket(const struct learn_key *k)
{
	uint64_t h = k->dev * 0x9e3779b97f4a7c15ull ^ k->ino;

	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull ^ k->parent_id;
	h = (h ^ (h >> 31)) * 0x94d049bb133111ebull ^
	    ((uint64_t)k->parent_pid << 32 | k->uid);
	return (size_t)((h ^ (h >> 32)) % BUCKETS);
}

static int same(const struct learn_key *a, const struct learn_key *b)
{
	return a->dev == b->dev && a->ino == b->ino &&
	       a->parent_id == b->parent_id && a->parent_pid == b->parent_pid &&
	       a->uid == b->uid;
}

static struct lineage *find(const struct learn_key *k)
{
	for (struct lineage *l = buckets[bucket(k)]; l; l = l->hnext)
		if (same(&l->key, k))
			return l;
	return NULL;
}

static struct uidrec *uid_of(uint32_t uid, int make)
{
	struct uidrec *free_rec = NULL;

	for (unsigned i = 0; i < nuids; i++) {
		if (uids[i].used && uids[i].uid == uid)
			return &uids[i];
		if (!uids[i].used && !free_rec)
			free_rec = &uids[i];
	}
	if (!make)
		return NULL;
	if (!free_rec && nuids < LEARN_LINEAGES)
		free_rec = &uids[nuids++];
	if (free_rec)
		*free_rec = (struct uidrec){ .uid = uid, .used = 1 };
	return free_rec;
}

/* LRU order: newest first. */
static void unlink_lru(struct lineage *l)
{
	if (l->newer)
		l->newer->older = l->older;
	else
		newest = l->older;
	if (l->older)
		l->older->newer = l->newer;
	else
		oldest = l->newer;
	l->newer = l->older = NULL;
}

static void touch(struct lineage *l)
{
	l->used = now_ns();
	if (newest == l)
		return;
	if (l->newer || l->older || oldest == l)
		unlink_lru(l);
	l->older = newest;
	if (newest)
		newest->newer = l;
	newest = l;
	if (!oldest)
		oldest = l;
}

/* The runs a board has room for, past its header. */
static struct uffdd_board_run *runs_of(struct uffdd_board_hdr *h)
{
	return (struct uffdd_board_run *)(void *)((char *)h + sizeof(*h));
}

/*
 * The next run of consecutive set pages at or after entry *i into *run,
 * *i moved past it: 1, or 0 when the set has no more.
 */
static int next_run(const struct lineage *l, size_t *i,
		    struct uffdd_board_run *run)
{
	size_t j = *i;

	while (j < l->n && !l->e[j].in)
		j++;
	*i = j;
	if (j == l->n)
		return 0;
	run->first = l->e[j].page;
	run->count = 0;
	while (j < l->n && l->e[j].in &&
	       l->e[j].page == run->first + run->count) {
		run->count++;
		j++;
	}
	*i = j;
	return 1;
}

/* Does l's board hold its set as it is now? */
static int board_current(const struct lineage *l)
{
	const struct uffdd_board_run *run = runs_of(l->board);
	struct uffdd_board_run r;
	uint64_t k = 0, n = l->board->nruns;
	size_t i = 0;

	while (next_run(l, &i, &r)) {
		if (k >= n || run[k].first != r.first ||
		    run[k].count != r.count)
			return 0;
		k++;
	}
	return k == n;
}

/* A rewrite of h is under way (seq odd: a reader maps nothing)... */
static void board_open(struct uffdd_board_hdr *h)
{
	__atomic_store_n(&h->seq, h->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* ...and done (seq even again). */
static void board_close(struct uffdd_board_hdr *h)
{
	__atomic_store_n(&h->seq, h->seq + 1, __ATOMIC_RELEASE);
}

/*
 * Rewrite l's board from its set, if the set changed: a child reading it
 * while seq is odd maps nothing, and one reading across a rewrite may map
 * a stale run, so rewrites are kept to changes.
 */
static void board_write(struct lineage *l)
{
	struct uffdd_board_hdr *h = l->board;
	struct uffdd_board_run *run = runs_of(h);
	uint64_t k = 0;
	size_t i = 0;

	if (board_current(l))
		return;
	board_open(h);
	while (k < h->max_runs && next_run(l, &i, &run[k]))
		k++;
	h->nruns = k;
	board_close(h);
}

static size_t board_bytes_all;

/* Empty l's board (a parent may map it for a while yet) and let it go. */
static void board_free(struct lineage *l)
{
	struct uffdd_board_hdr *h = l->board;

	if (!h)
		return;
	board_open(h);
	h->nruns = 0;
	board_close(h);
	munmap(h, l->board_size);
	close(l->board_fd);
	board_bytes_all -= l->board_size;
	l->board = NULL;
}

/*
 * A board for l: a sealed memfd with room for a run per entry l may hold,
 * which only this mapping writes (FUTURE_WRITE once it exists).  0 or
 * -errno.
 */
static int board_make(struct lineage *l, uint32_t page_size)
{
	size_t size = (sizeof(struct uffdd_board_hdr) +
		       (size_t)l->max * sizeof(struct uffdd_board_run) + 4095) &
		      ~(size_t)4095;
	struct uffdd_board_hdr *h;
	int fd, err;

	fd = memfd_create("uffdd-learn-board", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		goto fail;
	if (fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE |
		      F_SEAL_SEAL) < 0) {
		err = errno;
		munmap(h, size);
		close(fd);
		return -err;
	}
	*h = (struct uffdd_board_hdr){
		.magic = UFFDD_BOARD_MAGIC,
		.version = UFFDD_BOARD_VERSION,
		.hdr_size = sizeof(*h),
		.page_size = page_size,
		.max_runs =
		    (size - sizeof(*h)) / sizeof(struct uffdd_board_run),
		.probe_every = LEARN_PROBE_EVERY,
		.probe_slices = LEARN_PROBE_SLICES,
	};
	l->board = h;
	l->board_size = size;
	l->board_fd = fd;
	board_bytes_all += size;
	board_write(l);
	return 0;
fail:
	err = errno;
	close(fd);
	return -err;
}

static void drop(struct lineage *l)
{
	struct lineage **p = &buckets[bucket(&l->key)];
	struct uidrec *u = l->u;

	board_free(l);
	while (*p != l)
		p = &(*p)->hnext;
	*p = l->hnext;
	unlink_lru(l);
	nentries -= l->n;
	nset_all -= l->nset;
	nlineages--;
	u->entries -= l->n;
	if (--u->lineages == 0)
		u->used = 0;
	free(l->e);
	free(l);
}

/* The least recently used lineage of uid (any uid if all), or NULL. */
static struct lineage *lru_of(uint32_t uid, int all,
			      const struct lineage * not )
{
	for (struct lineage *l = oldest; l; l = l->newer)
		if (l != not &&(all || l->key.uid == uid))
			return l;
	return NULL;
}

static void expire(void)
{
	uint64_t now = now_ns();

	while (oldest && now - oldest->used > LEARN_IDLE_NS)
		drop(oldest);
}

static struct lineage *create(const struct learn_key *k, unsigned pages)
{
	struct uidrec *u = uid_of(k->uid, 0);
	struct lineage *l;

	if (u && u->lineages >= LEARN_UID_LINEAGES) {
		drop(lru_of(k->uid, 0, NULL));
		count(&tot.evicted, 1);
	} else if (nlineages >= LEARN_LINEAGES) {
		drop(oldest);
		count(&tot.evicted, 1);
	}
	u = uid_of(k->uid, 1); /* the drop may have freed its record */
	l = calloc(1, sizeof(*l));
	if (!u || !l) {
		free(l);
		return NULL;
	}
	l->key = *k;
	l->max = pages;
	l->u = u;
	u->lineages++;
	nlineages++;
	l->hnext = buckets[bucket(k)];
	buckets[bucket(k)] = l;
	touch(l);
	return l;
}

/* Is page one a probe leaves for the child to fault?  The board's rule,
 * so that a child mapping the board itself leaves the same pages. */
static int probed(uint64_t page, uint64_t salt)
{
	return uffdd_board_held(page, salt, LEARN_PROBE_SLICES);
}

/*
 * A child that mapped the board itself: no plan; a probe (by its pid, as
 * the board says) leaves the pages it held for it to fault.  Under the
 * lock.
 */
static void begin_self(struct lineage *l, uint32_t pid, struct learn_child *c)
{
	size_t n = 0;

	count(&tot.self_children, 1);
	if (!l->nset || uffdd_board_mix(pid) % LEARN_PROBE_EVERY != 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		n += l->e[i].in && probed(l->e[i].page, pid);
	if (!n || !(c->held = malloc(n * sizeof(*c->held))))
		return;
	for (size_t i = 0; i < l->n; i++)
		if (l->e[i].in && probed(l->e[i].page, pid))
			c->held[c->nheld++] = l->e[i].page;
	count(&tot.probes, 1);
}

int learn_begin(const struct learn_key *k, unsigned pages, uint32_t self_pid,
		struct learn_child *c)
{
	struct lineage *l;
	size_t bytes, hcap;

	memset(c, 0, sizeof(*c));
	c->pages = pages;
	pthread_mutex_lock(&lock);
	expire();
	count(&tot.children, 1);
	l = find(k);
	if (!l) { /* made when a child has something to teach */
		pthread_mutex_unlock(&lock);
		return 0;
	}
	touch(l);
	c->gen = ++l->gen;
	c->nset = l->nset;
	if (self_pid) {
		begin_self(l, self_pid, c);
		pthread_mutex_unlock(&lock);
		return 0;
	}
	bytes = l->nset * sizeof(uint64_t);
	if (!l->nset || plan_bytes + bytes > LEARN_PLAN_BYTES ||
	    !(c->plan = malloc(bytes))) {
		if (l->nset)
			count(&tot.refused, 1);
		pthread_mutex_unlock(&lock);
		return 0;
	}
	/* Room for twice a probe's expected share; beyond it the probe
	 * simply holds fewer. */
	hcap = l->nset / LEARN_PROBE_SLICES * 2 + 8;
	if (c->gen % LEARN_PROBE_EVERY == 0)
		c->held = malloc(hcap * sizeof(*c->held));
	for (size_t i = 0; i < l->n; i++) {
		const struct entry *e = &l->e[i];

		if (!e->in)
			continue;
		if (c->held && c->nheld < hcap && probed(e->page, c->gen))
			c->held[c->nheld++] = e->page;
		else
			c->plan[c->nplan++] = e->page;
	}
	if (c->nheld)
		count(&tot.probes, 1);
	c->plan_bytes = bytes;
	plan_bytes += bytes;
	pthread_mutex_unlock(&lock);
	return 0;
}

void learn_plan_done(struct learn_child *c)
{
	if (c->plan_bytes) {
		pthread_mutex_lock(&lock);
		plan_bytes -= c->plan_bytes;
		pthread_mutex_unlock(&lock);
	}
	free(c->plan);
	c->plan = NULL;
	c->nplan = 0;
	c->plan_bytes = 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorted, without repeats, into a new array; NULL when out of memory. */
static uint64_t *distinct(const struct learn_obs *o, size_t *n)
{
	uint64_t *t = malloc((o->n ? o->n : 1) * sizeof(*t));
	size_t k = 0;

	if (!t)
		return NULL;
	if (o->n) { /* memcpy and qsort want pointers even for nothing */
		memcpy(t, o->pages, o->n * sizeof(*t));
		qsort(t, o->n, sizeof(*t), cmp_u64);
	}
	for (size_t i = 0; i < o->n; i++)
		if (!k || t[k - 1] != t[i])
			t[k++] = t[i];
	*n = k;
	return t;
}

static int held(const struct learn_child *c, uint64_t page)
{
	return c->nheld &&
	       bsearch(&page, c->held, c->nheld, sizeof(page), cmp_u64);
}

static struct entry *entry_of(struct lineage *l, uint64_t page)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->e[mid].page < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && l->e[lo].page == page ? &l->e[lo] : NULL;
}

/* One touched page that is already an entry: how it counts, its share. */
static void retouch(const struct learn_child *c, struct entry *e,
		    struct learn_outcome *out)
{
	uint32_t v;

	if (e->in && held(c, e->page)) {
		out->hits++;
		e->share = (uint16_t)(e->share + (SHARE_ONE - e->share) / 2);
		e->seen = (uint32_t)c->gen;
		return;
	}
	if (e->in) { /* touched before the mapping reached it */
		out->late++;
		return;
	}
	out->misses++;
	/* The children since it was last seen did not touch it (each takes
	 * 1/8 off), this one did (1/8 of the way up). */
	v = share_at(e, c->gen - 1);
	e->share = (uint16_t)(v + (SHARE_ONE - v) / 8);
	e->seen = (uint32_t)c->gen;
	e->in = e->share >= SHARE_IN;
}

/* Merge the sorted pages t[0..m) into l's entries; NULL-safe on ENOMEM. */
static int merge(struct lineage *l, const struct learn_child *c,
		 const uint64_t *t, size_t m, struct learn_outcome *out)
{
	struct entry *n = malloc((l->n + m ? l->n + m : 1) * sizeof(*n));
	size_t i = 0, j = 0, k = 0;

	if (!n)
		return -ENOMEM;
	while (i < l->n || j < m) {
		if (j == m || (i < l->n && l->e[i].page < t[j])) {
			/* Untouched candidates fade out of the lineage. */
			if (l->e[i].in ||
			    share_at(&l->e[i], c->gen) >= SHARE_FLOOR)
				n[k++] = l->e[i];
			i++;
		} else if (i == l->n || t[j] < l->e[i].page) {
			n[k++] = (struct entry){ .page = t[j++],
						 .seen = (uint32_t)c->gen,
						 .share = SHARE_ONE / 8 };
			out->misses++;
		} else {
			n[k] = l->e[i++];
			retouch(c, &n[k++], out);
			j++;
		}
	}
	free(l->e);
	l->e = n;
	nentries = nentries - l->n + k;
	l->u->entries = l->u->entries - l->n + k;
	l->n = k;
	return 0;
}

/*
 * How strong an entry is, in WEAK_BUCKETS steps: candidates by their share
 * now, then the set by its share.  Giving up the weakest by bucket is one
 * pass to count and one to compact, whatever the lineage's size (a sort of
 * 65536 entries would take a worker's whole turn).
 */
#define WEAK_BUCKETS 2048

static unsigned strength(const struct entry *e, uint64_t gen)
{
	return e->in ? WEAK_BUCKETS / 2 + ((unsigned)e->share >> 6)
		     : (unsigned)(share_at(e, gen) >> 6);
}

/* Drop the drop_n weakest entries of l, keeping the others in order. */
static void drop_weakest(struct lineage *l, size_t drop_n)
{
	static size_t hist[WEAK_BUCKETS]; /* under the lock */
	size_t below = 0, k = 0, extra;
	unsigned cut = 0;

	memset(hist, 0, sizeof(hist));
	for (size_t i = 0; i < l->n; i++)
		hist[strength(&l->e[i], l->gen)]++;
	while (cut < WEAK_BUCKETS - 1 && below + hist[cut] < drop_n)
		below += hist[cut++];
	/* Everything below the cut goes, and as many of the cut as needed. */
	extra = drop_n - below;
	for (size_t i = 0; i < l->n; i++) {
		unsigned st = strength(&l->e[i], l->gen);

		if (st < cut || (st == cut && extra && extra--))
			continue;
		l->e[k++] = l->e[i];
	}
	l->n = k;
}

/* Keep the lineage within its own, its uid's and the daemon's bounds. */
static void shrink(struct lineage *l)
{
	size_t others_uid = l->u->entries - l->n, others = nentries - l->n,
	       allowed = l->max, drop_n;

	/* The daemon's bound: older lineages of anyone give way first. */
	while (others + (l->n < allowed ? l->n : allowed) > LEARN_ENTRIES) {
		struct lineage *v = lru_of(0, 1, l);

		if (!v)
			break;
		others -= v->n;
		if (v->u == l->u)
			others_uid -= v->n;
		drop(v);
		count(&tot.evicted, 1);
	}
	if (others + allowed > LEARN_ENTRIES)
		allowed = others < LEARN_ENTRIES ? LEARN_ENTRIES - others : 0;
	if (others_uid + allowed > LEARN_UID_ENTRIES)
		allowed = others_uid < LEARN_UID_ENTRIES
			      ? LEARN_UID_ENTRIES - others_uid
			      : 0;
	if (l->n <= allowed)
		return;
	/* Down to 7/8 at once, so that a full lineage shrinks rarely. */
	drop_n = l->n - allowed + allowed / 8;
	drop_weakest(l, drop_n);
	nentries -= drop_n;
	l->u->entries -= drop_n;
	count(&tot.dropped, drop_n);
}

static void recount(struct lineage *l)
{
	size_t s = 0;

	for (size_t i = 0; i < l->n; i++)
		s += l->e[i].in;
	nset_all = nset_all - l->nset + s;
	l->nset = s;
}

void learn_end(const struct learn_key *k, struct learn_child *c,
	       const struct learn_obs *o, struct learn_outcome *out)
{
	struct lineage *l;
	uint64_t *t;
	size_t m = 0;

	memset(out, 0, sizeof(*out));
	learn_plan_done(c);
	t = distinct(o, &m);
	pthread_mutex_lock(&lock);
	l = find(k);
	if (!l && t && m)
		l = create(k, c->pages);
	/* Begun before its lineage was there: it counts from now. */
	if (l && !c->gen)
		c->gen = ++l->gen;
	if (l && t && merge(l, c, t, m, out) == 0) {
		/* A probe's held pages that were not touched. */
		for (size_t i = 0; i < c->nheld; i++) {
			struct entry *e = entry_of(l, c->held[i]);

			if (e && e->in && e->seen != (uint32_t)c->gen) {
				e->share = (uint16_t)(e->share / 2);
				e->seen = (uint32_t)c->gen;
				e->in = e->share >= SHARE_OUT;
				out->unused++;
			}
		}
		shrink(l);
		recount(l);
		touch(l);
		if (l->board)
			board_write(l);
	}
	pthread_mutex_unlock(&lock);
	count(&tot.misses, out->misses);
	count(&tot.hits, out->hits);
	count(&tot.late, out->late);
	count(&tot.unused, out->unused);
	free(t);
	free(c->held);
	c->held = NULL;
	c->nheld = 0;
}

int learn_board(const struct learn_key *k, unsigned pages, uint32_t page_size,
		unsigned teach)
{
	struct lineage *l;
	int fd, rc = 0;

	pthread_mutex_lock(&lock);
	expire();
	l = find(k);
	if (!l)
		l = create(k, pages);
	if (!l)
		rc = -ENOMEM;
	else if (!l->board)
		rc = board_make(l, page_size);
	if (rc == 0) {
		touch(l);
		__atomic_store_n(&l->board->teach_every, teach,
				 __ATOMIC_RELAXED);
		fd = fcntl(l->board_fd, F_DUPFD_CLOEXEC, 3);
		rc = fd < 0 ? -errno : fd;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void learn_count_premap(uint64_t pages, uint64_t us)
{
	uint64_t max = __atomic_load_n(&tot.premap_us_max, __ATOMIC_RELAXED);

	count(&tot.premapped, pages);
	__atomic_store_n(&tot.premap_us_last, us, __ATOMIC_RELAXED);
	while (us > max &&
	       !__atomic_compare_exchange_n(&tot.premap_us_max, &max, us, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void learn_totals(struct learn_totals *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_lock(&lock);
	expire();
	t->lineages = nlineages;
	t->entries = nentries;
	t->set_pages = nset_all;
	t->bytes = nentries * sizeof(struct entry) +
		   nlineages * sizeof(struct lineage) + plan_bytes +
		   board_bytes_all;
	t->boards = 0;
	for (struct lineage *l = oldest; l; l = l->newer)
		t->boards += l->board != NULL;
	pthread_mutex_unlock(&lock);
	t->children = __atomic_load_n(&tot.children, __ATOMIC_RELAXED);
	t->premapped = __atomic_load_n(&tot.premapped, __ATOMIC_RELAXED);
	t->misses = __atomic_load_n(&tot.misses, __ATOMIC_RELAXED);
	t->hits = __atomic_load_n(&tot.hits, __ATOMIC_RELAXED);
	t->late = __atomic_load_n(&tot.late, __ATOMIC_RELAXED);
	t->unused = __atomic_load_n(&tot.unused, __ATOMIC_RELAXED);
	t->probes = __atomic_load_n(&tot.probes, __ATOMIC_RELAXED);
	t->evicted = __atomic_load_n(&tot.evicted, __ATOMIC_RELAXED);
	t->dropped = __atomic_load_n(&tot.dropped, __ATOMIC_RELAXED);
	t->refused = __atomic_load_n(&tot.refused, __ATOMIC_RELAXED);
	t->self_children =
	    __atomic_load_n(&tot.self_children, __ATOMIC_RELAXED);
	t->premap_us_last =
	    __atomic_load_n(&tot.premap_us_last, __ATOMIC_RELAXED);
	t->premap_us_max =
	    __atomic_load_n(&tot.premap_us_max, __ATOMIC_RELAXED);
}

void learn_reset(void)
{
	pthread_mutex_lock(&lock);
	for (struct lineage *l = oldest, *next; l; l = next) {
		next = l->newer;
		drop(l);
	}
	memset(&tot, 0, sizeof(tot));
	nuids = 0;
	pthread_mutex_unlock(&lock);
}
