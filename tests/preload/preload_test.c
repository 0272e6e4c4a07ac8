/* SPDX-License-Identifier: MIT */
/*
 * uffd-run end to end.  This binary is both sides:
 *
 *   preload_test                       the driver: starts a private uffdd,
 *                                      runs each scenario below under
 *                                      uffd-run and checks the daemon's
 *                                      counters exactly at every step;
 *   preload_test --subject SCENARIO    the program under uffd-run: an
 *                                      ordinary program that knows nothing
 *                                      of uffdd.  It verifies the contents
 *                                      of its memory itself (exit status).
 *
 * They talk in lock step: the subject writes "S <tag> <pid>\n" on stdout
 * and waits for one byte on stdin; the driver checks the status, answers.
 */
#include "harness.h"
#include "policy/learn_set.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB    1024UL
#define MiB    (1024UL * 1024)
#define PG     4096UL
#define HPG    (2 * MiB)
#define COMM   "preload_test"
#define NOBODY 65534

extern char **environ;

/* ======================================================================
 * The subject
 * ==================================================================== */

static int bad; /* content errors seen by the subject */

/* Async-signal-safe: the forked-in-a-handler child uses it too. */
static void put_num(char *buf, size_t *n, long v)
{
	char t[24];
	int i = 0;

	if (v < 0) {
		buf[(*n)++] = '-';
		v = -v;
	}
	do
		t[i++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (i)
		buf[(*n)++] = t[--i];
}

static void step(const char *tag)
{
	char buf[96];
	size_t n = 0;
	char c;

	buf[n++] = 'S';
	buf[n++] = ' ';
	for (const char *s = tag; *s && n < 60; s++)
		buf[n++] = *s;
	buf[n++] = ' ';
	put_num(buf, &n, (long)getpid());
	buf[n++] = '\n';
	if (write(1, buf, n) != (ssize_t)n || read(0, &c, 1) != 1)
		_exit(90);
}

static void complain(const char *what)
{
	ssize_t rc = write(2, what, strlen(what));

	(void)rc;
	bad++;
}

static unsigned char pat(unsigned seed, size_t page)
{
	return (unsigned char)(seed * 31 + page * 7 + 1);
}

/* Every page gets its own byte value (first touch of each page: one
 * fault); psz is the pattern's page, not necessarily the mapping's. */
static void fill(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t off = 0; off < len; off += PG)
		memset(p + off, pat(seed, off / PG), PG);
}

static void check(const unsigned char *p, size_t len, unsigned seed,
		  const char *what)
{
	for (size_t off = 0; off < len; off += PG) {
		unsigned char want = pat(seed, off / PG);

		for (size_t i = 0; i < PG; i += 512)
			if (p[off + i] != want) {
				complain("content mismatch in ");
				complain(what);
				complain("\n");
				return;
			}
	}
}

static void *shared(size_t len, int huge)
{
	void *p =
	    mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | (huge ? MAP_HUGETLB : 0), -1, 0);

	if (p == MAP_FAILED) {
		perror("subject: mmap");
		exit(80);
	}
	return p;
}

static int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* basic: two served mappings, two that are not. */
static void s_basic(void)
{
	unsigned char *a = shared(8 * MiB, 0), *h = shared(16 * MiB, 1);
	unsigned char *small = shared(64 * KiB, 0);
	unsigned char *priv = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	step("mapped");
	fill(a, 8 * MiB, 1);
	fill(h, 16 * MiB, 2);
	fill(small, 64 * KiB, 3);
	fill(priv, 8 * MiB, 4);
	step("touched");
	check(a, 8 * MiB, 1, "basic shmem");
	check(h, 16 * MiB, 2, "basic hugetlb");
	check(small, 64 * KiB, 3, "basic small");
	check(priv, 8 * MiB, 4, "basic private");
	step("verified");
}

static volatile unsigned char *g_a, *g_h;

/* In a child forked from a signal handler: only async-signal-safe code. */
static void sig_fork(int sig)
{
	pid_t pid;
	int err = errno;

	(void)sig;
	pid = fork();
	if (pid == 0) {
		step("sigchild");
		check((const unsigned char *)g_a, 8 * MiB, 1, "sigchild shmem");
		check((const unsigned char *)g_h, 16 * MiB, 2,
		      "sigchild hugetlb");
		step("sigchild-touched");
		_exit(bad ? 1 : 0);
	}
	if (pid < 0 || wait_child(pid) != 0)
		complain("signal-handler child failed\n");
	errno = err;
}

static void s_fork(void)
{
	unsigned char *a = shared(8 * MiB, 0), *h = shared(16 * MiB, 1);
	pid_t pid;

	fill(a, 8 * MiB, 1);
	fill(h, 16 * MiB, 2);
	step("parent");
	pid = fork();
	if (pid == 0) {
		step("child");
		check(a, 8 * MiB, 1, "child shmem");
		check(h, 16 * MiB, 2, "child hugetlb");
		a[5] = 0xee; /* seen by the parent: same pages */
		h[5] = 0xef;
		step("child-touched");
		_exit(bad ? 1 : 0);
	}
	if (wait_child(pid) != 0)
		complain("forked child failed\n");
	if (a[5] != 0xee || h[5] != 0xef)
		complain("child's writes not seen by the parent\n");
	a[5] = h[5] = pat(1, 0);
	h[5] = pat(2, 0);

	g_a = a;
	g_h = h;
	signal(SIGUSR1, sig_fork);
	raise(SIGUSR1);
	step("after-sigfork");
}

/*
 * board: children of one parent read the same BOARD_PAGES scattered pages
 * (8 KiB apart at least: no run, no neighbour mapped in passing).  The
 * first BOARD_TEACH children teach the lineage (the driver waits at
 * "taught" until the daemon's set holds the pages), then each of
 * BOARD_KIDS more reports once forked and once it has read them.
 */
