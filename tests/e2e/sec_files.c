/* SPDX-License-Identifier: MIT */
/*
 * Issue 12, findings 1, 2, 6 and 9, played the way they were found: an
 * unprivileged user (uid 65534) against a root uffdd, with nothing but the
 * documents.  Each case fails against protocol 1 (the daemon opened paths a
 * client named, matched exe by name, and left a populated region to the
 * kernel's zeros when it died) and passes against protocol 2.  The source
 * builds against both: where they differ (the configuration that protocol 1
 * needed), UFFDD_PROTO_MAX says which is under test.
 *
 *   read-0600        populate: of a root-only 0600 file
 *   record-truncates record: over an administrator's image
 *   fifo             populate: of two FIFOs, then a good client is served
 *   race-last        a symlink flipped on the last component (read 0600)
 *   race-dir         ... on a directory component (read 0600)
 *   race-create      ... on a directory component: a root-owned file
 *                    created in a root-only directory
 *   copied-exe       a copy of a rule's binary gets the rule's policy
 *   ctl-policy-0600  a member of admin_gids (not root) changes its own
 *                    region's policy to populate: of the 0600 file
 *   no-zeros/sigkill, no-zeros/sigterm
 *                    populate, the daemon SIGKILLed / stopped halfway:
 *                    every later page right (or SIGBUS), never zeros
 */
#include "sec_common.h"

#include <dirent.h>
#include <grp.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <sys/stat.h>

#define NOBODY	   65534
#define SMALL	   (64u << 10) /* the secret, the images */
#define RACE_TRIES 4000	       /* it was won in 11..2810 tries */
#define RACE_SECS  40	       /* ... but never more than this */
#define NZ_SIZE	   (16u << 20) /* finding 9: 4096 pages of 4 KiB */
#define SECRET	   0x5a
#define PUBLIC	   0x11
#define IMG9	   0xab

static struct tdaemon D;
static char top[64], lib[96], pub[96], rootdir[96];

static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* A file of n bytes of value v, owner uid, mode. */
static int make_file(const char *path, size_t n, int v, uid_t uid, mode_t mode)
{
	unsigned char *b = malloc(n);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode);
	int ok;

	if (!b || fd < 0) {
		free(b);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	memset(b, v, n);
	ok = write(fd, b, n) == (ssize_t)n && fchown(fd, uid, uid) == 0 &&
	     fchmod(fd, mode) == 0;
	close(fd);
	free(b);
	return ok ? 0 : -1;
}

#define ADMIN_GID 4242

/* Run fn as uid 65534 in a child, with the admin group if admin; its exit
 * status (or 128 + signal). */
static int as_nobody_in(int admin, int (*fn)(void *), void *arg)
{
	gid_t g = ADMIN_GID;
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (setgroups(admin ? 1 : 0, &g) < 0 || setgid(NOBODY) < 0 ||
		    setuid(NOBODY) < 0)
			_exit(99);
		_exit(fn(arg));
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int as_nobody(int (*fn)(void *), void *arg)
{
	return as_nobody_in(0, fn, arg);
}

/* ------------------------------------------------------------------------ */
/* Reading through a populate: the first page's bytes, or -1.              */

/* A 64 KiB shmem region populated from path; its first byte, -1 when the
 * region is refused (the message in why). */
static int first_byte(struct uffd_client *c, const char *path, char *why,
		      size_t len)
{
	char pol[256];
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = SMALL,
				       .name = "attack",
				       .policy = pol };
	struct uffd_region *r;
	int b;

	snprintf(pol, sizeof(pol), "populate:%s", path);
	if (uffd_region_alloc(c, &sp, &r) < 0) {
		snprintf(why, len, "%s", uffd_last_error());
		return -1;
	}
	b = *(volatile unsigned char *)uffd_region_addr(r);
	uffd_region_release(r);
	return b;
}

static int read_0600(void *arg)
{
	struct uffd_client *c;
	char why[256] = "", secret[160];
	int b;

	(void)arg;
	path_in(secret, sizeof(secret), lib, "secret");
	if (uffd_connect(D.sock, "attacker", UFFD_CONNECT_NO_GRANT, &c) < 0)
		return 2;
	b = first_byte(c, secret, why, sizeof(why));
	fprintf(stderr, "#   nobody: populate:%s -> %s%s\n", secret,
		b == SECRET ? "the secret's bytes" : "refused: ",
		b == SECRET ? "" : why);
	uffd_disconnect(c);
	return b == SECRET ? 1 : 0;
}

