/* SPDX-License-Identifier: MIT */
/*
 * Learned child working sets (the learn policy's memory): per region
 * lineage -- one memfd, one forking parent, one uid -- the pages the
 * parent's children touched in their first moments, each with a score.
 * Pages that scored twice are the set, mapped into the next child before
 * its first fault.  The table outlives every policy instance (each child
 * under uffd-run registers with an instance of its own) and is shared by
 * all workers, behind one lock taken twice per child (begin and end),
 * never on a fault.
 *
 * Keys come from the kernel: the memfd's device and inode (fstat of the
 * descriptor the daemon holds), the uid from SO_PEERCRED, the parent's
 * pid from PIDFD_GET_INFO or the fork event, and the parent's pidfs
 * inode, which a pid reused by another process does not share.
 *
 * Bounds (SECURITY.md): a lineage holds at most its `pages` entries; a uid
 * at most LEARN_UID_LINEAGES lineages and LEARN_UID_ENTRIES entries; the
 * daemon LEARN_LINEAGES and LEARN_ENTRIES (16 bytes each: 16 MiB); the
 * sets copied out to children being mapped LEARN_PLAN_BYTES.  A board
 * holds a run (16 bytes) per set page at most, so boards hold no more
 * than the entries do, plus a page each.  A full uid
 * or daemon gives up its least recently used lineage; a full lineage its
 * weakest candidates, never a page of its set for a page seen once.
 * Lineages unused for LEARN_IDLE_NS go.
 */
#ifndef UFFDD_POLICY_LEARN_SET_H
#define UFFDD_POLICY_LEARN_SET_H

#include <stddef.h>
#include <stdint.h>

#define LEARN_LINEAGES	   1024
#define LEARN_UID_LINEAGES 64
#define LEARN_ENTRIES	   (1u << 20)
#define LEARN_UID_ENTRIES  (1u << 18)
#define LEARN_PLAN_BYTES   (16u << 20)
#define LEARN_IDLE_NS	   (600ull * 1000000000ull)
/* A child's first moments teach at most this many distinct pages. */
#define LEARN_OBS_PAGES 1024
/*
 * Every LEARN_PROBE_EVERY-th child of a lineage is a probe: the pages of
 * one LEARN_PROBE_SLICES-th of the set are left for it to fault, to see
 * whether children still use them (mapped ahead, a page never faults, so
 * nothing else tells).  Used: kept; unused: the score halves, and a page
 * unused by a few probes leaves the set.
 */
#define LEARN_PROBE_EVERY  16u
#define LEARN_PROBE_SLICES 32u

struct learn_key {
	uint64_t dev, ino;  /* the memfd */
	uint64_t parent_id; /* pidfs inode of the parent, 0 if unknown */
	uint32_t parent_pid;
	uint32_t uid;
};

/* What a child takes from its lineage at registration. */
struct learn_child {
	uint64_t gen;	/* its number among the lineage's children (0:
			   none yet) */
	unsigned pages; /* a new lineage's bound */
	uint64_t *plan; /* set pages to map ahead (memfd page indexes,
			   ascending); malloc'ed, the caller frees */
	size_t nplan;
	size_t nset;	/* the set's size when the child began */
	uint64_t *held; /* set pages a probe leaves unmapped; ascending */
	size_t nheld;
	size_t plan_bytes; /* counted against LEARN_PLAN_BYTES until freed */
};

/* A child's first moments, handed back at their end. */
struct learn_obs {
	uint64_t *pages; /* pages touched (faulted), any order, repeats ok */
	size_t n;
};

/* What the end of a child's first moments taught (its counters). */
struct learn_outcome {
	uint64_t misses; /* distinct pages touched outside the set */
	uint64_t hits;	 /* held pages the probe saw touched */
	uint64_t late;	 /* set pages touched before they were mapped */
	uint64_t unused; /* held pages the probe saw untouched */
};

/*
 * A child of lineage k registers: its set into c (a lineage is made, with
 * room for `pages` entries, when a child first has pages to teach it).
 * self_pid: the child's pid when it mapped the lineage's board itself
 * (UFFDD_REGF_SELFMAP): no plan then, and it is a probe by its pid, as the
 * board tells children.  0, or -ENOMEM (c empty: nothing is mapped
 * ahead).
 */
int learn_begin(const struct learn_key *k, unsigned pages, uint32_t self_pid,
		struct learn_child *c);
/*
 * The board of lineage k (proto/uffdd_proto.h, "learned-set board"): a
 * sealed memfd the lineage's set is written to whenever it changes, for
 * the parent to map and its children to read at fork.  The lineage is made
 * (with room for `pages` entries) if it is not there; its pages are
 * page_size bytes; teach goes to the board (teach_every: how many of the
 * children that map it register).  A new descriptor
 * of it (close-on-exec, the caller's), or -errno.  A lineage given up
 * empties its board first: children of a parent holding it map nothing.
 */
int learn_board(const struct learn_key *k, unsigned pages, uint32_t page_size,
		unsigned teach);
/* The plan of c is done with (mapped, or given up). */
void learn_plan_done(struct learn_child *c);
/*
 * The child's first moments are over: what it touched goes into the
 * lineage (if it is still there); c is emptied.
 */
void learn_end(const struct learn_key *k, struct learn_child *c,
	       const struct learn_obs *o, struct learn_outcome *out);

/* Daemon-wide gauges and counters (status "learn", metrics). */
struct learn_totals {
	uint64_t lineages, entries, set_pages, bytes;
	uint64_t children, premapped, misses, hits, late, unused, probes;
	uint64_t evicted, dropped, refused;
	uint64_t boards, self_children; /* boards; children mapping one */
	uint64_t premap_us_last, premap_us_max;
};
void learn_totals(struct learn_totals *t);
/* The policy counts its mapping here (atomic). */
void learn_count_premap(uint64_t pages, uint64_t us);

/* Forget every lineage (tests; the daemon's exit, for valgrind). */
void learn_reset(void);
/* Tests: the clock idle lineages are measured by (NULL: CLOCK_MONOTONIC). */
void learn_set_clock(uint64_t (*now)(void));

#endif
