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

struct json_object;

#define CONFIG_MAX_RULES 32
#define CONFIG_MAX_PATHS 8

/*
 * A policy rule (config_policy.c): a client and region name it matches,
 * the policy it gets when it asks for none, and which policies it may ask
 * for itself.  The first matching rule applies.
 */
struct policy_rule {
	int64_t uid, gid;   /* -1: any */
	char exe[64];       /* glob on the executable's name; "" any */
	char unit[128];     /* glob on its systemd unit; "" any */
	char region[64];    /* glob on the region name; "" any */
	char policy[128];   /* "" : the default policy */
	int has_may;
	uint32_t may;       /* policies the client may ask for (bits) */
};

enum {
	PLACEMENT_SCHEDULER = 0, /* workers float; sessions by load */
	PLACEMENT_PINNED = 1,    /* worker i on CPU i; sessions by client CPU */
};

struct config {
	char socket_path[108];
	char control_path[108];
	unsigned socket_mode;  /* data socket when we create it */
	unsigned control_mode; /* control socket when we create it */
	int workers;           /* 0: one per online CPU */
	int placement;         /* PLACEMENT_* */
	unsigned spin_us;      /* a worker polls this long before sleeping */
	int log_level;
	char default_policy[128];
	struct id_list grant_uids; /* may get a /dev/userfaultfd grant */
	struct id_list grant_gids;
	struct id_list admin_gids; /* may change state through uffdctl */
	unsigned max_clients;
	unsigned max_regions_per_client;
	uint64_t max_bytes_per_client;
	/* Security (config_security.c, access.c, limits.c; SECURITY.md) */
	int64_t socket_uid, socket_gid;   /* chown the data socket; -1: keep */
	int64_t control_uid, control_gid; /* chown the control socket */
	struct id_list allow_uids, allow_gids; /* data socket: empty = anyone */
	struct id_list deny_uids, deny_gids;   /* data socket: checked first */
	unsigned max_clients_per_uid;
	unsigned max_regions;        /* all clients together */
	unsigned max_msg_rate;       /* protocol messages per client per second */
	unsigned max_pending_faults; /* faults a policy may hold per uffd */
	unsigned hello_timeout_ms;   /* a connection must say HELLO by then */
	unsigned max_control_conns;  /* open control connections */
	/* Policies (config_policy.c) */
	uint32_t client_policies; /* a client may ask for these (bits) */
	unsigned npaths;          /* ...with files only under these dirs */
	char policy_paths[CONFIG_MAX_PATHS][256];
	unsigned nrules;
	struct policy_rule rules[CONFIG_MAX_RULES];
};

/*
 * config_policy.c: the keys "client_policies", "policy_paths" and
 * "policy_rules".  Returns 1 if key is one of them (parsed into c, or
 * -EINVAL with "origin: key \"...\": why" in err), 0 if not.
 */
int config_policy_key(struct config *c, const char *origin, const char *key,
		      struct json_object *v, char *err, size_t errlen);
void config_policy_defaults(struct config *c);

/*
 * config_security.c: the keys socket_owner, socket_group,
 * control_socket_owner, control_socket_group and access (config_security_key)
 * and the security keys inside "limits" (config_security_limit).  Each
 * returns 1 if it took the key, 0 if the key is not its, -EINVAL with err.
 */
int config_security_key(struct config *c, const char *origin, const char *key,
			struct json_object *v, char *err, size_t errlen);
int config_security_limit(struct config *c, const char *origin,
			  const char *key, struct json_object *v, char *err,
			  size_t errlen);
void config_security_defaults(struct config *c);

void config_defaults(struct config *c);

/* "origin: key \"key\": what" into err; returns -EINVAL. */
int config_key_error(char *err, size_t errlen, const char *origin,
		     const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

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
