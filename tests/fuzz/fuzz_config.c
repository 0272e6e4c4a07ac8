/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the configuration parser: config_parse() reads
 * /etc/uffdd/uffdd.json at start and on every SIGHUP.  It must refuse
 * bad input with a message and never leave a half-applied configuration.
 */
#include "config/config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c, before;
	char err[512];

	config_defaults(&c);
	before = c;
	err[0] = '\0';
	if (config_parse(&c, (const char *)data, size, "fuzz", err,
			 sizeof(err)) < 0) {
		/* Refused: untouched, and said why. */
		if (memcmp(&c, &before, sizeof(c)) != 0 || !err[0] ||
		    !memchr(err, '\0', sizeof(err)))
			__builtin_trap();
		return 0;
	}
	/* Accepted: the limits hold what the parser promised. */
	if (c.limits.clients < 1 || c.limits.regions_per_client < 1 ||
	    c.limits.msg_rate < 1 || c.limits.hello_timeout_ms < 10 ||
	    c.limits.pending_faults < 1 || c.limits.control_conns < 1 ||
	    c.sock.data_mode > 0777 || c.sock.control_mode > 0777 ||
	    c.access.grant_uids.n > CONFIG_MAX_IDS ||
	    c.access.admin_gids.n > CONFIG_MAX_IDS ||
	    !memchr(c.policy.default_policy, '\0',
		    sizeof(c.policy.default_policy)))
		__builtin_trap();
	return 0;
}
