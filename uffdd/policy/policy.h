/* SPDX-License-Identifier: MIT */
/*
 * Policies: what the daemon does with a minor fault in a region.  This
 * header is the whole world a policy sees: the region it serves (struct
 * policy_region, kept current by the core), what it may do with it
 * (policy_map, policy_deny, policy_loop, policy_caps, policy_log), and the
 * hooks it implements (struct policy_ops).  A policy includes this header
 * and nothing else of the daemon (its counters come with it).
 *
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

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

#include "counter.h"
#include "probe.h"

struct event_base;
struct json_object;
struct policy;

/*
 * Every policy, once: X(name, client).  client is 1 when a client may ask
 * for it by default (the default of client_policies); 0 for one that needs
 * the administrator's say.  A policy that uses a file gets it from the
 * client as a descriptor the client opened, so it proves nothing the
 * client could not do itself: every policy is a client's by default.  The
 * table, the allow-list bits, --help and the documented lists all follow
 * this order.  Adding a policy: its file (policy_NAME.c defining `const
 * struct policy_ops policy_ops_NAME`) and one line here; a unit test then
 * says which documents still lack it.
 */
#define POLICY_LIST(X)                                                         \
	X(continue, 1)                                                         \
	X(around, 1)                                                           \
	X(populate, 1)                                                         \
	X(record, 1)                                                           \
	X(prefetch, 1)                                                         \
	X(gate, 1)                                                             \
	X(deny, 1)                                                             \
	X(eager, 1)                                                            \
	X(image, 0)                                                            \
	X(learn, 1)                                                            \
	/* (the end of the list: a new policy goes above) */

/*
 * Per-page bits of a region whose contents the daemon makes, kept in its
 * page-state file (a memfd shared with the client and kept in the fd store):
 * they outlive a restart of the daemon, and the client reads them when it
 * takes over (proto/PROTOCOL.md).  Bit i of byte i / 8 is policy page i.
 * Set them with policy_page_bit_set(), once the page is what the bit says.
 */
struct policy_pages {
	uint64_t npages;
	uint8_t *filled;    /* populate: the page's bytes are in place */
	uint8_t *published; /* gate: the page was published */
};

/*
 * What a policy sees of a region it serves.  Read-only for policies; the
 * core keeps it current (a region moved by mremap has a new start, a piece
 * of a split region its own start, len and offset).
 */
struct policy_region {
	uint64_t id;	    /* the region's id (status, logs) */
	uint64_t start;	    /* its first byte in the client's address space */
	uint64_t len;	    /* bytes, a multiple of page_size */
	uint64_t offset;    /* memfd offset of start */
	uint32_t page_size; /* 4 KiB (shmem) or the hugepage size */
	int memfd;	    /* the client's memfd: a policy may map it */
	uint64_t memfd_dev; /* which file it is (fstat), 0 if not known */
	uint64_t memfd_ino;
	const char *name;   /* as the client named it (printable) */
	struct policy *pol; /* the instance serving it */
	/* The page-state bits (POLICY_F_CONTENT policies), or NULL. */
	struct policy_pages *pages;
	/* Rebuilt from the fd store after a restart: its files hold what an
	 * earlier instance of the daemon wrote. */
	int restored;
	/* Its client keeps its own uffd and serves the region itself once
	 * the daemon lets go of it: a policy that lets faults go as the
	 * region ends must not map pages it has not made (wake them). */
	int client_takes_over;
	/* A forked child that mapped its lineage's learned-set board itself
	 * before it registered (UFFDD_REGF_SELFMAP). */
	int selfmapped;
};

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
	PHASE_OBSERVE = 0,  /* record: sees every fault */
	PHASE_SHAPE = 10,   /* around: widens the range */
	PHASE_DECIDE = 20,  /* gate, deny: may hold, refuse or narrow */
	PHASE_CONTENT = 30, /* populate: makes the range's bytes */
	PHASE_BASE = 40,    /* continue, prefetch */
};

/* policy_ops.flags */
/* Reads or writes a file named in its args: "#N" (the client's file N) or
 * an absolute path under the configuration's policy_dir. */
