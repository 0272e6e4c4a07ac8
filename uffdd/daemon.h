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

#include "config.h"
#include "histo.h"
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
	int granted;
	int uffd_mode; /* enum uffdd_uffd_mode of its latest region */
	uint64_t bytes; /* registered bytes */
	time_t since;
	/* Sorted by start; regions never overlap within a session. */
	struct region **regions;
	size_t nregions, cap;
	int dying;
	TAILQ_ENTRY(session) link;
};

TAILQ_HEAD(session_list, session);

struct worker_stats {
	uint64_t faults, pages_mapped, errors, races;
	uint64_t wakeups; /* uffd read events */
};

struct worker {
	int idx;
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
	unsigned nsessions;
	int stop;
	struct worker_stats st; /* since start; single writer */
};

struct daemon {
	struct config cfg;
	char config_path[4096];
	int config_from_file;
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
	uint64_t rejected_clients;
};

uint64_t now_ns(void);

#endif
