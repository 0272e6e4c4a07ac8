/* SPDX-License-Identifier: MIT */
/*
 * Who is on the other end of a socket, from the kernel only: credentials
 * and groups from the socket (SO_PEERCRED, SO_PEERGROUPS), the process from
 * its pidfd (SO_PEERPIDFD: what is read of /proc/PID is kept only if that
 * very process is still alive afterwards, so a reused pid tells nothing),
 * its executable's full path (kept only if that path, looked up here, is
 * the file the process runs: same device and inode) and its unit's full
 * cgroup path, with the socket's cgroup id as the fallback when
 * ProtectProc=invisible hides the clients' /proc entries.  Never a name
 * the process chose (comm is for display only).
 */
#ifndef UFFDD_PEER_H
#define UFFDD_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define PEER_MAX_GROUPS 64

/* What the kernel says of a peer at connect. */
struct peer {
	struct ucred cr;
	int ngroups; /* supplementary groups known (at most PEER_MAX_GROUPS) */
	gid_t groups[PEER_MAX_GROUPS];
};

/* SO_PEERCRED and SO_PEERGROUPS of a connected socket.  0 or -errno. */
int peer_read(int sock, struct peer *p);

#define PEER_PATH_LEN 512

/* A client's identity, as sessions, logs, status and rules see it. */
struct peer_id {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	pid_t parent_pid;
	/*
	 * The process and its parent as pidfs knows them (the inode number
	 * of a pidfd, Linux 6.9+): unlike a pid, never reused while the
	 * system runs.  0 when the kernel cannot tell.  What the learned
	 * child working sets are keyed by (policy_client()).
	 */
	uint64_t self_id, parent_id;
	uint64_t cgroup_id;  /* PIDFD_GET_INFO's, 0 if unknown */
	int parent_id_known; /* parent_id was looked up (lazily: it costs) */
	int pid_known; /* pid is the client's (a forked child learns it late) */
	char comm[17]; /* /proc/PID/comm: display only, the process sets it */
	/* The executable's full path, "" when it cannot be told for sure;
	 * and which file it is (0 0 with ""). */
	char exe[PEER_PATH_LEN];
	uint64_t exe_dev, exe_ino;
	/* Its unit's full cgroup path ("/system.slice/x.service"), "" if it
	 * is in no unit or cannot be told; and that unit's name. */
	char cgroup[PEER_PATH_LEN];
	char unit[128];
};

/* The identity of the process at the other end of sock.  0 or -errno. */
int peer_identify(int sock, struct peer_id *id);

/*
 * The identity of a forked child of parent at the other end of sock: the
 * same, but what is the parent's for sure is not looked up again -- its
 * comm (fork copies it, and it names nothing: only logs show it), its
 * unit when PIDFD_GET_INFO says the child is in the parent's cgroup, its
 * parent's pidfs identity when its parent is parent.  Its executable is
 * checked: a process that exec'd is another program (policy rules); the
 * parent's path is taken only when the child runs the very same file.
 */
int peer_identify_child(int sock, const struct peer_id *parent,
			struct peer_id *id);

/* The pidfs identity of pid (see peer_id.self_id), or 0. */
uint64_t peer_pid_id(pid_t pid);

/* The process's name from /proc/PID/comm, "?" when it cannot be read. */
void peer_comm(pid_t pid, char *buf, size_t len);

/* Names end up in logs and JSON: make s printable ('?' for the rest). */
void peer_printable(char *s);

/*
 * The full cgroup path of the systemd unit (up to the last "*.service" or
 * "*.scope" of its cgroup) of the process at the other end of sock, found
 * through SO_PEERPIDFD and PIDFD_GET_INFO (Linux 6.13+) and the cgroup's
 * inode number under /sys/fs/cgroup.  0, or -errno when it cannot be told.
 */
int peer_unit(int sock, char *path, size_t len);

/* The unit's part of a cgroup path: "/system.slice/x.service" for
 * "/system.slice/x.service/sub"; "" when no component is a unit. */
void unit_of_cgroup_path(const char *path, char *unit, size_t len);
/* The unit's name: the last component of a unit path. */
const char *unit_name(const char *unit_path);

#endif
