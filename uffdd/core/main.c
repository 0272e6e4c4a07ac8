/* SPDX-License-Identifier: MIT */
/* uffdd: start-up, the main loop, signals and systemd notification. */
#include "args.h"
#include "bounds.h"
#include "clock.h"
#include "control/control.h"
#include "control/status.h"
#include "daemon.h"
#include "fault.h"
#include "images.h"
#include "listen.h"
#include "log.h"
#include "policy/learn_set.h"
#include "policy_host.h"
#include "reaper.h"
#include "session.h"
#include "session_restore.h"
#include "share.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

static struct daemon D;
static struct event *sig_ev[3], *tick_ev;
static uint64_t watchdog_usec;
static int watchdog_sick;

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
	d->n.fault_rate = rate;
	sd_notifyf(0, "STATUS=%u clients, %u regions, %.0f faults/s%s%s",
		   clients, regions, rate,
		   d->conf.restart_keys[0] ? "; restart to apply: " : "",
		   d->conf.restart_keys);
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
		if (workers_healthy(d->workers, watchdog_usec * 1000 / 2)) {
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
	/* What the log rate limits held back, said once a tick at most. */
	log_flush();
}

/* The command line's settings win over the file's. */
static void overrides(const struct daemon_conf *conf, struct config *c)
{
	struct config_sockets *s = &c->sock;

	if (conf->log_level >= 0)
		c->log_level = conf->log_level;
	if (conf->placement >= 0)
		c->work.placement = conf->placement;
	if (conf->spin_us >= 0)
		c->work.spin_us = (unsigned)conf->spin_us;
	if (conf->data_path)
		snprintf(s->data_path, sizeof(s->data_path), "%s",
			 conf->data_path);
	if (conf->control_path)
		snprintf(s->control_path, sizeof(s->control_path), "%s",
			 conf->control_path);
	if (conf->workers)
		c->work.n = conf->workers;
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
	d->conf.from_file = 0;
	if (d->conf.mode != CONFIG_NONE) {
		rc = config_load(c, d->conf.path, err, errlen);
		if (rc == -ENOENT && d->conf.mode == CONFIG_DEFAULT_PATH)
			config_defaults(c);
		else if (rc < 0)
			return rc;
		else
			d->conf.from_file = 1;
	}
	overrides(&d->conf, c);
	return 0;
}

/*
 * Apply what a reload may change.  Sockets and workers are fixed for the
 * life of the process: the keys whose new values wait for a restart are
 * named in the log, in STATUS= and in `uffdctl status`, not passed over.
 */
static void reload(struct daemon *d)
{
	struct daemon_conf *conf = &d->conf;
	const char *from;
	struct config c;
	int from_file;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)(now_ns() / 1000));
	conf->reloaded = time(NULL);
	from_file = conf->from_file;
	if (read_config(d, &c, conf->reload_error, sizeof(conf->reload_error)) <
	    0) {
		conf->from_file = from_file; /* still running on that */
		log_err("reload failed, keeping the running configuration: %s",
			conf->reload_error);
		sd_notify(0, "READY=1\nSTATUS=reload failed; old configuration "
			     "kept");
		return;
	}
	conf->reload_error[0] = '\0';
	config_restart_keys(&conf->cfg, &c, conf->restart_keys,
			    sizeof(conf->restart_keys));
	c.sock = conf->cfg.sock;
	c.work.n = conf->cfg.work.n;
	c.work.placement = conf->cfg.work.placement;
	/* Workers read the configuration only under its lock (requests,
	 * never the fault path). */
	pthread_rwlock_wrlock(&conf->lock);
	conf->cfg = c;
	pthread_rwlock_unlock(&conf->lock);
	share_configure(&c.limits);
	log_set_level(c.log_level);
	from = conf->from_file ? conf->path : "built-in defaults";
	if (conf->restart_keys[0])
		log_warn("configuration reloaded from %s, except %s: changed, "
			 "but read only at start-up (systemctl restart uffdd "
			 "applies them)",
			 from, conf->restart_keys);
	else
		log_notice("configuration reloaded from %s", from);
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
	__atomic_store_n(&d->n.stopping, 1, __ATOMIC_RELAXED);
	sd_notify(0, "STOPPING=1");
	event_base_loopbreak(d->base);
}

/* The configuration at start, with the command line's settings. */
static int load_config(struct daemon *d)
{
	char err[512];

	if (d->conf.mode == CONFIG_DEFAULT_PATH)
		snprintf(d->conf.path, sizeof(d->conf.path), "%s",
			 UFFDD_DEFAULT_CONFIG);
	if (read_config(d, &d->conf.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "uffdd: %s\n", err);
		return -1;
	}
	return 0;
}

