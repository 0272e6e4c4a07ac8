/* SPDX-License-Identifier: MIT */
/*
 * The uffdd wire protocol: fixed-size framed messages over AF_UNIX
 * SOCK_SEQPACKET, one message per datagram, descriptors in SCM_RIGHTS.
 * proto/PROTOCOL.md specifies every byte; this header is its C form.
 * All integers are in host byte order (the peers share one kernel).
 */
#ifndef UFFDD_PROTO_H
#define UFFDD_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UFFDD_MAGIC	0x44464655u /* "UFFD" in memory on little-endian */
#define UFFDD_PROTO_MIN 1
#define UFFDD_PROTO_MAX 2 /* the development version: 1 + IMAGE_OPEN, IMAGE */
#define UFFDD_MAX_FDS	2
#define UFFDD_MAX_MSG	512 /* header + the largest body, with room to spare */

enum uffdd_type {
	UFFDD_HELLO = 1,
	UFFDD_WELCOME = 2,
	UFFDD_REGISTER = 3,
	UFFDD_REGISTERED = 4,
	UFFDD_UNREGISTER = 5,
	UFFDD_OK = 6,
	UFFDD_ERROR = 7,
	UFFDD_PUBLISH = 8,
	UFFDD_IMAGE_OPEN = 9, /* version 2 */
	UFFDD_IMAGE = 10,     /* version 2 */
	UFFDD_TYPE_MAX = 10,
};

struct uffdd_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t length; /* body bytes after this header */
	uint32_t seq;	 /* chosen by the requester, echoed in the reply */
};

#define UFFDD_NAME_LEN 32

/* HELLO flags */
#define UFFDD_HELLO_WANT_GRANT 0x1u /* ask for an open /dev/userfaultfd */
#define UFFDD_HELLO_CPU	       0x2u /* cpu holds the client's current CPU */

struct uffdd_hello {
	uint16_t min_version;
	uint16_t max_version;
	uint32_t flags;
	char name[UFFDD_NAME_LEN]; /* client's own name, NUL-padded */
	uint32_t cpu;		   /* placement hint, with UFFDD_HELLO_CPU */
	uint32_t reserved;	   /* 0 */
};

/* WELCOME flags */
#define UFFDD_WELCOME_GRANT 0x1u /* one fd attached: /dev/userfaultfd */

struct uffdd_welcome {
	uint16_t version; /* the version both sides now speak */
	uint16_t reserved;
	uint32_t flags;
	uint64_t kernel_features; /* UFFD_FEATURE_* the daemon found */
	uint64_t session_id;
	uint32_t max_regions;
	uint32_t reserved2;
};

enum uffdd_kind {
	UFFDD_KIND_SHMEM = 1,
	UFFDD_KIND_HUGETLB = 2,
};

/* How the client made the uffd it sends (shown in status). */
enum uffdd_uffd_mode {
	UFFDD_UFFD_UNKNOWN = 0,
	UFFDD_UFFD_DEVICE = 1,
	UFFDD_UFFD_SYSCALL = 2,
	UFFDD_UFFD_USER_ONLY = 3,
};

#define UFFDD_REGION_NAME_LEN 64
#define UFFDD_POLICY_LEN      128

/* fds: [0] the uffd the range is registered with (MINOR), [1] the memfd. */
struct uffdd_register {
	uint64_t start;	 /* address of the registered mapping, page aligned */
	uint64_t length; /* bytes, a multiple of page_size */
	uint64_t offset; /* offset of start in the memfd */
	uint32_t page_size;
	uint8_t kind;	   /* enum uffdd_kind */
	uint8_t uffd_mode; /* enum uffdd_uffd_mode */
	uint16_t flags;	   /* 0 */
	char name[UFFDD_REGION_NAME_LEN];
	char policy[UFFDD_POLICY_LEN]; /* "" = the daemon's default */
};

struct uffdd_registered {
	uint64_t region_id;
};

struct uffdd_unregister {
	uint64_t region_id;
};

struct uffdd_publish {
	uint64_t region_id;
	uint64_t offset;
	uint64_t length;
};

/* IMAGE_OPEN and IMAGE flags */
#define UFFDD_IMAGE_HUGETLB  0x1u /* the cache in huge pages, not 4 KiB */
#define UFFDD_IMAGE_RECORD   0x2u /* record the first-touch trace */
#define UFFDD_IMAGE_NAME_LEN 80

