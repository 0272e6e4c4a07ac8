/* SPDX-License-Identifier: MIT */
/*
 * Who is on the other end of a socket: credentials and groups from the
 * socket (SO_PEERCRED, SO_PEERGROUPS, SO_PEERPIDFD), name, executable and
 * systemd unit from /proc, with the socket as the fallback when
 * ProtectProc=invisible hides the clients' /proc entries.
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

/* A client's identity, as sessions, logs, status and rules see it. */
struct peer_id {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	pid_t parent_pid;
	int pid_known; /* pid is the client's (a forked child learns it late) */
	char comm[17]; /* /proc/PID/comm */
	char exe[64];  /* basename of /proc/PID/exe */
	char unit[128]; /* systemd unit from its cgroup */
};

/* The identity of the process at the other end of sock.  0 or -errno. */
int peer_identify(int sock, struct peer_id *id);

/* The process's name from /proc/PID/comm, "?" when it cannot be read. */
void peer_comm(pid_t pid, char *buf, size_t len);

/* Names end up in logs and JSON: make s printable ('?' for the rest). */
void peer_printable(char *s);

/*
 * The systemd unit (the last "*.service" or "*.scope" of its cgroup path)
 * of the process at the other end of sock, found through SO_PEERPIDFD and
 * PIDFD_GET_INFO (Linux 6.13+) and the cgroup's inode number under
 * /sys/fs/cgroup.  0, or -errno when it cannot be told.
 */
int peer_unit(int sock, char *unit, size_t len);

/* The unit named in a cgroup path such as "/system.slice/x.service". */
void unit_of_cgroup_path(const char *path, char *unit, size_t len);

#endif
