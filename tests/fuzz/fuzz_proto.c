/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the protocol decoder: uffdd_decode() is what every
 * datagram from a client goes through (uffdd_recv calls it).  The first
 * byte says how many descriptors the datagram "carried" (0..UFFDD_MAX_FDS),
 * the rest is the datagram.  A message that decodes must also survive the
 * checks the daemon makes next.
 */
#include "uffdd_proto.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uffdd_msg m;
	char err[160];
	int nfds;

	if (size < 1)
		return 0;
	nfds = data[0] % (UFFDD_MAX_FDS + 1);
	memset(&m, 0xa5, sizeof(m));
	if (uffdd_decode(data + 1, size - 1, nfds, &m, err, sizeof(err)) == 0) {
		/* What the daemon reads of a valid message. */
		(void)uffdd_type_name(m.hdr.type);
		if (m.hdr.type == UFFDD_HELLO)
			(void)strlen(m.u.hello.name);
		if (m.hdr.type == UFFDD_REGISTER)
			(void)(strlen(m.u.reg.name) + strlen(m.u.reg.policy));
		if (m.hdr.type == UFFDD_FORKED)
			(void)(strlen(m.u.forked.hello.name) +
			       strlen(m.u.forked.reg.name) +
			       strlen(m.u.forked.reg.policy));
		if (m.hdr.type == UFFDD_ERROR)
			(void)strlen(m.u.error.message);
		/* Re-validating a decoded message must agree. */
		if (uffdd_validate(&m, err, sizeof(err)) != 0)
			__builtin_trap();
	} else if (!memchr(err, '\0', sizeof(err))) {
		__builtin_trap(); /* the message must be a C string */
	}
	return 0;
}
