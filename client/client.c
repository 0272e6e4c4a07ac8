/* SPDX-License-Identifier: MIT */
/* libuffdclient: connection, hand-off of regions, errors. */
#include "uffd/client.h"
#include "client_fork.h"
#include "client_int.h"
#include "probe.h"
#include "spec.h"
#include "uffd_uapi.h"
#include "uffdd_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_TIMEOUT_MS 10000

static __thread char last_error[256];

int client_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -code;
}

/* The takeover thread sets it too. */
static int is_dead(struct uffd_client *c)
{
	return __atomic_load_n(&c->dead, __ATOMIC_ACQUIRE);
}

static void set_dead(struct uffd_client *c)
{
	__atomic_store_n(&c->dead, 1, __ATOMIC_RELEASE);
}

API const char *uffd_last_error(void)
{
	return last_error;
}

API const char *uffd_client_version(void)
{
	return UFFD_CLIENT_VERSION;
}

static const char *default_name(void)
{
	extern char *program_invocation_short_name;

	return program_invocation_short_name;
}

/* Wait for the reply to seq; anything else on the socket is a protocol bug. */
static int await_reply(struct uffd_client *c, uint32_t seq, struct uffdd_msg *m)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	char err[160];
	int rc;

	for (;;) {
		rc = poll(&p, 1, REPLY_TIMEOUT_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return client_fail(errno, "poll: %s", strerror(errno));
		if (rc == 0)
			return client_fail(ETIMEDOUT,
					   "uffdd did not answer within %d ms",
					   REPLY_TIMEOUT_MS);
		rc = uffdd_recv(c->sock, m, err, sizeof(err));
		if (rc == -EAGAIN)
			continue;
		if (rc == -ECONNRESET) {
			set_dead(c);
			return client_fail(ECONNRESET,
					   "uffdd closed the connection");
		}
		if (rc < 0) {
			set_dead(c);
			return client_fail(-rc, "bad message from uffdd: %s",
					   err);
		}
		if (m->hdr.seq != seq) {
			uffdd_msg_close_fds(m);
			continue; /* a stale reply to a timed-out request */
		}
		if (m->hdr.type == UFFDD_ERROR) {
			int code =
			    m->u.error.code > 0 ? m->u.error.code : EPROTO;

			return client_fail(code, "uffdd: %s",
					   m->u.error.message);
		}
		return 0;
	}
}

int client_request(struct uffd_client *c, uint16_t type, const void *body,
		   size_t len, const int *fds, int nfds,
		   struct uffdd_msg *reply)
{
	uint32_t seq;
	int rc;

	/* Defined even on paths that fail without a reply. */
	reply->hdr.type = 0;
	reply->nfds = 0;
	if (is_dead(c))
		return client_fail(ECONNRESET, "uffdd connection is gone");
	seq = ++c->seq;
	rc = uffdd_send(c->sock, type, seq, body, len, fds, nfds);
	if (rc < 0) {
		if (rc == -EPIPE || rc == -ECONNRESET)
			set_dead(c);
		return client_fail(-rc, "sending %s to uffdd: %s",
				   uffdd_type_name(type), strerror(-rc));
	}
	return await_reply(c, seq, reply);
}

API int uffd_connect(const char *socket_path, const char *name, unsigned flags,
		     struct uffd_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct uffdd_hello h = {
		.min_version = UFFDD_PROTO_MIN,
		.max_version = UFFDD_PROTO_MAX,
	};
	struct uffdd_msg m;
	struct uffd_client *c;
	int rc;

	*out = NULL;
	if (!socket_path)
		socket_path = getenv("UFFDD_SOCKET");
	if (!socket_path || !*socket_path)
		socket_path = UFFD_CLIENT_DEFAULT_SOCKET;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return client_fail(ENAMETOOLONG, "socket path too long: %s",
				   socket_path);
	strcpy(sa.sun_path, socket_path);

	c = calloc(1, sizeof(*c));
	if (!c)
		return client_fail(ENOMEM, "out of memory");
	pthread_mutex_init(&c->lock, NULL);
	c->dev_fd = -1;
	c->refs = 1;
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->sock < 0) {
		rc = client_fail(errno, "socket: %s", strerror(errno));
		goto err;
	}
	if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = client_fail(errno, "cannot reach uffdd at %s: %s",
				 socket_path, strerror(errno));
		goto err;
	}
	uffdd_set_str(h.name, sizeof(h.name), name ? name : default_name());
	if (!(flags & UFFD_CONNECT_NO_GRANT))
		h.flags |= UFFDD_HELLO_WANT_GRANT;
	/* Where this thread runs now: a daemon that pins its workers serves
	 * us from the one on this CPU, avoiding cross-CPU wake-ups. */
	{
		int cpu = sched_getcpu();

		if (cpu >= 0) {
			h.flags |= UFFDD_HELLO_CPU;
			h.cpu = (uint32_t)cpu;
		}
	}
	rc = client_request(c, UFFDD_HELLO, &h, sizeof(h), NULL, 0, &m);
	if (rc < 0)
		goto err;
	if (m.hdr.type != UFFDD_WELCOME) {
		uffdd_msg_close_fds(&m);
		rc = client_fail(EPROTO, "uffdd answered HELLO with %s",
				 uffdd_type_name(m.hdr.type));
		goto err;
	}
	c->kernel_features = m.u.welcome.kernel_features;
	c->session_id = m.u.welcome.session_id;
	if (m.nfds == 1)
		c->dev_fd = m.fds[0];
	*out = c;
	return 0;
