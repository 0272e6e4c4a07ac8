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

#define UFFDD_MAGIC 0x44464655u /* "UFFD" in memory on little-endian */
/*
 * Version 2: a client names the files of its policy by the descriptors it
 * sends (REGISTER), never by path; REGISTERED says whether the daemon
 * makes the region's contents and hands over its page-state file; a
 * forked child registers in one message on its parent's connection
 * (FORKED).
 */
#define UFFDD_PROTO_MIN 2
#define UFFDD_PROTO_MAX 2
#define UFFDD_MAX_FILES 3 /* files a REGISTER may carry */
#define UFFDD_MAX_FDS	(2 + UFFDD_MAX_FILES)
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
	UFFDD_IMAGE_OPEN = 9,
	UFFDD_IMAGE = 10,
	UFFDD_FORKED = 11, /* version 2 (issue 15) */
	UFFDD_TYPE_MAX = 11,
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

/*
 * fds: [0] the uffd the range is registered with (MINOR), [1] the memfd,
 * [2 + i] file i of the policy ("#i" in the spec), opened by the client.
 */
struct uffdd_register {
	uint64_t start;	 /* address of the registered mapping, page aligned */
	uint64_t length; /* bytes, a multiple of page_size */
	uint64_t offset; /* offset of start in the memfd */
	uint32_t page_size;
	uint8_t kind;	   /* enum uffdd_kind */
	uint8_t uffd_mode; /* enum uffdd_uffd_mode */
	uint8_t nfiles;	   /* files after the memfd, <= UFFDD_MAX_FILES */
	uint8_t flags;	   /* UFFDD_REGF_* */
	char name[UFFDD_REGION_NAME_LEN];
	char policy[UFFDD_POLICY_LEN]; /* "" = the daemon's default */
};

/* REGISTER flags */
/* The client can use a learned-set board: REGISTERED may carry one. */
#define UFFDD_REGF_BOARD 0x1u
/* A forked child mapped its lineage's board itself before registering
 * (pages outside it still fault); a probe by its pid, as the board says. */
#define UFFDD_REGF_SELFMAP 0x2u
#define UFFDD_REGF_ALL	   (UFFDD_REGF_BOARD | UFFDD_REGF_SELFMAP)

/* REGISTERED flags */
/*
 * The daemon makes this region's contents (populate, gate): the page-state
 * file is attached, and the client keeps its own uffd, so that it can serve
 * the region itself if the daemon goes (PROTOCOL.md, "Taking over").
 */
#define UFFDD_REG_CONTENT 0x1u
/*
 * The region's policy learns what forked children touch (learn) and any
 * page of the page cache is right for it: the attached descriptor is the
 * board of the lineage of this client's children (below).  Never with
 * CONTENT.
 */
#define UFFDD_REG_BOARD 0x2u

struct uffdd_registered {
	uint64_t region_id;
	uint32_t flags; /* UFFDD_REG_* */
	uint32_t reserved;
};

/*
 * The page-state file of a region whose contents the daemon makes: a sealed
 * memfd the daemon creates, keeps current and hands over in REGISTERED.  A
 * header, then two bitmaps of npages bits (bit i of byte i / 8 is page i,
 * the page at memfd offset REGISTER.offset + i * page_size).
 */
#define UFFDD_PAGES_MAGIC   0x53504655u /* "UFPS" in memory on little-endian */
#define UFFDD_PAGES_VERSION 1
#define UFFDD_NO_FILE	    0xffu

/* What a client that takes over does with a fault (page-state flags). */
#define UFFDD_PAGES_POPULATE  0x1u /* fill unfilled pages from the image */
#define UFFDD_PAGES_GATE      0x2u /* hold unpublished pages */
#define UFFDD_PAGES_GATE_DENY 0x4u /* ...and SIGBUS them at the timeout */
#define UFFDD_PAGES_DENY      0x8u /* SIGBUS every access */
/* An image of the daemon's cache: a page whose filled bit is set is mapped
 * (the cache holds it), any other gets SIGBUS.  The file is the image's,
 * shared by every region of it, and read-only to clients. */
#define UFFDD_PAGES_IMAGE 0x10u

struct uffdd_pages_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;	  /* 64 */
	uint32_t flags;		  /* UFFDD_PAGES_*, of the policy in force */
	uint32_t gate_timeout_ms; /* GATE: 0 waits for ever */
	uint64_t image_offset;	  /* POPULATE: image byte of page 0 */
	uint32_t page_size;
	uint8_t image_file; /* POPULATE: REGISTER's file, or UFFDD_NO_FILE */
	uint8_t reserved[3];
	uint64_t npages;
	uint64_t filled_off;	/* POPULATE: page i's bytes are in place */
	uint64_t published_off; /* GATE: page i was published */
	uint64_t reserved2;
};

