/* SPDX-License-Identifier: MIT */
/* The daemon's one clock: CLOCK_MONOTONIC in nanoseconds. */
#ifndef UFFDD_CLOCK_H
#define UFFDD_CLOCK_H

#include <stdint.h>

uint64_t now_ns(void);

#endif
