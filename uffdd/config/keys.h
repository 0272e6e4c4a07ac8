/* SPDX-License-Identifier: MIT */
/*
 * Inside the config module: reading typed values from the JSON, errors
 * that name the key, and the parser of each part of the file.
 */
#ifndef UFFDD_CONFIG_KEYS_H
#define UFFDD_CONFIG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct json_object;

/* Where keys are read from, and where an error goes. */
struct cfg_ctx {
	const char *origin;
	char *err;
	size_t errlen;
};

/* "origin: key \"key\": what" into the error; returns -EINVAL. */
int cfg_fail(const struct cfg_ctx *x, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An integer in [min, max]. */
int cfg_uint(const struct cfg_ctx *x, const char *key, struct json_object *v,
	     uint64_t min, uint64_t max, uint64_t *out);
/* A string that fits size (empty only if empty_ok). */
int cfg_str(const struct cfg_ctx *x, const char *key, struct json_object *v,
	    char *dst, size_t size, int empty_ok);
/* An octal mode in a string, "0660". */
int cfg_mode(const struct cfg_ctx *x, const char *key, struct json_object *v,
	     unsigned *out);
/* An array of users (group: groups), each a name or a numeric id. */
int cfg_ids(const struct cfg_ctx *x, const char *key, struct json_object *v,
	    int group, struct id_list *out);
/* A user (group: a group) by name or numeric id. */
int cfg_owner(const struct cfg_ctx *x, const char *key, struct json_object *v,
	      int group, int64_t *out);
/* An array of at most max items (what they are, for the error): its
 * length, or -EINVAL. */
int cfg_array(const struct cfg_ctx *x, const char *key, struct json_object *v,
	      size_t max, const char *what);
/* v must be an object. */
int cfg_object(const struct cfg_ctx *x, const char *key, struct json_object *v);

/*
 * suggest.c: the error for key (its full name) whose last part, name, is
 * none of known (NULL-terminated): "did you mean ..." when one is near,
 * else the list.  Returns -EINVAL.
 */
int cfg_unknown(const struct cfg_ctx *x, const char *key, const char *name,
		const char *const *known);
/* The known name nearest to name, or NULL if none is close. */
const char *config_nearest(const char *name, const char *const *known);

/*
 * text.c: comments become spaces, in place (newlines kept, so positions
 * stay).  Returns the offset of an unterminated block comment, or len.
 */
size_t config_blank_comments(char *text, size_t len);
/*
 * text.c: a key given twice in one object (json-c keeps the last one and
 * says nothing): 1 with "origin:line:col: ..." in the error, 0 if none.
 * text is JSON json-c accepted, comments blanked.
 */
int config_duplicate_key(const char *text, size_t len, const struct cfg_ctx *x);

/*
 * The parts of the file.  Each *_key takes one top-level key: 1 if it was
 * its key (parsed, or -EINVAL with the error set), 0 if not.
 */
/*
 * Each part also lists its top-level keys (for suggestions) and writes its
 * keys, every one, into a JSON object (--dump-config).
 */
extern const char *const config_sockets_keys[],
    *const config_access_keys[], *const config_limits_keys[],
				     *const config_policy_keys[];
void config_sockets_json(const struct config_sockets *c, struct json_object *o);
void config_access_json(const struct config_access *c, struct json_object *o);
void config_limits_json(const struct config_limits *c, struct json_object *o);
void config_policy_json(const struct config_policies *c, struct json_object *o);

void config_sockets_defaults(struct config_sockets *c);
int config_sockets_key(struct config_sockets *c, const struct cfg_ctx *x,
		       const char *key, struct json_object *v);
void config_access_defaults(struct config_access *c);
int config_access_key(struct config_access *c, const struct cfg_ctx *x,
		      const char *key, struct json_object *v);
void config_limits_defaults(struct config_limits *c);
int config_limits_key(struct config_limits *c, const struct cfg_ctx *x,
		      const char *key, struct json_object *v);
void config_policy_defaults(struct config_policies *c);
int config_policy_key(struct config_policies *c, const struct cfg_ctx *x,
		      const char *key, struct json_object *v);
/* After every key: the files of configured policies are under policy_dir
 * (whichever order the keys came in).  0 or -EINVAL. */
int config_policy_check(const struct config_policies *c,
			const struct cfg_ctx *x);

extern const char *const config_images_keys[];
void config_images_json(const struct config_images *c, struct json_object *o);
void config_images_defaults(struct config_images *c);
int config_images_key(struct config_images *c, const struct cfg_ctx *x,
		      const char *key, struct json_object *v);

#endif
