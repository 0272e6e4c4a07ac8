/* SPDX-License-Identifier: MIT */
/*
 * Copies that survive SIGBUS.  A client may truncate (or, on hugetlbfs,
 * punch a hole in) its memfd while the daemon has it mapped; touching the
 * lost page then raises SIGBUS, which would kill the whole daemon.  Copy
 * through safe_copy() wherever either side is a client's mapping.
 */
#ifndef UFFDD_SAFECOPY_H
#define UFFDD_SAFECOPY_H

#include <stddef.h>

/*
 * Install the process-wide SIGBUS handler (main thread, before the
 * workers start).  A SIGBUS outside safe_copy keeps its default action.
 */
int safe_copy_init(void);

/*
 * memcpy(dst, src, n), or -EFAULT if a page of either side raised SIGBUS
 * (dst may then hold part of the bytes).  0 on success.  Any thread.
 */
int safe_copy(void *dst, const void *src, size_t n);

/* How many copies were cut short by SIGBUS since start (for status). */
unsigned long safe_copy_faults(void);

#endif
