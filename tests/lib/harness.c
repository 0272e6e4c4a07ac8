/* SPDX-License-Identifier: MIT */
#include "harness.h"
#include "uffdd_proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *t_bin(const char *name)
{
	static char buf[8][512];
	static int i;
	const char *b = getenv("UFFDD_BUILD");

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", b && *b ? b : "build", name);
	return buf[i];
}

static int connect_stream(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

json_object *td_ask(const struct tdaemon *d, const char *cmd)
{
	char req[256], *buf;
	size_t len = 0, cap = 1 << 16;
	json_object *o = NULL;
	int fd = connect_stream(d->ctl);

	if (fd < 0)
		return NULL;
	snprintf(req, sizeof(req), "{\"command\":\"%s\"}\n", cmd);
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		return NULL;
	}
	buf = malloc(cap);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000) <= 0)
			break;
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (len)
		o = json_tokener_parse(buf);
	free(buf);
	return o;
}

json_object *td_status(const struct tdaemon *d)
{
	return td_ask(d, "status");
}

int td_start(struct tdaemon *d, const char *config_json, ...)
{
	const char *argv[48], *wrap;
	int argc = 0, fd, wait_steps = 500;
	va_list ap;
	const char *a;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/uffdd-test.XXXXXX");
	if (!mkdtemp(d->dir))
		return -1;
	chmod(d->dir, 0755);
	snprintf(d->sock, sizeof(d->sock), "%s/uffdd.sock", d->dir);
	snprintf(d->ctl, sizeof(d->ctl), "%s/control.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/uffdd.log", d->dir);
	/*
	 * UFFDD_TEST_WRAPPER="valgrind --error-exitcode=1 ..." runs the
	 * daemon under a tool (make check-valgrind); split on spaces.
	 */
	wrap = getenv("UFFDD_TEST_WRAPPER");
	if (wrap && *wrap) {
		static char wbuf[1024];
		char *save = NULL, *tok;

		snprintf(wbuf, sizeof(wbuf), "%s", wrap);
		for (tok = strtok_r(wbuf, " ", &save); tok && argc < 12;
		     tok = strtok_r(NULL, " ", &save))
			argv[argc++] = tok;
		wait_steps = 6000; /* a minute: valgrind starts slowly */
	}
	argv[argc++] = t_bin("uffdd");
	argv[argc++] = "--socket";
	argv[argc++] = d->sock;
	argv[argc++] = "--control-socket";
	argv[argc++] = d->ctl;
	argv[argc++] = "--log-level";
	argv[argc++] = "debug";
	if (config_json) {
		FILE *f;

		snprintf(d->config, sizeof(d->config), "%s/uffdd.json", d->dir);
		f = fopen(d->config, "w");
		if (!f)
			return -1;
		fputs(config_json, f);
		fclose(f);
		argv[argc++] = "--config";
		argv[argc++] = d->config;
	} else {
		/* Never pick up the machine's /etc/uffdd/uffdd.json. */
		snprintf(d->config, sizeof(d->config), "%s/empty.json", d->dir);
		fd = open(d->config, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd >= 0) {
			if (write(fd, "{}\n", 3) != 3)
				perror("write");
			close(fd);
		}
		argv[argc++] = "--config";
		argv[argc++] = d->config;
	}
	va_start(ap, config_json);
	while ((a = va_arg(ap, const char *)) && argc < 46)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;

	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (d->pid == 0) {
		fd =
		    open(d->log, O_CREAT | O_WRONLY | O_TRUNC | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		/* The daemon must not inherit the test's descriptors. */
		for (int i = 3; i < 1024; i++)
			close(i);
		unsetenv("NOTIFY_SOCKET");
		unsetenv("LISTEN_FDS");
		execvp(argv[0],
		       (char *const *)argv); /* the wrapper is found on PATH */
		_exit(127);
	}
	for (int i = 0; i < wait_steps; i++) {
		json_object *o = td_ask(d, "ping");
		int st;

		if (o) {
			json_object_put(o);
			return 0;
		}
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

static void rm_dir(const char *dir)
{
	DIR *dd = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!dd)
		return;
	while ((e = readdir(dd))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(dd);
	rmdir(dir);
}

int td_stop(struct tdaemon *d)
{
	int st = 0, rc = -1;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		for (int i = 0; i < 1000; i++) {
			if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
				rc = WIFEXITED(st) ? WEXITSTATUS(st)
						   : 128 + WTERMSIG(st);
				break;
			}
			usleep(10000);
		}
		if (rc < 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &st, 0);
			rc = 255;
		}
		d->pid = 0;
	}
	if (rc != 0) {
		fprintf(stderr, "# uffdd exited with status %d\n", rc);
		td_dump_log(d);
	}
	if (getenv("UFFDD_TEST_KEEP") == NULL)
		rm_dir(d->dir);
	return rc;
}

