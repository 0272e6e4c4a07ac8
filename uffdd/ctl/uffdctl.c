/* SPDX-License-Identifier: MIT */
/* uffdctl: query uffdd over its control socket; print JSON. */
#include "control/caps_json.h"
#include "probe.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_CONTROL "/run/uffdd/control.sock"
#define MAX_REPLY (64u << 20)
#define TIMEOUT_MS 10000

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
	"                SPEC as in docs/policies.md, e.g. around:16\n"
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

static json_object *ask_req(const char *path, const char *req);

static json_object *ask(const char *path, const char *command)
{
	char req[128];

	snprintf(req, sizeof(req), "{\"command\":\"%s\"}\n", command);
	return ask_req(path, req);
}

/* One JSON request line in, one JSON answer out. */
static json_object *ask_req(const char *path, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_object *o;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "uffdctl: control socket path too long\n");
		return NULL;
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
		return NULL;
	}
	if (write(fd, req, strlen(req)) < 0) {
		fprintf(stderr, "uffdctl: sending to uffdd: %s\n",
			strerror(errno));
		close(fd);
		return NULL;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			fprintf(stderr, "uffdctl: uffdd did not answer\n");
			goto fail;
		}
		if (cap - len < 65536) {
			char *nb;

			cap = cap ? cap * 2 : 65536 * 2;
			if (cap > MAX_REPLY)
				goto fail;
			nb = realloc(buf, cap);
			if (!nb)
				goto fail;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "uffdctl: reading from uffdd: %s\n",
				strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!buf) {
		fprintf(stderr, "uffdctl: uffdd closed without answering\n");
		return NULL;
	}
	buf[len] = '\0';
	o = json_tokener_parse(buf);
	free(buf);
	if (!o)
		fprintf(stderr, "uffdctl: uffdd's answer is not JSON\n");
	return o;
fail:
	free(buf);
	close(fd);
	return NULL;
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
			       json_object_new_boolean((caps.minor_hugetlbfs ||
							caps.minor_shmem) &&
						       caps.continue_ok));
	json_object_object_add(o, "missing",
			       missing[0] ? json_object_new_string(missing) : NULL);
	print(o);
	json_object_put(o);
	return (caps.minor_hugetlbfs || caps.minor_shmem) && caps.continue_ok ? 0
									      : 1;
}

static json_object *all_regions(json_object *status)
{
	json_object *clients, *out = json_object_new_array();

	if (!json_object_object_get_ex(status, "clients", &clients))
		return out;
	for (size_t i = 0; i < json_object_array_length(clients); i++) {
		json_object *c = json_object_array_get_idx(clients, i), *rs, *pid;

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

/* publish REGION OFFSET LENGTH | policy REGION SPEC */
static int region_command(const char *path, int argc, char **argv)
{
	json_object *req = json_object_new_object(), *o, *err;
	int publish = strcmp(argv[0], "publish") == 0;
	char *line;

	if (argc != (publish ? 4 : 3)) {
		fprintf(stderr, "Usage: uffdctl %s\n",
			publish ? "publish REGION OFFSET LENGTH"
				: "policy REGION SPEC");
		json_object_put(req);
		return 2;
	}
	json_object_object_add(req, "command", json_object_new_string(argv[0]));
	json_object_object_add(req, "region", json_object_new_string(argv[1]));
	if (publish) {
		/* Strings: the daemon takes K/M/G suffixes too. */
		json_object_object_add(req, "offset",
				       json_object_new_string(argv[2]));
		json_object_object_add(req, "length",
				       json_object_new_string(argv[3]));
	} else {
		json_object_object_add(req, "policy",
				       json_object_new_string(argv[2]));
	}
	if (asprintf(&line, "%s\n",
		     json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN)) < 0) {
		json_object_put(req);
		return 1;
	}
	json_object_put(req);
	o = ask_req(path, line);
	free(line);
	if (!o)
		return 1;
	if (json_object_object_get_ex(o, "error", &err)) {
		fprintf(stderr, "uffdctl: uffdd: %s\n", json_object_get_string(err));
		json_object_put(o);
		return 1;
	}
	print(o);
	json_object_put(o);
	return 0;
}

/* disconnect CLIENT (SECURITY.md: needs root or admin_gids) */
static int disconnect_command(const char *path, int argc, char **argv)
{
	json_object *req, *o, *err;
	char *line;
	int rc;

	if (argc != 2) {
		fputs("Usage: uffdctl disconnect CLIENT (a pid or a session id)\n",
		      stderr);
		return 2;
	}
	req = json_object_new_object();
	json_object_object_add(req, "command", json_object_new_string(argv[0]));
	json_object_object_add(req, "client", json_object_new_string(argv[1]));
	rc = asprintf(&line, "%s\n",
		      json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	json_object_put(req);
	if (rc < 0)
		return 1;
	o = ask_req(path, line);
	free(line);
	if (!o)
		return 1;
	rc = 0;
	if (json_object_object_get_ex(o, "error", &err)) {
		fprintf(stderr, "uffdctl: uffdd: %s\n", json_object_get_string(err));
		rc = 1;
	} else {
		print(o);
	}
	json_object_put(o);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control-socket", required_argument, NULL, 'C' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("UFFDD_CONTROL_SOCKET"), *cmd;
	json_object *o, *err, *part;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "C:phV", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			path = optarg;
			break;
		case 'p':
			pretty = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("uffdctl %s\n", UFFDD_VERSION);
			return 0;
		default:
			fputs("Try 'uffdctl --help'.\n", stderr);
			return 2;
		}
	}
	if (!path || !*path)
		path = DEFAULT_CONTROL;
	if (optind < argc && (strcmp(argv[optind], "publish") == 0 ||
			      strcmp(argv[optind], "policy") == 0))
		return region_command(path, argc - optind, argv + optind);
	if (optind < argc && strcmp(argv[optind], "disconnect") == 0)
		return disconnect_command(path, argc - optind, argv + optind);
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "check-kernel") == 0)
		return check_kernel();
	if (strcmp(cmd, "status") && strcmp(cmd, "clients") &&
	    strcmp(cmd, "regions")) {
		fprintf(stderr, "uffdctl: unknown command '%s'\n", cmd);
		fputs("Try 'uffdctl --help'.\n", stderr);
		return 2;
	}
	o = ask(path, "status");
	if (!o)
		return 1;
	if (json_object_object_get_ex(o, "error", &err)) {
		fprintf(stderr, "uffdctl: uffdd: %s\n", json_object_get_string(err));
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
	return rc;
}
