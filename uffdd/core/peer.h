/* SPDX-License-Identifier: MIT */
/*
 * Who is on the other end of a socket, from the socket alone: this keeps
 * working when ProtectProc=invisible hides the clients' /proc entries.
 */
#ifndef UFFDD_PEER_H
#define UFFDD_PEER_H

#include <stddef.h>
#include <stdint.h>

/*
 * The systemd unit (the last "*.service" or "*.scope" of its cgroup path)
 * of the process at the other end of sock, found through SO_PEERPIDFD and
 * PIDFD_GET_INFO (Linux 6.13+) and the cgroup's inode number under
 * /sys/fs/cgroup.  0, or -errno when it cannot be told.
 */
int peer_unit(int sock, char *unit, size_t len);

/* The parent pid of the process at the other end of sock (PIDFD_GET_INFO). */
int peer_ppid(int sock, int *ppid);

/* The unit named in a cgroup path such as "/system.slice/x.service". */
void unit_of_cgroup_path(const char *path, char *unit, size_t len);

#endif