static void read_secret_case(void)
{
	CHECK_EQ(as_nobody(read_0600, NULL), 0);
}

/* ------------------------------------------------------------------------ */

static int record_over(void *arg)
{
	struct uffd_client *c;
	struct uffd_region *r;
	char pol[256];
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = SMALL,
				       .name = "trace",
				       .policy = pol };

	(void)arg;
	snprintf(pol, sizeof(pol), "record:%s/admin.img", lib);
	if (uffd_connect(D.sock, "attacker", UFFD_CONNECT_NO_GRANT, &c) < 0)
		return 2;
	if (uffd_region_alloc(c, &sp, &r) == 0) {
		(void)*(volatile char *)uffd_region_addr(r);
		uffd_region_release(r);
	} else {
		fprintf(stderr, "#   nobody: %s -> refused: %s\n", pol,
			uffd_last_error());
	}
	uffd_disconnect(c);
	return 0;
}

static void record_case(void)
{
	char img[160];
	struct stat st;
	unsigned char b = 0;
	int fd;

	path_in(img, sizeof(img), lib, "admin.img");
	CHECK_EQ(as_nobody(record_over, NULL), 0);
	CHECK(stat(img, &st) == 0, "stat");
	fd = open(img, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && pread(fd, &b, 1, 4096) == 1, "read");
	if (fd >= 0)
		close(fd);
	fprintf(stderr,
		"#   the administrator's image: %lld bytes, byte 4096 "
		"%#x\n",
		(long long)st.st_size, b);
	CHECK_EQ(st.st_size, SMALL);
	CHECK_EQ(b, PUBLIC);
}

/* ------------------------------------------------------------------------ */
/* FIFOs: a worker that opens one without O_NONBLOCK waits for ever.       */

static int fifo_client(void *arg)
{
	struct uffd_client *c;
	char why[256] = "";

	if (uffd_connect(D.sock, "attacker", UFFD_CONNECT_NO_GRANT, &c) < 0)
		return 2;
	(void)first_byte(c, arg, why, sizeof(why));
	fprintf(stderr, "#   nobody: populate:%s -> %s\n", (const char *)arg,
		why[0] ? why : "accepted");
	uffd_disconnect(c);
	return 0;
}

/* A client served within a few seconds?  The good one: register, touch. */
static int served_in_time(void)
{
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = 1 << 20,
				       .name = "good" };
	struct uffd_client *c;
	struct uffd_region *r;
	uint64_t t0 = t_now_ns();
	int ok;

	if (uffd_connect(D.sock, "good", 0, &c) < 0)
		return 0;
	ok = uffd_region_alloc(c, &sp, &r) == 0;
	if (ok) {
		((char *)uffd_region_fill_addr(r))[4096] = 7;
		ok = ((volatile char *)uffd_region_addr(r))[4096] == 7;
		uffd_region_release(r);
	}
	uffd_disconnect(c);
	fprintf(stderr, "#   the good client %s in %.1f ms\n",
		ok ? "was served" : "failed", (double)(t_now_ns() - t0) / 1e6);
	return ok && t_now_ns() - t0 < 3000000000ull;
}

static void fifo_case(void)
{
	char f[2][160];
	pid_t kids[2];
	int st, ok;

	for (int i = 0; i < 2; i++) {
		snprintf(f[i], sizeof(f[i]), "%s/fifo%d", lib, i);
		unlink(f[i]);
		CHECK(mkfifo(f[i], 0666) == 0 && chmod(f[i], 0666) == 0,
		      "mkfifo");
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(as_nobody(fifo_client, f[i]));
	}
	usleep(500000); /* both REGISTERs reached the daemon */
	ok = served_in_time();
	/* Let any worker stuck in open() go: a writer comes. */
	for (int i = 0; i < 2; i++) {
		int w = open(f[i], O_WRONLY | O_NONBLOCK | O_CLOEXEC);

		if (w >= 0)
			close(w);
	}
	for (int i = 0; i < 2; i++) {
		waitpid(kids[i], &st, 0);
		unlink(f[i]);
	}
	CHECK(ok, "a client was not served while two FIFOs were asked for");
}

/* ------------------------------------------------------------------------ */
/* The races: a symlink flipped between a check and an open.               */

