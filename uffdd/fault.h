/* SPDX-License-Identifier: MIT */
#ifndef UFFDD_FAULT_H
#define UFFDD_FAULT_H

#include <event2/util.h>

#include "daemon.h"

/* Pick the CONTINUE request number the kernel answers. */
void fault_init(const struct uffd_caps *caps);

/* libevent callback for a region's uffd (arg: the region). */
void fault_cb(evutil_socket_t fd, short what, void *arg);

#endif