#define POLICY_F_FILE 0x1u
/*
 * Its fault hook also answers MISSING faults (a page not in the page
 * cache): it puts the page there (a fetch), then the core CONTINUEs it.
 * Without such a stage in the chain, a MISSING fault is unresolved.
 */
#define POLICY_F_MISSING 0x2u
/* Makes the bytes of pages it serves, or decides when they may be seen
 * (populate, gate, deny): the region gets a page-state file, and its
 * client keeps its uffd to take over if the daemon goes. */
#define POLICY_F_CONTENT 0x4u

/* How a client that takes over must treat faults (policy_ops.takeover);
 * the same bits as UFFDD_PAGES_* (proto/uffdd_proto.h). */
#define POLICY_TAKE_POPULATE  0x1u
#define POLICY_TAKE_GATE      0x2u
#define POLICY_TAKE_GATE_DENY 0x4u
#define POLICY_TAKE_DENY      0x8u
#define POLICY_TAKE_IMAGE     0x10u

struct policy_takeover {
	uint32_t flags;		  /* POLICY_TAKE_* */
	uint32_t gate_timeout_ms; /* GATE: 0 waits for ever */
	uint64_t image_offset;	  /* POPULATE: image byte of policy page 0 */
	int image_file;		  /* POPULATE: the client's file N, or -1 */
};

/*
 * What becomes of a fault of a region that the core cannot resolve: a
 * MISSING fault no stage answers (the client registered MISSING as well
 * as MINOR), a write-protect fault, a CONTINUE that finds no page or fails
 * otherwise.  Once, by one rule, never by waking the thread into the same
 * fault again.  Composed, the strictest stage's rule applies.
 */
enum policy_unresolved {
	/* The region goes back to the kernel: its range is unregistered and
	 * the region leaves the session.  Right for a region whose bytes are
	 * the page cache's anyway (continue, around, eager, record). */
	POLICY_UNRESOLVED_RELEASE = 0,
	/* That page is refused (SIGBUS), the region stays: for a region
	 * whose bytes the daemon makes, where the kernel would show a page
	 * that was never filled (populate, gate, deny). */
	POLICY_UNRESOLVED_DENY,
	/* The session ends. */
	POLICY_UNRESOLVED_DROP,
};

/* How a policy uses a file it opens (policy_open_file). */
enum policy_file_use {
	POLICY_FILE_READ = 1,
	POLICY_FILE_WRITE = 2,
};

struct policy_ops {
	const char *name;
	const char *usage; /* "name[:ARGS]" for --help and errors; a usage
			      without ':' means: takes no arguments */
	int phase;	   /* enum policy_phase */
	unsigned flags;	   /* POLICY_F_* */
	int unresolved;	   /* enum policy_unresolved (0: release) */
	size_t state_size; /* an instance's state, zeroed (0: none) */
	size_t file_path;  /* POLICY_F_FILE: offset of the path in state */
	/*
	 * Optional: parse args (NULL when none were given) into state.  Must
	 * not touch files or the system: specs are also checked when a
	 * configuration is loaded.
	 */
	int (*create)(void *state, const char *args, char *err, size_t errlen);
	/* Optional: release what state holds (the state itself is freed
	 * with the instance). */
	void (*destroy)(void *state);
	/*
	 * Optional: region r starts using the instance (registration, a fork
	 * copy, a piece of a split region, or `uffdctl policy`).  The first
	 * attach may refuse (the registration fails with err).  Worker thread.
	 */
	int (*attach)(void *state, struct policy_region *r, char *err,
		      size_t errlen);
	/*
	 * Optional: r stops using the instance (it ends, or `uffdctl policy`
	 * replaces the instance).  Must let go of every fault of r it holds
	 * and stop background work on r.  A fault on a page the policy made
	 * is mapped; one on a page it has not made (a gate's unpublished
	 * page) is mapped only if r->client_takes_over is 0, and else woken
	 * (policy_wake): it faults again, to whoever serves r next.
	 */
	void (*detach)(void *state, struct policy_region *r);
	/*
	 * addr is the faulting page's address (page aligned, inside r), tid
	 * the faulting thread (0 if unknown).  *out holds the range proposed
	 * by the stages before (at first, the faulting page); a stage may
	 * widen or narrow it but must keep addr inside.  NULL: map the
	 * proposed range as it is.
	 */
	enum policy_verdict (*fault)(void *state, struct policy_region *r,
				     uint64_t addr, uint32_t tid,
				     struct map_range *out);
	/*
	 * Optional: make [start, start+len) ready to be mapped without a fault
	 * (prefetch, a gate letting held faults go).  < 0 vetoes mapping it.
	 */
	int (*prepare)(void *state, struct policy_region *r, uint64_t start,
		       uint64_t len);
	/* Optional: a producer published [off, off+len) of r (region bytes). */
	int (*publish)(void *state, struct policy_region *r, uint64_t off,
		       uint64_t len, char *err, size_t errlen);
	/* Optional: the policy's own counters for `uffdctl status`. */
	void (*status)(void *state, struct json_object *o);
	/* Optional (POLICY_F_CONTENT): what a client that takes over the
	 * region must do in this policy's stead; adds to *t. */
	void (*takeover)(void *state, struct policy_takeover *t);
	/*
	 * Optional: a descriptor (the caller's) of the board of what r's
	 * client's forked children touch (UFFDD_REG_BOARD), or -1.  Asked
	 * only of a chain in which any page of the page cache is right (no
	 * POLICY_F_CONTENT or POLICY_F_MISSING stage): a child maps the
	 * board's pages itself, with no stage to ask.
	 */
	int (*board)(void *state, struct policy_region *r);
};

