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
	if (c.max_clients < 1 || c.max_regions_per_client < 1 ||
	    c.max_msg_rate < 1 || c.hello_timeout_ms < 10 ||
	    c.max_pending_faults < 1 || c.max_control_conns < 1 ||
	    c.socket_mode > 0777 || c.control_mode > 0777 ||
	    c.grant_uids.n > CONFIG_MAX_IDS || c.admin_gids.n > CONFIG_MAX_IDS ||
	    !memchr(c.default_policy, '\0', sizeof(c.default_policy)))
		__builtin_trap();
	return 0;
}
