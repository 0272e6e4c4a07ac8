/* SPDX-License-Identifier: MIT */
#include "probe.h"
#include "uffd_uapi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static const struct {
	uint64_t bit;
	const char *name;
} feature_names[] = {
	{ UFFD_FEATURE_PAGEFAULT_FLAG_WP, "pagefault_flag_wp" },
	{ UFFD_FEATURE_EVENT_FORK, "event_fork" },
	{ UFFD_FEATURE_EVENT_REMAP, "event_remap" },
	{ UFFD_FEATURE_EVENT_REMOVE, "event_remove" },
	{ UFFD_FEATURE_MISSING_HUGETLBFS, "missing_hugetlbfs" },
	{ UFFD_FEATURE_MISSING_SHMEM, "missing_shmem" },
	{ UFFD_FEATURE_EVENT_UNMAP, "event_unmap" },
	{ UFFD_FEATURE_SIGBUS, "sigbus" },
	{ UFFD_FEATURE_THREAD_ID, "thread_id" },
	{ UFFD_FEATURE_MINOR_HUGETLBFS, "minor_hugetlbfs" },
	{ UFFD_FEATURE_MINOR_SHMEM, "minor_shmem" },
	{ UFFD_FEATURE_EXACT_ADDRESS, "exact_address" },
	{ UFFD_FEATURE_WP_HUGETLBFS_SHMEM, "wp_hugetlbfs_shmem" },
	{ UFFD_FEATURE_WP_UNPOPULATED, "wp_unpopulated" },
	{ UFFD_FEATURE_POISON, "poison" },
	{ UFFD_FEATURE_WP_ASYNC, "wp_async" },
	{ UFFD_FEATURE_MOVE, "move" },
};

void uffd_features_each(uint64_t features,
			void (*fn)(const char *name, void *arg), void *arg)
{
	for (size_t i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]);
	     i++)
		if (features & feature_names[i].bit)
			fn(feature_names[i].name, arg);
}

int uffd_create(int dev_fd, int flags, int allow_user_only, int *how)
{
	int fd, err;

	if (dev_fd >= 0) {
		fd = ioctl(dev_fd, USERFAULTFD_IOC_NEW, flags);
		if (fd >= 0) {
			if (how)
				*how = UFFD_HOW_DEVICE;
			return fd;
		}
	}
	fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd >= 0) {
		if (how)
			*how = UFFD_HOW_SYSCALL;
		return fd;
	}
	err = errno;
	if (!allow_user_only)
		return -err;
	/* vm.unprivileged_userfaultfd=0 still allows user-mode-only uffds. */
	fd = (int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);
	if (fd >= 0) {
		if (how)
			*how = UFFD_HOW_USER_ONLY;
		return fd;
	}
	return -errno;
}

/* A CONTINUE on a page that is in the page cache but not mapped must map it. */
static void probe_continue(struct uffd_caps *caps, int uffd)
{
	long psz = sysconf(_SC_PAGESIZE);
	int mfd = memfd_create("uffdd-probe", MFD_CLOEXEC);
	char *fill = MAP_FAILED, *reg = MAP_FAILED;
	unsigned long reqs[2] = { UFFDIO_CONTINUE, UFFDIO_CONTINUE_OLD };

	if (mfd < 0)
		return;
	if (ftruncate(mfd, psz) < 0)
		goto out;
	fill =
	    mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	reg =
	    mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (fill == MAP_FAILED || reg == MAP_FAILED)
		goto out;
	fill[0] = 1; /* now in the page cache */
	struct uffdio_register r = {
		.range = { .start = (unsigned long)reg,
			   .len = (unsigned long)psz },
		.mode = UFFDIO_REGISTER_MODE_MINOR,
	};
	if (ioctl(uffd, UFFDIO_REGISTER, &r) < 0)
		goto out;
	caps->ioctls = r.ioctls;
	for (int i = 0; i < 2; i++) {
		struct uffdio_continue c = {
			.range = r.range,
		};
		if (ioctl(uffd, reqs[i], &c) == 0 || errno == EEXIST) {
			caps->continue_ok = 1;
			caps->continue_req = reqs[i];
			break;
		}
	}
	ioctl(uffd, UFFDIO_UNREGISTER, &r.range);
out:
	if (fill != MAP_FAILED)
		munmap(fill, (size_t)psz);
	if (reg != MAP_FAILED)
		munmap(reg, (size_t)psz);
	close(mfd);
}

