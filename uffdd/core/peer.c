/* SPDX-License-Identifier: MIT */
#include "peer.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/types.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#ifndef PIDFD_GET_INFO
struct pidfd_info {
	__u64 mask;
	__u64 cgroupid;
	__u32 pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	__u32 spare0[1];
};
#define PIDFD_GET_INFO	    _IOWR(0xFF, 11, struct pidfd_info)
#define PIDFD_INFO_CGROUPID (1UL << 2)
#endif

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define MAX_DEPTH 8
#define MAX_DIRS  20000

void unit_of_cgroup_path(const char *path, char *unit, size_t len)
{
	const char *p = path;

	unit[0] = '\0';
	while (p && *p) {
		const char *end = strchr(p, '/');
		size_t l = end ? (size_t)(end - p) : strlen(p);

		/* Up to and with the last unit: a delegated subtree may name
		 * its own cgroups "x.service", but the path says whose. */
		if ((l > 8 && strncmp(p + l - 8, ".service", 8) == 0) ||
		    (l > 6 && strncmp(p + l - 6, ".scope", 6) == 0))
			snprintf(unit, len, "%.*s", (int)(p + l - path), path);
		p = end ? end + 1 : NULL;
	}
	if (unit[0] && unit[0] != '/')
		unit[0] = '\0'; /* not a path from a cgroup root */
}

const char *unit_name(const char *unit_path)
{
	const char *b = strrchr(unit_path, '/');

	return b ? b + 1 : unit_path;
}

/* Depth-first search for the directory whose inode is ino. */
static int find_ino(char *path, size_t cap, uint64_t ino, int depth,
		    unsigned *budget)
{
	size_t base = strlen(path);
	DIR *d;
	struct dirent *e;
	int found = 0;

	if (depth > MAX_DEPTH || !*budget)
		return 0;
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if (!*budget)
			break;
		(*budget)--;
		if (snprintf(path + base, cap - base, "/%s", e->d_name) >=
		    (int)(cap - base))
			continue;
		if ((uint64_t)e->d_ino == ino)
			found = 1;
		else
			found = find_ino(path, cap, ino, depth + 1, budget);
		if (!found)
			path[base] = '\0';
	}
	closedir(d);
	return found;
}

/* The unified hierarchy: /sys/fs/cgroup, or .../unified on hybrid hosts. */
static const char *cgroup2_root(void)
{
	static const char *const roots[] = { "/sys/fs/cgroup",
					     "/sys/fs/cgroup/unified" };
	struct statfs sf;

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if (statfs(roots[i], &sf) == 0 &&
		    (uint64_t)sf.f_type == CGROUP2_SUPER_MAGIC)
			return roots[i];
	return NULL;
}

#ifndef PID_FS_MAGIC
#define PID_FS_MAGIC 0x50494446
#endif

/*
 * The inode of a pidfd on pidfs: one per process, never reused.  Whether
 * pidfds live on pidfs (Linux 6.9+; before, they share one anonymous
 * inode) is asked once: the kernel does not change under us.
 */
static uint64_t pidfs_id(int pidfd)
{
	static int pidfs = -1; /* unknown; races only repeat the question */
	struct statfs sf;
	struct stat st;

	if (pidfs < 0)
		pidfs = fstatfs(pidfd, &sf) == 0 &&
			(uint64_t)sf.f_type == PID_FS_MAGIC;
	if (!pidfs || fstat(pidfd, &st) < 0)
		return 0;
	return (uint64_t)st.st_ino;
}

uint64_t peer_pid_id(pid_t pid)
{
	int fd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	uint64_t id;

	if (fd < 0)
		return 0;
	id = pidfs_id(fd);
	close(fd);
	return id;
}

/* PIDFD_GET_INFO (Linux 6.13+) with the cgroup id asked for.  0 or -errno. */
static int pidfd_info_of(int pidfd, struct pidfd_info *info)
{
	memset(info, 0, sizeof(*info));
	info->mask = PIDFD_INFO_CGROUPID;
	return ioctl(pidfd, PIDFD_GET_INFO, info) < 0 ? -errno : 0;
}

