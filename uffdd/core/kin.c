/* SPDX-License-Identifier: MIT */
#include "kin.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct kin {
	pid_t pid;
	unsigned n; /* its sessions */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct kin *v;
static size_t n, cap;

/* A linear scan: one per connect and per disconnect, over at most
 * limits.clients entries, costs less than the connect's own calls. */
static struct kin *find(pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == pid)
			return &v[i];
	return NULL;
}

int kin_enter(pid_t pid)
{
	struct kin *k;
	int rc = 0;

	if (pid <= 0)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	k = find(pid);
	if (k) {
		k->n++;
		goto out;
	}
	if (n == cap) {
		size_t nc = cap ? cap * 2 : 64;
		struct kin *nv = realloc(v, nc * sizeof(*nv));

		if (!nv) {
			rc = -ENOMEM;
			goto out;
		}
		v = nv;
		cap = nc;
	}
	v[n].pid = pid;
	v[n].n = 1;
	n++;
out:
	pthread_mutex_unlock(&lock);
	return rc;
}

void kin_leave(pid_t pid)
{
	struct kin *k;

	pthread_mutex_lock(&lock);
	k = find(pid);
	if (k && --k->n == 0)
		*k = v[--n];
	pthread_mutex_unlock(&lock);
}

int kin_is_client(pid_t pid)
{
	int yes;

	if (pid <= 0)
		return 0;
	pthread_mutex_lock(&lock);
	yes = find(pid) != NULL;
	pthread_mutex_unlock(&lock);
	return yes;
}
