/* SPDX-License-Identifier: MIT */
/*
 * Test harness: TAP-like reporting, a real uffdd started on private
 * sockets, status queries over its control socket, and fd counting.
 * Binaries are found in $UFFDD_BUILD (default "build").
 */
#ifndef UFFDD_TEST_HARNESS_H
#define UFFDD_TEST_HARNESS_H

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

/* Reporting ---------------------------------------------------------------- */
void t_start(const char *name);
/* Records a failure of the current test; the test goes on. */
void t_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Ends the current test: prints "ok N - name" or "not ok N - name". */
int t_end(void);
/* Skips the current test with a reason. */
void t_skip(const char *why);
/* Prints "N passed, N failed[, N skipped]"; returns the exit status. */
int t_summary(void);

/* A detail line under the last failure. */
void t_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond, ...)                                                 \
	do {                                                             \
		if (!(cond)) {                                           \
			t_fail_at(__FILE__, __LINE__, "check failed: %s", \
				  #cond);                                \
			t_note(__VA_ARGS__);                             \
		}                                                        \
	} while (0)

#define CHECK_EQ(a, b)                                                        \
	do {                                                                  \
		long long a_ = (long long)(a), b_ = (long long)(b);           \
		if (a_ != b_)                                                 \
			t_fail_at(__FILE__, __LINE__, "%s == %lld, expected " \
				  "%s == %lld", #a, a_, #b, b_);              \
	} while (0)

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
/* SIGKILL without cleanup of the directory. */
void td_kill(struct tdaemon *d);
/* Print the daemon's log to stderr (on failure). */
void td_dump_log(const struct tdaemon *d);
/* Count of lines in the log that contain needle. */
int td_log_count(const struct tdaemon *d, const char *needle);

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

/* The default hugepage size in bytes (Hugepagesize in /proc/meminfo). */
size_t t_huge_page_size(void);

/* Hugepages: make sure n are free (raising nr_hugepages if root). */
int t_need_hugepages(long n);

/* Run a command, return its exit status; output to the given file (or
 * /dev/null when NULL). */
int t_run(const char *out_path, const char *const argv[]);

uint64_t t_now_ns(void);

/* Send one raw datagram with nfds descriptors (any number, up to 64)
 * in SCM_RIGHTS, bypassing the protocol encoder.  0 or -errno. */
int t_send_raw(int sock, const void *buf, size_t n, const int *fds, int nfds);

#endif
