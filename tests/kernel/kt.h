/* SPDX-License-Identifier: MIT */
/*
 * The few uffd/memfd helpers every userfaultfd ABI test needs; reporting,
 * skips and the case table are the shared core's (tests/lib/report.h).
 *
 * The tests run unchanged on any kernel (mainline 5.14+, or 5.10 with the
 * series in kernel/patches/): passing on both is what shows the backport's
 * ABI is mainline's.
 */
#ifndef UFFDD_TESTS_KERNEL_KT_H
#define UFFDD_TESTS_KERNEL_KT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"
#include "uffd_uapi.h"

/* A uffd with UFFDIO_API done; features are what the test asks for. */
int kt_uffd_open(uint64_t features, uint64_t *got_features,
		 uint64_t *got_ioctls);
int kt_register(int uffd, void *addr, size_t len, uint64_t mode,
		uint64_t *ioctls);
int kt_unregister(int uffd, void *addr, size_t len);
/* UFFDIO_CONTINUE; returns the ioctl's result, errno, and .mapped. */
int kt_continue(int uffd, void *addr, size_t len, uint64_t mode,
		int64_t *mapped);
/* Waits (with a timeout) for one pagefault message; 0 on success. */
int kt_read_fault(int uffd, int timeout_ms, struct uffd_msg *msg);

/* A memfd of @kind with @pages pages; page size returned in *psize. */
int kt_memfd(enum t_kind kind, size_t pages, size_t *psize);

/* The test pattern: byte i of page p. */
static inline uint8_t kt_pattern(size_t page, size_t off)
{
	return (uint8_t)(page * 31 + off * 7 + 1);
}
void kt_fill(uint8_t *p, size_t page, size_t psize);
bool kt_verify(const uint8_t *p, size_t page, size_t psize);

/* A thread that touches one address (read or write) and records when done. */
struct kt_toucher {
	pthread_t thread;
	volatile uint8_t *addr;
	bool write;
	uint8_t value; /* written, or read back */
	volatile int done;
	int tid; /* set by the thread before it touches */
};
void kt_touch_start(struct kt_toucher *t, void *addr, bool write);
/* Joins, waiting at most timeout_ms; false if the thread is still blocked. */
bool kt_touch_join(struct kt_toucher *t, int timeout_ms);
/* Waits (at most timeout_ms) until the thread sleeps in handle_userfault. */
bool kt_touch_blocked(struct kt_toucher *t, int timeout_ms);

/* VmFlags of the mapping that contains @addr, from /proc/self/smaps. */
bool kt_vmflags(const void *addr, char *buf, size_t len);
bool kt_vmflag_has(const void *addr, const char *flag);

#endif
