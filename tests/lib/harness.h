/* SPDX-License-Identifier: MIT */
/*
 * End-to-end test helpers on top of the reporting core (report.h): a real
 * uffdd started on private sockets, status queries over its control
 * socket, JSON paths, fd and RSS counts.  Binaries are found in
 * $UFFDD_BUILD (default "build").
 */
#ifndef UFFDD_TEST_HARNESS_H
#define UFFDD_TEST_HARNESS_H

#include "report.h"

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

/* A daemon under test ------------------------------------------------------ */
struct tdaemon {
	pid_t pid;
	char dir[64];
	char sock[100]; /* fits sockaddr_un.sun_path */
	char ctl[100];
	char log[128];
	char config[128];
};

/* Path of a built binary: $UFFDD_BUILD/name. */
const char *t_bin(const char *name);

/*
 * Start build/uffdd on sockets in a fresh temporary directory, with
 * config_json (NULL: built-in defaults) and extra arguments (NULL-ended).
 * Waits until the control socket answers.  Returns 0 or -1.
 */
int td_start(struct tdaemon *d, const char *config_json, ...);
/* SIGTERM, wait; returns the exit status (or 128+signal). */
int td_stop(struct tdaemon *d);
/*
 * The shape of most end-to-end suites: one daemon started before the
 * first case (its log printed if it does not start) and stopped by the
 * teardown, whose check is that it exits 0; its log is printed when any
 * test of the run failed.
 */
int td_setup(struct tdaemon *d, const char *config_json);
void td_teardown(struct tdaemon *d);
/* SIGKILL without cleanup of the directory. */
void td_kill(struct tdaemon *d);
/* Print the daemon's log to stderr (on failure). */
void td_dump_log(const struct tdaemon *d);
/* Count of lines in the log that contain needle. */
int td_log_count(const struct tdaemon *d, const char *needle);
/* Wait until more than more_than lines contain needle; the count then. */
int td_wait_log(const struct tdaemon *d, const char *needle, int more_than,
		int timeout_ms);

/* {"command": cmd} on the control socket; NULL on failure. */
json_object *td_ask(const struct tdaemon *d, const char *cmd);
json_object *td_status(const struct tdaemon *d);
/* Open descriptors of a process (/proc/PID/fd). */
int t_fd_count(pid_t pid);
/* RSS of a process in KiB. */
long t_rss_kb(pid_t pid);

/* JSON helpers: "a.b.c" paths through objects. */
json_object *j_path(json_object *o, const char *path);
int64_t j_int(json_object *o, const char *path);
/* The region named name in a status document, and its client. */
json_object *j_region(json_object *status, const char *name,
		      json_object **client);
/* The client with pid in a status document. */
json_object *j_client(json_object *status, pid_t pid);

/* Wait until status total at path reaches want (or timeout_ms passes). */
int td_wait_total(const struct tdaemon *d, const char *path, int64_t want,
		  int timeout_ms);

/* Run a command, return its exit status; output to the given file (or
 * /dev/null when NULL). */
int t_run(const char *out_path, const char *const argv[]);

/* One raw datagram with nfds descriptors (up to UFFDD_SENDMSG_MAX_FDS),
 * through the protocol's own sender but without its framing.  0 or -errno. */
int t_send_raw(int sock, const void *buf, size_t n, const int *fds, int nfds);

#endif