/* --dump-config: every key as the daemon would run with it (like sshd -T). */
static int dump_config(const struct daemon *d)
{
	printf("// %s, with the command line's settings\n",
	       d->conf.from_file ? d->conf.path : "built-in defaults");
	config_dump(&d->conf.cfg, stdout);
	return 0;
}

/* What the kernel offers; -1 (logged) when minor faults cannot be served. */
static int probe_kernel(struct daemon *d)
{
	char missing[512];

	if (uffd_probe(&d->caps) < 0) {
		log_err("%s", d->caps.error);
		return -1;
	}
	uffd_caps_missing(&d->caps, missing, sizeof(missing));
	if (!d->caps.minor_hugetlbfs && !d->caps.minor_shmem) {
		log_err("%s", missing);
		sd_notifyf(0, "STATUS=%s", missing);
		return -1;
	}
	if (!d->caps.continue_ok) {
		log_err("%s", missing);
		return -1;
	}
	if (missing[0])
		log_warn("%s", missing);
	fault_init(&d->caps);
	return 0;
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

/* The fault workers, then the clients systemd kept for us. */
static int start_workers(struct daemon *d)
{
	struct config_workers *w = &d->conf.cfg.work;

	if (!w->n) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		w->n = n < 1 ? 1 : n > 64 ? 64 : (int)n;
	}
	d->workers = workers_start(d, w->n, w->placement == PLACEMENT_PINNED,
				   sessions_end);
	if (!d->workers) {
		log_err("cannot start the fault workers");
		return -1;
	}
	if (d->stored.n) {
		int n = sessions_restore(d);

		log_notice(
		    "restored %d session%s from the service manager's fd "
		    "store",
		    n, n == 1 ? "" : "s");
	}
	return 0;
}

/* Signals, and the tick that feeds the watchdog and STATUS=. */
static void start_timers(struct daemon *d)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct timeval tv = { 0, 500000 };

	for (int i = 0; i < 3; i++) {
		sig_ev[i] = evsignal_new(d->base, sigs[i], signal_cb, d);
		event_add(sig_ev[i], NULL);
	}
	if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
		watchdog_usec = 0;
	if (watchdog_usec && watchdog_usec / 4 < 500000)
		tv.tv_usec = (suseconds_t)(watchdog_usec / 4);
	tick_ev = event_new(d->base, -1, EV_PERSIST, tick_cb, d);
	event_add(tick_ev, &tv);
}

static int start(struct daemon *d)
{
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	policy_host_install();
	share_configure(&d->conf.cfg.limits);
	d->n.started = time(NULL);
	d->n.started_ns = now_ns();
	d->base = event_base_new();
	if (!d->base) {
		log_err("cannot create the event loop");
		return -1;
	}
	if (reaper_start() < 0)
		log_warn("no thread for slow closes: the workers do them");
	/* Before the workers: regions restored from the fd store may be
	 * images'. */
	if (images_start(d) < 0)
		return -1;
	if (listen_open(d) < 0 || start_workers(d) < 0)
		return -1;
	if (control_start(d) < 0 || listen_start(d) < 0) {
		log_err("cannot serve the sockets");
		return -1;
	}
	bounds_check_nofile(&d->conf.cfg.limits);
	start_timers(d);
	return 0;
}

static void stop(struct daemon *d)
{
	workers_stop(d->workers);
	images_stop(); /* may hand the reaper its last unmaps */
	reaper_stop();
	control_stop();
	listen_stop();
	event_free(tick_ev);
	for (int i = 0; i < 3; i++)
		event_free(sig_ev[i]);
	listen_close(d);
	event_base_free(d->base);
	learn_reset(); /* what the workers learned goes with them */
	log_notice("stopped");
}

int main(int argc, char **argv)
{
	struct args a;
	int rc;

	pthread_rwlock_init(&D.conf.lock, NULL);
	rc = args_parse(argc, argv, &D, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (load_config(&D) < 0)
		return 1;
	if (a.dump_config)
		return dump_config(&D);
	if (a.check_only) {
		printf("%s: configuration OK\n",
		       D.conf.from_file ? D.conf.path : "built-in defaults");
		return 0;
	}
	log_init(D.conf.cfg.log_level);
	if (probe_kernel(&D) < 0 || start(&D) < 0)
		return 1;
	log_notice("uffdd %s ready on %s (control %s), %d workers, kernel %s%s",
		   UFFDD_VERSION,
		   D.sock.own_data ? D.conf.cfg.sock.data_path
				   : "systemd socket",
		   D.sock.own_control ? D.conf.cfg.sock.control_path
				      : "systemd socket",
		   workers_count(D.workers), D.caps.release,
		   D.conf.from_file ? "" : ", built-in configuration");
	images_log_ready(&D);
	sd_notify(0, "READY=1");
	notify_status(&D);
	event_base_dispatch(D.base);
	stop(&D);
	return 0;
}