struct race {
	char a[256], b[256]; /* exchanged, atomically, for ever */
	char target[256];    /* what the attacker names */
	int create;	     /* record into target: files created */
	volatile int stop;
};

static void *flipper(void *arg)
{
	struct race *rc = arg;

	while (!rc->stop)
		syscall(SYS_renameat2, AT_FDCWD, rc->a, AT_FDCWD, rc->b,
			RENAME_EXCHANGE);
	return NULL;
}

/* One try: 1 if the secret came through. */
static int race_try(struct uffd_client *c, struct race *rc, int i)
{
	char why[256], path[300];
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = SMALL,
				       .name = "race",
				       .policy = path };
	struct uffd_region *r;

	if (!rc->create)
		return first_byte(c, rc->target, why, sizeof(why)) == SECRET;
	snprintf(path, sizeof(path), "record:%s.%d", rc->target, i);
	if (uffd_region_alloc(c, &sp, &r) == 0)
		uffd_region_release(r);
	return 0; /* the parent looks for the files */
}

/* The attacker: tries until the secret shows, or RACE_TRIES. */
static int racer(void *arg)
{
	struct race *rc = arg;
	uint64_t until = t_now_ns() + (uint64_t)RACE_SECS * 1000000000ull;
	struct uffd_client *c;
	pthread_t th;
	int i, won = 0;

	if (uffd_connect(D.sock, "attacker", UFFD_CONNECT_NO_GRANT, &c) < 0)
		return 200;
	pthread_create(&th, NULL, flipper, rc);
	for (i = 1; i <= RACE_TRIES && !won && t_now_ns() < until; i++)
		won = race_try(c, rc, i);
	rc->stop = 1;
	pthread_join(th, NULL);
	uffd_disconnect(c);
	fprintf(stderr, "#   nobody: %d tries, %s\n", i - 1,
		won ? "won: the secret's bytes came through" : "never won");
	return won ? 1 : 0;
}

static int mkdir_as(const char *p, uid_t uid, mode_t mode)
{
	return mkdir(p, mode) == 0 && chown(p, uid, uid) == 0 &&
		       chmod(p, mode) == 0
		   ? 0
		   : -1;
}

/* The attacker's own directory with a file (d/secret) and a symlink. */
static void race_setup(struct race *rc, const char *kind)
{
	char dir[128], f[300];

	snprintf(dir, sizeof(dir), "%s/%s", pub, kind);
	CHECK(mkdir_as(dir, NOBODY, 0755) == 0, "race dir");
	snprintf(rc->a, sizeof(rc->a), "%s/a", dir);
	snprintf(rc->b, sizeof(rc->b), "%s/b", dir);
	if (!strcmp(kind, "last")) {
		/* a: nobody's own file; b: a link to the secret. */
		CHECK(make_file(rc->a, SMALL, PUBLIC, NOBODY, 0644) == 0, "a");
		path_in(f, sizeof(f), lib, "secret");
		snprintf(rc->target, sizeof(rc->target), "%s", rc->a);
	} else {
		/* a: nobody's directory; b: a link to a root directory. */
		CHECK(mkdir_as(rc->a, NOBODY, 0755) == 0, "a/");
		path_in(f, sizeof(f), rc->a, "secret");
		CHECK(make_file(f, SMALL, PUBLIC, NOBODY, 0644) == 0, "a/s");
		snprintf(f, sizeof(f), "%s", rc->create ? rootdir : lib);
		snprintf(rc->target, sizeof(rc->target), "%.200s/%s", rc->a,
			 rc->create ? "trace" : "secret");
	}
	CHECK(symlink(f, rc->b) == 0 && lchown(rc->b, NOBODY, NOBODY) == 0,
	      "symlink");
}

static void race_case(enum t_kind kind, const void *arg)
{
	const char *what = arg;
	struct race rc = { .create = !strcmp(what, "create") };
	int n = 0;

	(void)kind;
	race_setup(&rc, !strcmp(what, "last") ? "last" : what);
	CHECK_EQ(as_nobody(racer, &rc), 0);
	if (rc.create) {
		DIR *d = opendir(rootdir);
		struct dirent *e;
		long first = 0;

		while (d && (e = readdir(d))) {
			long i = strtol(e->d_name + 6, NULL, 10);

			if (strncmp(e->d_name, "trace.", 6))
				continue;
			n++;
			first = !first || i < first ? i : first;
		}
		if (d)
			closedir(d);
		fprintf(stderr,
			"#   root-owned files created in the root-only %s: "
			"%d (the first at try %ld)\n",
			rootdir, n, first);
		CHECK_EQ(n, 0);
	}
}

