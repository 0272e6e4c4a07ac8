/* SPDX-License-Identifier: MIT */
/*
 * The region table and the conversation with uffdd: connect, register,
 * unregister, read answers, follow a fork.  Every function here runs with
 * pl_lock() held (or in a forked child, where only one thread exists).
 *
 * Answers are read lazily: a request is sent and its answer matched by
 * sequence number the next time the table needs it, so a forked child
 * never waits for the daemon.  The parent's mmap path does wait, so that
 * a REGISTER the daemon refuses leaves the mapping plain memory at once.
 */
#include "preload.h"
#include "probe.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct pl_process pl = {
	.pid = 0,
	.conn = { .sock = -1, .dev_fd = -1 },
};

static int pl_fd_is(int fd, ino_t ino)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == ino;
}

static void say(const char *what, const struct pl_region *e, int err)
{
	struct pl_log l;

	if (!pl_cfg.verbose)
		return;
	pl_log_start(&l);
	pl_log_s(&l, what);
	if (e) {
		char name[UFFDD_REGION_NAME_LEN];

		pl_region_name(e, name, sizeof(name));
		pl_log_s(&l, " \"");
		pl_log_s(&l, name);
		pl_log_s(&l, "\" at ");
		pl_log_x(&l, e->addr);
		pl_log_s(&l, " ");
		pl_log_u(&l, e->len >> 10);
		pl_log_s(&l, " KiB");
		if (e->id) {
			pl_log_s(&l, " id ");
			pl_log_x(&l, e->id);
		}
	}
	if (err) {
		pl_log_s(&l, ": ");
		pl_errno_name(&l, err);
	}
	pl_log_end(&l);
}

/* Regions lose their service when the connection goes: the daemon's
 * copies of their uffds went with it (or will, when it exits). */
static void lose_service(void)
{
	for (int i = 0; i < PL_MAX_REGIONS; i++) {
		pl.r[i].id = 0;
		pl.r[i].reg_seq = 0;
	}
	pl.hello_seq = 0;
}

static void pl_forget_connection(void)
{
	if (pl.conn.sock >= 0 && pl_fd_is(pl.conn.sock, pl.sock_ino))
		close(pl.conn.sock);
	pl.conn.sock = -1;
	lose_service();
}

static struct pl_region *by_seq(uint32_t seq)
{
	for (int i = 0; i < PL_MAX_REGIONS; i++)
		if (pl.r[i].state == PL_LIVE && pl.r[i].reg_seq == seq)
			return &pl.r[i];
	return NULL;
}

