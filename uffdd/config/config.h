/* SPDX-License-Identifier: MIT */
/*
 * The daemon's configuration: built-in defaults, then /etc/uffdd/uffdd.json
 * (README.md shows every key).  One struct per concern; the parsers of the
 * JSON keys are this folder's other files.
 */
#ifndef UFFDD_CONFIG_H
#define UFFDD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define UFFDD_DEFAULT_CONFIG	 "/etc/uffdd/uffdd.json"
#define UFFDD_DEFAULT_SOCKET	 "/run/uffdd/uffdd.sock"
#define UFFDD_DEFAULT_CONTROL	 "/run/uffdd/control.sock"
#define CONFIG_MAX_IDS		 64
#define CONFIG_MAX_RULES	 32
#define UFFDD_DEFAULT_POLICY_DIR "/var/lib/uffdd"

struct id_list {
	unsigned n;
	uint32_t v[CONFIG_MAX_IDS];
};

int id_list_has(const struct id_list *l, uint32_t id);

/* socket, control_socket, their modes and owners (config_sockets.c). */
struct config_sockets {
	char data_path[108];
	char control_path[108];
	unsigned data_mode;	    /* data socket when we create it */
	unsigned control_mode;	    /* control socket when we create it */
	int64_t data_uid, data_gid; /* chown the data socket; -1: keep */
	int64_t control_uid, control_gid;
};

enum {
	PLACEMENT_SCHEDULER = 0, /* workers float; sessions by load */
	PLACEMENT_PINNED = 1,	 /* worker i on CPU i; sessions by client CPU */
};

/* workers, placement, spin_us (config.c). */
struct config_workers {
	int n;		  /* 0: one per online CPU */
	int placement;	  /* PLACEMENT_* */
	unsigned spin_us; /* a worker polls this long before sleeping */
};

/* grant, admin_gids and access (config_access.c; SECURITY.md). */
struct config_access {
	struct id_list grant_uids; /* may get a /dev/userfaultfd grant */
	struct id_list grant_gids;
	struct id_list admin_gids; /* may change state through uffdctl */
	struct id_list allow_uids, allow_gids; /* data socket: empty = anyone */
	struct id_list deny_uids, deny_gids;   /* data socket: checked first */
};

/* limits (config_limits.c; SECURITY.md). */
struct config_limits {
	unsigned clients;
	unsigned clients_per_uid;
	unsigned regions; /* all clients together */
	unsigned regions_per_client;
	uint64_t bytes; /* registered bytes, all clients together */
	uint64_t bytes_per_client;
	unsigned msg_rate;	 /* protocol messages per client per second */
	unsigned pending_faults; /* faults a policy may hold per uffd */
	unsigned pending_faults_total; /* ... in the whole daemon */
	unsigned hello_timeout_ms;     /* a connection must say HELLO by then */
	unsigned control_conns;	       /* open control connections */
	/* Of each limit above that all clients share, one uid (but root and
	 * admin_gids) may hold this much, and this much is kept for root and
	 * admin_gids (share.c). */
	unsigned uid_share_percent;
	unsigned admin_reserve_percent;
};

/*
 * A policy rule: a client and region name it matches, the policy it gets
 * when it asks for none, and which policies it may ask for itself.  The
 * first matching rule applies (rules.c).
 */
struct policy_rule {
	int64_t uid, gid; /* -1: any */
	char exe[256];	  /* glob on the executable's full path; "" any */
	char unit[256];	  /* glob on its unit's full cgroup path; "" any */
	char region[64];  /* glob on the region name; "" any */
	char policy[128]; /* "" : the default policy */
	int has_may;
	uint32_t may; /* policies the client may ask for (bits) */
};

/* default_policy, client_policies, policy_dir, policy_rules
 * (config_policy.c). */
struct config_policies {
	char default_policy[128];
	uint32_t client_policies; /* a client may ask for these (bits) */
	char dir[256];		  /* files the configuration names are here */
	unsigned nrules;
	struct policy_rule rules[CONFIG_MAX_RULES];
};

/* images (config_images.c; docs/images.md). */
struct config_images {
	char store[1024]; /* URL of the image store; "" = images off */
	uint32_t fetch_size;
	uint32_t fault_timeout_ms;
	uint32_t keep_s;
	uint64_t budget; /* bytes; 0 = no budget */
	uint32_t prefetch_inflight;
	uint32_t map_window; /* bytes mapped at a cached fault; 0 = a block */
};

struct config {
	struct config_sockets sock;
	struct config_workers work;
	int log_level;
	struct config_access access;
	struct config_limits limits;
	struct config_policies policy;
	struct config_images images;
};

void config_defaults(struct config *c);

/* A log level by name (syslog's, and "error", "warn"); -1 if unknown. */
int config_log_level(const char *name);

/*
 * Parse a JSON config over the values already in c.  On error returns
 * -errno and leaves c untouched, with "file:line:col: what" or
 * "file: key \"k\": what" in err.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* Same, from a string (for tests and the fuzzer). */
int config_parse(struct config *c, const char *text, size_t len,
		 const char *origin, char *err, size_t errlen);

struct json_object;

/*
 * Every key of c, as a JSON object a configuration file may hold
 * (uffdd --dump-config).  Ids are numbers (names are resolved when the file
 * is read); owners the daemon keeps are left out.  The caller owns it.
 */
struct json_object *config_json(const struct config *c);
/* The same, written as a file would be (dump.c). */
void config_dump(const struct config *c, FILE *f);

/*
 * The keys read only at start-up (sockets, workers, placement) whose
 * values differ between the running configuration and the next one, as
 * "socket, workers" in buf ("" if none).  Returns buf.
 */
const char *config_restart_keys(const struct config *run,
				const struct config *next, char *buf,
				size_t len);

#endif