err:
	if (c->sock >= 0)
		close(c->sock);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return rc;
}

void client_get(struct uffd_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->refs++;
	pthread_mutex_unlock(&c->lock);
}

/* One user of c fewer; the last one frees it (regions hold c too). */
static void client_put(struct uffd_client *c)
{
	pthread_mutex_lock(&c->lock);
	if (--c->refs) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	pthread_mutex_unlock(&c->lock);
	takeover_stop(c);
	if (c->sock >= 0)
		close(c->sock);
	if (c->dev_fd >= 0)
		close(c->dev_fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

API void uffd_disconnect(struct uffd_client *c)
{
	if (!c)
		return;
	/*
	 * Regions whose contents the daemon made are still ours to serve:
	 * the thread takes them over before the socket goes, and goes on
	 * until they are released.  Others are plain memory from now on.
	 */
	takeover_disconnect(c);
	set_dead(c);
	pthread_mutex_lock(&c->lock);
	close(c->sock);
	c->sock = -1;
	pthread_mutex_unlock(&c->lock);
	client_put(c);
}

API int uffd_client_check(struct uffd_client *c)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN };

	if (!is_dead(c) && poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLHUP | POLLERR)))
		set_dead(c);
	if (is_dead(c))
		return client_fail(ECONNRESET,
				   "uffdd has gone; regions are served by the "
				   "kernel, or by this process for those whose "
				   "contents uffdd made");
	return 0;
}

API int uffd_client_takeover_stats(const struct uffd_client *c,
				   uint64_t *mapped, uint64_t *refused)
{
	return takeover_stats(c, mapped, refused);
}

API int uffd_client_fd(const struct uffd_client *c)
{
	return c->sock;
}

API enum uffd_mode uffd_client_uffd_mode(const struct uffd_client *c)
{
	return c->mode;
}

API uint64_t uffd_client_kernel_features(const struct uffd_client *c)
{
	return c->kernel_features;
}

#define EVENTS                                                                 \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |                  \
	 UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)

/* Why uffd_raw_register failed at stage, as the caller's error. */
static int raw_failed(struct uffd_client *c, const struct uffd_region *r,
		      const char *stage, int rc)
{
	if (!strcmp(stage, "creating a userfaultfd"))
		return client_fail(-rc, "cannot create a userfaultfd: %s",
				   strerror(-rc));
	if (!strcmp(stage, "UFFDIO_REGISTER"))
		return client_fail(-rc, "UFFDIO_REGISTER MINOR at %p+%zu: %s",
				   r->addr, r->size, strerror(-rc));
	if (!strcmp(stage, "sending REGISTER")) {
		if (rc == -EPIPE || rc == -ECONNRESET)
			set_dead(c);
		return client_fail(-rc, "sending REGISTER to uffdd: %s",
				   strerror(-rc));
	}
	return client_fail(-rc, "%s: %s", stage, strerror(-rc));
}

/*
 * REGISTERED arrived for r: keep what a region whose contents the daemon
 * makes needs to be served here if the daemon goes (uffd and files taken
 * then).  0, or -errno: the daemon must then forget r again.
 */
static int registered(struct uffd_client *c, struct uffd_region *r,
		      struct uffdd_msg *m, int *uffd, struct spec_files *files)
{
	int rc = 0;

