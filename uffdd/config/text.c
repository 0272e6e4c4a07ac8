/* SPDX-License-Identifier: MIT */
/*
 * The configuration's text before and beside the JSON parser.
 *
 * Comments: json-c's strict mode refuses them, and its lax mode also takes
 * trailing commas and more.  So comments (// to the end of the line, and C
 * block comments) become spaces before a strict parse: an example file can
 * explain itself, and the parser's line:column still point into the file as
 * written.
 *
 * Duplicate keys: json-c keeps the last of two equal keys in an object and
 * says nothing, so a second "workers" further down a file would silently
 * win over the first.  A scan of the text keeps, per open object, the keys
 * seen so far and where each was.
 */
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

size_t config_blank_comments(char *t, size_t len)
{
	char quote = 0;
	size_t i = 0;

	while (i < len) {
		if (quote) {
			if (t[i] == '\\')
				i++;
			else if (t[i] == quote)
				quote = 0;
			i++;
		} else if (t[i] == '"' || t[i] == '\'') {
			quote = t[i++];
		} else if (t[i] == '/' && i + 1 < len && t[i + 1] == '/') {
			while (i < len && t[i] != '\n')
				t[i++] = ' ';
		} else if (t[i] == '/' && i + 1 < len && t[i + 1] == '*') {
			size_t start = i;

			t[i++] = ' ';
			t[i++] = ' ';
			while (i < len && !(t[i] == '*' && i + 1 < len &&
					    t[i + 1] == '/')) {
				if (t[i] != '\n')
					t[i] = ' ';
				i++;
			}
			if (i >= len)
				return start;
			t[i++] = ' ';
			t[i++] = ' ';
		} else {
			i++;
		}
	}
	return len;
}

struct key {
	char *name;
	size_t off;
};

struct frame {
	int is_obj;
	struct key *keys;
	size_t n, cap;
	size_t index;	  /* an array's element being read */
	const char *last; /* an object's key whose value is being read */
};

static void line_col(const char *t, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (t[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Where the value being read is: "limits.clients", "policy_rules[1]". */
static void path_of(const struct frame *f, int depth, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int d = 0; d < depth && n < len; d++) {
		if (f[d].is_obj && f[d].last)
			n += (size_t)snprintf(out + n, len - n, "%s%s",
					      n ? "." : "", f[d].last);
		else if (!f[d].is_obj)
			n += (size_t)snprintf(out + n, len - n, "[%zu]",
					      f[d].index);
	}
}

/* The string opening at t[*i] (its quotes dropped, escapes kept). */
static char *string_at(const char *t, size_t len, size_t *i)
{
	char quote = t[(*i)++];
	size_t start = *i;

	while (*i < len && t[*i] != quote) {
		if (t[*i] == '\\')
			(*i)++;
		(*i)++;
	}
	(*i)++;
	return strndup(t + start, *i - 1 - start);
}

static void frame_drop(struct frame *f)
{
	for (size_t k = 0; k < f->n; k++)
		free(f->keys[k].name);
	free(f->keys);
	memset(f, 0, sizeof(*f));
}

/* name, the key at off of the innermost object: 1 (error set) if seen. */
static int key_seen(struct frame *f, int depth, char *name, size_t off,
		    const char *t, const struct cfg_ctx *x)
{
	struct frame *o = &f[depth - 1];
	size_t l1, c1, l2, c2;
	char where[256];

	for (size_t k = 0; k < o->n; k++) {
		if (strcmp(o->keys[k].name, name) != 0)
			continue;
		line_col(t, o->keys[k].off, &l1, &c1);
		line_col(t, off, &l2, &c2);
		o->last = name;
		path_of(f, depth, where, sizeof(where));
		snprintf(x->err, x->errlen,
			 "%s:%zu:%zu: key \"%s\" given twice (first at line "
			 "%zu:%zu)",
			 x->origin, l2, c2, where, l1, c1);
		return 1;
	}
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		struct key *k = realloc(o->keys, cap * sizeof(*k));

		if (!k)
			return -1;
		o->keys = k;
		o->cap = cap;
	}
	o->keys[o->n].name = name;
	o->keys[o->n].off = off;
	o->n++;
	o->last = name;
	return 0;
}

int config_duplicate_key(const char *t, size_t len, const struct cfg_ctx *x)
{
	struct frame f[MAX_DEPTH];
	int depth = 0, rc = 0;
	size_t i = 0;

	memset(f, 0, sizeof(f));
	while (i < len && rc == 0) {
		if (t[i] == '"' || t[i] == '\'') {
			size_t at = i, j;
			char *s = string_at(t, len, &i);

			for (j = i; j < len && strchr(" \t\r\n", t[j]); j++)
				;
			if (s && depth > 0 && f[depth - 1].is_obj && j < len &&
			    t[j] == ':') {
				rc = key_seen(f, depth, s, at, t, x);
				if (rc == 0)
					continue; /* the frame owns s */
			}
			free(s);
			continue;
		}
		if ((t[i] == '{' || t[i] == '[') && depth < MAX_DEPTH)
			f[depth++].is_obj = t[i] == '{';
		else if ((t[i] == '}' || t[i] == ']') && depth > 0)
			frame_drop(&f[--depth]);
		else if (t[i] == ',' && depth > 0 && !f[depth - 1].is_obj)
			f[depth - 1].index++;
		i++;
	}
	while (depth > 0)
		frame_drop(&f[--depth]);
	return rc > 0;
}