struct policy {
	const struct policy_ops *ops; /* a single policy or the chain */
	void *state;
	char spec[128];
	unsigned refs;	      /* regions using it (worker thread only) */
	int based;	      /* base_offset set */
	uint64_t base_offset; /* memfd offset of the first region's start */
};

#define POLICY_DECLARE(n, client) extern const struct policy_ops policy_ops_##n;
POLICY_LIST(POLICY_DECLARE)
#undef POLICY_DECLARE

/* What a policy may do with a region (the core answers) ----------------------
 */

/*
 * The longest a worker's loop turn runs: a batch of faults, a policy's
 * background step (eager, prefetch), a few protocol messages.  Every other
 * client of that worker waits at most about this long for its fault to be
 * read.  A policy's background work is cut into steps of this much.
 */
#define POLICY_TURN_NS 2000000ull

/*
 * Map [start, start+len) of r now, without a fault (a gate letting go, a
 * prefetch, eager).  soft: POLICY_MAP_SOFT: pages absent from the page
 * cache or already mapped are skipped quietly; POLICY_MAP_AHEAD as well:
 * mapping ahead of any fault, so no thread is woken (one that faulted on
 * such a page meanwhile is woken when its fault is read).  Never for a
 * fault a policy holds.  The pages mapped, or -errno (-ESRCH: the process
 * is gone or r was retired).
 */
#define POLICY_MAP_SOFT	 0x1
#define POLICY_MAP_AHEAD 0x3
long policy_map(struct policy_region *r, uint64_t start, uint64_t len,
		int soft);
/*
 * Map, without a fault, what is in the page cache of [*pos, end) of r, for
 * at most budget_ns; *pos moves to where it stopped (end once done).  Holes
 * are skipped at once where the file system can tell (shmem), so a sparse
 * region costs its contents, not its size.  The pages mapped, or -errno
 * (-ESRCH: the process is gone or r was retired).
 */
long policy_map_present(struct policy_region *r, uint64_t *pos, uint64_t end,
			uint64_t budget_ns);
/* Refuse the access to the page at addr (UFFDIO_POISON: SIGBUS). */
int policy_deny(struct policy_region *r, uint64_t addr, uint32_t tid);
/* Wake the threads waiting on [start, start+len) of r without mapping
 * anything: they fault again (and reach whoever serves r then). */
void policy_wake(struct policy_region *r, uint64_t start, uint64_t len);
/*
 * A policy that held faults of r (POLICY_HOLD) lets n of them go, mapped
 * or refused: the core's count of held faults (limits.pending_faults, the
 * uid's share of pending_faults_total) follows at once instead of at the
 * next time it asks the kernel.
 */