/* A named image from the host's cache (docs/images.md). */
struct uffdd_image_open {
	uint64_t version; /* 0: the latest */
	uint32_t flags;	  /* UFFDD_IMAGE_* */
	uint32_t reserved;
	char name[UFFDD_IMAGE_NAME_LEN]; /* 1-64 of [A-Za-z0-9._-] */
};

/* fds: [0] the image's memfd, read-only; [1] its page bitmap, read-only. */
struct uffdd_image {
	uint64_t image_id;
	uint64_t version; /* the version opened */
	uint64_t size;	  /* the image's bytes */
	uint64_t map_len; /* the memfd's size: size rounded up to a page */
	uint32_t page_size;
	uint32_t fetch_size;
	uint32_t flags;	     /* UFFDD_IMAGE_* granted */
	uint32_t timeout_ms; /* a fault waits this long at most, then SIGBUS */
	uint64_t bitmap_len; /* bytes of the bitmap memfd */
	uint64_t reserved;
};

#define UFFDD_ERROR_MSG_LEN 120

struct uffdd_error {
	int32_t code;	   /* positive errno value */
	uint16_t ref_type; /* type of the message refused, 0 if none */
	uint16_t reserved;
	char message[UFFDD_ERROR_MSG_LEN];
};

/* A received, validated message.  fds[] are owned by the receiver. */
struct uffdd_msg {
	struct uffdd_hdr hdr;
	union {
		struct uffdd_hello hello;
		struct uffdd_welcome welcome;
		struct uffdd_register reg;
		struct uffdd_registered registered;
		struct uffdd_unregister unreg;
		struct uffdd_publish publish;
		struct uffdd_image_open image_open;
		struct uffdd_image image;
		struct uffdd_error error;
		unsigned char raw[UFFDD_MAX_MSG];
	} u;
	int fds[UFFDD_MAX_FDS];
	int nfds;
};

const char *uffdd_type_name(unsigned type);

/*
 * Validate a message already copied into m (header, body and nfds set):
 * magic, version, type, exact body length, descriptor count and that every
 * string field is NUL-terminated.  Returns 0 or a negative errno with a
 * message in err.  Checks nothing about what the descriptors are.
 */
int uffdd_validate(const struct uffdd_msg *m, char *err, size_t errlen);

/*
 * Decode a datagram of n bytes with nfds descriptors already received.
 * Used by uffdd_recv and by the fuzzer.
 */
int uffdd_decode(const void *buf, size_t n, int nfds, struct uffdd_msg *m,
		 char *err, size_t errlen);

/*
 * Send one message with optional descriptors.  Returns 0 or -errno.
 * MSG_NOSIGNAL: a dead peer is an error, not a SIGPIPE.
 */
int uffdd_send(int sock, uint16_t type, uint32_t seq, const void *body,
	       size_t len, const int *fds, int nfds);

/*
 * The one place that puts descriptors in SCM_RIGHTS: sendmsg of iov with
 * nfds descriptors (MSG_NOSIGNAL, EINTR retried).  uffdd_send frames a
 * message with it; tests use it to send what no message would (any bytes,
 * up to UFFDD_SENDMSG_MAX_FDS descriptors).  Bytes sent, or -errno.
 */
#define UFFDD_SENDMSG_MAX_FDS 64
struct iovec;
ssize_t uffdd_sendmsg(int sock, const struct iovec *iov, int niov,
		      const int *fds, int nfds);

/* Send an ERROR message with a printf-style text. */
int uffdd_send_error(int sock, uint32_t seq, uint16_t ref_type, int code,
		     const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Receive one message.  Returns 0 on success, -EAGAIN if nothing is queued,
 * -ECONNRESET on end of stream, or another negative errno (with err set)
 * when the datagram is refused: truncated data or control data, a
 * malformed header or body.  Descriptors of a refused message are closed;
 * those of an accepted one belong to the caller (all O_CLOEXEC).
 */
int uffdd_recv(int sock, struct uffdd_msg *m, char *err, size_t errlen);

/* Close the descriptors held by m and forget them. */
void uffdd_msg_close_fds(struct uffdd_msg *m);

/* Copy s into a fixed field, NUL-padded, truncating; returns 0 or
 * -ENAMETOOLONG. */
int uffdd_set_str(char *field, size_t size, const char *s);

#endif
