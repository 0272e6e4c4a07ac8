/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the policy and event end-to-end tests: the test process
 * (or a child of it) is the client; a real uffdd serves it; counters are
 * read from the daemon's status.
 */
#ifndef UFFDD_TEST_POLICY_COMMON_H
#define UFFDD_TEST_POLICY_COMMON_H

#include "harness.h"
#include "uffd/client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Every policy a test asks for (the files are the test's own). */
#define PC_CONFIG_ALL                                                          \
	"{\"client_policies\":[\"continue\",\"around\",\"populate\","          \
	"\"record\",\"prefetch\",\"gate\",\"deny\"]}"

/* Test cases run on the memory kinds of the library: the same numbers. */
_Static_assert((int)T_SHMEM == UFFD_KIND_SHMEM, "kinds");
_Static_assert((int)T_HUGETLB == UFFD_KIND_HUGETLB, "kinds");

static inline const char *pc_kind_name(int kind)
{
	return kind == UFFD_KIND_HUGETLB ? "hugetlb" : "shmem";
}

/* Hugepage size in bytes (2 MiB on x86_64). */
static inline size_t pc_huge_size(void)
{
	return t_huge_page_size();
}

static inline size_t pc_page(int kind)
{
	return kind == UFFD_KIND_HUGETLB ? pc_huge_size()
					 : (size_t)sysconf(_SC_PAGESIZE);
}

static inline struct uffd_client *pc_connect(const struct tdaemon *d,
					     const char *name)
{
	struct uffd_client *c = NULL;

	if (uffd_connect(d->sock, name, 0, &c) < 0) {
		fprintf(stderr, "#   uffd_connect: %s\n", uffd_last_error());
		return NULL;
	}
	return c;
}

/* A served region, or NULL (the library's message printed). */
static inline struct uffd_region *pc_alloc(struct uffd_client *c, int kind,
					   size_t size, const char *name,
					   const char *policy)
{
	struct uffd_region_spec sp = {
		.kind = kind, .size = size, .name = name, .policy = policy
	};
	struct uffd_region *r = NULL;

	if (uffd_region_alloc(c, &sp, &r) < 0) {
		fprintf(stderr, "#   uffd_region_alloc(%s, %s): %s\n", name,
			policy ? policy : "(default)", uffd_last_error());
		return NULL;
	}
	return r;
}

/* A region counter from the daemon's status ("faults", "policy_stats.x"). */
static inline int64_t pc_region_int(const struct tdaemon *d, const char *name,
				    const char *path)
{
	json_object *st = td_status(d), *r;
	int64_t v = -1;

	r = st ? j_region(st, name, NULL) : NULL;
	if (r)
		v = j_int(r, path);
	json_object_put(st);
	return v;
}

/* Wait until a region counter reaches want; returns the last value. */
static inline int64_t pc_wait_region(const struct tdaemon *d, const char *name,
				     const char *path, int64_t want,
				     int timeout_ms)
{
	int64_t v = -1;

	for (int i = 0; i <= timeout_ms / 5; i++) {
		v = pc_region_int(d, name, path);
		if (v == want)
			break;
		usleep(5000);
	}
	return v;
}

/* Write a file of size bytes whose byte i is pc_byte(i). */
static inline unsigned char pc_byte(uint64_t i)
{
	uint64_t x = (i / 8) * 0x9e3779b97f4a7c15ull;

	return (unsigned char)((x >> 29) ^ (x >> 7) ^ i);
}

static inline int pc_write_image(const char *path, size_t size)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	unsigned char *buf = malloc(1 << 20);
	size_t done = 0;

	if (fd < 0 || !buf)
		return -1;
	while (done < size) {
		size_t n = size - done < (1u << 20) ? size - done : (1u << 20);

		for (size_t i = 0; i < n; i++)
			buf[i] = pc_byte(done + i);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			free(buf);
			return -1;
		}
		done += n;
	}
	free(buf);
	return close(fd);
}

/* Run fn(arg) in a child process; returns its exit status (or 128+sig). */
static inline int pc_in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn(arg));
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#endif