#define BOARD_PAGES 64
#define BOARD_TEACH 24
#define BOARD_KIDS  6

static void board_child(unsigned char *a, int report)
{
	int wrong = 0;

	if (report)
		step("bchild");
	for (size_t i = 0; i < BOARD_PAGES; i++) {
		size_t page = (i * 29 + 3) % 2048;

		for (size_t k = 0; k < PG; k += 512)
			wrong += a[page * PG + k] != pat(1, page);
	}
	if (wrong)
		complain("board child: content mismatch\n");
	if (report)
		step("bchild-read");
	_exit(bad ? 1 : 0);
}

static void s_board(void)
{
	unsigned char *a = shared(8 * MiB, 0);
	pid_t pid;

	fill(a, 8 * MiB, 1);
	step("bparent");
	for (int k = 0; k < BOARD_TEACH + BOARD_KIDS; k++) {
		if (k == BOARD_TEACH)
			step("taught");
		pid = fork();
		if (pid == 0)
			board_child(a, k >= BOARD_TEACH);
		if (pid < 0 || wait_child(pid) != 0)
			complain("board child failed\n");
	}
	step("bdone");
}

/* Threads churn served mappings while the main thread forks. */
static volatile int churn_stop;

static void *churn(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	while (!churn_stop) {
		unsigned char *p = shared(4 * MiB, 0);

		fill(p, 4 * MiB, seed);
		check(p, 4 * MiB, seed, "churn");
		munmap(p, 4 * MiB);
	}
	return NULL;
}

static void s_threads(void)
{
	unsigned char *a = shared(8 * MiB, 0);
	pthread_t t[2];
	int fails = 0;

	fill(a, 8 * MiB, 1);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(10 + i));
	for (int i = 0; i < 20; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			check(a, 8 * MiB, 1, "threads child");
			_exit(bad ? 1 : 0);
		}
		if (wait_child(pid) != 0)
			fails++;
	}
	churn_stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (fails)
		complain("children of a threaded parent failed\n");
	step("done");
}

static void s_exec_child(void)
{
	unsigned char *a = shared(8 * MiB, 0);

	fill(a, 8 * MiB, 5);
	check(a, 8 * MiB, 5, "exec child");
	step("exec-child");
}

static void s_exec(const char *self)
{
	unsigned char *a = shared(8 * MiB, 0);
	const char *sh_argv[] = { "sh", "-c", "exit 7", NULL };
	pid_t pid;
	int st;

	fill(a, 8 * MiB, 1);
	/* Unmap the last page from our page tables (it stays in the page
	 * cache): the vfork child's read of it is a minor fault. */
	madvise(a + 8 * MiB - PG, PG, MADV_DONTNEED);
	step("parent");

	/* fork + exec of a shell, which must see none of our descriptors
	 * and then execs a program that maps its own memory. */
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c",
		      "ls -l /proc/$$/fd | grep -E 'memfd|userfaultfd|socket' "
		      ">&2 && exit 3; exec \"$0\" --subject exec-child",
		      self, (char *)NULL);
		_exit(127);
	}
	if (wait_child(pid) != 0)
		complain("exec'd shell failed\n");

	/* posix_spawn: shares our memory until exec, needs nothing. */
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, (char *const *)sh_argv,
			environ) != 0 ||
	    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 7)
		complain("posix_spawn'd shell failed\n");

	/* vfork: the child faults on our mm, so our uffd serves it. */
	pid = vfork();
	if (pid == 0) {
		volatile unsigned char c = a[8 * MiB - PG];

		_exit(c == pat(1, 8 * MiB / PG - 1) ? 0 : 1);
	}
	if (wait_child(pid) != 0)
		complain("vfork child saw wrong contents\n");
	step("spawned");
}

static void s_remap(void)
{
	unsigned char *a = shared(8 * MiB, 0), *b, *c, *q;

	fill(a, 8 * MiB, 1);
	munmap(a, 8 * MiB);
	step("unmapped"); /* #1 gone */

	b = shared(4 * MiB, 0); /* #2 */
	fill(b, 4 * MiB, 2);
	step("mapped2");
	munmap(b + 1 * MiB, 1 * MiB);
	step("split"); /* #2 [0,1M) and #2 @2048k [2M,4M) */
	madvise(b, 1 * MiB, MADV_DONTNEED);
	madvise(b + 2 * MiB, 2 * MiB, MADV_DONTNEED);
	check(b, 1 * MiB, 2, "left piece");
	check(b + 2 * MiB, 2 * MiB, 2, "right piece");
	step("pieces-touched");

	c = shared(8 * MiB, 0); /* #3 */
	fill(c, 4 * MiB, 3);	/* first half only */
	memset(c + 4 * MiB, 0x5a, 4 * MiB);
	/* Move it somewhere else: the touched half's page tables move too. */
	q = mmap(NULL, 8 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(c + 4 * MiB, 4 * MiB, MADV_DONTNEED);
	q = mremap(c, 8 * MiB, 8 * MiB, MREMAP_MAYMOVE | MREMAP_FIXED, q);
	if (q == MAP_FAILED) {
		perror("subject: mremap");
		exit(81);
	}
	step("moved");
	check(q, 4 * MiB, 3, "moved first half");
	for (size_t i = 4 * MiB; i < 8 * MiB; i += PG)
		if (q[i] != 0x5a)
			complain("moved second half\n");
	step("moved-touched");

	c = mremap(q, 8 * MiB, 4 * MiB, 0); /* shrink in place */
	if (c != q)
		complain("shrink moved\n");
	step("shrunk");
	c = mremap(q, 4 * MiB, 8 * MiB, MREMAP_MAYMOVE); /* grow: file is 8M */
	if (c == MAP_FAILED) {
		perror("subject: mremap grow");
		exit(82);
	}
	check(c, 4 * MiB, 3, "grown first half");
	for (size_t i = 4 * MiB; i < 8 * MiB; i += PG)
		if (c[i] != 0x5a)
			complain("grown second half\n");
	step("grown");
	/* Something else mapped over the middle of a served range. */
	if (mmap(c + 2 * MiB, 2 * MiB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		complain("MAP_FIXED over a served range failed\n");
	step("overmapped");
	check(c, 2 * MiB, 3, "overmapped left");
	for (size_t i = 4 * MiB; i < 8 * MiB; i += PG)
		if (c[i] != 0x5a)
			complain("overmapped right\n");
}

/* read()/recv() straight into pages never touched: kernel-mode faults. */
static void s_read(void)
{
	const char *expect = getenv("PRELOAD_TEST_EXPECT");
	int efault = expect && strcmp(expect, "efault") == 0;
	unsigned char *a = shared(4 * MiB, 0), *h = shared(4 * MiB, 1);
	unsigned char buf[64 * KiB];
	char path[] = "/tmp/preload-read.XXXXXX";
	int fd = mkstemp(path), sv[2];
	ssize_t n;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 13 + 5);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
		perror("subject: temp file");
		exit(83);
	}
	unlink(path);
	step("mapped");
	n = pread(fd, a + 1 * MiB, sizeof(buf), 0);
	if (efault) {
		if (n != -1 || errno != EFAULT)
			complain("read() into a user-mode-only range did not "
				 "fail with EFAULT\n");
		step("read");
		return;
	}
	if (n != (ssize_t)sizeof(buf) || memcmp(a + 1 * MiB, buf, sizeof(buf)))
		complain("read() into shmem\n");
	n = pread(fd, h + HPG + 100, 4096, 0);
	if (n != 4096 || memcmp(h + HPG + 100, buf, 4096))
		complain("read() into hugetlb\n");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
	    write(sv[0], buf, 100) != 100 ||
	    recv(sv[1], a + 3 * MiB, 100, 0) != 100 ||
	    memcmp(a + 3 * MiB, buf, 100))
		complain("recv() into shmem\n");
	step("read");
}