static void handle(struct uffdd_msg *m)
{
	struct pl_region *e;

	switch (m->hdr.type) {
	case UFFDD_WELCOME:
		pl.conn.kernel_features = m->u.welcome.kernel_features;
		pl.conn.version = m->u.welcome.version;
		if (m->nfds == 1 && !pl_fd_is(pl.conn.dev_fd, pl.dev_ino)) {
			struct stat st;

			pl.conn.dev_fd = m->fds[0];
			pl.dev_ino = fstat(m->fds[0], &st) == 0 ? st.st_ino : 0;
			m->nfds = 0; /* kept */
		}
		if (m->hdr.seq == pl.hello_seq)
			pl.hello_seq = 0;
		break;
	case UFFDD_REGISTERED:
		e = by_seq(m->hdr.seq);
		if (e) {
			e->id = m->u.registered.region_id;
			e->reg_seq = 0;
			if ((m->u.registered.flags & UFFDD_REG_BOARD) &&
			    m->nfds == 1)
				pl_board_adopt(e, m->fds[0]);
			say("served", e, 0);
		}
		break;
	case UFFDD_ERROR:
		if (m->hdr.seq == pl.hello_seq ||
		    m->u.error.ref_type == UFFDD_HELLO) {
			say("uffdd refused HELLO; serving nothing", NULL,
			    m->u.error.code);
			pl.refused = 1;
			pl_forget_connection();
			break;
		}
		e = by_seq(m->hdr.seq);
		if (e) {
			e->reg_seq = 0;
			if (pl_cfg.verbose) {
				struct pl_log l;

				pl_log_start(&l);
				pl_log_s(&l, "uffdd refused a region: ");
				pl_log_s(&l, m->u.error.message);
				pl_log_end(&l);
			}
		}
		break;
	default: /* OK to an UNREGISTER */
		break;
	}
	uffdd_msg_close_fds(m);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pl_drain(uint32_t want_seq, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct uffdd_msg m;

	while (pl.conn.sock >= 0) {
		int left = want_seq ? (int)(deadline - now_ms()) : 0;
		int rc = uffd_raw_recv(&pl.conn, &m, left > 0 ? left : 0);

		if (rc == -EAGAIN) {
			if (!want_seq || left <= 0) {
				if (want_seq)
					say("uffdd did not answer in time",
					    NULL, ETIMEDOUT);
				return;
			}
			continue;
		}
		if (rc < 0) {
			say("uffdd has gone; the program goes on without it",
			    NULL, -rc);
			pl_forget_connection();
			return;
		}
		handle(&m);
		if (want_seq && m.hdr.seq == want_seq)
			return;
	}
}

int pl_connect(void)
{
	pid_t me = getpid();
	uint32_t seq;
	char name[UFFDD_NAME_LEN];
	int rc;

	if (pl.pid != me) {
		/* A child made without fork(3) (a raw clone): the socket is
		 * the parent's; ours starts now. */
		if (pl.conn.sock >= 0 && pl_fd_is(pl.conn.sock, pl.sock_ino))
			close(pl.conn.sock);
		pl.conn.sock = -1;
		lose_service();
		pl.pid = me;
	}
	if (pl.refused || pl_cfg.disabled)
		return -EPERM;
	if (pl.conn.sock >= 0) {
		if (!pl_fd_is(pl.conn.sock, pl.sock_ino)) {
			/* The program closed our descriptor (and maybe
			 * reused the number): it is not ours to close. */
			pl.conn.sock = -1;
			lose_service();
		} else {
			pl_drain(0, 0);
			if (pl.conn.sock >= 0)
				return 0;
		}
	}
	rc = uffd_raw_open(&pl.conn, pl_cfg.socket);
	if (rc < 0) {
		say("uffdd is not reachable; mapping left unserved", NULL, -rc);
		return rc;
	}
	{
		struct stat st;

		pl.sock_ino = fstat(pl.conn.sock, &st) == 0 ? st.st_ino : 0;
	}
	pl_session_name(name, sizeof(name), 0);
	rc = uffd_raw_hello(&pl.conn, name, UFFDD_HELLO_WANT_GRANT, &seq);
	if (rc < 0) {
		pl_forget_connection();
		return rc;
	}
	pl.hello_seq = seq;
	pl_drain(seq, PL_REPLY_TIMEOUT_MS);
	if (pl.conn.sock < 0)
		return -ECONNRESET;
	if (pl.hello_seq) {
		pl_forget_connection();
		return -ETIMEDOUT;
	}
	/*
	 * Without a grant, only a privileged process gets a full uffd from
	 * userfaultfd(2); a user-mode-only one would make the program's own
	 * read()/recv() into its memory fail with EFAULT.  Better unserved.
	 */
	if (pl.conn.dev_fd < 0 && !pl_cfg.allow_user_only) {
		int fd = uffd_create(-1, O_CLOEXEC | O_NONBLOCK, 0, NULL);

		if (fd < 0) {
			say("uffdd gave no /dev/userfaultfd grant and "
			    "userfaultfd(2) needs privilege; serving nothing",
			    NULL, -fd);
			pl.refused = 1;
			pl_forget_connection();
			return -EPERM;
		}
		close(fd);
	}
	return 0;
}

struct pl_region *pl_region_new(void)
{
	for (int i = 0; i < PL_MAX_REGIONS; i++)
		if (pl.r[i].state == PL_FREE) {
			memset(&pl.r[i], 0, sizeof(pl.r[i]));
			pl.r[i].memfd = -1;
			pl.r[i].state = PL_LIVE;
			__atomic_add_fetch(&pl.nlive, 1, __ATOMIC_RELAXED);
			return &pl.r[i];
		}
	return NULL;
}

void pl_region_drop(struct pl_region *e)
{
	pl_board_forget(e);
	if (pl_fd_is(e->memfd, e->memfd_ino))
		close(e->memfd);
	e->state = PL_FREE;
	__atomic_sub_fetch(&pl.nlive, 1, __ATOMIC_RELAXED);
}

int pl_region_register(struct pl_region *e, int wait)
{
	char name[UFFDD_REGION_NAME_LEN];
	struct uffd_raw_region rr = {
		.start = e->addr,
		.length = e->len,
		.offset = (uint64_t)e->offset,
		.page_size = e->page_size,
		.kind = e->kind,
		.memfd = e->memfd,
		.name = name,
		.policy = pl_cfg.policy,
		/* No events: fork, munmap and mremap are followed here, and
		 * a forked child registers its copies itself. */
		.events = 0,
		/* A board for our own children (a forked child reads its
		 * parent's: one per child would cost every fork a file). */
		.reg_flags =
		    (uint8_t)((pl.forked ? 0 : UFFDD_REGF_BOARD) |
			      (e->selfmapped ? UFFDD_REGF_SELFMAP : 0)),
	};
	struct uffd_raw_sent sent = { .stage = "" };
	int rc;

	if (pl.conn.sock < 0)
		return -ENOTCONN;
	if (!pl_fd_is(e->memfd, e->memfd_ino))
		return -EBADF;
	pl_region_name(e, name, sizeof(name));
	rc = uffd_raw_register(&pl.conn, &rr, pl_cfg.allow_user_only, &sent);
	if (rc < 0) {
		say(sent.stage, e, -rc);
		if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN)
			pl_forget_connection();
		return rc;
	}
	e->reg_seq = sent.seq;
	if (!wait)
		return 0;
	pl_drain(sent.seq, PL_REPLY_TIMEOUT_MS);
	return e->id ? 0 : -EIO;
}

