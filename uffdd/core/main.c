/* SPDX-License-Identifier: MIT */
/* uffdd: start-up, the main loop, signals and systemd notification. */
#include "access.h"
#include "control/control.h"
#include "fdstore.h"
#include "daemon.h"
#include "fault.h"
#include "bounds.h"
#include "listen.h"
#include "log.h"
#include "policy/policy.h"
#include "safecopy.h"
#include "session.h"
#include "control/status.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"Usage: uffdd [OPTIONS]\n"
	"\n"
	"Serve userfaultfd minor faults on hugetlbfs and shmem memory that\n"
	"client processes hand over through libuffdclient.  Each client sends\n"
	"the userfaultfd its region is registered with and the region's memfd\n"
	"over a Unix socket; uffdd resolves every minor fault in the region by\n"
	"consulting the region's policy and issuing UFFDIO_CONTINUE.\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE          JSON configuration (default "
	UFFDD_DEFAULT_CONFIG ";\n"
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
	"  -h, --help                 show this help and exit\n"
	"  -V, --version              show the version and exit\n"
	"\n"
	"Policies: %s\n"
	"\n"
	"Sockets: when started by systemd socket activation, uffdd takes the\n"
	"sockets named \"data\" and \"control\" (FileDescriptorName=); otherwise\n"
	"it creates them, with the modes from the configuration.\n"
	"\n"
	"Signals: SIGHUP re-reads the configuration (the old one stays on\n"
	"error); SIGTERM and SIGINT stop the daemon.  Clients then go on with\n"
	"their memory served by the kernel.\n"
	"\n"
	"Exit status: 0 after a clean stop, 1 on a start-up error (such as a\n"
	"kernel without minor-fault support, named in the message), 2 on a\n"
	"usage error.\n";

static struct daemon D;
static struct event *sig_ev[3], *data_ev, *tick_ev;
static uint64_t watchdog_usec;
static int watchdog_sick;

static struct event *accept_pause_ev;

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_add(data_ev, NULL);
}

static void accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	for (int i = 0; i < 64; i++) {
		struct session *s;
		int c = accept4((int)fd, NULL, NULL,
				SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0) {
			static struct throttle t;

			if (errno == EMFILE || errno == ENFILE) {
				/* The backlog stays readable: without a pause
				 * this callback would spin. */
				struct timeval tv = { 0, 100000 };

				throttle_log(&t, LOG_WARNING,
					     "accept: %s (raise LimitNOFILE=); "
					     "not accepting for 100 ms",
					     strerror(errno));
				event_del(data_ev);
				event_add(accept_pause_ev, &tv);
			} else if (errno != EAGAIN && errno != EINTR &&
				   errno != ECONNABORTED) {
				throttle_log(&t, LOG_WARNING, "accept: %s",
					     strerror(errno));
			}
			return;
		}
		/* access, limits.clients, limits.clients_per_uid */
		if (access_accept(d, c) < 0)
			continue;
		s = session_new(d, c);
		if (!s) {
			close(c);
			continue;
		}
		__atomic_add_fetch(&d->clients, 1, __ATOMIC_RELAXED);
		worker_assign(d, s);
	}
}

static void notify_status(struct daemon *d)
{
	static uint64_t last_faults, last_ns;
	unsigned clients, regions;
	uint64_t faults, now = now_ns();
	double rate = 0;

	status_totals(d, &clients, &regions, &faults);
	if (last_ns && now > last_ns)
		rate = (double)(faults - last_faults) * 1e9 /
		       (double)(now - last_ns);
	last_faults = faults;
	last_ns = now;
	sd_notifyf(0, "STATUS=%u clients, %u regions, %.0f faults/s", clients,
		   regions, rate);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	static uint64_t last_status;
	uint64_t now = now_ns();

	(void)fd;
	(void)what;
	if (watchdog_usec) {
		/* Beat only while every worker's loop is turning. */
		if (workers_healthy(d, watchdog_usec * 1000 / 2)) {
			sd_notify(0, "WATCHDOG=1");
			if (watchdog_sick)
				log_notice("all fault workers respond again");
			watchdog_sick = 0;
		} else if (!watchdog_sick) {
			log_err("a fault worker is stuck; withholding the "
				"watchdog keep-alive");
			watchdog_sick = 1;
		}
	}
	if (now - last_status >= 2000000000ull) {
		notify_status(d);
		last_status = now;
	}
}

/*
 * The configuration as the command line says to find it: a named file
 * must exist; the default path is optional; --no-config reads none.
 */
static int read_config(struct daemon *d, struct config *c, char *err,
		       size_t errlen)
{
	int rc;

	config_defaults(c);
	d->config_from_file = 0;
	if (d->config_mode == CONFIG_NONE)
		return 0;
	rc = config_load(c, d->config_path, err, errlen);
	if (rc == -ENOENT && d->config_mode == CONFIG_DEFAULT_PATH) {
		config_defaults(c);
		return 0;
	}
	if (rc == 0)
		d->config_from_file = 1;
	return rc;
}

