/* SPDX-License-Identifier: MIT */
/*
 * The uffdd process under test: spawned on a private socket in a temp dir,
 * or an already running one found through its socket (SO_PEERCRED gives its
 * pid).  Its CPU time is the sum over its threads of the scheduler's
 * nanosecond runtime (/proc/PID/task/TID/schedstat): utime+stime tick at
 * 10 ms, far too coarse for a few hundred faults.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* The data socket is SOCK_SEQPACKET; accept a stream one too. */
	for (int i = 0; i < 2; i++) {
		int e;

		fd = socket(AF_UNIX,
			    (i ? SOCK_STREAM : SOCK_SEQPACKET) | SOCK_CLOEXEC,
			    0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		e = errno;
		close(fd);
		if (e != EPROTOTYPE)
			return -e;
	}
	return -EPROTOTYPE;
}

static void log_tail(const char *path, char *why, size_t whylen)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = strlen(why);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	/* The last line says why, usually. */
	char *last = strrchr(buf, '\n');

	snprintf(why + len, whylen - len, ": %s", last ? last + 1 : buf);
}

int daemon_start(struct daemon *d, const char *bin, int workers,
		 const char *const *extra, const char *config, char *why,
		 size_t whylen)
{
	char wbuf[16];
	pid_t pid;

	memset(d, 0, sizeof(*d));
	if (access(bin, X_OK) < 0) {
		snprintf(why, whylen, "%s: %s", bin, strerror(errno));
		return -1;
	}
	strcpy(d->dir, "/tmp/uffdd-bench.XXXXXX");
	if (!mkdtemp(d->dir))
		die("mkdtemp: %s", strerror(errno));
	snprintf(d->socket, sizeof(d->socket), "%s/uffdd.sock", d->dir);
	snprintf(d->control, sizeof(d->control), "%s/control.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/uffdd.log", d->dir);
	snprintf(wbuf, sizeof(wbuf), "%d", workers);
	if (config) {
		int fd;

		snprintf(d->config, sizeof(d->config), "%s/bench.json", d->dir);
		fd = open(d->config, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0600);
		if (fd < 0 || write(fd, config, strlen(config)) !=
				  (ssize_t)strlen(config))
			die("%s: %s", d->config, strerror(errno));
		close(fd);
	}

	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0600);
		const char *argv[32];
		int a = 0;

		/* The daemon must not outlive an interrupted bench. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		argv[a++] = bin;
		argv[a++] = "--socket";
		argv[a++] = d->socket;
		argv[a++] = "--control-socket";
		argv[a++] = d->control;
		if (workers > 0) {
			argv[a++] = "--workers";
			argv[a++] = wbuf;
		}
		if (d->config[0]) {
			argv[a++] = "--config";
			argv[a++] = d->config;
		}
		for (; extra && *extra && a < 31; extra++)
			argv[a++] = *extra;
		argv[a] = NULL;
		execv(bin, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	d->pid = pid;
	d->spawned = true;
	watchdog_track(pid);

	/* Ready when the socket accepts a connection (5 s at most). */
	for (int i = 0; i < 500; i++) {
		int st, fd = sock_connect(d->socket);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			d->pid = 0;
			snprintf(why, whylen, "uffdd exited with status %d",
				 WIFEXITED(st) ? WEXITSTATUS(st)
					       : 128 + WTERMSIG(st));
			log_tail(d->log, why, whylen);
			daemon_stop(d);
			return -1;
		}
		usleep(10000);
	}
	snprintf(why, whylen, "uffdd did not listen on %s within 5 s",
		 d->socket);
	log_tail(d->log, why, whylen);
	daemon_stop(d);
	return -1;
}

int daemon_attach(struct daemon *d, const char *socket, char *why,
		  size_t whylen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;

	memset(d, 0, sizeof(*d));
	snprintf(d->socket, sizeof(d->socket), "%s", socket);
	fd = sock_connect(socket);
	if (fd < 0) {
		snprintf(why, whylen, "connect %s: %s", socket, strerror(-fd));
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		cred.pid = 0;
	close(fd);
	d->pid = cred.pid;
	return 0;
}

bool daemon_alive(const struct daemon *d)
{
	if (d->pid <= 0)
		return false;
	if (d->spawned) {
		int st;

		if (waitpid(d->pid, &st, WNOHANG) == d->pid)
			return false;
	}
	return kill(d->pid, 0) == 0;
}

void daemon_stop(struct daemon *d)
{
	if (d->spawned && d->pid > 0) {
		int st;

		kill(d->pid, SIGTERM);
		for (int i = 0; i < 200; i++) {
			if (waitpid(d->pid, &st, WNOHANG) == d->pid)
				goto reaped;
			usleep(10000);
		}
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &st, 0);
	}
reaped:
	if (d->pid > 0)
		watchdog_untrack(d->pid);
	if (d->spawned && d->dir[0]) {
		if (bench_verbose)
			note("daemon log kept in %s", d->log);
		else {
			unlink(d->socket);
			unlink(d->control);
			unlink(d->log);
			if (d->config[0])
				unlink(d->config);
			rmdir(d->dir);
		}
	}
	d->pid = 0;
	d->spawned = false;
}

/* Calls fn(tid) for every thread of pid; returns the count or -errno. */
static int each_task(pid_t pid, int (*fn)(pid_t tid, void *arg), void *arg)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		if (fn((pid_t)atoi(e->d_name), arg) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

struct cpu_acc {
	pid_t pid;
	int64_t ns;
};

static int add_task_cpu(pid_t tid, void *arg)
{
	struct cpu_acc *a = arg;
	char path[96];
	unsigned long long run = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)a->pid,
		 (int)tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%llu", &run) != 1)
		run = 0;
	fclose(f);
	a->ns += (int64_t)run;
	return 0;
}

int64_t daemon_cpu_ns(const struct daemon *d)
{
	struct cpu_acc a = { d->pid, 0 };

	if (d->pid <= 0 || each_task(d->pid, add_task_cpu, &a) <= 0)
		return -1;
	return a.ns;
}

static int pin_task(pid_t tid, void *arg)
{
	return pin_tid(tid, *(int *)arg);
}

int daemon_pin(const struct daemon *d, int cpu)
{
	if (d->pid <= 0)
		return -ESRCH;
	return each_task(d->pid, pin_task, &cpu) > 0 ? 0 : -ESRCH;
}
