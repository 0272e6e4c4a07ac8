/* SPDX-License-Identifier: MIT */
/*
 * Policies: what the daemon does with a minor fault in a region.
 * Each policy is a module with one policy_ops; an instance (struct policy)
 * lives with its region and is called only from the region's worker.
 *
 * An instance belongs to the memory rather than to one mapping of it: a
 * region split by munmap, moved by mremap or copied into a forked child
 * keeps (shares) its instance, so that per-page state (pages populated,
 * pages published) stays true for the memfd.  Policies therefore index
 * pages by their offset in the memfd relative to the instance's base
 * (policy_page()), never by address.
 *
 * Specs: "name", "name:args", and compositions "a+b[+c...]" (for example
 * "populate:/snap.img+around:16").  The stages of a composition run in the
 * order of their phase, whatever order they were written in.
 */
#ifndef UFFDD_POLICY_H
#define UFFDD_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct region;
struct json_object;

enum policy_verdict {
	POLICY_MAP,  /* CONTINUE the range in *out */
	POLICY_HOLD, /* keep the thread waiting; the policy resolves it later */
	POLICY_DENY, /* refuse the access: the fault path poisons the page */
};

struct map_range {
	uint64_t start; /* page aligned, inside the region */
	uint64_t len;
};

/* Order of stages in a composition (lower runs first). */
enum policy_phase {
	PHASE_OBSERVE = 0, /* record: sees every fault */
	PHASE_SHAPE = 10,  /* around: widens the range */
	PHASE_DECIDE = 20, /* gate, deny: may hold, refuse or narrow */
	PHASE_FILL = 30,   /* populate: makes the range's contents */
	PHASE_BASE = 40,   /* continue, prefetch */
};

/* policy_ops.flags */
#define POLICY_F_FILE 0x1u /* reads or writes a file named in its args */
#define POLICY_F_MAPS 0x2u /* maps the client's memfd (needs F_SEAL_SHRINK) */
#define POLICY_F_ONCE 0x4u /* at most one stage of this kind in a composition */

struct policy_ops {
	const char *name;
	const char *usage; /* "name[:ARGS]" for --help and errors */
	int phase;         /* enum policy_phase */
	unsigned flags;    /* POLICY_F_* */
	/*
	 * Parse args (NULL when none were given) into per-instance state.
	 * Must not touch files or the system: specs are also checked when a
	 * configuration is loaded.
	 */
	int (*create)(const char *args, void **state, char *err, size_t errlen);
	void (*destroy)(void *state);
	/*
	 * Optional: region r starts using the instance (registration, a fork
	 * copy, a piece of a split region, or `uffdctl policy`).  The first
	 * attach may refuse (the registration fails with err).  Worker thread.
	 */
	int (*attach)(void *state, struct region *r, char *err, size_t errlen);
	/*
	 * Optional: r stops using the instance.  Must let go of every fault of
	 * r it holds (map them) and stop background work on r.
	 */
	void (*detach)(void *state, struct region *r);
	/*
	 * addr is the faulting page's address (page aligned, inside r), tid
	 * the faulting thread (0 if unknown).  *out holds the range proposed
	 * by the stages before (at first, the faulting page); a stage may
	 * widen or narrow it but must keep addr inside.  NULL: map the
	 * proposed range as it is.
	 */
	enum policy_verdict (*fault)(void *state, struct region *r,
				     uint64_t addr, uint32_t tid,
				     struct map_range *out);
	/*
	 * Optional: make [start, start+len) ready to be mapped without a fault
	 * (prefetch, a gate letting held faults go).  < 0 vetoes mapping it.
	 */
	int (*fill)(void *state, struct region *r, uint64_t start, uint64_t len);
	/* Optional: a producer published [off, off+len) of r (region bytes). */
	int (*publish)(void *state, struct region *r, uint64_t off, uint64_t len,
		       char *err, size_t errlen);
	/* Optional: the policy's own counters for `uffdctl status`. */
	void (*status)(void *state, struct json_object *o);
	/* Optional (POLICY_F_FILE): the path the instance uses. */
	const char *(*file)(void *state);
};

struct policy {
	const struct policy_ops *ops; /* a single policy or the chain */
	void *state;
	char spec[128];
	unsigned refs;     /* regions using it (worker thread only) */
	int based;         /* base_offset set */
	uint64_t base_offset; /* memfd offset of the first region's start */
};

/* "name", "name:args" or "a+b...".  Returns 0 or -errno with err set. */
int policy_create(const char *spec, struct policy **out, char *err,
		  size_t errlen);
int policy_check(const char *spec, char *err, size_t errlen);
/* Free an instance no region uses (never attached). */
void policy_destroy(struct policy *p);

/* r starts using p (takes a reference); on failure p is untouched. */
int policy_attach(struct policy *p, struct region *r, char *err,
		  size_t errlen);
/* r stops using p (drops the reference, frees p with the last one). */
void policy_release(struct policy *p, struct region *r);

/* Run every stage's fill over the range; < 0 if a stage vetoed it. */
int policy_fill(struct region *r, uint64_t start, uint64_t len);
/* Hand a publish to the stage that takes it (-EOPNOTSUPP if none). */
int policy_publish(struct region *r, uint64_t off, uint64_t len, char *err,
		   size_t errlen);

/* Call fn for each stage's ops/state (one call for a single policy). */
void policy_each(const struct policy *p,
		 void (*fn)(const struct policy_ops *ops, void *state,
			    void *arg),
		 void *arg);

/* The memfd page index of addr in r, relative to r's policy's base. */
uint64_t policy_page(const struct region *r, uint64_t addr);
/* The address in r of policy page idx, or 0 if r does not map it. */
uint64_t policy_addr(const struct region *r, uint64_t idx);

/* Add counter v (read with a relaxed load) to a policy's status object. */
void policy_json_count(struct json_object *o, const char *key,
		       const uint64_t *v);

/* Names of all policies, space separated (for --help). */
const char *policy_names(void);
/* The ops of a policy name (length n), or NULL. */
const struct policy_ops *policy_lookup(const char *name, size_t n);

/* A bit per policy name (for allow lists); 0 if unknown. */
uint32_t policy_bit(const char *name, size_t n);
/* The names whose bits are set, space separated, into buf. */
const char *policy_bit_names(uint32_t bits, char *buf, size_t len);
/* The bits of every stage of p. */
uint32_t policy_bits(const struct policy *p);

/* Shared argument parsing: "123", "4k", "2M"; returns 0 or -EINVAL. */
int policy_parse_u64(const char *s, uint64_t *out);

extern const struct policy_ops policy_continue;
extern const struct policy_ops policy_around;
extern const struct policy_ops policy_populate;
extern const struct policy_ops policy_record;
extern const struct policy_ops policy_prefetch;
extern const struct policy_ops policy_gate;
extern const struct policy_ops policy_deny;
extern const struct policy_ops policy_eager;

#endif
