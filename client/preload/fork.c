/* SPDX-License-Identifier: MIT */
/*
 * Following fork(): pthread_atfork handlers, run by glibc's fork() in the
 * thread that forks, also when fork() is called from a signal handler.
 * vfork() and posix_spawn() (CLONE_VM) run no handlers, and need none:
 * the child shares the parent's memory, page tables and registrations
 * until it execs, and every descriptor of ours is close-on-exec.
 *
 * prepare takes the table lock so the child inherits a consistent table
 * (another thread may be half-way through an mmap); the lock is never held
 * by the forking thread itself, because pl_lock() blocks signals, so a
 * handler cannot fork in the middle of our own critical section.
 */
#include "preload.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

static sigset_t prepare_mask;
static pid_t prepare_pid;

static void fork_prepare(void)
{
	sigset_t saved;

	pl_lock(&saved);
	prepare_mask = saved;
	prepare_pid = getpid();
}

static void fork_parent(void)
{
	pl_unlock(&prepare_mask);
}

static void fork_child(void)
{
	int saved_errno = errno;
	sigset_t mask = prepare_mask;

	/* The lock word was copied held; only this thread exists here. */
	__atomic_store_n(&pl.lock, 0, __ATOMIC_RELEASE);
	pl_fork_handoff(prepare_pid);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	errno = saved_errno;
}

void pl_fork_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
