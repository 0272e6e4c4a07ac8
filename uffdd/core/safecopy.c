/* SPDX-License-Identifier: MIT */
/*
 * safe_copy: a thread-local recovery point around memcpy.  The SIGBUS
 * handler jumps back to it when the fault happened inside a copy of this
 * thread, and otherwise restores the default action so that a real bug
 * still dumps core at the faulting instruction.
 */
#include "safecopy.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

static __thread sigjmp_buf *volatile recover;
static __thread int unblocked;
static unsigned long faults; /* atomic */

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = recover;

	(void)si;
	(void)uc;
	if (jb) {
		recover = NULL;
		siglongjmp(*jb, 1);
	}
	/* Not ours: returning re-executes the access, which now kills. */
	signal(sig, SIG_DFL);
}

int safe_copy_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	/* SA_NODEFER: we leave the handler by siglongjmp without restoring
	 * the mask (sigsetjmp(.., 0) is cheaper), so SIGBUS must stay open. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

/*
 * A synchronous SIGBUS that is blocked kills the process outright, and the
 * workers block every signal: open SIGBUS in the calling thread once.
 */
static void open_sigbus(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	unblocked = 1;
}

int safe_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf jb;

	if (!unblocked)
		open_sigbus();
	if (sigsetjmp(jb, 0)) {
		__atomic_add_fetch(&faults, 1, __ATOMIC_RELAXED);
		return -EFAULT;
	}
	recover = &jb;
	/* The compiler must not move the copy out of the window. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memcpy(dst, src, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	recover = NULL;
	return 0;
}

unsigned long safe_copy_faults(void)
{
	return __atomic_load_n(&faults, __ATOMIC_RELAXED);
}
