/* SPDX-License-Identifier: MIT */
/* uffdctl: query uffdd over its control socket; print JSON. */
#include "control/caps_json.h"
#include "probe.h"
#include "spec.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_CONTROL "/run/uffdd/control.sock"
#define MAX_REPLY	(64u << 20)
#define TIMEOUT_MS	10000

static const char usage[] =
    "Usage: uffdctl [OPTIONS] COMMAND\n"
    "\n"
    "Ask the uffdd page service about its clients and regions.  Every\n"
    "answer is one JSON document on standard output.\n"
    "\n"
    "Commands:\n"
    "  status        everything: version, uptime, kernel features, totals,\n"
    "                limits, workers and every client with its regions\n"
    "  clients       the clients array of status\n"
    "  regions       every region of every client, with the client's pid\n"
    "  publish REGION OFFSET LENGTH\n"
    "                let faults held by a gate policy in that byte range\n"
    "                of REGION (its id, or its name if unique) through\n"
    "  policy REGION SPEC\n"
    "                change a region's policy now (root or admin_gids);\n"
    "                SPEC as in docs/policies.md, e.g. around:16.  Files\n"
    "                it names are opened here, with your rights, and\n"
    "                passed to the daemon (it opens no path you name)\n"
    "  disconnect CLIENT\n"
    "                end a client's session (its pid, or its session id\n"
    "                from status); root or admin_gids.  Its threads go on,\n"
    "                served by the kernel\n"
    "  check-kernel  probe the running kernel's userfaultfd features\n"
    "                (needs no daemon); exit 1 if minor faults are missing\n"
    "\n"
    "Options:\n"
    "  -C, --control-socket PATH  the daemon's control socket (default:\n"
    "                             $UFFDD_CONTROL_SOCKET, else " DEFAULT_CONTROL
    ")\n"
    "  -p, --pretty               indent the JSON\n"
    "  -h, --help                 show this help\n"
    "  -V, --version              show the version\n"
    "\n"
    "Exit status: 0 on success; 1 if the daemon cannot be reached or\n"
    "answers with an error; 2 on a usage error.\n";

static int pretty;

static void print(json_object *o)
{
	puts(json_object_to_json_string_ext(
	    o, pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
		      : JSON_C_TO_STRING_PLAIN));
}

/* A connection to the control socket at path, or -1 (said why). */
static int connect_control(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "uffdctl: control socket path too long\n");
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
			"uffdctl: cannot reach uffdd at %s: %s\n"
			"uffdctl: is the daemon running? (systemctl status "
			"uffdd, or set UFFDD_CONTROL_SOCKET)\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Room for 64 KiB more in *buf; 0 or -1. */
static int grow(char **buf, size_t len, size_t *cap)
{
	char *nb;

	if (*cap - len >= 65536)
		return 0;
	*cap = *cap ? *cap * 2 : 65536 * 2;
	if (*cap > MAX_REPLY || !(nb = realloc(*buf, *cap)))
		return -1;
	*buf = nb;
	return 0;
}

/* Everything the daemon writes until it closes, NUL-terminated, or NULL. */
static char *read_answer(int fd)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			fprintf(stderr, "uffdctl: uffdd did not answer\n");
			break;
		}
		if (grow(&buf, len, &cap) < 0)
			break;
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fprintf(stderr, "uffdctl: reading from uffdd: %s\n",
				strerror(errno));
		if (n < 0)
			break;
		if (n == 0 && len == 0)
			fprintf(stderr, "uffdctl: uffdd closed without "
					"answering\n");
		if (n == 0 && len == 0)
			break;
		if (n == 0) {
			buf[len] = '\0';
			return buf;
		}
		len += (size_t)n;
	}
	free(buf);
	return NULL;
}

/* The request line, with the files of a policy attached to its first
 * byte (SCM_RIGHTS).  0 or -1 (errno). */
static int send_line(int fd, const char *line, const struct spec_files *f)
{
	struct iovec iov[2] = { { (void *)line, strlen(line) }, { "\n", 1 } };

	if (f && f->n)
		return uffdd_sendmsg(fd, iov, 2, f->fd, f->n) < 0 ? -1 : 0;
	return write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0 ? -1
									   : 0;
}

/* Request req (put here), with files f (or NULL), to the daemon at path;
 * its answer, or NULL. */
static json_object *ask(const char *path, json_object *req,
			const struct spec_files *f)
{
	const char *line =
	    json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	json_object *o = NULL;
	char *answer = NULL;
	int fd = connect_control(path);

	if (fd >= 0 && send_line(fd, line, f) < 0)
		fprintf(stderr, "uffdctl: sending to uffdd: %s\n",
			strerror(errno));
	else if (fd >= 0)
		answer = read_answer(fd);
	if (fd >= 0)
		close(fd);
	json_object_put(req);
	if (answer && !(o = json_tokener_parse(answer)))
		fprintf(stderr, "uffdctl: uffdd's answer is not JSON\n");
	free(answer);
	return o;
}

/* {"command": cmd, key: value, ...} with nkv string pairs. */
static json_object *request(const char *cmd, int nkv, const char *const *kv)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "command", json_object_new_string(cmd));
	for (int i = 0; i < nkv; i++)
		json_object_object_add(req, kv[2 * i],
				       json_object_new_string(kv[2 * i + 1]));
	return req;
}

/* The daemon's answer to req: printed (or its error said); exit status. */
static int run(const char *path, json_object *req, const struct spec_files *f)
{
	json_object *o = ask(path, req, f), *err;
	int rc = 0;

	if (!o)
		return 1;
	if (json_object_object_get_ex(o, "error", &err)) {
		fprintf(stderr, "uffdctl: uffdd: %s\n",
			json_object_get_string(err));
		rc = 1;
	} else {
		print(o);
	}
	json_object_put(o);
	return rc;
}