static void reload(struct daemon *d)
{
	struct config c;
	char err[512];
	uint64_t usec = now_ns() / 1000;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)usec);
	if (read_config(d, &c, err, sizeof(err)) < 0) {
		log_err("reload failed, keeping the running configuration: %s",
			err);
		sd_notify(0, "READY=1\nSTATUS=reload failed; old configuration "
			     "kept");
		return;
	}
	/* Sockets and workers are fixed for the life of the process. */
	memcpy(c.socket_path, d->cfg.socket_path, sizeof(c.socket_path));
	memcpy(c.control_path, d->cfg.control_path, sizeof(c.control_path));
	c.socket_mode = d->cfg.socket_mode;
	c.control_mode = d->cfg.control_mode;
	c.workers = d->cfg.workers;
	c.placement = d->cfg.placement;
	if (d->log_level_override >= 0)
		c.log_level = d->log_level_override;
	if (d->spin_override >= 0)
		c.spin_us = (unsigned)d->spin_override;
	/* Workers read the configuration only under cfg_lock (requests,
	 * never the fault path). */
	pthread_rwlock_wrlock(&d->cfg_lock);
	d->cfg = c;
	pthread_rwlock_unlock(&d->cfg_lock);
	log_set_level(c.log_level);
	log_notice("configuration reloaded from %s",
		   d->config_from_file ? d->config_path : "built-in defaults");
	sd_notify(0, "READY=1");
	notify_status(d);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		reload(d);
		return;
	}
	log_notice("%s received, stopping", strsignal((int)sig));
	__atomic_store_n(&d->stopping, 1, __ATOMIC_RELAXED);
	sd_notify(0, "STOPPING=1");
	event_base_loopbreak(d->base);
}

