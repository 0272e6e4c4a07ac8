/* SPDX-License-Identifier: MIT */
#include "args.h"
#include "daemon.h"
#include "log.h"
#include "policy/policy.h"
#include "uffdd_proto.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: uffdd [OPTIONS]\n"
    "\n"
    "Serve userfaultfd minor faults on hugetlbfs and shmem memory that\n"
    "client processes hand over through libuffdclient.  Each client sends\n"
    "the userfaultfd its region is registered with, the region's memfd and\n"
    "the files its policy uses (opened by the client: uffdd opens no path a\n"
    "client names) over a Unix socket; uffdd resolves every minor fault in\n"
    "the region by consulting the region's policy and issuing\n"
    "UFFDIO_CONTINUE.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE          JSON configuration "
    "(default " UFFDD_DEFAULT_CONFIG ";\n"
    "                             built-in defaults when that file is "
    "absent)\n"
    "  -n, --no-config            ignore any configuration file: built-in "
    "defaults\n"
    "  -s, --socket PATH          data socket (default " UFFDD_DEFAULT_SOCKET
    ")\n"
    "  -C, --control-socket PATH  control socket for uffdctl (default\n"
    "                             " UFFDD_DEFAULT_CONTROL ")\n"
    "  -w, --workers N            fault worker threads (default: one per "
    "CPU)\n"
    "  -P, --placement MODE       scheduler (default: workers float) or "
    "pinned\n"
    "                             (worker i on CPU i, each client served by "
    "the\n"
    "                             worker on the CPU it connected from)\n"
    "  -S, --spin-us N            poll a uffd N microseconds before "
    "sleeping\n"
    "                             (lower latency for a CPU's worth of "
    "polling)\n"
    "  -l, --log-level LEVEL      err, warning, notice, info (default) or "
    "debug\n"
    "  -t, --check-config         parse the configuration, report, and exit\n"
    "  -T, --dump-config          print the configuration in effect (the\n"
    "                             file, the defaults, these options) and "
    "exit\n"
    "  -h, --help                 show this help and exit\n"
    "  -V, --version              show the version and exit\n"
    "\n"
    "Policies: %s\n"
    "(FILE: a client's descriptor #N; in the configuration, a path under\n"
    "policy_dir, opened beneath it without following links)\n"
    "\n"
    "Sockets: when started by systemd socket activation, uffdd takes the\n"
    "sockets named \"data\" and \"control\" (FileDescriptorName=); otherwise\n"
    "it creates them, with the modes from the configuration.\n"
    "\n"
    "Signals: SIGHUP re-reads the configuration (the old one stays on\n"
    "error); SIGTERM and SIGINT stop the daemon.  Clients then go on with\n"
    "their memory served by the kernel, or by their library for regions\n"
    "whose contents uffdd made (populate, gate).\n"
    "\n"
    "Exit status: 0 after a clean stop, 1 on a start-up error (such as a\n"
    "kernel without minor-fault support, named in the message), 2 on a\n"
    "usage error.\n";

static const struct option opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "no-config", no_argument, NULL, 'n' },
	{ "socket", required_argument, NULL, 's' },
	{ "control-socket", required_argument, NULL, 'C' },
	{ "workers", required_argument, NULL, 'w' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "placement", required_argument, NULL, 'P' },
	{ "spin-us", required_argument, NULL, 'S' },
	{ "check-config", no_argument, NULL, 't' },
	{ "dump-config", no_argument, NULL, 'T' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* A number in [lo, hi], or -1 (said on stderr). */
static int number(const char *opt, const char *v, int lo, int hi)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (*end || !*v || n < lo || n > hi) {
		fprintf(stderr, "uffdd: --%s takes %d to %d\n", opt, lo, hi);
		return -1;
	}
	return (int)n;
}

/* One option (its value in optarg): 0, 2 on a usage error, -1 done. */
static int option(int c, struct daemon *d, struct args *a)
{
	struct daemon_conf *conf = &d->conf;

	switch (c) {
	case 'c':
		snprintf(conf->path, sizeof(conf->path), "%s", optarg);
		conf->mode = CONFIG_NAMED;
		return 0;
	case 'n':
		conf->mode = CONFIG_NONE;
		return 0;
	case 's':
		conf->data_path = optarg;
		return 0;
	case 'C':
		conf->control_path = optarg;
		return 0;
	case 'w':
		conf->workers = number("workers", optarg, 1, 256);
		return conf->workers < 0 ? 2 : 0;
	case 'P':
		conf->placement = !strcmp(optarg, "pinned") ? PLACEMENT_PINNED
				  : !strcmp(optarg, "scheduler")
				      ? PLACEMENT_SCHEDULER
				      : -2;
		if (conf->placement != -2)
			return 0;
		fprintf(stderr, "uffdd: --placement is scheduler or pinned\n");
		return 2;
	case 'S':
		conf->spin_us = number("spin-us", optarg, 0, 10000);
		return conf->spin_us < 0 ? 2 : 0;
	case 'l':
		conf->log_level = config_log_level(optarg);
		if (conf->log_level >= 0)
			return 0;
		fprintf(stderr, "uffdd: unknown log level %s\n", optarg);
		return 2;
	case 't':
		a->check_only = 1;
		return 0;
	case 'T':
		a->dump_config = 1;
		return 0;
	case 'h':
		printf(usage, policy_names());
		return -1;
	case 'V':
		printf("uffdd %s (protocol %d..%d; fdstore: yes)\n",
		       UFFDD_VERSION, UFFDD_PROTO_MIN, UFFDD_PROTO_MAX);
		return -1;
	default:
		fprintf(stderr, "Try 'uffdd --help'.\n");
		return 2;
	}
}

int args_parse(int argc, char **argv, struct daemon *d, struct args *a)
{
	int c, rc;

	memset(a, 0, sizeof(*a));
	d->conf.log_level = d->conf.placement = d->conf.spin_us = -1;
	while ((c = getopt_long(argc, argv, "c:ns:C:w:l:P:S:tThV", opts,
				NULL)) != -1)
		if ((rc = option(c, d, a)) != 0)
			return rc;
	if (optind < argc) {
		fprintf(stderr, "uffdd: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	return 0;
}
