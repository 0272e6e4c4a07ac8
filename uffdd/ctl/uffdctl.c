/* SPDX-License-Identifier: MIT */
/* uffdctl: ask uffdd over its control socket; text for people, -j for JSON. */
#include "control/caps_json.h"
#include "ctl.h"
#include "probe.h"
#include "spec.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONTROL "/run/uffdd/control.sock"

static const char usage[] =
    "Usage: uffdctl [OPTIONS] COMMAND [ARGUMENTS]\n"
    "\n"
    "Ask the uffdd page service about its clients and regions.  Answers\n"
    "are text for people; -j gives the daemon's JSON for scripts.\n"
    "\n"
    "Commands:\n"
    "  status        a summary: version, uptime, configuration, clients,\n"
    "                regions, faults per second, latency, errors, limits\n"
    "                close to their bounds, and the busiest clients\n"
    "  clients       every client: pid, uid, regions, bytes, faults\n"
    "  regions       every region: its client, kind, size, faults, latency\n"
    "  top           regions by faults per second, refreshed in place\n"
    "                (-d SECONDS between frames, -n FRAMES then exit; q "
    "quits)\n"
    "  metrics       the counters in the Prometheus text format (-o FILE:\n"
    "                into FILE, replaced whole, for the node exporter)\n"
    "  publish REGION OFFSET LENGTH\n"
    "                let faults held by a gate policy in that byte range\n"
    "                of REGION (its id, or its name if unique) through;\n"
    "                OFFSET and LENGTH in bytes, K, M or G suffixes\n"
    "  policy REGION SPEC\n"
    "                change a region's policy now (root or admin_gids);\n"
    "                SPEC as in uffdd(8), e.g. around:16.  Files it names\n"
    "                are opened here, with your rights, and passed to the\n"
    "                daemon: it opens no path you name\n"
    "  disconnect CLIENT\n"
    "                end a client's session (its pid, or its session id);\n"
    "                root or admin_gids.  Its threads go on, served by the\n"
    "                kernel\n"
    "  images        the host's image cache: each image's size, kind,\n"
    "                pages cached, bytes fetched, clients mapping it,\n"
    "                fetch latency (p50, p99) and idle time\n"
    "  check-kernel  probe the running kernel's userfaultfd features\n"
    "                (needs no daemon); exit 1 if minor faults are missing\n"
    "\n"
    "Options:\n"
    "  -C, --control-socket PATH  the daemon's control socket (default:\n"
    "                             $UFFDD_CONTROL_SOCKET, else " DEFAULT_CONTROL
    ")\n"
    "  -j, --json                 the JSON the daemon answers, on one line\n"
    "  -p, --pretty               the JSON, indented (implies --json)\n"
    "  -h, --help                 show this help\n"
    "  -V, --version              show the version\n"
    "\n"
    "Exit status: 0 on success; 1 if the daemon cannot be reached, refuses,\n"
    "or (check-kernel) the kernel cannot serve minor faults; 2 on a usage\n"
    "error.\n";