void policy_held_done(struct policy_region *r, unsigned n);
/*
 * Unmap a policy's own mapping of a client's memory (populate's) off the
 * worker: zapping a large populated mapping is slow, and no client waits
 * for it.  Safe to call with no host (a configuration check).
 */
void policy_unmap(void *addr, size_t len);
/* The event loop of r's worker: a policy's timers and background work. */
struct event_base *policy_loop(const struct policy_region *r);
/* What the running kernel offers (UFFDIO_POISON, its release, ...). */
const struct uffd_caps *policy_caps(const struct policy_region *r);
/* The pid of r's client (as it is known now). */
pid_t policy_pid(const struct policy_region *r);
/*
 * A descriptor (the caller's to close) for the file arg of a POLICY_F_FILE
 * stage names: "#N", the client's file N, checked (a regular file on a local
 * file system, open for use); or a path from the configuration, opened
 * beneath its policy_dir without following links (use WRITE creates or
 * truncates it).  Never blocks.  -errno with err set.
 */
int policy_open_file(const struct policy_region *r, const char *arg,
		     enum policy_file_use use, char *err, size_t errlen);
/*
 * Who r's client is, as the kernel told the daemon (never what the client
 * says of itself): its session, uid, and the process it was forked from,
 * by pid and by its pidfs identity, which unlike a pid is never reused.
 */
struct policy_client {
	uint64_t session;   /* the client's session (one process) */
	uid_t uid;	    /* SO_PEERCRED, or the forking parent's */
	pid_t parent_pid;   /* PIDFD_GET_INFO, or the fork event; 0: unknown */
	uint64_t parent_id; /* the parent's pidfs inode; 0: unknown */
	int followed;	    /* a child followed through UFFD_EVENT_FORK */
	pid_t pid;	    /* the client itself (SO_PEERCRED) */
	uint64_t self_id;   /* its pidfs inode; 0: unknown */
};
void policy_client(const struct policy_region *r, struct policy_client *out);
/* The daemon's clock (CLOCK_MONOTONIC, ns). */
uint64_t policy_now_ns(void);
/* A log line carrying r's client pid and region id as journal fields;
 * r may be NULL (a line about no region). */