/* ------------------------------------------------------------------------ */
/* A copy of a rule's binary, named like it.                               */

/* uffd-touch at path, run as nobody: 1 if every byte it wrote came back
 * (no rule's populate overwrote them), 0 if not, -1 if it did not run. */
static int touch_verified(const char *path)
{
	char out[160], line[1024] = "";
	const char *argv[] = { path,	 "--kind",     "shmem",
			       "--size", "64K",	       "--socket",
			       D.sock,	 "--no-grant", NULL };
	pid_t pid;
	int st;
	FILE *f;

	snprintf(out, sizeof(out), "%s/touch.out", top);
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_CREAT | O_TRUNC | O_WRONLY, 0666);

		if (fd < 0 || dup2(fd, 1) < 0 || setgroups(0, NULL) < 0 ||
		    setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(99);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	f = fopen(out, "r");
	if (!f || !fgets(line, sizeof(line), f))
		line[0] = '\0';
	if (f)
		fclose(f);
	fprintf(stderr, "#   %s: %s", path, line[0] ? line : "(no output)\n");
	if (strstr(line, "\"verified\":true"))
		return 1;
	return strstr(line, "\"verified\":false") ? 0 : -1;
}

static void copied_exe_case(void)
{
	char copy[160], cmd[400];

	snprintf(copy, sizeof(copy), "%s/uffd-touch", pub);
	snprintf(cmd, sizeof(cmd), "cp %s %s && chown %d %s",
		 t_bin("uffd-touch"), copy, NOBODY, copy);
	CHECK(system(cmd) == 0, "copy");
	/* The copy is nobody's binary: the rule's image is not for it. */
	CHECK_EQ(touch_verified(copy), 1);
	/* The real one matches the rule: its pages come from the image. */
	CHECK_EQ(touch_verified(t_bin("uffd-touch")), 0);
}

/* ------------------------------------------------------------------------ */
/* uffdctl policy: an administrator's group is not root.                   */

/* uffdctl policy REGION SPEC, run as we are; its exit status. */
static int uffdctl_policy(const char *region, const char *spec)
{
	const char *argv[] = { t_bin("uffdctl"),
			       "--control-socket",
			       D.ctl,
			       "policy",
			       region,
			       spec,
			       NULL };
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int admin_attack(void *arg)
{
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = SMALL,
				       .name = "mine",
				       .policy = "gate" };
	char spec[200], id[20];
	struct uffd_client *c;
	struct uffd_region *r;
	int rc, b;

	(void)arg;
	if (uffd_connect(D.sock, "admin", UFFD_CONNECT_NO_GRANT, &c) < 0 ||
	    uffd_region_alloc(c, &sp, &r) < 0)
		return 2;
	snprintf(id, sizeof(id), "%016llx",
		 (unsigned long long)uffd_region_id(r));
	snprintf(spec, sizeof(spec), "populate:%s/secret", lib);
	rc = uffdctl_policy(id, spec);
	uffd_region_publish(r, 0, SMALL); /* if the gate is still there */
	b = *(volatile unsigned char *)uffd_region_addr(r);
	fprintf(stderr,
		"#   nobody in admin_gids: uffdctl policy %s -> %d; "
		"its page reads %#x\n",
		spec, rc, b);
	uffd_region_release(r);
	uffd_disconnect(c);
	return b == SECRET;
}

static void ctl_policy_case(void)
{
	CHECK_EQ(as_nobody_in(1, admin_attack, NULL), 0);
}

/* ------------------------------------------------------------------------ */
/* Finding 9: no wrong byte after the daemon goes.                         */

static sigjmp_buf nz_jump;

static void nz_sigbus(int sig)
{
	(void)sig;
	siglongjmp(nz_jump, 1);
}

struct nz {
	long right, zeros, other, sigbus;
};

/* Read every page of [from, to): right, zeros, SIGBUS, or other. */
static void nz_read(struct uffd_region *r, size_t from, size_t to, struct nz *z)
{
	const volatile unsigned char *a = uffd_region_addr(r);
	struct sigaction sa = { .sa_handler = nz_sigbus };
	size_t psz = uffd_region_page_size(r);

	volatile size_t p; /* kept across a siglongjmp */

	sigaction(SIGBUS, &sa, NULL);
	for (p = from; p < to; p++) {
		unsigned char b;

		if (sigsetjmp(nz_jump, 1)) {
			z->sigbus++;
			continue;
		}
		b = a[p * psz + 123];
		if (b == IMG9)
			z->right++;
		else if (b == 0)
			z->zeros++;
		else
			z->other++;
	}
}