static void print_json(const struct ctl *c, json_object *o)
{
	puts(json_object_to_json_string_ext(
	    o, (c->pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
			  : JSON_C_TO_STRING_PLAIN) |
		   JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int check_kernel(const struct ctl *c)
{
	struct uffd_caps caps;
	char missing[512];
	json_object *o;
	int ok;

	if (uffd_probe(&caps) < 0) {
		fprintf(stderr, "uffdctl: %s\n", caps.error);
		return CTL_FAILED;
	}
	uffd_caps_missing(&caps, missing, sizeof(missing));
	ok = (caps.minor_hugetlbfs || caps.minor_shmem) && caps.continue_ok;
	if (c->json) {
		o = status_kernel(&caps);
		json_object_object_add(o, "usable",
				       json_object_new_boolean(ok));
		json_object_object_add(
		    o, "missing",
		    missing[0] ? json_object_new_string(missing) : NULL);
		print_json(c, o);
		json_object_put(o);
	} else {
		printf("kernel %s: minor faults on hugetlbfs %s, shmem %s; "
		       "UFFDIO_CONTINUE %s; UFFDIO_POISON %s\n",
		       caps.release, caps.minor_hugetlbfs ? "yes" : "no",
		       caps.minor_shmem ? "yes" : "no",
		       caps.continue_ok ? "yes" : "no",
		       caps.poison ? "yes" : "no");
		if (missing[0])
			printf("%s\n", missing);
		printf("%s\n", ok ? "uffdd can serve this kernel"
				  : "uffdd cannot serve this kernel");
	}
	return ok ? CTL_OK : CTL_FAILED;
}

/* A byte count with an optional K, M or G suffix (what the daemon takes). */
static int bytes_arg(const char *what, const char *s)
{
	char *end;

	errno = 0;
	(void)strtoull(s, &end, 0);
	if (!errno && end != s && *s != '-' &&
	    (!*end || (strchr("KkMmGg", *end) && !end[1])))
		return 0;
	fprintf(stderr,
		"uffdctl: %s \"%s\" is not a number of bytes (a K, M or G "
		"suffix is allowed)\n",
		what, s);
	return -1;
}

/* What a command did, in words (or its JSON). */
static int done(const struct ctl *c, json_object *o, char **argv)
{
	if (!o)
		return CTL_FAILED;
	if (c->json)
		print_json(c, o);
	else if (!strcmp(argv[0], "publish"))
		printf("region %s: bytes %s+%s published\n", jstr(o, "region"),
		       argv[2], argv[3]);
	else if (!strcmp(argv[0], "policy"))
		printf("region %s: policy %s\n", jstr(o, "region"),
		       jstr(o, "policy"));
	else
		printf("client %" PRId64 " (session %s) disconnected\n",
		       jint(o, "disconnected"), jstr(o, "session"));
	json_object_put(o);
	return CTL_OK;
}

/* policy REGION SPEC: the files SPEC names travel as descriptors. */
static int policy_command(const struct ctl *c, int argc, char **argv)
{
	char wire[UFFDD_POLICY_LEN], err[240];
	struct spec_files f;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "Usage: uffdctl policy REGION SPEC\n");
		return CTL_USAGE;
	}
	if (spec_open(argv[2], wire, sizeof(wire), &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "uffdctl: %s\n", err);
		return CTL_FAILED;
	}
	rc = done(c,
		  ctl_ask_fds(c, "policy", 2,
			      (const char *const[]){ "region", argv[1],
						     "policy", wire },
			      f.fd, f.n),
		  argv);
	spec_files_close(&f);
	return rc;
}

/* publish REGION OFFSET LENGTH | policy REGION SPEC | disconnect CLIENT */
static int act(const struct ctl *c, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (!strcmp(cmd, "publish")) {
		if (argc != 4 || bytes_arg("OFFSET", argv[2]) < 0 ||
		    bytes_arg("LENGTH", argv[3]) < 0) {
			fprintf(
			    stderr,
			    "Usage: uffdctl publish REGION OFFSET LENGTH\n");
			return CTL_USAGE;
		}
		return done(c,
			    ctl_ask(c, cmd, 3,
				    (const char *const[]){ "region", argv[1],
							   "offset", argv[2],
							   "length", argv[3] }),
			    argv);
	}
	if (!strcmp(cmd, "policy"))
		return policy_command(c, argc, argv);
	if (argc != 2) {
		fprintf(stderr, "Usage: uffdctl disconnect CLIENT (a pid or a "
				"session id)\n");
		return CTL_USAGE;
	}
	return done(
	    c, ctl_ask(c, cmd, 1, (const char *const[]){ "client", argv[1] }),
	    argv);
}

/* status, clients, regions: the status document, or parts of it. */
static int show(const struct ctl *c, const char *cmd)
{
	json_object *st = ctl_ask(c, "status", 0, NULL), *part;

	if (!st)
		return CTL_FAILED;
	if (!c->json) {
		if (!strcmp(cmd, "status"))
			show_status(st);
		else if (!strcmp(cmd, "clients"))
			show_clients(st);
		else
			show_regions(st);
	} else if (!strcmp(cmd, "status")) {
		print_json(c, st);
	} else if (!strcmp(cmd, "clients")) {
		part = jget(st, "clients");
		print_json(c, part);
	} else {
		part = ctl_regions(st);
		print_json(c, part);
		json_object_put(part);
	}
	json_object_put(st);
	return CTL_OK;
}

/*
 * The options: 0 to go on, else the exit status (-1: 0, done).  Before the
 * command they stop at it (top -n 2 has options of its own); after it
 * (uffdctl status -p) they are taken from among its arguments.
 */
static int options(int argc, char **argv, struct ctl *c, int after)
{
	static const struct option opts[] = {
		{ "control-socket", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	optind = 0; /* 0: GNU getopt starts afresh (a new argv, a new mode) */
	while ((o = getopt_long(argc, argv, after ? "C:jphV" : "+C:jphV", opts,
				NULL)) != -1) {
		if (o == 'C') {
			c->path = optarg;
		} else if (o == 'j') {
			c->json = 1;
		} else if (o == 'p') {
			c->json = c->pretty = 1;
		} else if (o == 'h') {
			fputs(usage, stdout);
			return -1;
		} else if (o == 'V') {
			printf("uffdctl %s\n", UFFDD_VERSION);
			return -1;
		} else {
			fputs("Try 'uffdctl --help'.\n", stderr);
			return CTL_USAGE;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c = { .path = getenv("UFFDD_CONTROL_SOCKET") };
	const char *cmd;
	int rc = options(argc, argv, &c, 0), n;
	char **rest;

	if (rc)
		return rc < 0 ? CTL_OK : rc;
	if (optind >= argc) {
		fputs(usage, stderr);
		return CTL_USAGE;
	}
	cmd = argv[optind];
	rest = argv + optind;
	n = argc - optind;
	if (!strcmp(cmd, "top") || !strcmp(cmd, "metrics")) {
		if (!c.path || !*c.path)
			c.path = DEFAULT_CONTROL;
		return !strcmp(cmd, "top") ? ctl_top(&c, n, rest)
					   : ctl_metrics(&c, n, rest);
	}
	rc = options(n, rest, &c, 1);
	if (rc)
		return rc < 0 ? CTL_OK : rc;
	/* getopt moved the command's own arguments after the options. */
	rest += optind - 1;
	n -= optind - 1;
	rest[0] = (char *)cmd;
	if (!c.path || !*c.path)
		c.path = DEFAULT_CONTROL;
	if (!strcmp(cmd, "publish") || !strcmp(cmd, "policy") ||
	    !strcmp(cmd, "disconnect"))
		return act(&c, n, rest);
	if (strcmp(cmd, "status") && strcmp(cmd, "clients") &&
	    strcmp(cmd, "regions") && strcmp(cmd, "check-kernel") &&
	    strcmp(cmd, "images")) {
		fprintf(stderr, "uffdctl: unknown command '%s'\n", cmd);
		fputs("Try 'uffdctl --help'.\n", stderr);
		return CTL_USAGE;
	}
	if (n != 1) {
		fprintf(stderr, "uffdctl: %s takes no arguments\n", cmd);
		return CTL_USAGE;
	}
	if (!strcmp(cmd, "check-kernel"))
		return check_kernel(&c);
	if (!strcmp(cmd, "images"))
		return ctl_images(&c);
	return show(&c, cmd);
}