int uffd_probe(struct uffd_caps *caps)
{
	struct utsname u;
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int dev, uffd;

	memset(caps, 0, sizeof(*caps));
	if (uname(&u) == 0)
		snprintf(caps->release, sizeof(caps->release), "%s", u.release);

	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	caps->dev_userfaultfd = dev >= 0;
	uffd = uffd_create(dev, O_CLOEXEC | O_NONBLOCK, 1, NULL);
	if (dev >= 0)
		close(dev);
	if (uffd < 0) {
		snprintf(caps->error, sizeof(caps->error),
			 "cannot create a userfaultfd: %s (needs "
			 "CONFIG_USERFAULTFD; Linux 4.3+; user-mode-only "
			 "uffds need Linux 5.11+)",
			 strerror(-uffd));
		return uffd;
	}
	if (ioctl(uffd, UFFDIO_API, &api) < 0) {
		snprintf(caps->error, sizeof(caps->error), "UFFDIO_API: %s",
			 strerror(errno));
		close(uffd);
		return -errno;
	}
	caps->features = api.features;
	caps->minor_hugetlbfs = !!(api.features & UFFD_FEATURE_MINOR_HUGETLBFS);
	caps->minor_shmem = !!(api.features & UFFD_FEATURE_MINOR_SHMEM);
	caps->poison = !!(api.features & UFFD_FEATURE_POISON);
	close(uffd);

	if (caps->minor_shmem) {
		/* A second uffd: the first one's features are fixed now. */
		struct uffdio_api api2 = {
			.api = UFFD_API,
			.features = UFFD_FEATURE_MINOR_SHMEM,
		};
		dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		uffd = uffd_create(dev, O_CLOEXEC | O_NONBLOCK, 1, NULL);
		if (dev >= 0)
			close(dev);
		if (uffd >= 0 && ioctl(uffd, UFFDIO_API, &api2) == 0)
			probe_continue(caps, uffd);
		if (uffd >= 0)
			close(uffd);
	} else if (caps->minor_hugetlbfs) {
		/* Without shmem minor faults the request number cannot be
		 * tried without hugepages; mainline's is the likely one. */
		caps->continue_ok = 1;
		caps->continue_req = UFFDIO_CONTINUE;
	}
	return 0;
}

const char *uffd_caps_missing(const struct uffd_caps *caps, char *buf,
			      size_t len)
{
	buf[0] = '\0';
	if (!caps->minor_hugetlbfs && !caps->minor_shmem)
		snprintf(
		    buf, len,
		    "kernel %s lacks UFFD_FEATURE_MINOR_HUGETLBFS (Linux "
		    "5.13+) and UFFD_FEATURE_MINOR_SHMEM (Linux 5.14+): no "
		    "minor-fault service is possible; see kernel/README.md "
		    "for the 5.10 patch series",
		    caps->release);
	else if (!caps->minor_hugetlbfs)
		snprintf(buf, len,
			 "kernel %s lacks UFFD_FEATURE_MINOR_HUGETLBFS (Linux "
			 "5.13+): hugetlbfs regions cannot be served",
			 caps->release);
	else if (!caps->minor_shmem)
		snprintf(buf, len,
			 "kernel %s lacks UFFD_FEATURE_MINOR_SHMEM (Linux "
			 "5.14+): shmem regions cannot be served",
			 caps->release);
	else if (!caps->continue_ok)
		snprintf(buf, len,
			 "kernel %s advertises minor faults but neither "
			 "UFFDIO_CONTINUE request number (0x%lx, 0x%lx) works",
			 caps->release, (unsigned long)UFFDIO_CONTINUE,
			 (unsigned long)UFFDIO_CONTINUE_OLD);
	return buf;
}