/* The unit path of the cgroup PIDFD_GET_INFO named.  0 or -errno. */
static int cgroup_of_info(const struct pidfd_info *info, char *unit, size_t len)
{
	const char *root = cgroup2_root();
	struct stat st;
	char path[4096];
	unsigned budget = MAX_DIRS;

	unit[0] = '\0';
	if (!(info->mask & PIDFD_INFO_CGROUPID) || !info->cgroupid)
		return -ENODATA;
	if (!root)
		return -ENOENT;
	/* On cgroup2 a cgroup's id is its directory's inode number. */
	if (stat(root, &st) == 0 && (uint64_t)st.st_ino == info->cgroupid)
		return 0; /* the root cgroup: no unit */
	snprintf(path, sizeof(path), "%s", root);
	if (!find_ino(path, sizeof(path), info->cgroupid, 0, &budget))
		return -ENOENT;
	unit_of_cgroup_path(path + strlen(root), unit, len);
	return 0;
}

/* The peer's pidfd (SO_PEERPIDFD, Linux 6.5+), or -1. */
static int peer_pidfd(int sock)
{
	socklen_t sl = sizeof(int);
	int pidfd = -1;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &sl) < 0)
		return -1;
	return pidfd;
}

int peer_unit(int sock, char *unit, size_t len)
{
	struct pidfd_info info;
	int pidfd = peer_pidfd(sock), rc;

	unit[0] = '\0';
	if (pidfd < 0)
		return -errno;
	rc = pidfd_info_of(pidfd, &info);
	close(pidfd);
	return rc < 0 ? rc : cgroup_of_info(&info, unit, len);
}

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

int peer_read(int sock, struct peer *p)
{
	socklen_t len = sizeof(p->cr);

	memset(p, 0, sizeof(*p));
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &p->cr, &len) < 0)
		return -errno;
	/*
	 * Supplementary groups as they were at connect (Linux 4.13+); more
	 * than we keep gives ERANGE: the first PEER_MAX_GROUPS are lost then,
	 * so the peer may be refused an admin group it has, never granted
	 * one it lacks.
	 */
	len = sizeof(p->groups);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) == 0)
		p->ngroups = (int)(len / sizeof(gid_t));
	else
		p->ngroups = 0;
	return 0;
}

void peer_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(buf, len, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0) {
		snprintf(buf, len, "?");
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

void peer_printable(char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			*s = '?';
}

/*
 * The executable of pid: its path, kept only if that path, looked up in our
 * own mount namespace, is the very file the process runs (same device and
 * inode).  So a copy, a file bind-mounted over the path in another mount
 * namespace, or a binary replaced since ("... (deleted)") is no match.
 */
static void proc_exe(pid_t pid, struct peer_id *id)
{
	char path[64], buf[PEER_PATH_LEN];
	struct stat running, named;
	ssize_t n;

	id->exe[0] = '\0';
	id->exe_dev = id->exe_ino = 0;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0 || (size_t)n >= sizeof(id->exe) || buf[0] != '/')
		return;
	buf[n] = '\0';
	if (stat(path, &running) < 0 || stat(buf, &named) < 0 ||
	    running.st_dev != named.st_dev || running.st_ino != named.st_ino)
		return;
	memcpy(id->exe, buf, (size_t)n + 1);
	id->exe_dev = (uint64_t)running.st_dev;
	id->exe_ino = (uint64_t)running.st_ino;
}

/*
 * A forked child's executable: its parent's path when it runs the very
 * file its parent ran (one stat instead of a readlink and two), else
 * looked up in full.  The path was checked for the parent; a file renamed
 * or replaced since still has the inode the child runs.
 */
static void child_exe(pid_t pid, const struct peer_id *parent,
		      struct peer_id *id)
{
	char path[64];
	struct stat running;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (parent->exe[0] && stat(path, &running) == 0 &&
	    (uint64_t)running.st_dev == parent->exe_dev &&
	    (uint64_t)running.st_ino == parent->exe_ino) {
		memcpy(id->exe, parent->exe, sizeof(id->exe));
		id->exe_dev = parent->exe_dev;
		id->exe_ino = parent->exe_ino;
		return;
	}
	proc_exe(pid, id);
}