static int check_kernel(void)
{
	struct uffd_caps caps;
	char missing[512];
	json_object *o;
	int rc = uffd_probe(&caps);

	if (rc < 0) {
		fprintf(stderr, "uffdctl: %s\n", caps.error);
		return 1;
	}
	o = status_kernel(&caps);
	uffd_caps_missing(&caps, missing, sizeof(missing));
	json_object_object_add(o, "usable",
			       json_object_new_boolean(
				   (caps.minor_hugetlbfs || caps.minor_shmem) &&
				   caps.continue_ok));
	json_object_object_add(
	    o, "missing", missing[0] ? json_object_new_string(missing) : NULL);
	print(o);
	json_object_put(o);
	return (caps.minor_hugetlbfs || caps.minor_shmem) && caps.continue_ok
		   ? 0
		   : 1;
}

static json_object *all_regions(json_object *status)
{
	json_object *clients, *out = json_object_new_array();

	if (!json_object_object_get_ex(status, "clients", &clients))
		return out;
	for (size_t i = 0; i < json_object_array_length(clients); i++) {
		json_object *c = json_object_array_get_idx(clients, i), *rs,
			    *pid;

		if (!json_object_object_get_ex(c, "regions", &rs))
			continue;
		json_object_object_get_ex(c, "pid", &pid);
		for (size_t j = 0; j < json_object_array_length(rs); j++) {
			json_object *r = json_object_array_get_idx(rs, j);

			json_object_object_add(r, "pid", json_object_get(pid));
			json_object_array_add(out, json_object_get(r));
		}
	}
	return out;
}

/* policy REGION SPEC: the files SPEC names travel as descriptors. */
static int policy_command(const char *path, const char *region,
			  const char *spec)
{
	struct spec_files f;
	char wire[UFFDD_POLICY_LEN], err[240];
	int rc;

	if (spec_open(spec, wire, sizeof(wire), &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "uffdctl: %s\n", err);
		return 1;
	}
	rc = run(
	    path,
	    request("policy", 2,
		    (const char *const[]){ "region", region, "policy", wire }),
	    &f);
	spec_files_close(&f);
	return rc;
}

/* publish REGION OFFSET LENGTH | policy REGION SPEC */
static int region_command(const char *path, int argc, char **argv)
{
	int publish = strcmp(argv[0], "publish") == 0;

	if (argc != (publish ? 4 : 3)) {
		fprintf(stderr, "Usage: uffdctl %s\n",
			publish ? "publish REGION OFFSET LENGTH"
				: "policy REGION SPEC");
		return 2;
	}
	if (publish) /* strings: the daemon takes K/M/G suffixes too */
		return run(path,
			   request(argv[0], 3,
				   (const char *const[]){ "region", argv[1],
							  "offset", argv[2],
							  "length", argv[3] }),
			   NULL);
	return policy_command(path, argv[1], argv[2]);
}

/* disconnect CLIENT (SECURITY.md: needs root or admin_gids) */
static int disconnect_command(const char *path, int argc, char **argv)
{
	if (argc != 2) {
		fputs("Usage: uffdctl disconnect CLIENT (a pid or a session "
		      "id)\n",
		      stderr);
		return 2;
	}
	return run(path,
		   request("disconnect", 1,
			   (const char *const[]){ "client", argv[1] }),
		   NULL);
}

/* status, clients, regions: parts of the status document. */
static int status_command(const char *path, const char *cmd)
{
	json_object *o, *err, *part;

	if (strcmp(cmd, "status") && strcmp(cmd, "clients") &&
	    strcmp(cmd, "regions")) {
		fprintf(stderr, "uffdctl: unknown command '%s'\n", cmd);
		fputs("Try 'uffdctl --help'.\n", stderr);
		return 2;
	}
	o = ask(path, request("status", 0, NULL), NULL);
	if (!o)
		return 1;
	if (json_object_object_get_ex(o, "error", &err)) {
		fprintf(stderr, "uffdctl: uffdd: %s\n",
			json_object_get_string(err));
		json_object_put(o);
		return 1;
	}
	if (strcmp(cmd, "status") == 0) {
		print(o);
	} else if (strcmp(cmd, "clients") == 0) {
		if (json_object_object_get_ex(o, "clients", &part))
			print(part);
	} else {
		part = all_regions(o);
		print(part);
		json_object_put(part);
	}
	json_object_put(o);
	return 0;
}

/* The options: 0 to go on, else the exit status (-1: 0, done). */
static int options(int argc, char **argv, const char **path)
{
	static const struct option opts[] = {
		{ "control-socket", required_argument, NULL, 'C' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "C:phV", opts, NULL)) != -1) {
		if (c == 'C') {
			*path = optarg;
		} else if (c == 'p') {
			pretty = 1;
		} else if (c == 'h') {
			fputs(usage, stdout);
			return -1;
		} else if (c == 'V') {
			printf("uffdctl %s\n", UFFDD_VERSION);
			return -1;
		} else {
			fputs("Try 'uffdctl --help'.\n", stderr);
			return 2;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = getenv("UFFDD_CONTROL_SOCKET"), *cmd;
	int rc = options(argc, argv, &path);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (!path || !*path)
		path = DEFAULT_CONTROL;
	cmd = optind < argc ? argv[optind] : "";
	if (!strcmp(cmd, "publish") || !strcmp(cmd, "policy"))
		return region_command(path, argc - optind, argv + optind);
	if (!strcmp(cmd, "disconnect"))
		return disconnect_command(path, argc - optind, argv + optind);
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(cmd, "check-kernel") == 0)
		return check_kernel();
	return status_command(path, cmd);
}