	r->id = m->u.registered.region_id;
	if (m->u.registered.flags & UFFDD_REG_CONTENT) {
		rc = m->nfds == 1
			 ? takeover_keep(c, r, m->fds[0], *uffd, files)
			 : client_fail(EPROTO, "uffdd sent no page-state file");
		if (rc == 0)
			*uffd = -1;
	}
	uffdd_msg_close_fds(m);
	return rc;
}

/* The daemon registered r but we cannot keep it: take it back. */
static void unregister_now(struct uffd_client *c, struct uffd_region *r)
{
	struct uffdd_unregister u = { .region_id = r->id };
	struct uffdd_msg m;
	char keep[sizeof(last_error)];

	memcpy(keep, last_error, sizeof(keep));
	if (client_request(c, UFFDD_UNREGISTER, &u, sizeof(u), NULL, 0, &m) ==
	    0)
		uffdd_msg_close_fds(&m);
	memcpy(last_error, keep, sizeof(keep));
	r->id = 0;
}

int client_register(struct uffd_client *c, struct uffd_region *r,
		    const struct uffd_raw_region *rr, struct spec_files *files)
{
	struct uffd_raw raw = { .sock = c->sock,
				.dev_fd = c->dev_fd,
				.seq = c->seq,
				.kernel_features = c->kernel_features };
	int uffd = -1, rc;
	struct uffd_raw_sent sent = { .uffd = &uffd };
	struct uffdd_msg m;

	if (is_dead(c))
		return client_fail(ECONNRESET, "uffdd connection is gone");
	rc = uffd_raw_register(&raw, rr, 1, &sent);
	c->seq = raw.seq;
	if (rc < 0)
		return raw_failed(c, r, sent.stage, rc);
	c->mode = (enum uffd_mode)sent.mode;
	rc = await_reply(c, sent.seq, &m);
	if (rc == 0 && m.hdr.type != UFFDD_REGISTERED) {
		uffdd_msg_close_fds(&m);
		rc = client_fail(EPROTO, "uffdd answered REGISTER with %s",
				 uffdd_type_name(m.hdr.type));
	} else if (rc == 0 && (rc = registered(c, r, &m, &uffd, files)) < 0) {
		unregister_now(c, r);
	}
	if (rc < 0) {
		struct uffdio_range rg = { (uintptr_t)r->addr, r->size };

		ioctl(uffd, UFFDIO_UNREGISTER, &rg);
	}
	/* Unless we serve the region if the daemon dies (content), the
	 * daemon holds the uffd now: if it dies, the last reference goes
	 * and the kernel wakes every faulting thread instead of leaving
	 * them blocked on a uffd nobody reads. */
	if (uffd >= 0)
		close(uffd);
	return rc;
}

/* Hand r (a memfd's mapping, kind and offset) to the daemon. */
static int hand_off(struct uffd_client *c, struct uffd_region *r, int kind,
		    const char *name, const char *policy)
{
	struct uffd_raw_region rr = {
		.start = (uintptr_t)r->addr,
		.length = r->size,
		.offset = (uint64_t)r->offset,
		.page_size = (uint32_t)r->page_size,
		.kind = kind,
		.memfd = r->memfd,
		.name = name ? name : "anon",
		/* Lifecycle events, so that the daemon follows fork, mremap,
		 * munmap and madvise; UFFD_CLIENT_NO_EVENTS asks for none. */
		.events = getenv("UFFD_CLIENT_NO_EVENTS") ? 0 : EVENTS,
	};
	struct spec_files files = { .n = 0 };
	char wire[UFFDD_POLICY_LEN], err[240];
	int rc;

	if (strlen(rr.name) >= UFFDD_REGION_NAME_LEN)
		return client_fail(ENAMETOOLONG,
				   "region name longer than %d bytes",
				   UFFDD_REGION_NAME_LEN - 1);
	/* The files the policy names are opened here, with our rights. */
	rc = spec_open(policy, wire, sizeof(wire), &files, err, sizeof(err));
	if (rc < 0)
		return client_fail(-rc, "%s", err);
	rr.policy = wire;
	rr.files = files.fd;
	rr.nfiles = files.n;
	pthread_mutex_lock(&c->lock);
	rc = client_register(c, r, &rr, &files);
	pthread_mutex_unlock(&c->lock);
	if (rc < 0 && files.n) { /* the daemon says "#0": the user, a path */
		char msg[sizeof(last_error)];

		spec_explain(&files, last_error, msg, sizeof(msg));
		memcpy(last_error, msg, sizeof(msg));
	}
	spec_files_close(&files); /* those no takeover kept */
	return rc;
}

