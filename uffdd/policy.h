/* SPDX-License-Identifier: MIT */
/*
 * Policies: what the daemon does with a minor fault in a region.
 * Each policy is a module with one policy_ops; an instance (struct policy)
 * lives with its region and is called only from the region's worker.
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
	POLICY_DENY, /* refuse the access */
};

struct map_range {
	uint64_t start; /* page aligned, inside the region */
	uint64_t len;
};

struct policy_ops {
	const char *name;
	const char *usage; /* "name[:ARGS]" for --help and errors */
	/* Parse args (NULL when none were given) into per-region state. */
	int (*create)(const char *args, void **state, char *err, size_t errlen);
	void (*destroy)(void *state);
	/* addr is the faulting page's address (page aligned, inside r). */
	enum policy_verdict (*fault)(void *state, struct region *r,
				     uint64_t addr, struct map_range *out);
	/* Optional: the policy's own counters for `uffdctl status`. */
	void (*status)(void *state, struct json_object *o);
};

struct policy {
	const struct policy_ops *ops;
	void *state;
	char spec[128];
};

/* "name" or "name:args".  Returns 0 or -EINVAL with a message in err. */
int policy_create(const char *spec, struct policy **out, char *err,
		  size_t errlen);
int policy_check(const char *spec, char *err, size_t errlen);
void policy_destroy(struct policy *p);

/* Names of all policies, space separated (for --help). */
const char *policy_names(void);

extern const struct policy_ops policy_continue;

#endif
