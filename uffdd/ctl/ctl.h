/* SPDX-License-Identifier: MIT */
/* Inside uffdctl: asking the daemon, and showing its answers to people. */
#ifndef UFFDD_CTL_H
#define UFFDD_CTL_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Exit statuses: what scripts may rely on. */
enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

/* How to reach the daemon and how to print. */
struct ctl {
	const char *path; /* the control socket */
	int json;	  /* -j: JSON instead of text for people */
	int pretty;	  /* -p: indented JSON */
};

/*
 * ask.c: the daemon's answer to {"command": cmd, key: value, ...} (nkv
 * string pairs), or NULL after saying on stderr why, in words that say what
 * to do.  An {"error": ...} answer is said too, and NULL returned.
 */
struct json_object *ctl_ask(const struct ctl *c, const char *cmd, int nkv,
			    const char *const *kv);
/* The same, with nfds descriptors sent along (SCM_RIGHTS): the files of a
 * policy, opened here, named "#N" in it. */
struct json_object *ctl_ask_fds(const struct ctl *c, const char *cmd, int nkv,
				const char *const *kv, const int *fds,
				int nfds);

/* show.c: text for people. */
void show_status(struct json_object *status);
void show_clients(struct json_object *status);
void show_regions(struct json_object *status);
/* Every region of status with its client's pid, as a new array. */
struct json_object *ctl_regions(struct json_object *status);

/* Helpers for the text: "1.2 GiB", "18.4 us", "3 h 02 min", "12,345". */
const char *fmt_bytes(uint64_t n, char *buf, size_t len);
const char *fmt_ns(uint64_t ns, char *buf, size_t len);
const char *fmt_age(double s, char *buf, size_t len);
const char *fmt_count(uint64_t n, char *buf, size_t len);
/* A member of o by path ("totals.faults"), 0 / "" / NULL if absent. */
int64_t jint(struct json_object *o, const char *path);
double jdouble(struct json_object *o, const char *path);
const char *jstr(struct json_object *o, const char *path);
struct json_object *jget(struct json_object *o, const char *path);

/* top.c: uffdctl top [-d SECONDS] [-n FRAMES]. */
int ctl_top(const struct ctl *c, int argc, char **argv);

/* images.c: uffdctl images, the host's image cache. */
int ctl_images(const struct ctl *c);

/* metrics.c: uffdctl metrics [-o FILE]. */
int ctl_metrics(const struct ctl *c, int argc, char **argv);

#endif