struct nz_arg {
	const char *sock;
	int pipes[2]; /* child -> parent: half done; parent -> child: go */
};

/* The client: half touched, the daemon goes (the parent), the rest. */
static int nz_client(void *arg)
{
	const struct nz_arg *na = arg;
	const int *pipes = na->pipes;
	char pol[200], x;
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = NZ_SIZE,
				       .name = "nz",
				       .policy = pol };
	struct uffd_client *c;
	struct uffd_region *r;
	struct nz a = { 0 }, b = { 0 };
	size_t n = NZ_SIZE / 4096;

	snprintf(pol, sizeof(pol), "populate:%s/img9", pub);
	if (uffd_connect(na->sock, "nz", UFFD_CONNECT_NO_GRANT, &c) < 0 ||
	    uffd_region_alloc(c, &sp, &r) < 0) {
		fprintf(stderr, "#   nz: %s\n", uffd_last_error());
		return 2;
	}
	nz_read(r, 0, n / 2, &a);
	if (write(pipes[1], "h", 1) != 1 || read(pipes[0], &x, 1) != 1)
		return 3;
	alarm(20); /* a wait is no wrong byte, but a test must end */
	nz_read(r, n / 2, n, &b);
	fprintf(stderr,
		"#   nz: before: %ld right; after the daemon went: %ld right, "
		"%ld zeros, %ld other, %ld SIGBUS; uffd_client_check %d\n",
		a.right, b.right, b.zeros, b.other, b.sigbus,
		uffd_client_check(c));
	uffd_region_release(r);
	uffd_disconnect(c);
	return a.right == (long)(n / 2) && !b.zeros && !b.other &&
		       b.right + b.sigbus == (long)(n / 2)
		   ? 0
		   : 1;
}

/* The configuration protocol 1 needed for the attacks (the files under
 * policy_paths), and protocol 2's (none needed: the client opens them). */
static char config[1024];

static void make_config(void)
{
#if UFFDD_PROTO_MAX < 2
	snprintf(config, sizeof(config),
		 "{\"workers\":2,\"admin_gids\":[4242],"
		 "\"client_policies\":[\"continue\",\"gate\","
		 "\"populate\",\"record\",\"prefetch\"],"
		 "\"policy_paths\":[\"%s\",\"%s\"],\"policy_rules\":[{"
		 "\"match\":{\"exe\":\"uffd-touch\"},"
		 "\"policy\":\"populate:%s/rule.img\"}]}",
		 lib, pub, lib);
#else
	char exe[512];

	/* The rule names the binary by its full path, as the kernel says. */
	if (!realpath(t_bin("uffd-touch"), exe))
		snprintf(exe, sizeof(exe), "%s", t_bin("uffd-touch"));
	snprintf(config, sizeof(config),
		 "{\"workers\":2,\"admin_gids\":[4242],\"policy_dir\":\"%s\","
		 "\"policy_rules\":[{"
		 "\"match\":{\"exe\":\"%s\"},"
		 "\"policy\":\"populate:%s/rule.img\"}]}",
		 lib, exe, lib);
#endif
}

