/* SPDX-License-Identifier: MIT */
/* Sessions taken back from systemd's fd store after a restart. */
#ifndef UFFDD_SESSION_RESTORE_H
#define UFFDD_SESSION_RESTORE_H

struct daemon;

/*
 * Main thread, at start: rebuild sessions and regions from the
 * descriptors systemd passed back (d->stored, emptied), and hand them to
 * workers.  Leftovers of clients that exited while we were down are
 * removed from the store.  Returns the number of sessions restored.
 */
int sessions_restore(struct daemon *d);

#endif