/* The daemon dies between two steps: the program must not notice. */
static void s_kill(void)
{
	unsigned char *a = shared(8 * MiB, 0), *h = shared(16 * MiB, 1), *b;
	pid_t pid;

	fill(a, 4 * MiB, 1);
	fill(h, 8 * MiB, 2);
	step("half");
	/* The driver has killed uffdd: the kernel serves from here on. */
	fill(a + 4 * MiB, 4 * MiB, 3);
	fill(h + 8 * MiB, 8 * MiB, 4);
	check(a, 4 * MiB, 1, "kill a1");
	check(a + 4 * MiB, 4 * MiB, 3, "kill a2");
	check(h, 8 * MiB, 2, "kill h1");
	check(h + 8 * MiB, 8 * MiB, 4, "kill h2");
	pid = fork();
	if (pid == 0) {
		check(a, 4 * MiB, 1, "kill child");
		_exit(bad ? 1 : 0);
	}
	if (wait_child(pid) != 0)
		complain("child after the daemon died\n");
	munmap(a, 8 * MiB);
	b = shared(8 * MiB, 0);
	fill(b, 8 * MiB, 6);
	b = mremap(b, 8 * MiB, 4 * MiB, 0);
	check(b, 4 * MiB, 6, "kill new mapping");
	step("survived");
}

/* Unserved run (no daemon, refused grant): just works. */
static void s_plain(void)
{
	unsigned char *a = shared(8 * MiB, 0);
	pid_t pid;

	fill(a, 8 * MiB, 1);
	pid = fork();
	if (pid == 0) {
		check(a, 8 * MiB, 1, "plain child");
		_exit(bad ? 1 : 0);
	}
	if (wait_child(pid) != 0)
		complain("plain child\n");
	step("plain");
}

static int subject(const char *scenario, const char *self)
{
	if (!strcmp(scenario, "basic"))
		s_basic();
	else if (!strcmp(scenario, "fork"))
		s_fork();
	else if (!strcmp(scenario, "threads"))
		s_threads();
	else if (!strcmp(scenario, "exec"))
		s_exec(self);
	else if (!strcmp(scenario, "exec-child"))
		s_exec_child();
	else if (!strcmp(scenario, "remap"))
		s_remap();
	else if (!strcmp(scenario, "read"))
		s_read();
	else if (!strcmp(scenario, "kill"))
		s_kill();
	else if (!strcmp(scenario, "plain"))
		s_plain();
	else if (!strcmp(scenario, "board"))
		s_board();
	else
		return 99;
	return bad ? 1 : 0;
}

/* ======================================================================
 * The driver
 * ==================================================================== */

static struct tdaemon D;
static char self_path[512];

struct run {
	pid_t pid;     /* uffd-run, then the subject (exec) */
	FILE *out;     /* subject's stdout */
	int in;	       /* subject's stdin */
	char err[160]; /* file with uffd-run's and the subject's stderr */
};