int pl_region_unregister(struct pl_region *e, int wait)
{
	uint32_t seq;
	int rc;

	if (e->reg_seq) /* its id is in an answer not read yet */
		pl_drain(e->reg_seq, PL_REPLY_TIMEOUT_MS);
	if (!e->id || pl.conn.sock < 0) {
		e->id = 0;
		return 0;
	}
	rc = uffd_raw_unregister(&pl.conn, e->id, &seq);
	say("unserved", e, rc < 0 ? -rc : 0);
	e->id = 0;
	if (rc < 0) {
		pl_forget_connection();
		return rc;
	}
	if (wait)
		pl_drain(seq, PL_REPLY_TIMEOUT_MS);
	return 0;
}

struct pl_region *pl_region_piece(const struct pl_region *tmpl, uintptr_t addr,
				  size_t len, off_t offset)
{
	struct pl_region *n;
	struct stat st;
	int fd;

	if (!len)
		return NULL;
	fd = fcntl(tmpl->memfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	n = pl_region_new();
	if (!n) {
		close(fd);
		return NULL;
	}
	n->addr = addr;
	n->len = len;
	n->offset = offset;
	n->memfd = fd;
	n->memfd_ino = fstat(fd, &st) == 0 ? st.st_ino : 0;
	n->kind = tmpl->kind;
	n->page_size = tmpl->page_size;
	n->serial = tmpl->serial;
	n->creator = tmpl->creator;
	(void)pl_region_register(n, 1);
	return n;
}

static int overlap(const struct pl_region *e, uintptr_t a, uintptr_t b)
{
	return e->state == PL_LIVE && e->addr < b && a < e->addr + e->len;
}

int pl_overlaps(uintptr_t addr, size_t len)
{
	for (int i = 0; i < PL_MAX_REGIONS; i++)
		if (overlap(&pl.r[i], addr, addr + len))
			return 1;
	return 0;
}

struct pl_region *pl_find(uintptr_t addr, size_t len)
{
	for (int i = 0; i < PL_MAX_REGIONS; i++) {
		struct pl_region *e = &pl.r[i];

		if (e->state == PL_LIVE && addr >= e->addr &&
		    addr + len <= e->addr + e->len)
			return e;
	}
	return NULL;
}

void pl_cut(uintptr_t a, size_t len)
{
	uintptr_t b = a + len;
	int n = 0;
	struct pl_region *hit[PL_MAX_REGIONS];

	/* Collect first: new pieces are added to the same table. */
	for (int i = 0; i < PL_MAX_REGIONS; i++)
		if (overlap(&pl.r[i], a, b))
			hit[n++] = &pl.r[i];
	for (int i = 0; i < n; i++) {
		struct pl_region *e = hit[i];
		uintptr_t end = e->addr + e->len;
		int split = e->addr < a || end > b;

		/*
		 * The pieces left over stay registered on the old uffd until
		 * the daemon has unregistered the old range; a new uffd can
		 * register them only after that (EBUSY before).
		 */
		pl_region_unregister(e, split);
		if (e->addr < a)
			pl_region_piece(e, e->addr, a - e->addr, e->offset);
		if (end > b)
			pl_region_piece(e, b, end - b,
					e->offset + (off_t)(b - e->addr));
		pl_region_drop(e);
	}
}

/*
 * FORKED on the parent's connection (still open here: the caller closes
 * our copy): the first region handed over with the child's HELLO, the
 * child's own connection in return.  0, or -errno (nothing changed).
 */
static int forked(struct pl_region *e, const char *name)
{
	char rname[UFFDD_REGION_NAME_LEN];
	struct uffd_raw_region rr = {
		.start = e->addr,
		.length = e->len,
		.offset = (uint64_t)e->offset,
		.page_size = e->page_size,
		.kind = e->kind,
		.memfd = e->memfd,
		.name = rname,
		.policy = pl_cfg.policy,
		.reg_flags = e->selfmapped ? UFFDD_REGF_SELFMAP : 0,
	};
	struct uffd_raw_sent sent = { .stage = "" };
	int parent = pl.conn.sock, rc;

	if (!pl_fd_is(e->memfd, e->memfd_ino))
		return -EBADF;
	pl_region_name(e, rname, sizeof(rname));
	rc = uffd_raw_forked(&pl.conn, name, UFFDD_HELLO_WANT_GRANT, &rr,
			     pl_cfg.allow_user_only, &sent);
	if (rc < 0) {
		say(sent.stage, e, -rc);
		return rc;
	}
	close(parent);
	{
		struct stat st;

		pl.sock_ino = fstat(pl.conn.sock, &st) == 0 ? st.st_ino : 0;
	}
	e->reg_seq = sent.seq;
	return 0;
}

/* A region the child hands over (not one it leaves to the kernel). */
static int handed(const struct pl_region *e)
{
	return e->state == PL_LIVE && e->selfmapped != PL_BOARD_ALONE;
}

/* The first region the child hands over, or NULL. */
static struct pl_region *first_live(void)
{
	for (int i = 0; i < PL_MAX_REGIONS; i++)
		if (handed(&pl.r[i]))
			return &pl.r[i];
	return NULL;
}

/*
 * In the child of a fork (async-signal-safe: fork may have been called
 * from a signal handler, or by one thread of many).  The child's copies of
 * the served ranges are not registered (no UFFD_FEATURE_EVENT_FORK
 * without CAP_SYS_PTRACE) and its page tables for them are empty: register
 * them with uffds of the child's own and hand them over in a session of
 * its own.  With a daemon that speaks protocol 2, one FORKED message on
 * the inherited connection does it for the first region (no connect, no
 * HELLO round trip); otherwise a connection of its own, HELLO, REGISTER.
 * Nothing waits for an answer: the daemon starts serving when it reads
 * the request, and faults before that simply queue.
 */
int pl_fork_handoff(pid_t parent)
{
	char name[UFFDD_NAME_LEN];
	struct pl_region *one = NULL;
	struct stat st;
	uint32_t seq;
	uint64_t premapped = 0;
	int pidfd = -1, alone = 0;
	int rc, sent = 0,
		inherited =
		    pl.conn.sock >= 0 && pl_fd_is(pl.conn.sock, pl.sock_ino);

	pl.pid = getpid();
	lose_service();
	if (__atomic_load_n(&pl.nlive, __ATOMIC_RELAXED) == 0 || pl.refused ||
	    pl_cfg.disabled) {
		/* Our copy of the parent's connection: closing it leaves the
		 * parent's open. */
		if (inherited)
			close(pl.conn.sock);
		pl.conn.sock = -1;
		return 0;
	}
	if (!pl_fd_is(pl.conn.dev_fd, pl.dev_ino))
		pl.conn.dev_fd = -1;
	pl.forked = 1;
	/* Before any uffd is on them: the kernel maps these. */
	for (int i = 0; i < PL_MAX_REGIONS; i++) {
		struct pl_region *e = &pl.r[i];

		e->selfmapped = e->state == PL_LIVE
				    ? pl_board_map(e, &pidfd, &premapped)
				    : PL_BOARD_NONE;
		alone += e->selfmapped == PL_BOARD_ALONE;
	}
	if (pidfd >= 0)
		close(pidfd);
	if (alone && !first_live()) {
		/* learn:teach=N: nothing for the daemon this time. */
		if (inherited)
			close(pl.conn.sock);
		pl.conn.sock = -1;
		if (pl_cfg.verbose)
			say("after fork: the learned set mapped; the rest is "
			    "the kernel's (learn:teach)",
			    NULL, 0);
		return 0;
	}
	pl_session_name(name, sizeof(name), parent);
	if (inherited && pl.conn.version >= 2 && (one = first_live()) &&
	    forked(one, name) == 0) {
		sent = 1;
	} else {
		one = NULL;
		if (inherited)
			close(pl.conn.sock);
		pl.conn.sock = -1;
		rc = uffd_raw_open(&pl.conn, pl_cfg.socket);
		if (rc < 0) {
			say("after fork: uffdd is not reachable", NULL, -rc);
			return rc;
		}
		pl.sock_ino = fstat(pl.conn.sock, &st) == 0 ? st.st_ino : 0;
		/* The inherited grant is enough to make the child's uffds;
		 * asking again lets the daemon decide (and show "granted")
		 * for this session too.  The answer is read, and the spare
		 * fd closed, later. */
		rc = uffd_raw_hello(&pl.conn, name, UFFDD_HELLO_WANT_GRANT,
				    &seq);
		if (rc < 0) {
			pl_forget_connection();
			return rc;
		}
		pl.hello_seq = seq;
	}
	for (int i = 0; i < PL_MAX_REGIONS; i++) {
		struct pl_region *e = &pl.r[i];

		if (!handed(e) || e == one)
			continue;
		rc = pl_region_register(e, 0);
		if (rc == 0)
			sent++;
		if (pl.conn.sock < 0)
			break;
	}
	/* Said once: a later registration of these maps nothing itself. */
	for (int i = 0; i < PL_MAX_REGIONS; i++)
		if (pl.r[i].selfmapped == PL_BOARD_MAPPED)
			pl.r[i].selfmapped = PL_BOARD_NONE;
	if (pl_cfg.verbose) {
		struct pl_log l;

		pl_log_start(&l);
		pl_log_s(&l, "fork of ");
		pl_log_u(&l, (uint64_t)parent);
		pl_log_s(&l, ": ");
		pl_log_u(&l, (uint64_t)sent);
		pl_log_s(&l, one ? " region(s) handed over (FORKED)"
				 : " region(s) handed over");
		if (premapped) {
			pl_log_s(&l, ", ");
			pl_log_u(&l, premapped >> 10);
			pl_log_s(&l, " KiB of the learned set mapped");
		}
		pl_log_end(&l);
	}
	return 0;
}