void policy_log(const struct policy_region *r, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The core's side of the calls above, given once at start-up.  The
 * policy_region a call gets is always one the core handed to a hook.
 */
struct policy_host {
	long (*map)(struct policy_region *r, uint64_t start, uint64_t len,
		    int soft);
	long (*map_present)(struct policy_region *r, uint64_t *pos,
			    uint64_t end, uint64_t budget_ns);
	int (*deny)(struct policy_region *r, uint64_t addr, uint32_t tid);
	void (*wake)(struct policy_region *r, uint64_t start, uint64_t len);
	void (*held_done)(struct policy_region *r, unsigned n);
	void (*unmap)(void *addr, size_t len);
	struct event_base *(*loop)(const struct policy_region *r);
	const struct uffd_caps *(*caps)(const struct policy_region *r);
	pid_t (*pid)(const struct policy_region *r);
	int (*open_file)(const struct policy_region *r, const char *arg,
			 enum policy_file_use use, char *err, size_t errlen);
	void (*client)(const struct policy_region *r,
		       struct policy_client *out);
	uint64_t (*now)(void);
	void (*log)(const struct policy_region *r, int prio, const char *msg);
};
void policy_set_host(const struct policy_host *host);

/* The framework: instances, composition, the table ------------------------- */

/* "name", "name:args" or "a+b...".  Returns 0 or -errno with err set. */
int policy_create(const char *spec, struct policy **out, char *err,
		  size_t errlen);
int policy_check(const char *spec, char *err, size_t errlen);
/* Free an instance no region uses (never attached). */
void policy_destroy(struct policy *p);

/* r starts using p (takes a reference); on failure p is untouched. */
int policy_attach(struct policy *p, struct policy_region *r, char *err,
		  size_t errlen);
/* r stops using p (drops the reference, frees p with the last one). */
void policy_release(struct policy *p, struct policy_region *r);

/* The fault hook of r's policy (its stages in order); *out as above. */
enum policy_verdict policy_fault(struct policy_region *r, uint64_t addr,
				 uint32_t tid, struct map_range *out);
/* The rule for a fault of r's the core cannot resolve (strictest stage). */
enum policy_unresolved policy_unresolved_rule(const struct policy *p);
/* 1 if a stage of p answers MISSING faults (POLICY_F_MISSING). */
int policy_takes_missing(const struct policy *p);
/* Run every stage's prepare over the range; < 0 if a stage vetoed it. */
int policy_prepare(struct policy_region *r, uint64_t start, uint64_t len);
/* Hand a publish to the stage that takes it (-EOPNOTSUPP if none). */
int policy_publish(struct policy_region *r, uint64_t off, uint64_t len,
		   char *err, size_t errlen);
/* The board for r's client's children (the caller closes it), or -1: none,
 * or a stage of r's policy makes or holds pages (a child may not map the
 * page cache itself). */
int policy_board(struct policy_region *r);
/* Every stage's counters into o (status). */
void policy_status(const struct policy *p, struct json_object *o);

/* Call fn for each stage's ops/state (one call for a single policy). */
void policy_each(const struct policy *p,
		 void (*fn)(const struct policy_ops *ops, void *state,
			    void *arg),
		 void *arg);

/* The memfd page index of addr in r, relative to r's policy's base. */
uint64_t policy_page(const struct policy_region *r, uint64_t addr);
/* The address in r of policy page idx, or 0 if r does not map it. */
uint64_t policy_addr(const struct policy_region *r, uint64_t idx);

/* Add counter v (read with a relaxed load) to a policy's status object. */
void policy_json_count(struct json_object *o, const char *key,
		       const uint64_t *v);

/* Names of all policies with their usage, space separated (--help). */
const char *policy_names(void);

/* A bit per policy name (for allow lists); 0 if unknown. */
uint32_t policy_bit(const char *name, size_t n);
/* The bits of the policies a client may ask for by default. */
uint32_t policy_client_default(void);
/* The names whose bits are set, space separated, into buf. */
const char *policy_bit_names(uint32_t bits, char *buf, size_t len);
/* The bits of every stage of p. */
uint32_t policy_bits(const struct policy *p);
/* The POLICY_F_* flags of p's stages, or'ed. */
unsigned policy_flags(const struct policy *p);
/* What a client taking over from p must do (every stage's takeover). */
void policy_takeover(const struct policy *p, struct policy_takeover *t);

/* Bit i of a page-state bitmap; set it (atomically: the client reads). */
static inline int policy_page_bit(const uint8_t *map, uint64_t i)
{
	return (__atomic_load_n(&map[i / 8], __ATOMIC_ACQUIRE) >> (i % 8)) & 1;
}
static inline void policy_page_bit_set(uint8_t *map, uint64_t i)
{
	__atomic_or_fetch(&map[i / 8], (uint8_t)(1u << (i % 8)),
			  __ATOMIC_RELEASE);
}

/* Shared argument parsing: "123", "4k", "2M"; returns 0 or -EINVAL. */
int policy_parse_u64(const char *s, uint64_t *out);
/*
 * The file argument that is the first len bytes of args, for policy ops
 * (whose usage the error quotes), into out (size bytes): "#N" (N a digit,
 * the client's file N) or an absolute path.  Which of the two a spec may use
 * is the caller's rule (config/rules.c).  0, or -EINVAL with err set.
 */
int policy_file_arg(const struct policy_ops *ops, const char *args, size_t len,
		    char *out, size_t size, char *err, size_t errlen);
/* The file argument of an instance of a POLICY_F_FILE policy. */
const char *policy_file(const struct policy_ops *ops, const void *state);
/* The client file a file argument names (N of "#N"), or -1 for a path. */
int policy_file_index(const char *arg);
/* path relative to dir ("a/b" for dir "/x" and path "/x/a/b"), or NULL if
 * it is not under dir (lexically: no "." or ".." component either). */
const char *policy_path_under(const char *dir, const char *path);

#endif
