/* SPDX-License-Identifier: MIT */
/*
 * A client session: who the client is, its protocol state, its regions,
 * and, for a forked child followed through UFFD_EVENT_FORK, how it is
 * found and watched.  A session belongs to one worker, which alone
 * changes it; the worker's lock is held around changes of its session
 * list and region tables so that the main thread may read them (status).
 */
#ifndef UFFDD_SESSION_H
#define UFFDD_SESSION_H

#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "bounds.h"
#include "peer.h"
#include "region.h"
#include "share.h"
#include "uffdd_proto.h"

struct event;
struct worker;
struct worker_pool;

/* The protocol on the client's socket (session_proto.c). */
struct session_proto {
	int sock; /* -1 for a forked child */
	struct event *ev;
	char name[UFFDD_NAME_LEN]; /* from HELLO */
	int hello_done;
	int granted;	   /* got a /dev/userfaultfd grant */
	int uffd_mode;	   /* enum uffdd_uffd_mode of its latest region */
	int restored;	   /* taken back from the fd store after a restart */
	pid_t forked_from; /* came as a FORKED on this client's connection */
	/* FORKED: its REGISTER, served once a worker has the session. */
	struct uffdd_msg *first;
	struct event *hello_ev; /* limits.hello_timeout_ms */
	struct rate rate;	/* limits.messages_per_second */
};

/* Lifecycle events read from its uffds (events.c); atomic counters. */
struct session_events {
	uint64_t fork, remap, remove, unmap;
	uint64_t forming; /* id of the child session a fork is filling */
};

/* A forked child (events_fork.c): no socket, on its parent's worker. */
struct session_child {
	uint64_t parent_session;
	int pidfd; /* ends the session when the child exits */
	struct event *pidfd_ev;
	struct event *find_ev; /* looks for its pid */
	unsigned find_tries;
};

struct session {
	uint64_t id;
	struct worker *w;
	TAILQ_ENTRY(session) link;
	int dying;
	time_t since;
	struct peer_id who;
	struct share *share; /* its uid's holdings (share.c) */
	int admin;	     /* root or admin_gids: no share, the reserve */
	int counted;	     /* holds one of limits.clients */
	int kin;	     /* its pid is in kin.c's table */
	struct session_proto proto;
	struct region_table regions;
	struct session_events events;
	struct session_child *child; /* NULL unless a forked child */
};

/* Main thread: a session for a new connection, its identity from the
 * kernel.  NULL (logged) if the peer cannot be told. */
struct session *session_new(int sock);
/*
 * s takes one of limits.clients within its uid's share (force: without a
 * check, for a session a restarted daemon takes back).  0, or -EUSERS
 * with why.  Given back when s ends.
 */
int session_count_in(struct session *s, int force, char *why, size_t len);
/* The same for a socket a forked child of parent made (FORKED). */
struct session *session_new_child(int sock, const struct peer_id *parent);
/* A session with no socket (a forked child, filled by the caller). */
struct session *session_blank(void);
/* Free a session no worker has taken. */
void session_discard(struct session *s);

/*
 * Any thread: s goes to w, which runs attach(w, s) on its own thread.
 * Until then s is among w's pending sessions.  0 or -ENOMEM.
 */
int session_hand(struct session *s, struct worker *w,
		 void (*attach)(struct worker *w, void *s));
/* Worker: s becomes one of w's sessions (from attach, or a new child). */
void session_join(struct session *s, struct worker *w);
/* Worker: s leaves w (to be handed to another). */
void session_leave(struct session *s);

/* Worker: end s, closing everything it holds; logs why. */
void session_drop(struct session *s, const char *why);
/* Worker, as it stops: every session it holds ends. */
void sessions_end(struct worker *w);

/* Worker (or under its lock): the live session of w with id, or NULL. */
struct session *session_find(struct worker *w, uint64_t id);
/* Any thread: fn for each session of w, under w's lock. */
void sessions_each(struct worker *w, void (*fn)(struct session *s, void *arg),
		   void *arg);

/*
 * Refuse request m, well formed but not granted: an ERROR with code and
 * why to the client, a log line (at most one a second per session), and
 * the descriptors m carried closed.  Returns -code.
 */
int session_refuse(struct session *s, struct uffdd_msg *m, int code,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * The level of s's lifecycle lines (connected, region registered, ended):
 * LOG_DEBUG for a child registered with FORKED -- a server forking a
 * thousand children a second must not write three thousand lines a second
 * (journald would rate-limit the daemon); its parent counts them
 * (events.fork) -- LOG_INFO otherwise.
 */
int session_log_level(const struct session *s);

/* Keep s (after HELLO) in the service manager's fd store. */
void session_keep(const struct session *s);
/* Keep region r of s there (again: its description changed). */
void session_keep_region(const struct session *s, const struct region *r,
			 int again);

/*
 * Worker: put r in s's table, under the lock, as one of limits.regions and
 * r's length of limits.bytes within the uid's share.  -EEXIST, -ENOMEM,
 * -EDQUOT or -ENOSPC (the share or the limit: why says which).
 */
int session_add_region(struct session *s, struct region *r, char *why,
		       size_t len);
/* Worker: the same, then serve its uffd; r is freed (logged) on failure. */
int session_add_live(struct session *s, struct region *r);
/* Worker: take r out of s's table, under the lock (and its share). */
void session_remove_region(struct session *s, struct region *r);
/* Worker: r of s ends at len now (a split): the rest is no longer s's. */
void session_shrink_region(struct session *s, struct region *r, uint64_t len);
/* Main thread: r, taken back from the fd store, joins s's table (what
 * it holds is counted without a check).  0 or -EEXIST. */
int session_adopt_region(struct session *s, struct region *r);
/* Worker: the client unregistered r (its faults go to the kernel). */
void session_unregister(struct session *s, struct region *r);
/*
 * Worker: take r out of its session now (table, event, policy, store) and
 * free it from the event loop later, so that a fault batch being resolved
 * never sees its descriptors closed under it.
 */
void session_retire(struct region *r, const char *why);

#endif
