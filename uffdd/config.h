/* SPDX-License-Identifier: MIT */
/* The daemon's configuration: built-in defaults, then /etc/uffdd/uffdd.json. */
#ifndef UFFDD_CONFIG_H
#define UFFDD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UFFDD_DEFAULT_CONFIG "/etc/uffdd/uffdd.json"
#define UFFDD_DEFAULT_SOCKET "/run/uffdd/uffdd.sock"
#define UFFDD_DEFAULT_CONTROL "/run/uffdd/control.sock"
#define CONFIG_MAX_IDS 64

struct id_list {
	unsigned n;
	uint32_t v[CONFIG_MAX_IDS];
};

struct config {
	char socket_path[108];
	char control_path[108];
	unsigned socket_mode;  /* data socket when we create it */
	unsigned control_mode; /* control socket when we create it */
	int workers;           /* 0: one per online CPU */
	int log_level;
	char default_policy[128];
	struct id_list grant_uids; /* may get a /dev/userfaultfd grant */
	struct id_list grant_gids;
	struct id_list admin_gids; /* may change state through uffdctl */
	unsigned max_clients;
	unsigned max_regions_per_client;
	uint64_t max_bytes_per_client;
};

void config_defaults(struct config *c);

/*
 * Parse a JSON config over the values already in c.  On error returns
 * -errno and leaves c untouched, with "file:line:col: what" in err.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* Same, from a string (for tests and the fuzzer). */
int config_parse(struct config *c, const char *text, size_t len,
		 const char *origin, char *err, size_t errlen);

int id_list_has(const struct id_list *l, uint32_t id);

#endif