static void no_zeros_case(enum t_kind kind, const void *arg)
{
	int how = *(const int *)arg, st, up[2], down[2];
	struct nz_arg na;
	struct tdaemon n;
	pid_t pid;
	char x;

	(void)kind;
	if (td_start(&n, config, NULL) < 0 || pipe(up) < 0 || pipe(down) < 0) {
		t_fail_at(__FILE__, __LINE__, "a daemon to kill");
		return;
	}
	na = (struct nz_arg){ n.sock, { down[0], up[1] } };
	pid = fork();
	if (pid == 0)
		_exit(as_nobody(nz_client, &na));
	CHECK(read(up[0], &x, 1) == 1, "the client touched half its pages");
	if (how == SIGKILL)
		td_kill(&n);
	else
		CHECK_EQ(td_stop(&n), 0);
	CHECK(write(down[1], "g", 1) == 1, "go");
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the client saw a wrong byte, or hung (status %#x)", st);
	if (how == SIGKILL)
		td_stop(&n); /* its directory */
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

/* ------------------------------------------------------------------------ */

static int setup(void)
{
	char f[200];
	int ok;

	snprintf(top, sizeof(top), "/tmp/uffdd-sec-files.%d", (int)getpid());
	path_in(lib, sizeof(lib), top, "lib");
	path_in(pub, sizeof(pub), top, "pub");
	path_in(rootdir, sizeof(rootdir), top, "root");
	/* lib: the administrator's files; pub: nobody's; root: root's only */
	ok = mkdir_as(top, 0, 0755) == 0 && mkdir_as(lib, 0, 0755) == 0 &&
	     mkdir_as(pub, NOBODY, 0755) == 0 &&
	     mkdir_as(rootdir, 0, 0700) == 0;
	path_in(f, sizeof(f), lib, "secret");
	ok = ok && make_file(f, SMALL, SECRET, 0, 0600) == 0;
	path_in(f, sizeof(f), lib, "admin.img");
	ok = ok && make_file(f, SMALL, PUBLIC, 0, 0644) == 0;
	/* The image of the exe rule: root's, readable by root alone. */
	path_in(f, sizeof(f), lib, "rule.img");
	ok = ok && make_file(f, SMALL, PUBLIC, 0, 0600) == 0;
	path_in(f, sizeof(f), pub, "img9");
	ok = ok && make_file(f, NZ_SIZE, IMG9, NOBODY, 0644) == 0;
	if (!ok) {
		perror(top);
		return -1;
	}
	make_config();
	return td_setup(&D, config);
}

static void teardown(void)
{
	char cmd[200];

	td_teardown(&D);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	if (system(cmd) != 0)
		perror(cmd);
}

static const int sigkill = SIGKILL, sigterm = SIGTERM;

static const struct t_case cases[] = {
	{ .name = "read-0600",
	  .title = "finding 1: nobody names a root-only 0600 file for "
		   "populate: its bytes never reach nobody",
	  .run = read_secret_case,
	  .needs = T_NEED_ROOT },
	{ .name = "record-truncates",
	  .title = "finding 1: nobody names an administrator's image for "
		   "record: the image is left whole",
	  .run = record_case,
	  .needs = T_NEED_ROOT },
	{ .name = "fifo",
	  .title = "finding 2: nobody names two FIFOs: every worker still "
		   "serves a good client within 3 s",
	  .run = fifo_case,
	  .needs = T_NEED_ROOT },
	{ .name = "race-last",
	  .title = "finding 1: a symlink flipped on the last component "
		   "(4000 tries or 40 s): the 0600 file is never read",
	  .fn = race_case,
	  .arg = "last",
	  .needs = T_NEED_ROOT },
	{ .name = "race-dir",
	  .title = "finding 1: a symlink flipped on a directory component "
		   "(4000 tries or 40 s): the 0600 file is never read",
	  .fn = race_case,
	  .arg = "dir",
	  .needs = T_NEED_ROOT },
	{ .name = "race-create",
	  .title = "finding 1: a symlink flipped on a directory component "
		   "for record (4000 tries): no root-owned file is created "
		   "in a root-only directory",
	  .fn = race_case,
	  .arg = "create",
	  .needs = T_NEED_ROOT },
	{ .name = "copied-exe",
	  .title =
	      "finding 6: a copy of a rule's binary, named like it, run "
	      "by nobody does not get the rule's policy; the real one does",
	  .run = copied_exe_case,
	  .needs = T_NEED_ROOT },
	{ .name = "ctl-policy-0600",
	  .title =
	      "finding 1 through uffdctl: a member of admin_gids, not "
	      "root, gives its region populate: of a 0600 file: never read",
	  .run = ctl_policy_case,
	  .needs = T_NEED_ROOT },
	{ .name = "no-zeros/sigkill",
	  .title = "finding 9: populate, 16 MiB, uffdd SIGKILLed halfway: "
		   "every later page right (or SIGBUS), never zeros",
	  .fn = no_zeros_case,
	  .arg = &sigkill,
	  .needs = T_NEED_ROOT },
	{ .name = "no-zeros/sigterm",
	  .title = "finding 9: the same with uffdd stopped (SIGTERM)",
	  .fn = no_zeros_case,
	  .arg = &sigterm,
	  .needs = T_NEED_ROOT },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "sec-files", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	signal(SIGPIPE, SIG_IGN);
	return t_main(argc, argv, &s);
}