/* Start `uffd-run ARGS -- preload_test --subject SCENARIO` as uid. */
static int start(struct run *r, const char *scenario, uid_t uid,
		 const char *const *args, const char *env)
{
	int o[2], i[2];
	const char *argv[24];
	int n = 0;

	argv[n++] = t_bin("uffd-run");
	for (; args && *args; args++)
		argv[n++] = *args;
	argv[n++] = "--";
	argv[n++] = self_path;
	argv[n++] = "--subject";
	argv[n++] = scenario;
	argv[n] = NULL;
	snprintf(r->err, sizeof(r->err), "%s/%s.stderr",
		 D.dir[0] ? D.dir : "/tmp", scenario);
	if (pipe(o) < 0 || pipe(i) < 0)
		return -1;
	r->pid = fork();
	if (r->pid == 0) {
		int fd = open(r->err, O_CREAT | O_WRONLY | O_TRUNC, 0666);

		if (fd >= 0) {
			if (fchown(fd, uid, uid) < 0) {
				/* fine when uid is ours */
			}
			dup2(fd, 2);
			close(fd);
		}
		dup2(o[1], 1);
		dup2(i[0], 0);
		close(o[0]);
		close(o[1]);
		close(i[0]);
		close(i[1]);
		if (env)
			putenv((char *)env);
		if (uid && (setgid(uid) < 0 || setuid(uid) < 0))
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(o[1]);
	close(i[0]);
	r->out = fdopen(o[0], "r");
	r->in = i[1];
	return r->pid > 0 ? 0 : -1;
}

/* Next step line: tag and pid.  0, or -1 at end of output. */
static int next_step(struct run *r, char *tag, size_t len, pid_t *pid)
{
	char line[128], t[64];
	int p;

	if (!fgets(line, sizeof(line), r->out))
		return -1;
	if (sscanf(line, "S %63s %d", t, &p) != 2) {
		t_fail_at(__FILE__, __LINE__, "bad line from subject: %s",
			  line);
		return -1;
	}
	snprintf(tag, len, "%s", t);
	*pid = p;
	return 0;
}

static void go(struct run *r)
{
	if (write(r->in, "g", 1) != 1)
		perror("driver: write");
}

static int finish_expect(struct run *r, int expect)
{
	int st, rc;

	close(r->in);
	fclose(r->out);
	if (waitpid(r->pid, &st, 0) != r->pid)
		return -1;
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (rc != expect) {
		char cmd[256];

		t_note("subject exited with %d; its stderr:", rc);
		snprintf(cmd, sizeof(cmd), "sed 's/^/#     /' %s >&2", r->err);
		if (system(cmd) != 0)
			perror("driver: system");
	}
	return rc;
}

static int finish(struct run *r)
{
	return finish_expect(r, 0);
}

static int err_has(const struct run *r, const char *needle)
{
	char buf[8192];
	FILE *f = fopen(r->err, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void rname(char *buf, size_t len, pid_t creator, const char *kind,
		  int serial, const char *suffix)
{
	snprintf(buf, len, COMM "[%d] %s #%d%s", (int)creator, kind, serial,
		 suffix ? suffix : "");
}

/*
 * The region of process pid (its session) called name, waiting up to 3 s
 * for it to appear (a forked child's REGISTER is answered asynchronously,
 * and a dead process's session goes away asynchronously).
 */
static json_object *region_of(json_object **st, pid_t pid, const char *name,
			      json_object **client)
{
	for (int i = 0; i < 300; i++) {
		json_object *c = NULL, *r;

		*st = td_status(&D);
		c = *st ? j_client(*st, pid) : NULL;
		r = NULL;
		if (c) {
			json_object *rs = j_path(c, "regions");

			for (size_t k = 0;
			     rs && k < json_object_array_length(rs); k++) {
				json_object *x =
				    json_object_array_get_idx(rs, k);

				if (!strcmp(json_object_get_string(
						j_path(x, "name")),
					    name))
					r = x;
			}
		}
		if (r) {
			if (client)
				*client = c;
			return r;
		}
		json_object_put(*st);
		*st = NULL;
		usleep(10000);
	}
	t_fail_at(__FILE__, __LINE__, "no region \"%s\" of pid %d in status",
		  name, (int)pid);
	return NULL;
}

/*
 * Check a region's counters exactly.  The daemon counts a fault before
 * its UFFDIO_CONTINUE and the pages after it, and the CONTINUE wakes the
 * faulting thread: the last page may be counted a moment after the
 * subject has moved on.  So wait (1 s at most) for the counters to settle.
 */
static json_object *settled(json_object **st, pid_t pid, const char *name,
			    int64_t faults)
{
	json_object *r = NULL;

	for (int i = 0; i < 100; i++) {
		r = region_of(st, pid, name, NULL);
		if (!r || (j_int(r, "faults") == faults &&
			   j_int(r, "pages_mapped") == faults))
			return r;
		json_object_put(*st);
		*st = NULL;
		usleep(10000);
	}
	return region_of(st, pid, name, NULL);
}

#define CHECK_REGION(pid, name, len, faults)                                   \
	do {                                                                   \
		json_object *st_, *r_ = settled(&st_, pid, name, faults);      \
		if (r_) {                                                      \
			CHECK_EQ(j_int(r_, "length"), (len));                  \
			CHECK_EQ(j_int(r_, "faults"), (faults));               \
			CHECK_EQ(j_int(r_, "pages_mapped"), (faults));         \
			CHECK_EQ(j_int(r_, "errors"), 0);                      \
			if (j_int(r_, "faults") != (faults) ||                 \
			    j_int(r_, "length") != (int64_t)(len))             \
				t_note("%s: %s", name,                         \
				       json_object_to_json_string(r_));        \
		}                                                              \
		json_object_put(st_);                                          \
	} while (0)

static int64_t nregions(pid_t pid)
{
	json_object *st = td_status(&D), *c = st ? j_client(st, pid) : NULL;
	int64_t n =
	    c ? (int64_t)json_object_array_length(j_path(c, "regions")) : -1;

	json_object_put(st);
	return n;
}

/* Wait until the session of pid has n regions (-1: no session). */
static int64_t wait_nregions(pid_t pid, int64_t n)
{
	int64_t v = -2;

	for (int i = 0; i < 300 && (v = nregions(pid)) != n; i++)
		usleep(10000);
	return v;
}

static const char *client_name(pid_t pid, char *buf, size_t len)
{
	json_object *st = td_status(&D), *c = st ? j_client(st, pid) : NULL;

	snprintf(buf, len, "%s",
		 c ? json_object_get_string(j_path(c, "name")) : "");
	json_object_put(st);
	return buf;
}

static const char *const POLICY[] = { "--verbose", "--policy", "continue",
				      "--socket",  NULL,       NULL };

static const char *const *args_for(const char *sock)
{
	static const char *a[8];

	memcpy(a, POLICY, sizeof(POLICY));
	a[4] = sock;
	return a;
}

static void t_basic(void)
{
	struct run r;
	char tag[64], nm[96], nm2[96], buf[64];
	pid_t pid, me = 0;

	if (start(&r, "basic", 0, args_for(D.sock), NULL) < 0) {
		t_fail_at(__FILE__, __LINE__, "cannot start uffd-run");
		return;
	}
	while (next_step(&r, tag, sizeof(tag), &pid) == 0) {
		me = pid;
		rname(nm, sizeof(nm), me, "shmem", 1, NULL);
		rname(nm2, sizeof(nm2), me, "hugetlb", 2, NULL);
		if (!strcmp(tag, "mapped")) {
			CHECK_REGION(me, nm, 8 * MiB, 0);
			CHECK_REGION(me, nm2, 16 * MiB, 0);
			CHECK_EQ(nregions(me), 2);
			CHECK(!strcmp(client_name(me, buf, sizeof(buf)), COMM),
			      "session name \"%s\"", buf);
		} else if (!strcmp(tag, "touched") ||
			   !strcmp(tag, "verified")) {
			CHECK_REGION(me, nm, 8 * MiB, 2048);
			CHECK_REGION(me, nm2, 16 * MiB, 8);
		}
		go(&r);
	}
	CHECK_EQ(finish(&r), 0);
	CHECK_EQ(wait_nregions(me, -1), -1); /* session gone at exit */
}

static void t_fork(void)
{
	struct run r;
	char tag[64], a[96], h[96], buf[64], want[64];
	pid_t pid, parent = 0;

	if (start(&r, "fork", 0, args_for(D.sock), NULL) < 0) {
		t_fail_at(__FILE__, __LINE__, "cannot start uffd-run");
		return;
	}
	while (next_step(&r, tag, sizeof(tag), &pid) == 0) {
		if (!parent)
			parent = pid;
		rname(a, sizeof(a), parent, "shmem", 1, NULL);
		rname(h, sizeof(h), parent, "hugetlb", 2, NULL);
		snprintf(want, sizeof(want), COMM " ppid=%d", (int)parent);
		if (!strcmp(tag, "parent")) {
			CHECK_REGION(parent, a, 8 * MiB, 2048);
			CHECK_REGION(parent, h, 16 * MiB, 8);
		} else if (!strcmp(tag, "child") || !strcmp(tag, "sigchild")) {
			CHECK_REGION(pid, a, 8 * MiB, 0);
			CHECK_REGION(pid, h, 16 * MiB, 0);
			CHECK(!strcmp(client_name(pid, buf, sizeof(buf)), want),
			      "child session name \"%s\", expected \"%s\"", buf,
			      want);
		} else if (!strcmp(tag, "child-touched") ||
			   !strcmp(tag, "sigchild-touched")) {
			/* every page once, in the child's own session */
			CHECK_REGION(pid, a, 8 * MiB, 2048);
			CHECK_REGION(pid, h, 16 * MiB, 8);
			CHECK_REGION(parent, a, 8 * MiB, 2048);
			CHECK_REGION(parent, h, 16 * MiB, 8);
		} else if (!strcmp(tag, "after-sigfork")) {
			CHECK_REGION(parent, a, 8 * MiB, 2048);
			CHECK_EQ(nregions(parent), 2);
		}
		go(&r);
	}
	CHECK_EQ(finish(&r), 0);
}

/* A number of the daemon's status ("learn.set_pages"; -1: none). */
static int64_t status_int(const char *path)
{
	json_object *st = td_status(&D);
	int64_t v = st ? j_int(st, path) : -1;

	json_object_put(st);
	return v;
}

/* The learn counters, daemon-wide. */
static int64_t learn_count(const char *what)
{
	char path[64];

	snprintf(path, sizeof(path), "learn.%s", what);
	return status_int(path);
}

static int64_t wait_learn(const char *what, int64_t at_least)
{
	int64_t v = -1;

	for (int i = 0; i < 300 && (v = learn_count(what)) < at_least; i++)
		usleep(10000);
	return v;
}

static int64_t forked_total(void)
{
	return status_int("totals.forked");
}

/* The forks the daemon followed, once the count has stopped moving (the
 * children have exited; their FORKED may still be on its way). */
static int64_t forked_settled(void)
{
	int64_t v = forked_total(), same = 0;

	for (int i = 0; i < 100 && same < 5; i++) {
		int64_t w;

		usleep(20000);
		w = forked_total();
		same = w == v ? same + 1 : 0;
		v = w;
	}
	return v;
}

/* The board's pages a probe child leaves for the daemon (-1: no probe). */
static int64_t board_held(pid_t pid)
{
	int64_t n = 0;

	if (uffdd_board_mix((uint64_t)pid) % LEARN_PROBE_EVERY != 0)
		return -1;
	for (size_t i = 0; i < BOARD_PAGES; i++)
		n += uffdd_board_held((i * 29 + 3) % 2048, (uint64_t)pid,
				      LEARN_PROBE_SLICES);
	return n;
}

/*
 * Children map their lineage's board themselves (learn, the default):
 * each later child's session sees a fault only for the pages a probe
 * leaves; with teach=T (huge here) only probes register at all.
 */
static void t_board_run(const char *policy, unsigned teach)
{
	const char *args[] = { "--verbose", "--policy", policy,
			       "--socket",  D.sock,	NULL };
	struct run r;
	char tag[64], a[96];
	pid_t pid, parent = 0;
	int64_t forked0 = 0, sessions = 0, set0 = 0;

	if (start(&r, "board", 0, args, NULL) < 0) {
		t_fail_at(__FILE__, __LINE__, "cannot start uffd-run");
		return;
	}
	while (next_step(&r, tag, sizeof(tag), &pid) == 0) {
		if (!parent)
			parent = pid;
		rname(a, sizeof(a), parent, "shmem", 1, NULL);
		if (!strcmp(tag, "bparent")) {
			CHECK_REGION(parent, a, 8 * MiB, 2048);
			set0 = learn_count("set_pages"); /* earlier runs' */
		} else if (!strcmp(tag, "taught")) {
			CHECK(wait_learn("set_pages", set0 + BOARD_PAGES) >=
				  set0 + BOARD_PAGES,
			      "the lineage learned %lld pages, expected %d",
			      (long long)(learn_count("set_pages") - set0),
			      BOARD_PAGES);
			forked0 = forked_settled();
		} else if (!strcmp(tag, "bchild-read")) {
			int64_t held = board_held(pid);

			/* A child registers unless teach=T leaves it out
			 * (neither a probe nor one in T). */
			if (!teach || held >= 0 ||
			    uffdd_board_mix((uint64_t)pid) % teach == 0) {
				json_object *st = NULL, *rg;

				/* No fault but for a probe's pages. */
				CHECK_REGION(pid, a, 8 * MiB,
					     held > 0 ? held : 0);
				rg = region_of(&st, pid, a, NULL);
				CHECK_EQ(rg ? j_int(rg, "policy_stats."
							"learn_self_mapped")
					    : -1,
					 1);
				/* The set it started from, mapped by itself. */
				CHECK_EQ(rg ? j_int(rg, "policy_stats."
							"learn_set_pages")
					    : -1,
					 BOARD_PAGES);
				json_object_put(st);
				sessions++;
			}
		} else if (!strcmp(tag, "bdone")) {
			/* teach: the others left their copy to the kernel. */
			CHECK_EQ(forked_settled() - forked0, sessions);
		}
		go(&r);
	}
	CHECK_EQ(finish(&r), 0);
}

static void t_board(void)
{
	t_board_run("learn", 0);
	t_board_run("learn:teach=4096", 4096);
}

static void t_threads(void)
{
	struct run r;
	char tag[64], needle[64];
	pid_t pid, parent = 0;

	if (start(&r, "threads", 0, args_for(D.sock), NULL) < 0) {
		t_fail_at(__FILE__, __LINE__, "cannot start uffd-run");
		return;
	}
	while (next_step(&r, tag, sizeof(tag), &pid) == 0) {
		parent = pid;
		/* only the stable region is left in the parent's session */
		CHECK_EQ(wait_nregions(parent, 1), 1);
		go(&r);
	}
	CHECK_EQ(finish(&r), 0);
	snprintf(needle, sizeof(needle), "ppid=%d\") connected", (int)parent);
	CHECK_EQ(td_log_count(&D, needle), 20);
}

static void t_exec(void)
{
	struct run r;
	char tag[64], a[96], buf[64];
	pid_t pid, parent = 0;

	if (start(&r, "exec", 0, args_for(D.sock), NULL) < 0) {
		t_fail_at(__FILE__, __LINE__, "cannot start uffd-run");
		return;
	}
	while (next_step(&r, tag, sizeof(tag), &pid) == 0) {
		if (!parent)
			parent = pid;
		rname(a, sizeof(a), parent, "shmem", 1, NULL);
		if (!strcmp(tag, "parent")) {
			CHECK_REGION(parent, a, 8 * MiB, 2048);
		} else if (!strcmp(tag, "exec-child")) {
			/* the forked child's session ended at exec; the new
			 * program has its own */
			char n2[96];

			rname(n2, sizeof(n2), pid, "shmem", 1, NULL);
			CHECK_REGION(pid, n2, 8 * MiB, 2048);
			CHECK(!strcmp(client_name(pid, buf, sizeof(buf)), COMM),
			      "exec'd session name \"%s\"", buf);
			CHECK_EQ(nregions(pid), 1);
		} else if (!strcmp(tag, "spawned")) {
			/* the vfork child's one fault was the parent's */
			CHECK_REGION(parent, a, 8 * MiB, 2049);
			CHECK_EQ(nregions(parent), 1);
		}
		go(&r);
	}
	CHECK_EQ(finish(&r), 0);
}

static void t_remap(void)
{
	struct run r;
	char tag[64], n1[96], n2[96], n2b[96], n3[96], n3b[96];
	pid_t pid, me = 0;

	if (start(&r, "remap", 0, args_for(D.sock), NULL) < 0) {
		t_fail_at(__FILE__, __LINE__, "cannot start uffd-run");
		return;
	}
	while (next_step(&r, tag, sizeof(tag), &pid) == 0) {
		me = pid;
		rname(n1, sizeof(n1), me, "shmem", 1, NULL);
		rname(n2, sizeof(n2), me, "shmem", 2, NULL);
		rname(n2b, sizeof(n2b), me, "shmem", 2, " @2048k");
		rname(n3, sizeof(n3), me, "shmem", 3, NULL);
		rname(n3b, sizeof(n3b), me, "shmem", 3, " @4096k");
		if (!strcmp(tag, "unmapped")) {
			CHECK_EQ(wait_nregions(me, 0), 0);
		} else if (!strcmp(tag, "mapped2")) {
			CHECK_REGION(me, n2, 4 * MiB, 1024);
			CHECK_EQ(nregions(me), 1);
		} else if (!strcmp(tag, "split")) {
			CHECK_REGION(me, n2, 1 * MiB, 0);
			CHECK_REGION(me, n2b, 2 * MiB, 0);
			CHECK_EQ(nregions(me), 2);
		} else if (!strcmp(tag, "pieces-touched")) {
			CHECK_REGION(me, n2, 1 * MiB, 256);
			CHECK_REGION(me, n2b, 2 * MiB, 512);
		} else if (!strcmp(tag, "moved")) {
			CHECK_REGION(me, n3, 8 * MiB, 0);
			CHECK_EQ(nregions(me), 3);
		} else if (!strcmp(tag, "moved-touched")) {
			/* the first half's page tables moved with it */
			CHECK_REGION(me, n3, 8 * MiB, 1024);
		} else if (!strcmp(tag, "shrunk")) {
			CHECK_REGION(me, n3, 4 * MiB, 0);
			CHECK_EQ(nregions(me), 3);
		} else if (!strcmp(tag, "grown")) {
			CHECK_REGION(me, n3, 8 * MiB, 1024);
			CHECK_EQ(nregions(me), 3);
		} else if (!strcmp(tag, "overmapped")) {
			CHECK_REGION(me, n3, 2 * MiB, 0);
			CHECK_REGION(me, n3b, 4 * MiB, 0);
			CHECK_EQ(nregions(me), 4);
		}
		go(&r);
	}
	CHECK_EQ(finish(&r), 0);
}

static void t_read(const char *title, uid_t uid, const char *const *extra,
		   const char *env, int served)
{
	struct run r;
	char tag[64], a[96], h[96];
	const char *args[16];
	pid_t pid, me = 0;
	int n = 0;

	t_note("%s", title);
	for (const char *const *p = args_for(D.sock); *p; p++)
		args[n++] = *p;
	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	if (start(&r, "read", uid, args, env) < 0) {
		t_fail_at(__FILE__, __LINE__, "cannot start uffd-run");
		return;
	}
	while (next_step(&r, tag, sizeof(tag), &pid) == 0) {
		me = pid;
		rname(a, sizeof(a), me, "shmem", 1, NULL);
		rname(h, sizeof(h), me, "hugetlb", 2, NULL);
		if (!served) {
			CHECK_EQ(nregions(me), -1);
		} else if (!strcmp(tag, "mapped")) {
			CHECK_REGION(me, a, 4 * MiB, 0);
			CHECK_REGION(me, h, 4 * MiB, 0);
		} else if (!strcmp(tag, "read") && served == 1) {
			/* 16 pages by pread, 1 by recv; 1 hugepage */
			CHECK_REGION(me, a, 4 * MiB, 17);
			CHECK_REGION(me, h, 4 * MiB, 1);
		}
		go(&r);
	}
	CHECK_EQ(finish(&r), 0);
	if (!served)
		CHECK(err_has(&r, "runs without the service"),
		      "uffd-run did not say why (%s)", r.err);
}

static void t_unserved(void)
{
	struct run r;
	char tag[64];
	pid_t pid;
	const char *absent[] = { "--socket", "/nonexistent/uffdd.sock", NULL };
	const char *require[] = { "--socket", "/nonexistent/uffdd.sock",
				  "--require", NULL };
	const char *badpol[] = { "--socket", D.sock, "--policy",
				 "no-such-policy", NULL };
	/* One image for every mapping and forked child: refused. */
	const char *filepol[] = { "--socket", D.sock, "--policy",
				  "around:4+populate:/dev/shm/x", NULL };

	if (start(&r, "plain", 0, absent, NULL) == 0) {
		while (next_step(&r, tag, sizeof(tag), &pid) == 0)
			go(&r);
		CHECK_EQ(finish(&r), 0);
		CHECK(err_has(&r, "runs without the service"), "no message");
	}
	if (start(&r, "plain", 0, require, NULL) == 0) {
		while (next_step(&r, tag, sizeof(tag), &pid) == 0)
			go(&r);
		CHECK_EQ(finish_expect(&r, 69), 69);
	}
	if (start(&r, "plain", 0, badpol, NULL) == 0) {
		while (next_step(&r, tag, sizeof(tag), &pid) == 0)
			go(&r);
		CHECK_EQ(finish_expect(&r, 64), 64);
		CHECK(err_has(&r, "refused policy \"no-such-policy\""),
		      "policy refusal not reported");
	}
	if (start(&r, "plain", 0, filepol, NULL) == 0) {
		while (next_step(&r, tag, sizeof(tag), &pid) == 0)
			go(&r);
		CHECK_EQ(finish_expect(&r, 64), 64);
		CHECK(err_has(&r, "names a file"), "file policy not refused");
	}
}

static void t_kill(void)
{
	struct run r;
	char tag[64], a[96], h[96];
	pid_t pid;

	if (start(&r, "kill", 0, args_for(D.sock), NULL) < 0) {
		t_fail_at(__FILE__, __LINE__, "cannot start uffd-run");
		return;
	}
	while (next_step(&r, tag, sizeof(tag), &pid) == 0) {
		rname(a, sizeof(a), pid, "shmem", 1, NULL);
		rname(h, sizeof(h), pid, "hugetlb", 2, NULL);
		if (!strcmp(tag, "half")) {
			CHECK_REGION(pid, a, 8 * MiB, 1024);
			CHECK_REGION(pid, h, 16 * MiB, 4);
			td_kill(&D);
		}
		go(&r);
	}
	CHECK_EQ(finish(&r), 0);
}

static int grant_test_possible(void)
{
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	int v = 1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 1;
		fclose(f);
	}
	/* With unprivileged_userfaultfd=1 anyone gets full uffds: the
	 * refusal path cannot be shown. */
	return getuid() == 0 && v == 0;
}

/*
 * preload_test --summary CONTROL_SOCKET COMM: one line about the sessions
 * of processes called COMM, for the scripts that run real programs:
 *   sessions=N regions=N faults=N pages=N errors=N unserved=N forks=N
 *   total_faults=N pids=P,P,...
 * (unserved: sessions without a region; forks: children these sessions
 * forked that registered with FORKED or were followed by a fork event;
 * total_faults: the daemon's count since it started, dead sessions
 * included).
 */
static int summary(const char *ctl, const char *comm)
{
	struct tdaemon d = { 0 };
	json_object *st, *cl;
	int64_t sessions = 0, regions = 0, faults = 0, pages = 0, errors = 0,
		unserved = 0, forks = 0;
	char pids[4096] = "";
	size_t pl = 0;

	snprintf(d.ctl, sizeof(d.ctl), "%s", ctl);
	st = td_status(&d);
	if (!st)
		return 1;
	cl = j_path(st, "clients");
	for (size_t i = 0; cl && i < json_object_array_length(cl); i++) {
		json_object *c = json_object_array_get_idx(cl, i);
		json_object *rs = j_path(c, "regions");
		size_t nr = rs ? json_object_array_length(rs) : 0;

		if (strcmp(json_object_get_string(j_path(c, "comm")), comm))
			continue;
		sessions++;
		forks += j_int(c, "events.fork");
		regions += (int64_t)nr;
		unserved += nr == 0;
		for (size_t k = 0; k < nr; k++) {
			json_object *r = json_object_array_get_idx(rs, k);

			faults += j_int(r, "faults");
			pages += j_int(r, "pages_mapped");
			errors += j_int(r, "errors");
		}
		if (pl < sizeof(pids) - 16)
			pl += (size_t)snprintf(pids + pl, sizeof(pids) - pl,
					       "%s%lld", pl ? "," : "",
					       (long long)j_int(c, "pid"));
	}
	printf("sessions=%lld regions=%lld faults=%lld pages=%lld errors=%lld "
	       "unserved=%lld forks=%lld total_faults=%lld pids=%s\n",
	       (long long)sessions, (long long)regions, (long long)faults,
	       (long long)pages, (long long)errors, (long long)unserved,
	       (long long)forks, (long long)j_int(st, "totals.faults"), pids);
	json_object_put(st);
	return 0;
}

static void read_root(void)
{
	t_read("read()/recv() into untouched pages (device grant, root)", 0,
	       NULL, NULL, 1);
}

static void grant_refused(void)
{
	if (!grant_test_possible()) {
		t_skip("needs root and vm.unprivileged_userfaultfd=0");
		return;
	}
	t_read("grant refused (nobody): uffd-run says so, runs unserved",
	       NOBODY, NULL, NULL, 0);
}

static void user_only_ok(void)
{
	if (!grant_test_possible()) {
		t_skip("needs root and vm.unprivileged_userfaultfd=0");
		return;
	}
	t_read("--user-only-ok (nobody): read() fails with EFAULT, as warned",
	       NOBODY, (const char *[]){ "--user-only-ok", NULL },
	       "PRELOAD_TEST_EXPECT=efault", 2);
}

/* Run fn with D a daemon of its own that grants nobody the device. */
static void with_granting_daemon(void (*fn)(void), int killed)
{
	struct tdaemon saved = D;

	if (td_start(&D, "{\"grant\": {\"uids\": [0, 65534]}}", NULL) < 0) {
		t_fail_at(__FILE__, __LINE__, "a second uffdd did not start");
		td_dump_log(&D);
		D = saved;
		return;
	}
	fn();
	if (!killed) {
		CHECK_EQ(td_stop(&D), 0);
	} else {
		char cmd[160];

		/* td_stop would report the killed daemon as a failure. */
		snprintf(cmd, sizeof(cmd), "rm -rf %s", D.dir);
		if (!getenv("UFFDD_TEST_KEEP") && system(cmd) != 0)
			perror("rm");
	}
	D = saved;
}

static void read_granted_run(void)
{
	t_read("read()/recv() into untouched pages (nobody, granted)", NOBODY,
	       NULL, NULL, 1);
}

static void read_granted(void)
{
	if (!grant_test_possible()) {
		t_skip("needs root and vm.unprivileged_userfaultfd=0");
		return;
	}
	with_granting_daemon(read_granted_run, 0);
}

static void kill_case(void)
{
	with_granting_daemon(t_kill, 1);
}

/* Root gets the device grant; nobody only from the second daemon of
 * read-granted, to show the refusal first. */
static int setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (t_need_hugepages(32) < 0) {
		fprintf(stderr, "# needs 32 free hugepages\n");
		return -1;
	}
	return td_setup(&D, "{\"grant\": {\"uids\": [0]}}");
}

static void teardown(void)
{
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "basic",
	  .title = "shmem and hugetlb served, small/private left alone",
	  .run = t_basic },
	{ .name = "fork",
	  .title = "from main and from a signal handler, own session each",
	  .run = t_fork },
	{ .name = "board",
	  .title = "learn: children map the learned set themselves; teach=T",
	  .run = t_board },
	{ .name = "threads",
	  .title = "20 forks while 2 threads map and unmap",
	  .run = t_threads },
	{ .name = "exec",
	  .title = "exec of a shell, posix_spawn, vfork",
	  .run = t_exec },
	{ .name = "remap",
	  .title =
	      "munmap, partial munmap, mremap move/shrink/grow, MAP_FIXED over",
	  .run = t_remap },
	{ .name = "read",
	  .title = "read()/recv() into untouched pages (device grant, root)",
	  .run = read_root },
	{ .name = "grant-refused",
	  .title = "grant refused (nobody): uffd-run says so, runs unserved",
	  .run = grant_refused,
	  .needs = T_NEED_ROOT },
	{ .name = "user-only-ok",
	  .title =
	      "--user-only-ok (nobody): read() fails with EFAULT, as warned",
	  .run = user_only_ok,
	  .needs = T_NEED_ROOT },
	{ .name = "unserved",
	  .title =
	      "no daemon: the program runs unwrapped; --require; bad policy; "
	      "a policy naming a file",
	  .run = t_unserved },
	{ .name = "read-granted",
	  .title = "read()/recv() into untouched pages (nobody, granted)",
	  .run = read_granted,
	  .needs = T_NEED_ROOT },
	{ .name = "kill",
	  .title = "daemon killed mid-run: the program goes on unserved",
	  .run = kill_case },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "preload", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };
	ssize_t n;

	if (argc >= 3 && !strcmp(argv[1], "--subject"))
		return subject(argv[2], argv[0]);
	if (argc >= 4 && !strcmp(argv[1], "--summary"))
		return summary(argv[2], argv[3]);
	n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 1;
	self_path[n] = '\0';
	return t_main(argc, argv, &s);
}