static size_t hugetlb_page_size(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	size_t kb = 2048;

	if (!f)
		return kb << 10;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb << 10;
}

/* The page size of spec's kind, and its size rounded up to pages. */
static int size_up(const struct uffd_region_spec *spec, struct uffd_region *r)
{
	if (spec->kind == UFFD_KIND_HUGETLB)
		r->page_size = hugetlb_page_size();
	else if (spec->kind == UFFD_KIND_SHMEM)
		r->page_size = (size_t)sysconf(_SC_PAGESIZE);
	else
		return client_fail(EINVAL, "unknown region kind %d",
				   spec->kind);
	if (spec->size == 0)
		return client_fail(EINVAL, "region size is 0");
	if (spec->size > SIZE_MAX - r->page_size)
		return client_fail(EOVERFLOW, "region size too large");
	r->size = (spec->size + r->page_size - 1) & ~(r->page_size - 1);
	return 0;
}

/* A sealed memfd of r->size bytes, every page in the page cache. */
static int make_memfd(const struct uffd_region_spec *spec,
		      struct uffd_region *r, const char *name)
{
	int huge = spec->kind == UFFD_KIND_HUGETLB;

	r->memfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING |
					  (huge ? MFD_HUGETLB : 0));
	if (r->memfd < 0)
		return client_fail(errno, "memfd_create(%s%s): %s", name,
				   huge ? ", MFD_HUGETLB" : "",
				   strerror(errno));
	if (ftruncate(r->memfd, (off_t)r->size) < 0)
		return client_fail(errno, "ftruncate memfd to %zu: %s", r->size,
				   strerror(errno));
	/* Minor faults need every page in the page cache before the touch. */
	if (fallocate(r->memfd, 0, 0, (off_t)r->size) < 0) {
		if (errno == ENOSPC && huge)
			return client_fail(
			    ENOMEM,
			    "not enough free hugepages for %zu MiB (see "
			    "HugePages_Free in /proc/meminfo; reserve "
			    "more in /proc/sys/vm/nr_hugepages)",
			    r->size >> 20);
		return client_fail(errno, "fallocate %zu bytes: %s", r->size,
				   strerror(errno));
	}
	/* The daemon may map the memfd: it must not shrink under it. */
	if (fcntl(r->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return client_fail(errno, "sealing memfd: %s", strerror(errno));
	return 0;
}

/* A shared mapping of r's memfd into *at (NULL on failure). */
static int map_memfd(struct uffd_region *r, void **at, const char *what)
{
	*at = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd,
		   0);
	if (*at != MAP_FAILED)
		return 0;
	*at = NULL;
	return client_fail(errno, "mmap %s mapping: %s", what, strerror(errno));
}

/* The memory of a region: a memfd mapped twice, to fill and to serve. */
static int alloc_memory(const struct uffd_region_spec *spec,
			struct uffd_region *r)
{
	int rc = size_up(spec, r);

	if (rc == 0)
		rc = make_memfd(spec, r, spec->name ? spec->name : "anon");
	if (rc == 0)
		rc = map_memfd(r, &r->fill, "fill");
	if (rc == 0)
		rc = map_memfd(r, &r->addr, "served");
	if (rc == 0)
		return 0;
	if (r->fill)
		munmap(r->fill, r->size);
	r->fill = NULL;
	if (r->memfd >= 0)
		close(r->memfd);
	r->memfd = -1;
	return rc;
}

static void free_memory(struct uffd_region *r)
{
	if (r->addr)
		munmap(r->addr, r->size);
	if (r->fill)
		munmap(r->fill, r->size);
	if (r->memfd >= 0)
		close(r->memfd);
}

API int uffd_region_alloc(struct uffd_client *c,
			  const struct uffd_region_spec *spec,
			  struct uffd_region **out)
{
	struct uffd_region *r;
	int rc;

	*out = NULL;
	if (!spec)
		return client_fail(EINVAL, "no region spec");
	r = calloc(1, sizeof(*r));
	if (!r)
		return client_fail(ENOMEM, "out of memory");
	r->memfd = -1;
	r->uffd = -1;
	r->owned = 1;
	rc = alloc_memory(spec, r);
	if (rc < 0) {
		free(r);
		return rc;
	}
	if (c) {
		r->c = c;
		rc = hand_off(c, r, spec->kind, spec->name, spec->policy);
		if (rc < 0) {
			free_memory(r);
			free(r);
			return rc;
		}
		client_get(c);
	}
	*out = r;
	return 0;
}

