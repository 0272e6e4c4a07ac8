/* SPDX-License-Identifier: MIT */
/*
 * The daemon's shared state: workers, sessions, regions.
 *
 * Ownership: a session and its regions belong to one worker thread, which
 * alone changes them and alone runs their fault path (no lock there).  The
 * worker takes its own `lock` only around structural changes (a session or
 * region added or removed), so that the main thread can walk the lists for
 * `uffdctl status`; counters are read with relaxed atomics.
 */
#ifndef UFFDD_DAEMON_H
#define UFFDD_DAEMON_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "config/config.h"
#include "histo.h"
#include "bounds.h"
#include "probe.h"
#include "uffdd_proto.h"

struct event;
struct event_base;
struct policy;
struct worker;
struct daemon;

#define CNT_LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define CNT_ADD(x, v) \
	__atomic_store_n(&(x), CNT_LD(x) + (v), __ATOMIC_RELAXED)

struct region_stats {
	uint64_t faults;       /* fault messages handled */
	uint64_t pages_mapped; /* pages installed by CONTINUE */
	uint64_t errors;       /* faults that could not be resolved cleanly */
	uint64_t races;        /* EEXIST: another thread won, woken */
	uint64_t denied;       /* faults refused (UFFDIO_POISON) */
};

struct region {
	uint64_t id;
	struct session *s;
	uint64_t start, len, offset;
	uint32_t page_size;
	uint8_t kind;
	int uffd;
	int memfd;
	uint64_t uffd_features;
	struct event *ev;
	struct policy *pol;
	char name[UFFDD_REGION_NAME_LEN];
	struct region_stats st;
	struct histo lat; /* ns from reading the fault to the mapping */
	int dead;            /* retired by an event; freed from the loop */
	/*
	 * Regions cut from one registration (split by munmap/mremap) share
	 * one userfaultfd context (each holds a dup of it): same ctx id.
	 */
	uint64_t ctx;
	uint64_t parent_ctx; /* fork copy: the parent's ctx id */
	/* limits.c: faults held unanswered (an estimate, synced from the
	 * kernel's count), and reading paused at limits.pending_faults. */
	unsigned held_est;
	int paused;
	struct event *resume_ev;
};

struct session {
	uint64_t id;
	struct worker *w;
	int sock;
	struct event *ev;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char comm[17];
	char name[UFFDD_NAME_LEN];
	int hello_done;
	int restored; /* taken back from the fd store after a restart */
	int granted;
	int uffd_mode; /* enum uffdd_uffd_mode of its latest region */
	uint64_t bytes; /* registered bytes */
	time_t since;
	/* Sorted by start; regions never overlap within a session. */
	struct region **regions;
	size_t nregions, cap;
	int dying;
	TAILQ_ENTRY(session) link;
	/*
	 * A forked child followed through UFFD_EVENT_FORK (events.c): no
	 * socket (sock == -1, ev == NULL), on its parent's worker.
	 */
	int child;
	int pid_known;        /* pid is the client's (a child learns it late) */
	pid_t parent_pid;
	uint64_t parent_session;
	uint64_t forming;     /* id of the child session a fork is filling */
	int pidfd;            /* a child: ends the session when it exits */
	struct event *pidfd_ev;
	struct event *find_ev; /* a child: looks for its pid */
	unsigned find_tries;
	char exe[64];          /* basename of /proc/PID/exe */
	char unit[128];        /* systemd unit from /proc/PID/cgroup */
	/* lifecycle events read from its uffds (atomic counters) */
	uint64_t ev_fork, ev_remap, ev_remove, ev_unmap;
	/* limits.c: HELLO deadline and message-rate token bucket */
	struct event *hello_ev;
	double rl_tokens;
	uint64_t rl_ns;
	struct throttle refuse_log; /* refused requests: a line a second */
};

TAILQ_HEAD(session_list, session);

struct wcall;
TAILQ_HEAD(wcall_list, wcall);

struct worker_stats {
	uint64_t faults, pages_mapped, errors, races;
	uint64_t wakeups; /* uffd read events */
};

struct worker {
	int idx;
	int cpu; /* pinned to this CPU, or -1 */
	struct daemon *d;
	pthread_t thread;
	struct event_base *base;
	int notify[2]; /* main -> worker: new sessions, stop */
	struct event *notify_ev;
	struct event *beat_ev;
	uint64_t last_beat_ns; /* atomic: the worker's loop is turning */
	pthread_mutex_t lock;  /* sessions list, incoming, region tables */
	struct session_list sessions;
	struct session_list incoming;
	struct wcall_list calls; /* main -> worker: run on the worker (wcall.c) */
	unsigned nsessions;
	int stop;
	struct worker_stats st; /* since start; single writer */
};

struct daemon {
	struct config cfg;
	char config_path[4096];
	enum { CONFIG_DEFAULT_PATH, CONFIG_NAMED, CONFIG_NONE } config_mode;
	int config_from_file;   /* the running configuration came from a file */
	int log_level_override; /* --log-level, -1 if none */
	int placement_override; /* --placement, -1 if none */
	int spin_override;      /* --spin-us, -1 if none */
	pthread_rwlock_t cfg_lock; /* held by workers while reading cfg */
	struct uffd_caps caps;
	struct event_base *base; /* main thread */
	struct worker *workers;
	int nworkers;
	int next_worker;
	int data_fd, control_fd;
	int own_data_sock, own_control_sock; /* unlink on exit */
	uint64_t started_ns;
	time_t started;
	unsigned clients; /* atomic */
	int stopping;     /* atomic: sessions end without leaving the fd store */
	/* Descriptors systemd passed back from its store, for fdstore.c. */
	int *stored_fds;
	char **stored_names;
	int nstored;
	uint64_t rejected_clients;
	uint64_t denied_clients; /* atomic: refused by access allow/deny */
};

uint64_t now_ns(void);

#endif
