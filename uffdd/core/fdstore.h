/* SPDX-License-Identifier: MIT */
/*
 * systemd's file descriptor store: every client connection, uffd and memfd
 * is kept there with a small description, so that a restarted uffdd takes
 * its clients back instead of dropping them.
 *
 * Names (FDNAME=):  S<sid> connection, s<sid> session description,
 *                   U<rid> uffd, M<rid> memfd, r<rid> region description,
 * where sid and rid are 16 hex digits and a description is a sealed memfd
 * holding one JSON object.
 */
#ifndef UFFDD_FDSTORE_H
#define UFFDD_FDSTORE_H

#include "daemon.h"

/* Whether a service manager is there to hold descriptors for us. */
int fdstore_enabled(void);

/* Worker threads: keep a session / region in the store, or drop it. */
void fdstore_add_session(const struct session *s);
void fdstore_add_region(const struct region *r);
void fdstore_remove_session(const struct session *s);
/* r's description changed (`uffdctl policy`): store it anew. */
void fdstore_update_region(const struct region *r);
void fdstore_remove_region(const struct region *r);

/*
 * Main thread, at start: rebuild sessions and regions from the
 * descriptors systemd passed (fds[i] named names[i]; those used are set
 * to -1), and hand them to workers.  Leftovers of clients that exited
 * while we were down are removed from the store.  Returns the number of
 * sessions restored.
 */
int fdstore_restore(struct daemon *d, int *fds, char **names, int n);

#endif
