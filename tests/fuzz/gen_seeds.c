/* SPDX-License-Identifier: MIT */
/*
 * Writes the protocol fuzzer's seed corpus (one file per message kind,
 * valid and subtly invalid) into the directory given.  Run by
 * `make fuzz-seeds`; the output is kept in tests/fuzz/corpus/proto.
 */
#include "uffdd_proto.h"

#include <stdio.h>
#include <string.h>

#define V UFFDD_PROTO_MAX

static const char *dir;

static void put(const char *name, int nfds, uint16_t type, uint16_t version,
		const void *body, size_t len, long hdr_len)
{
	unsigned char buf[1 + sizeof(struct uffdd_hdr) + UFFDD_MAX_MSG];
	struct uffdd_hdr h = { UFFDD_MAGIC, version, type,
			       hdr_len < 0 ? (uint32_t)len : (uint32_t)hdr_len,
			       1 };
	char path[512];
	FILE *f;

	buf[0] = (unsigned char)nfds;
	memcpy(buf + 1, &h, sizeof(h));
	memcpy(buf + 1 + sizeof(h), body, len);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		return;
	}
	fwrite(buf, 1, 1 + sizeof(h) + len, f);
	fclose(f);
}

int main(int argc, char **argv)
{
	struct uffdd_hello hello = { .min_version = UFFDD_PROTO_MIN,
				     .max_version = UFFDD_PROTO_MAX,
				     .flags = UFFDD_HELLO_WANT_GRANT };
	struct uffdd_welcome w = { .version = UFFDD_PROTO_MAX,
				   .flags = UFFDD_WELCOME_GRANT };
	struct uffdd_register reg = { .start = 0x7f0000000000ull,
				      .length = 2 << 20,
				      .page_size = 4096,
				      .kind = UFFDD_KIND_SHMEM };
	struct uffdd_registered rd = { .region_id = 0x1122334455667788ull };
	struct uffdd_registered rc = { .region_id = 7,
				       .flags = UFFDD_REG_CONTENT };
	struct uffdd_register regf;
	struct uffdd_unregister un = { .region_id = 42 };
	struct uffdd_publish pub = { .region_id = 42, .length = 4096 };
	struct uffdd_error e = { .code = 22, .ref_type = UFFDD_REGISTER };
	struct uffdd_image_open io = { .version = 3,
				       .flags = UFFDD_IMAGE_HUGETLB };
	struct uffdd_image im = { .image_id = 7,
				  .version = 3,
				  .size = 3000000,
				  .map_len = 4194304,
				  .page_size = 2097152,
				  .fetch_size = 2097152,
				  .timeout_ms = 10000 };
	struct uffdd_forked fk;

	if (argc != 2)
		return 2;
	dir = argv[1];
	snprintf(hello.name, sizeof(hello.name), "seed");
	snprintf(reg.name, sizeof(reg.name), "region");
	snprintf(reg.policy, sizeof(reg.policy), "gate:timeout=300,action=map");
	snprintf(e.message, sizeof(e.message), "bad");
	put("hello", 0, UFFDD_HELLO, V, &hello, sizeof(hello), -1);
	put("welcome", 1, UFFDD_WELCOME, V, &w, sizeof(w), -1);
	put("register", 2, UFFDD_REGISTER, V, &reg, sizeof(reg), -1);
	put("registered", 0, UFFDD_REGISTERED, V, &rd, sizeof(rd), -1);
	put("unregister", 0, UFFDD_UNREGISTER, V, &un, sizeof(un), -1);
	put("ok", 0, UFFDD_OK, V, "", 0, -1);
	put("error", 0, UFFDD_ERROR, V, &e, sizeof(e), -1);
	put("publish", 0, UFFDD_PUBLISH, V, &pub, sizeof(pub), -1);
	regf = reg;
	regf.nfiles = 2;
	snprintf(regf.policy, sizeof(regf.policy),
		 "populate:#0@4096+record:#1");
	put("register-files", 4, UFFDD_REGISTER, V, &regf, sizeof(regf), -1);
	put("registered-content", 1, UFFDD_REGISTERED, V, &rc, sizeof(rc), -1);
	put("version-1", 0, UFFDD_HELLO, 1, &hello, sizeof(hello), -1);
	/* FORKED: a child's HELLO and REGISTER, its socket, uffd, memfd. */
	fk.hello = hello;
	fk.reg = reg;
	put("forked", 3, UFFDD_FORKED, V, &fk, sizeof(fk), -1);
	put("forked-2fds", 2, UFFDD_FORKED, V, &fk, sizeof(fk), -1);
	fk.reg.nfiles = 1;
	put("forked-files", 4, UFFDD_FORKED, V, &fk, sizeof(fk), -1);
	fk.reg.nfiles = 0;
	memset(fk.reg.policy, 'p', sizeof(fk.reg.policy));
	put("forked-unterminated", 3, UFFDD_FORKED, V, &fk, sizeof(fk), -1);
	put("bad-version", 0, UFFDD_HELLO, 7, &hello, sizeof(hello), -1);
	put("lying-length", 0, UFFDD_HELLO, V, &hello, sizeof(hello), 9999);
	put("register-nofds", 0, UFFDD_REGISTER, V, &reg, sizeof(reg), -1);
	snprintf(io.name, sizeof(io.name), "vm-snapshot.x86_64");
	put("image-open", 0, UFFDD_IMAGE_OPEN, V, &io, sizeof(io), -1);
	put("image-open-v1", 0, UFFDD_IMAGE_OPEN, 1, &io, sizeof(io), -1);
	put("image", 1, UFFDD_IMAGE, V, &im, sizeof(im), -1);
	put("image-twofds", 2, UFFDD_IMAGE, V, &im, sizeof(im), -1);
	io.flags = 0x80;
	put("image-open-badflags", 0, UFFDD_IMAGE_OPEN, V, &io, sizeof(io), -1);
	io.flags = 0;
	snprintf(io.name, sizeof(io.name), "../etc/passwd");
	put("image-open-traversal", 0, UFFDD_IMAGE_OPEN, V, &io, sizeof(io),
	    -1);
	snprintf(io.name, sizeof(io.name), "vm");
	io.name[10] = 'x';
	put("image-open-unpadded", 0, UFFDD_IMAGE_OPEN, V, &io, sizeof(io), -1);
	memset(io.name, 'x', sizeof(io.name));
	put("image-open-unterminated", 0, UFFDD_IMAGE_OPEN, V, &io, sizeof(io),
	    -1);
	memset(hello.name, 'x', sizeof(hello.name));
	put("hello-unterminated", 0, UFFDD_HELLO, V, &hello, sizeof(hello), -1);
	return 0;
}
