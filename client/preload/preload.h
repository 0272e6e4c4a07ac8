/* SPDX-License-Identifier: MIT */
/*
 * libuffdpreload internals: the per-process state shared by the mmap
 * interposers (preload.c), the region table and daemon conversation
 * (regions.c), the fork handlers (fork.c) and the logger (aslog.c).
 *
 * Everything is in static storage: no malloc, so the fork path can use it
 * from a signal handler and the library never recurses into an allocator
 * that itself calls mmap.
 */
#ifndef UFFD_PRELOAD_H
#define UFFD_PRELOAD_H

#include "client_fork.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PL_MAX_REGIONS	    64
#define PL_REPLY_TIMEOUT_MS 5000

/* PL_MOVING: being remapped; invisible to lookups until dropped. */
enum pl_state { PL_FREE = 0, PL_LIVE = 1, PL_MOVING = 2 };

/* One served mapping (or piece of one, after a partial munmap/mremap). */
struct pl_region {
	int state;
	uintptr_t addr;
	size_t len;
	off_t offset;	 /* of addr in the memfd */
	int memfd;	 /* this entry's own descriptor (close-on-exec) */
	ino_t memfd_ino; /* to notice a program that closed it under us */
	int kind;	 /* UFFDD_KIND_* */
	uint32_t page_size;
	unsigned serial;  /* "#n": which mmap of the creating process */
	pid_t creator;	  /* the process that made the mapping */
	uint64_t id;	  /* daemon's region id; 0 = not (yet) served */
	uint32_t reg_seq; /* REGISTER sent, answer not read yet; 0 = none */
	/* The learned-set board of this process's children (board.c), mapped
	 * read-only; NULL: none. */
	const struct uffdd_board_hdr *board;
	size_t board_len;
	int selfmapped; /* a forked child: it mapped the board itself */
};

struct pl_config {
	size_t min_size;
	int huge_only;
	int allow_user_only;
	int verbose;
	int disabled;
	char policy[UFFDD_POLICY_LEN];
	char socket[108];
	char comm[16];
};

struct pl_process {
	int lock;  /* spinlock; see pl_lock() */
	pid_t pid; /* the process that owns conn */
	struct uffd_raw conn;
	ino_t sock_ino;
	ino_t dev_ino;
	uint32_t hello_seq; /* WELCOME not read yet; 0 = read */
	int refused;	    /* no full uffd for us: serve nothing */
	int forked;	    /* the table came from a parent (fork) */
	unsigned next_serial;
	int nlive;
	struct pl_region r[PL_MAX_REGIONS];
};

extern struct pl_config pl_cfg;
extern struct pl_process pl;

/* Lock with every signal blocked: a signal handler that forks or maps
 * cannot then run in the middle of a table update on this thread. */
void pl_lock(sigset_t *saved);
void pl_unlock(const sigset_t *saved);

/* regions.c (called with the lock held) */
int pl_connect(void);
struct pl_region *pl_region_new(void);
void pl_region_drop(struct pl_region *e);
int pl_region_register(struct pl_region *e, int wait);
int pl_region_unregister(struct pl_region *e, int wait);
/* A new entry for [addr, addr+len) at offset of tmpl's memfd, registered. */
struct pl_region *pl_region_piece(const struct pl_region *tmpl, uintptr_t addr,
				  size_t len, off_t offset);
/* The program's mapping of [addr, addr+len) is gone or replaced. */
void pl_cut(uintptr_t addr, size_t len);
int pl_overlaps(uintptr_t addr, size_t len);
/* The entry that holds all of [addr, addr+len), or NULL. */
struct pl_region *pl_find(uintptr_t addr, size_t len);
int pl_fork_handoff(pid_t parent);

/* board.c */
void pl_board_adopt(struct pl_region *e, int fd);
void pl_board_forget(struct pl_region *e);
/*
 * In a forked child, before e is registered: map the pages its board
 * holds (a probe leaves its share).  *pidfd: -1 at first, kept between
 * calls, the caller closes it if >= 0; *bytes adds what was asked for.
 * PL_BOARD_NONE: no board, or an empty one; PL_BOARD_MAPPED: register,
 * telling the daemon (UFFDD_REGF_SELFMAP); PL_BOARD_ALONE: learn:teach=N
 * and this child is not one to teach: leave the copy to the kernel.
 */
enum { PL_BOARD_NONE = 0, PL_BOARD_MAPPED = 1, PL_BOARD_ALONE = 2 };
int pl_board_map(const struct pl_region *e, int *pidfd, uint64_t *bytes);

/* fork.c */
void pl_fork_init(void);

/* aslog.c: async-signal-safe logging to stderr when verbose. */
struct pl_log {
	char buf[320];
	size_t n;
};
void pl_log_start(struct pl_log *l);
void pl_log_s(struct pl_log *l, const char *s);
void pl_log_u(struct pl_log *l, uint64_t v);
void pl_log_x(struct pl_log *l, uint64_t v);
void pl_log_end(struct pl_log *l);
void pl_errno_name(struct pl_log *l, int err);
/* The name used in REGISTER: "comm[pid] kind #n" (+ " @Nk" for pieces). */
void pl_region_name(const struct pl_region *e, char *buf, size_t len);
/* The session name: "comm" or "comm ppid=N". */
void pl_session_name(char *buf, size_t len, pid_t parent);

#endif