API int uffd_region_adopt(struct uffd_client *c, void *addr, size_t len,
			  int memfd, off_t offset, const char *name,
			  const char *policy, struct uffd_region **out)
{
	struct uffd_region *r;
	struct stat st;
	int kind = UFFD_KIND_SHMEM, rc;
	long psz = sysconf(_SC_PAGESIZE);

	*out = NULL;
	if (!c)
		return client_fail(EINVAL, "no uffdd connection");
	if (!addr || !len)
		return client_fail(EINVAL, "empty mapping");
	if (fstat(memfd, &st) < 0)
		return client_fail(errno, "fstat memfd: %s", strerror(errno));
	r = calloc(1, sizeof(*r));
	if (!r)
		return client_fail(ENOMEM, "out of memory");
	r->c = c;
	r->addr = addr;
	r->size = len;
	r->memfd = memfd;
	r->offset = offset;
	r->uffd = -1;
	r->page_size = (size_t)psz;
	/* hugetlbfs reports its page size as the block size; the daemon
	 * checks the file system itself. */
	if ((size_t)st.st_blksize > (size_t)psz) {
		kind = UFFD_KIND_HUGETLB;
		r->page_size = (size_t)st.st_blksize;
	}
	rc = hand_off(c, r, kind, name, policy);
	if (rc < 0) {
		free(r);
		return rc;
	}
	client_get(c);
	*out = r;
	return 0;
}

API int uffd_region_release(struct uffd_region *r)
{
	struct uffdd_unregister u;
	struct uffdd_msg m;
	int rc = 0;

	if (!r)
		return 0;
	if (r->c && r->id && !is_dead(r->c)) {
		u.region_id = r->id;
		pthread_mutex_lock(&r->c->lock);
		rc = client_request(r->c, UFFDD_UNREGISTER, &u, sizeof(u), NULL,
				    0, &m);
		pthread_mutex_unlock(&r->c->lock);
		if (rc == 0)
			uffdd_msg_close_fds(&m);
	}
	/* Served here since the daemon went: not any more. */
	takeover_drop(r);
	if (r->owned)
		free_memory(r);
	if (r->c)
		client_put(r->c);
	free(r);
	return rc;
}

API int uffd_region_publish(struct uffd_region *r, size_t offset, size_t length)
{
	struct uffdd_publish p;
	struct uffdd_msg m;
	int rc;

	if (!r || !r->c || !r->id)
		return client_fail(EINVAL, "the region is not served by uffdd");
	if (offset > r->size || length > r->size - offset || !length)
		return client_fail(EINVAL,
				   "range %zu+%zu is not inside the region "
				   "(%zu bytes)",
				   offset, length, r->size);
	p.region_id = r->id;
	p.offset = offset;
	p.length = length;
	pthread_mutex_lock(&r->c->lock);
	rc = client_request(r->c, UFFDD_PUBLISH, &p, sizeof(p), NULL, 0, &m);
	pthread_mutex_unlock(&r->c->lock);
	/* The daemon has gone: a region we serve now is published here. */
	if (rc == -ECONNRESET && r->pages) {
		rc = takeover_publish(r, offset, length);
		return rc < 0 ? client_fail(-rc, "publish: %s", strerror(-rc))
			      : 0;
	}
	if (rc < 0)
		return rc;
	uffdd_msg_close_fds(&m);
	if (m.hdr.type != UFFDD_OK)
		return client_fail(EPROTO, "uffdd answered PUBLISH with %s",
				   uffdd_type_name(m.hdr.type));
	return 0;
}

API void *uffd_region_addr(const struct uffd_region *r)
{
	return r->addr;
}

API void *uffd_region_fill_addr(const struct uffd_region *r)
{
	return r->fill;
}

API size_t uffd_region_size(const struct uffd_region *r)
{
	return r->size;
}

API size_t uffd_region_page_size(const struct uffd_region *r)
{
	return r->page_size;
}

API int uffd_region_memfd(const struct uffd_region *r)
{
	return r->memfd;
}

API uint64_t uffd_region_id(const struct uffd_region *r)
{
	return r->id;
}
