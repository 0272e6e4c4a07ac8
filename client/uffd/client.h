/* SPDX-License-Identifier: MIT */
/*
 * libuffdclient: hand hugetlbfs and shmem memory to the uffdd page service.
 *
 * Every function returns 0 (or a non-negative value) on success and -errno on
 * failure; uffd_last_error() then holds a readable message for the calling
 * thread.  A uffd_client may be shared by threads: requests are serialised.
 *
 * When the daemon cannot be reached, uffd_connect() fails (-ENOENT,
 * -ECONNREFUSED, -EACCES, ...) and the application may pass a NULL client to
 * uffd_region_alloc(): it then gets the same kind of memory, just not served
 * by the daemon (the kernel resolves its faults as usual).
 */
#ifndef UFFD_CLIENT_H
#define UFFD_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The library's version (the .pc file's, and the soname's major number).
 * Symbols added in MAJOR.MINOR carry the version node UFFDCLIENT_MAJOR.MINOR.
 */
#define UFFD_CLIENT_VERSION_MAJOR 0
#define UFFD_CLIENT_VERSION_MINOR 3
#define UFFD_CLIENT_VERSION_PATCH 0
#define UFFD_CLIENT_VERSION	  "0.3.0"

#define UFFD_CLIENT_DEFAULT_SOCKET "/run/uffdd/uffdd.sock"

struct uffd_client;
struct uffd_region;

enum uffd_kind {
	UFFD_KIND_SHMEM = 1,   /* 4 KiB tmpfs pages (memfd) */
	UFFD_KIND_HUGETLB = 2, /* default-size hugetlbfs pages (memfd) */
};

/* How this client creates its userfaultfds (see uffd_client_uffd_mode). */
enum uffd_mode {
	UFFD_MODE_NONE = 0,
	/* a full uffd from a /dev/userfaultfd grant */
	UFFD_MODE_DEVICE = 1,
	/* a full uffd from userfaultfd(2) (privileged) */
	UFFD_MODE_SYSCALL = 2,
	/* UFFD_USER_MODE_ONLY: kernel-mode faults fail */
	UFFD_MODE_USER_ONLY = 3,
};

/* uffd_connect() flags */
/* Do not ask for a /dev/userfaultfd grant. */
#define UFFD_CONNECT_NO_GRANT 0x1

/*
 * Connect to the daemon.  socket_path NULL means $UFFDD_SOCKET, else
 * UFFD_CLIENT_DEFAULT_SOCKET.  name (may be NULL: the program's name) is
 * shown in `uffdctl status`.
 */
int uffd_connect(const char *socket_path, const char *name, unsigned flags,
		 struct uffd_client **out);

/* Close the connection.  Regions still registered are released first. */
void uffd_disconnect(struct uffd_client *c);

/*
 * 0 while the daemon is there; -ECONNRESET once it has gone (its regions are
 * then plain memory, served by the kernel).  Never blocks.
 */
int uffd_client_check(struct uffd_client *c);

/* A descriptor that polls readable (POLLHUP) when the daemon goes away. */
int uffd_client_fd(const struct uffd_client *c);

enum uffd_mode uffd_client_uffd_mode(const struct uffd_client *c);
uint64_t uffd_client_kernel_features(const struct uffd_client *c);

struct uffd_region_spec {
	enum uffd_kind kind;
	size_t size;	    /* rounded up to the page size */
	const char *name;   /* NULL: "anon" */
	const char *policy; /* NULL: the daemon's default for this client */
	unsigned flags;	    /* 0 */
};

/*
 * Allocate a region: a memfd of the given kind with every page allocated in
 * the page cache, a fill mapping (never faults: write contents there) and a
 * served mapping registered for minor faults and handed to the daemon.
 * c == NULL gives the same memory without the service.
 */
int uffd_region_alloc(struct uffd_client *c,
		      const struct uffd_region_spec *spec,
		      struct uffd_region **out);

/*
 * Hand off an existing MAP_SHARED mapping [addr, addr+len) of memfd at
 * offset.  The caller keeps owning the mapping and the memfd; pages not in
 * the page cache are served by the kernel as usual.
 */
int uffd_region_adopt(struct uffd_client *c, void *addr, size_t len, int memfd,
		      off_t offset, const char *name, const char *policy,
		      struct uffd_region **out);

/*
 * Stop service for a region and free it.  For an allocated region the
 * mappings and memfd go too; for an adopted one they stay with the caller.
 */
int uffd_region_release(struct uffd_region *r);

/*
 * For a region with the gate policy: bytes [offset, offset+length) (page
 * aligned) are ready; faults held on them are resolved now and later
 * touches are mapped at once.  -EOPNOTSUPP if the region's policy has no
 * gate.
 */
int uffd_region_publish(struct uffd_region *r, size_t offset, size_t length);

void *uffd_region_addr(const struct uffd_region *r); /* served mapping */
void *
uffd_region_fill_addr(const struct uffd_region *r); /* fill mapping or NULL */
size_t uffd_region_size(const struct uffd_region *r);
size_t uffd_region_page_size(const struct uffd_region *r);
int uffd_region_memfd(const struct uffd_region *r);
uint64_t uffd_region_id(const struct uffd_region *r); /* 0 if not served */

/*
 * Images: named, versioned memory from the host's cache (docs/images.md).
 * ref is "name" (the latest version) or "name@version".  The daemon keeps
 * one copy per host; this maps it and hands the mapping over like any
 * region: pages are fetched from the image store the first time any
 * client touches them, then mapped from the cache.  uffd_region_release
 * unmaps it.
 *
 * UFFD_IMAGE_SHARED   read-only: every page is the cache's, a write is
 *                     SIGSEGV (PROT_READ; a shared mapping of the sealed
 *                     cache cannot take a userfaultfd); default:
 *                     MAP_PRIVATE read-write, writes are this process's
 *                     own copies and the cache keeps the image
 * UFFD_IMAGE_HUGETLB  the image in huge pages (a cache of its own)
 * UFFD_IMAGE_RECORD   record the order of first touches and store it
 *                     beside the image for every host to prefetch (root
 *                     and admin_gids)
 * UFFD_IMAGE_RESERVE  hugetlb, private: reserve a huge page per page for
 *                     copies at map time (fails with ENOMEM when too few
 *                     are free); default MAP_NORESERVE: a write that then
 *                     finds no free huge page gets SIGBUS
 *
 * If the daemon goes away, a thread of the library answers the image's
 * faults: pages the cache holds are mapped, the others get SIGBUS (before
 * Linux 6.6: they wait).  Never a page the daemon has not filled.
 */
#define UFFD_IMAGE_SHARED  0x1u
#define UFFD_IMAGE_HUGETLB 0x2u
#define UFFD_IMAGE_RECORD  0x4u
#define UFFD_IMAGE_RESERVE 0x8u

int uffd_image_map(struct uffd_client *c, const char *ref, unsigned flags,
		   struct uffd_region **out);

/*
 * Once the daemon has gone, the library serves the regions whose contents
 * the daemon made (populate, gate, images) itself: the faults it has
 * answered since, mapped and refused (SIGBUS).  Returns 1 once it serves,
 * 0 while the daemon does.
 */
int uffd_client_takeover_stats(const struct uffd_client *c, uint64_t *mapped,
			       uint64_t *refused);

/* The last error message of the calling thread ("" if none). */
const char *uffd_last_error(void);

/*
 * The version of the library the program runs with, e.g. "0.2.0" (compare
 * with UFFD_CLIENT_VERSION, the one it was compiled against).
 */
const char *uffd_client_version(void);

#ifdef __cplusplus
}
#endif
#endif
