/* SPDX-License-Identifier: MIT */
/*
 * safe_copy(): a memfd truncated under the daemon's mapping raises SIGBUS
 * on the next touch; the copy must fail with -EFAULT instead of killing
 * the process, in the main thread and in a thread that blocks signals
 * (as the workers do).
 */
#include "core/safecopy.h"
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LEN (1 << 20)

static int copy_after_truncate(void)
{
	static char buf[LEN];
	int fd = memfd_create("victim", MFD_CLOEXEC);
	char *map;
	int rc1, rc2, rc3;

	if (fd < 0 || ftruncate(fd, LEN) < 0)
		return -100;
	map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -101;
	memset(map, 7, LEN);
	rc1 = safe_copy(buf, map, LEN); /* fine */
	if (ftruncate(fd, 4096) < 0)	/* the client cuts it */
		return -102;
	rc2 = safe_copy(buf, map, LEN);		/* reading past the end */
	rc3 = safe_copy(map + 8192, buf, 4096); /* writing past the end */
	munmap(map, LEN);
	close(fd);
	if (rc1 != 0 || buf[0] != 7)
		return -103;
	return rc2 == -EFAULT && rc3 == -EFAULT ? 0 : -104;
}

static void *worker(void *arg)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	*(int *)arg = copy_after_truncate();
	return NULL;
}

static void truncated(void)
{
	unsigned long before = safe_copy_faults();

	CHECK_EQ(safe_copy_init(), 0);
	CHECK_EQ(copy_after_truncate(), 0);
	CHECK_EQ(safe_copy_faults() - before, 2);
}

static void blocked_signals(void)
{
	unsigned long before = safe_copy_faults();
	pthread_t t;
	int rc = -1;

	CHECK_EQ(safe_copy_init(), 0);
	pthread_create(&t, NULL, worker, &rc);
	pthread_join(t, NULL);
	CHECK_EQ(rc, 0);
	CHECK_EQ(safe_copy_faults() - before, 2);
}

static const struct t_case cases[] = {
	{ .name = "truncated",
	  .title = "safe_copy: SIGBUS from a truncated memfd gives -EFAULT",
	  .run = truncated },
	{ .name = "blocked-signals",
	  .title = "safe_copy in a thread that blocks every signal",
	  .run = blocked_signals },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "safecopy", T_CASES(cases), NULL, NULL,
				   NULL };

	return t_main(argc, argv, &s);
}