static void raise_nofile(void)
{
	struct rlimit rl;

	/* Every region holds two descriptors and every client one. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int parse_args(int argc, char **argv, struct daemon *d, int *check_only,
		      const char **sock, const char **ctl, int *workers,
		      int *level)
{
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
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;

	while ((c = getopt_long(argc, argv, "c:ns:C:w:l:P:S:thV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			snprintf(d->config_path, sizeof(d->config_path), "%s",
				 optarg);
			d->config_mode = CONFIG_NAMED;
			break;
		case 'n':
			d->config_mode = CONFIG_NONE;
			break;
		case 's':
			*sock = optarg;
			break;
		case 'C':
			*ctl = optarg;
			break;
		case 'w':
			*workers = (int)strtol(optarg, &end, 10);
			if (*end || *workers < 1 || *workers > 256) {
				fprintf(stderr,
					"uffdd: --workers takes 1 to 256\n");
				return 2;
			}
			break;
		case 'P':
			if (strcmp(optarg, "pinned") == 0)
				d->placement_override = PLACEMENT_PINNED;
			else if (strcmp(optarg, "scheduler") == 0)
				d->placement_override = PLACEMENT_SCHEDULER;
			else {
				fprintf(stderr, "uffdd: --placement is "
						"scheduler or pinned\n");
				return 2;
			}
			break;
		case 'S':
			d->spin_override = (int)strtol(optarg, &end, 10);
			if (*end || d->spin_override < 0 ||
			    d->spin_override > 10000) {
				fprintf(stderr,
					"uffdd: --spin-us takes 0 to 10000\n");
				return 2;
			}
			break;
		case 'l':
			*level = log_level_parse(optarg);
			if (*level < 0) {
				fprintf(stderr, "uffdd: unknown log level %s\n",
					optarg);
				return 2;
			}
			break;
		case 't':
			*check_only = 1;
			break;
		case 'h':
			printf(usage, policy_names());
			exit(0);
		case 'V':
			printf("uffdd %s (protocol %d..%d; fdstore: yes)\n",
			       UFFDD_VERSION, UFFDD_PROTO_MIN, UFFDD_PROTO_MAX);
			exit(0);
		default:
			fprintf(stderr, "Try 'uffdd --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "uffdd: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	return 0;
}

static int load_config(struct daemon *d, int level_override)
{
	char err[512];

	if (d->config_mode == CONFIG_DEFAULT_PATH)
		snprintf(d->config_path, sizeof(d->config_path), "%s",
			 UFFDD_DEFAULT_CONFIG);
	if (read_config(d, &d->cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "uffdd: %s\n", err);
		return -1;
	}
	d->log_level_override = level_override;
	if (level_override >= 0)
		d->cfg.log_level = level_override;
	if (d->placement_override >= 0)
		d->cfg.placement = d->placement_override;
	if (d->spin_override >= 0)
		d->cfg.spin_us = (unsigned)d->spin_override;
	return 0;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *ctl = NULL;
	int check_only = 0, workers = 0, level = -1, rc;
	char missing[512];

	pthread_rwlock_init(&D.cfg_lock, NULL);
	D.placement_override = D.spin_override = -1;
	rc = parse_args(argc, argv, &D, &check_only, &sock, &ctl, &workers,
			&level);
	if (rc)
		return rc;
	if (load_config(&D, level) < 0)
		return 1;
	if (sock)
		snprintf(D.cfg.socket_path, sizeof(D.cfg.socket_path), "%s", sock);
	if (ctl)
		snprintf(D.cfg.control_path, sizeof(D.cfg.control_path), "%s", ctl);
	if (workers)
		D.cfg.workers = workers;
	if (check_only) {
		printf("%s: configuration OK\n",
		       D.config_from_file ? D.config_path : "built-in defaults");
		return 0;
	}
	log_init(D.cfg.log_level);

	if (uffd_probe(&D.caps) < 0) {
		log_err("%s", D.caps.error);
		return 1;
	}
	uffd_caps_missing(&D.caps, missing, sizeof(missing));
	if (!D.caps.minor_hugetlbfs && !D.caps.minor_shmem) {
		log_err("%s", missing);
		sd_notifyf(0, "STATUS=%s", missing);
		return 1;
	}
	if (!D.caps.continue_ok) {
		log_err("%s", missing);
		return 1;
	}
	if (missing[0])
		log_warn("%s", missing);
	fault_init(&D.caps);

	signal(SIGPIPE, SIG_IGN);
	/* Policies copy to and from clients' memfds (safecopy.h). */
	if (safe_copy_init() < 0)
		log_warn("cannot install the SIGBUS handler: %s",
			 strerror(errno));
	raise_nofile();
	D.started = time(NULL);
	D.started_ns = now_ns();
	D.base = event_base_new();
	if (!D.base) {
		log_err("cannot create the event loop");
		return 1;
	}
	if (listen_open(&D) < 0)
		return 1;
	if (!D.cfg.workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		D.cfg.workers = n < 1 ? 1 : n > 64 ? 64 : (int)n;
	}
	if (workers_start(&D, D.cfg.workers) < 0) {
		log_err("cannot start the fault workers");
		return 1;
	}
	if (D.nstored) {
		int n = fdstore_restore(&D, D.stored_fds, D.stored_names, D.nstored);

		log_notice("restored %d session%s from the service manager's fd "
			   "store",
			   n, n == 1 ? "" : "s");
		for (int i = 0; i < D.nstored; i++)
			free(D.stored_names[i]);
		free(D.stored_names);
		free(D.stored_fds);
		D.stored_names = NULL;
		D.stored_fds = NULL;
		D.nstored = 0;
	}
	if (control_start(&D) < 0) {
		log_err("cannot serve the control socket");
		return 1;
	}
	data_ev = event_new(D.base, D.data_fd, EV_READ | EV_PERSIST, accept_cb,
			    &D);
	event_add(data_ev, NULL);
	accept_pause_ev = evtimer_new(D.base, accept_resume_cb, NULL);
	limits_check_nofile(&D.cfg);
	sig_ev[0] = evsignal_new(D.base, SIGTERM, signal_cb, &D);
	sig_ev[1] = evsignal_new(D.base, SIGINT, signal_cb, &D);
	sig_ev[2] = evsignal_new(D.base, SIGHUP, signal_cb, &D);
	for (int i = 0; i < 3; i++)
		event_add(sig_ev[i], NULL);

	if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
		watchdog_usec = 0;
	{
		struct timeval tv = { 0, 500000 };

		if (watchdog_usec && watchdog_usec / 4 < 500000) {
			tv.tv_sec = 0;
			tv.tv_usec = (suseconds_t)(watchdog_usec / 4);
		}
		tick_ev = event_new(D.base, -1, EV_PERSIST, tick_cb, &D);
		event_add(tick_ev, &tv);
	}

	log_notice("uffdd %s ready on %s (control %s), %d workers, kernel %s%s",
		   UFFDD_VERSION, D.own_data_sock ? D.cfg.socket_path : "systemd socket",
		   D.own_control_sock ? D.cfg.control_path : "systemd socket",
		   D.nworkers, D.caps.release,
		   D.config_from_file ? "" : ", built-in configuration");
	sd_notify(0, "READY=1");
	notify_status(&D);

	event_base_dispatch(D.base);

	workers_stop(&D);
	control_stop();
	event_free(data_ev);
	event_free(accept_pause_ev);
	event_free(tick_ev);
	for (int i = 0; i < 3; i++)
		event_free(sig_ev[i]);
	listen_close(&D);
	event_base_free(D.base);
	log_notice("stopped");
	return 0;
}
