/* SPDX-License-Identifier: MIT */
/*
 * Work no client waits for and that can take long, off the workers: the
 * last close of a client's memfd frees every page of it in the closing
 * thread (about 250 ms a GiB of shmem, measured here), and unmapping a
 * large populated mapping zaps every page table entry of it (about 60 ms a
 * GiB).  On a worker either would stall every other client of it; here a
 * thread of its own does them, in order.  Any thread.
 */
#ifndef UFFDD_REAPER_H
#define UFFDD_REAPER_H

#include <stddef.h>

/* Start the thread (before the workers).  0 or -errno; without it, the
 * calls below do their work in the caller. */
int reaper_start(void);
/* Finish what was handed over, then stop (after the workers). */
void reaper_stop(void);

/* close(fd), soon. */
void reaper_close(int fd);
/* munmap(addr, len), soon. */
void reaper_unmap(void *addr, size_t len);

#endif