/*
 * A learned-set board: a sealed memfd the daemon writes and a client maps
 * read-only.  It holds the pages the client's forked children touched in
 * their first moments (the learn policy's set for that lineage), as runs
 * of memfd page indexes, ascending.  A child maps them itself, before it
 * registers its copy of the region (MADV_POPULATE_READ: served by the
 * kernel from the page cache, no daemon round trip), and says so with
 * UFFDD_REGF_SELFMAP.  seq is odd while the daemon rewrites the runs; a
 * reader copies nothing it has not seen under the same even seq.
 */
#define UFFDD_BOARD_MAGIC   0x424c4655u /* "UFLB" in memory on little-endian */
#define UFFDD_BOARD_VERSION 1

struct uffdd_board_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size; /* 64: the runs start here */
	uint32_t seq;	   /* even: the runs are whole */
	uint32_t page_size;
	uint64_t nruns;
	uint64_t max_runs;     /* room in the file */
	uint32_t probe_every;  /* a child is a probe if uffdd_board_mix(pid) %
				  probe_every == 0 */
	uint32_t probe_slices; /* ...and leaves unmapped the pages p with
				  uffdd_board_held(p, pid, probe_slices) */
	/*
	 * 0 or 1: every child registers its copy (the daemon serves the
	 * pages outside the board, and learns from them).  N > 1
	 * (learn:teach=N): a child that mapped a board with runs registers
	 * only if uffdd_board_mix(pid) % N == 0; the others leave their
	 * copy to the kernel, which maps any page of the cache, as the
	 * policy would.
	 */
	uint32_t teach_every;
	uint32_t reserved0;
	uint64_t reserved[2];
};

struct uffdd_board_run {
	uint64_t first; /* memfd page index */
	uint64_t count;
};

static inline uint64_t uffdd_board_mix(uint64_t v)
{
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
	return v ^ (v >> 31);
}

/* Does the probe with this salt (a child's pid) leave page unmapped? */
static inline int uffdd_board_held(uint64_t page, uint64_t salt,
				   uint32_t slices)
{
	return slices && uffdd_board_mix(page ^ (salt << 32)) % slices == 0;
}

struct uffdd_unregister {
	uint64_t region_id;
};

struct uffdd_publish {
	uint64_t region_id;
	uint64_t offset;
	uint64_t length;
};

/* IMAGE_OPEN and IMAGE flags */
#define UFFDD_IMAGE_HUGETLB	0x1u /* the cache in huge pages, not 4 KiB */
#define UFFDD_IMAGE_RECORD	0x2u /* record the first-touch working set */
#define UFFDD_IMAGE_NAME_LEN	80
#define UFFDD_IMAGE_NAME_MAX	64
#define UFFDD_IMAGE_VERSION_MAX 0x7fffffffffffffffull

/*
 * An image's name: 1-64 of [A-Za-z0-9._-], the first a letter or a digit.
 * It names objects and files in the store (docs/images.md): no '/', no
 * "." or "..", nothing a log or a path could take for something else.
 */
static inline int uffdd_image_name_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char ch = s[n];
		int alnum = (ch >= 'a' && ch <= 'z') ||
			    (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9');

		if (n == UFFDD_IMAGE_NAME_MAX ||
		    !(alnum || (n && (ch == '.' || ch == '_' || ch == '-'))))
			return 0;
	}
	return n > 0;
}

/* A named image from the host's cache (docs/images.md). */
struct uffdd_image_open {
	uint64_t version; /* 0: the latest */
	uint32_t flags;	  /* UFFDD_IMAGE_* */
	uint32_t reserved;
	char
	    name[UFFDD_IMAGE_NAME_LEN]; /* uffdd_image_name_valid, NUL-padded */
};

/*
 * fds: [0] the image's cache memfd, read-only (sealed against writes).  The
 * client maps it and registers the mapping with REGISTER (MISSING | MINOR);
 * REGISTERED then carries the image's page-state file (UFFDD_PAGES_IMAGE).
 */
struct uffdd_image {
	uint64_t image_id;
	uint64_t version; /* the version opened */
	uint64_t size;	  /* the image's bytes */
	uint64_t map_len; /* the memfd's size: size rounded up to a page */
	uint32_t page_size;
	uint32_t fetch_size;
	uint32_t flags;	     /* UFFDD_IMAGE_* granted */
	uint32_t timeout_ms; /* a fault waits this long at most, then SIGBUS */
	uint64_t reserved[2];
};

/*
 * A forked child's first words (version 2), sent on the connection it
 * inherited from its parent: its HELLO and its first REGISTER in one, and
 * the daemon end of a socketpair the child made, which is the child's own
 * connection from then on (every answer comes on it, none on the parent's).
 * fds: [0] that socket, [1] the uffd, [2] the memfd (as REGISTER's).
 */
struct uffdd_forked {
	struct uffdd_hello hello;
	struct uffdd_register reg;
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
		struct uffdd_forked forked;
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
