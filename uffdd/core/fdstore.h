/* SPDX-License-Identifier: MIT */
/*
 * systemd's file descriptor store: every client connection, uffd and memfd
 * is kept there with a small description, so that a restarted uffdd takes
 * its clients back instead of dropping them (session_restore.c).  This
 * module knows names, descriptions and descriptors, not sessions.
 *
 * Names (FDNAME=):  S<sid> connection, s<sid> session description,
 *                   U<rid> uffd, M<rid> memfd, r<rid> region description,
 *                   0<rid> 1<rid> 2<rid> the client's files of its policy,
 *                   P<rid> its page-state file (pagestate.h),
 * where sid and rid are 16 hex digits and a description is a sealed memfd
 * holding one JSON object.
 */
#ifndef UFFDD_FDSTORE_H
#define UFFDD_FDSTORE_H

#include <stdint.h>
#include <time.h>

#include "uffdd_proto.h"

struct fdstore_session {
	char name[UFFDD_NAME_LEN];
	int granted;
	int uffd_mode;
	time_t since;
};

struct fdstore_region {
	uint64_t sid; /* its session */
	uint64_t start, len, offset;
	int kind;
	uint32_t page_size;
	char name[UFFDD_REGION_NAME_LEN];
	char policy[UFFDD_POLICY_LEN];
};

/* A region's descriptors: its uffd, memfd, files and page-state file. */
struct fdstore_fds {
	int uffd, memfd;
	const int *files;
	int nfiles;
	int pages; /* -1: none */
};

/* Worker threads: keep a session's connection / a region, or drop it.
 * Nothing happens without a service manager to hold them. */
void fdstore_keep_session(uint64_t sid, int sock,
			  const struct fdstore_session *d);
void fdstore_forget_session(uint64_t sid);
void fdstore_keep_region(uint64_t rid, const struct fdstore_fds *fds,
			 const struct fdstore_region *d);
/* r's policy changed (`uffdctl policy`): its description and files anew. */
void fdstore_update_region(uint64_t rid, const struct fdstore_fds *fds,
			   const struct fdstore_region *d);
void fdstore_forget_region(uint64_t rid);

/* What systemd passed back at start, by name. */
struct fdstore_entry {
	char tag; /* S s U M r 0 1 2 P */
	uint64_t id;
	int fd; /* -1 once taken or dropped */
};

struct fdstore_set {
	struct fdstore_entry *e;
	int n;
};

/*
 * Take fds[i] named names[i] (set to -1) into set; descriptors with names
 * that are none of ours leave the store.  0 or -ENOMEM.
 */
int fdstore_open_set(struct fdstore_set *set, int *fds, char **names, int n);
/* The entry tag/id still held in set, or NULL. */
struct fdstore_entry *fdstore_get(struct fdstore_set *set, char tag,
				  uint64_t id);
/* Take e out of the store and close it. */
void fdstore_drop(struct fdstore_entry *e);
/* The description e holds; 0 or -1 (unreadable). */
int fdstore_read_session(const struct fdstore_entry *e,
			 struct fdstore_session *d);
int fdstore_read_region(const struct fdstore_entry *e,
			struct fdstore_region *d);
/* Drop whatever no session claimed (logged), free the set. */
void fdstore_close_set(struct fdstore_set *set);

#endif