int td_setup(struct tdaemon *d, const char *config_json)
{
	signal(SIGPIPE, SIG_IGN);
	if (td_start(d, config_json, NULL) == 0)
		return 0;
	fprintf(stderr, "# cannot start %s\n", t_bin("uffdd"));
	td_dump_log(d);
	return -1;
}

void td_teardown(struct tdaemon *d)
{
	if (t_failures())
		td_dump_log(d);
	CHECK_EQ(td_stop(d), 0);
}

void td_kill(struct tdaemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
	}
}

void td_dump_log(const struct tdaemon *d)
{
	FILE *f = fopen(d->log, "r");
	char line[1024];

	if (!f)
		return;
	fprintf(stderr, "# --- uffdd log %s ---\n", d->log);
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "#   %s", line);
	fclose(f);
}

int td_log_count(const struct tdaemon *d, const char *needle)
{
	FILE *f = fopen(d->log, "r");
	char line[2048];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

int t_fd_count(pid_t pid)
{
	char path[64];
	DIR *dd;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dd = opendir(path);
	if (!dd)
		return -1;
	while ((e = readdir(dd)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dd);
	return n;
}

long t_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

json_object *j_path(json_object *o, const char *path)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && o;
	     tok = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(o, tok, &o))
			return NULL;
	return o;
}

int64_t j_int(json_object *o, const char *path)
{
	json_object *v = j_path(o, path);

	return v ? json_object_get_int64(v) : -1;
}

json_object *j_region(json_object *status, const char *name,
		      json_object **client)
{
	json_object *clients = j_path(status, "clients");

	for (size_t i = 0; clients && i < json_object_array_length(clients);
	     i++) {
		json_object *c = json_object_array_get_idx(clients, i);
		json_object *rs = j_path(c, "regions");

		for (size_t k = 0; rs && k < json_object_array_length(rs);
		     k++) {
			json_object *r = json_object_array_get_idx(rs, k);
			json_object *n = j_path(r, "name");

			if (n && strcmp(json_object_get_string(n), name) == 0) {
				if (client)
					*client = c;
				return r;
			}
		}
	}
	return NULL;
}

json_object *j_client(json_object *status, pid_t pid)
{
	json_object *clients = j_path(status, "clients");

	for (size_t i = 0; clients && i < json_object_array_length(clients);
	     i++) {
		json_object *c = json_object_array_get_idx(clients, i);

		if (j_int(c, "pid") == pid)
			return c;
	}
	return NULL;
}

int td_wait_log(const struct tdaemon *d, const char *needle, int more_than,
		int timeout_ms)
{
	uint64_t until = t_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int n;

	while ((n = td_log_count(d, needle)) <= more_than && t_now_ns() < until)
		usleep(5000);
	return n;
}

int td_wait_total(const struct tdaemon *d, const char *path, int64_t want,
		  int timeout_ms)
{
	int64_t v = -1;

	for (int i = 0; i <= timeout_ms / 10; i++) {
		json_object *o = td_status(d);

		v = o ? j_int(o, path) : -1;
		json_object_put(o);
		if (v == want)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "#   %s is %lld, waited for %lld\n", path, (long long)v,
		(long long)want);
	return -1;
}

int t_run(const char *out_path, const char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(out_path ? out_path : "/dev/null",
			      O_CREAT | O_WRONLY | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int t_send_raw(int sock, const void *buf, size_t n, const int *fds, int nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
	ssize_t rc = uffdd_sendmsg(sock, &iov, 1, fds, nfds);

	return rc < 0 ? (int)rc : 0;
}
