/* SPDX-License-Identifier: MIT */
/*
 * The daemon process: its running configuration, what the kernel offers,
 * its sockets and workers, and its process-wide counters.  One instance
 * (main.c); the modules that act for the whole daemon (listen, sessions,
 * control) reach it, policies never do.
 */
#ifndef UFFDD_DAEMON_H
#define UFFDD_DAEMON_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"
#include "probe.h"

struct event_base;
struct worker_pool;

/* The configuration and where it came from. */
struct daemon_conf {
	struct config cfg;     /* the running configuration */
	pthread_rwlock_t lock; /* workers read cfg under it; reload swaps */
	char path[4096];
	enum { CONFIG_DEFAULT_PATH, CONFIG_NAMED, CONFIG_NONE } mode;
	int from_file; /* the running configuration came from a file */
	/* Command line settings that win over the file, -1 if none. */
	int log_level, placement, spin_us;
	/* ...and these, NULL or 0 if none. */
	const char *data_path, *control_path;
	int workers;
	/* The last reload: when (0: none yet), and what it did not apply. */
	time_t reloaded;
	char reload_error[512]; /* "" when it was applied */
	char restart_keys[256]; /* changed keys that wait for a restart */
};

struct daemon_sockets {
	int data_fd, control_fd;
	int own_data, own_control; /* made here: unlink on exit */
};

/* Descriptors systemd passed back from its store, until restored. */
struct daemon_stored {
	int *fds;
	char **names;
	int n;
};

/* Process-wide counters (atomic where several threads touch them). */
struct daemon_counts {
	int stopping; /* sessions end without leaving the fd store */
	uint64_t rejected_clients;
	uint64_t denied_clients; /* refused by access allow/deny */
	uint64_t forked;	 /* children registered with FORKED */
	uint64_t child_clients;	 /* connected themselves, parent a client */
	uint64_t started_ns;
	time_t started;
	double fault_rate; /* faults per second over the last few seconds */
};

struct daemon {
	struct daemon_conf conf;
	struct uffd_caps caps;
	struct event_base *base; /* the main thread's loop */
	struct worker_pool *workers;
	struct daemon_sockets sock;
	struct daemon_stored stored;
	struct daemon_counts n;
};

/* A word of the running configuration, read under its lock. */
unsigned daemon_cfg_word(struct daemon *d, const unsigned *field);
/* Hold the running configuration still while reading more of it. */
void daemon_cfg_read(struct daemon *d);
void daemon_cfg_done(struct daemon *d);

#endif