/* The unit path of pid from /proc/PID/cgroup (the unified hierarchy). */
static void proc_cgroup(pid_t pid, char *unit, size_t len)
{
	char path[64], line[1024];
	FILE *f;

	unit[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		/* "0::/system.slice/x.service" */
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		unit_of_cgroup_path(line + 3, unit, len);
	}
	fclose(f);
}

static int printable(const char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			return 0;
	return 1;
}

/* Is the process of pidfd still running?  Its pidfd reads when it exits. */
static int still_there(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

/* SO_PEERCRED into id (zeroed first); 0 or -errno. */
static int creds(int sock, struct peer_id *id)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	memset(id, 0, sizeof(*id));
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	id->pid = cr.pid;
	id->uid = cr.uid;
	id->gid = cr.gid;
	id->pid_known = 1;
	return 0;
}

/*
 * What the peer's pidfd says once: who it is for good (learned sets are
 * keyed by it), its parent, its cgroup.  0, or -1 without a pidfd.
 */
static int pidfd_facts(int pidfd, struct peer_id *id, struct pidfd_info *info)
{
	if (pidfd < 0)
		return -1;
	id->self_id = pidfs_id(pidfd);
	if (pidfd_info_of(pidfd, info) < 0)
		return -1;
	if (info->ppid > 0)
		id->parent_pid = (pid_t)info->ppid;
	if (info->mask & PIDFD_INFO_CGROUPID)
		id->cgroup_id = info->cgroupid;
	return 0;
}

/*
 * What /proc/PID said is the peer's only if the peer is still alive now (a
 * pid is reused only once its process is gone).  Without a pidfd (before
 * Linux 6.5) there is nothing to check it against.  Then the unit's name,
 * and paths rules match used as the kernel said them, or not at all: a
 * character made printable could match another rule.
 */
static void settle(int pidfd, struct peer_id *id)
{
	if (pidfd >= 0 && !still_there(pidfd))
		id->exe[0] = id->cgroup[0] = '\0';
	snprintf(id->unit, sizeof(id->unit), "%.127s", unit_name(id->cgroup));
	if (!printable(id->exe))
		id->exe[0] = '\0';
	if (!printable(id->cgroup))
		id->cgroup[0] = id->unit[0] = '\0';
	peer_printable(id->comm);
}

int peer_identify(int sock, struct peer_id *id)
{
	struct pidfd_info info;
	int pidfd, facts, rc = creds(sock, id);

	if (rc < 0)
		return rc;
	pidfd = peer_pidfd(sock);
	facts = pidfd_facts(pidfd, id, &info);
	peer_comm(id->pid, id->comm, sizeof(id->comm));
	proc_exe(id->pid, id);
	proc_cgroup(id->pid, id->cgroup, sizeof(id->cgroup));
	/* Hidden /proc (ProtectProc=invisible): the cgroup from the pidfd. */
	if (!id->cgroup[0] && facts == 0)
		cgroup_of_info(&info, id->cgroup, sizeof(id->cgroup));
	settle(pidfd, id);
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}

int peer_identify_child(int sock, const struct peer_id *parent,
			struct peer_id *id)
{
	struct pidfd_info info;
	int pidfd, rc = creds(sock, id);

	if (rc < 0)
		return rc;
	pidfd = peer_pidfd(sock);
	if (pidfd_facts(pidfd, id, &info) < 0 ||
	    id->parent_pid != parent->pid) {
		if (pidfd >= 0)
			close(pidfd);
		return peer_identify(sock, id);
	}
	/* fork copies comm, and it names nothing (logs show it). */
	memcpy(id->comm, parent->comm, sizeof(id->comm));
	child_exe(id->pid, parent, id);
	if (id->cgroup_id && id->cgroup_id == parent->cgroup_id) {
		/* The parent's, looked up already (none: none). */
		memcpy(id->cgroup, parent->cgroup, sizeof(id->cgroup));
	} else {
		proc_cgroup(id->pid, id->cgroup, sizeof(id->cgroup));
		if (!id->cgroup[0])
			cgroup_of_info(&info, id->cgroup, sizeof(id->cgroup));
	}
	settle(pidfd, id);
	close(pidfd);
	id->parent_id = parent->self_id;
	id->parent_id_known = 1;
	return 0;
}
