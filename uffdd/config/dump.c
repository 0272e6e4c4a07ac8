/* SPDX-License-Identifier: MIT */
/*
 * The configuration in effect as a file (uffdd --dump-config): objects one
 * key a line, arrays of plain values on one line, as README.md and the
 * example write them, so that the output reads like a file and is one.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>

#define PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static int scalars_only(json_object *a)
{
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_type t =
		    json_object_get_type(json_object_array_get_idx(a, i));

		if (t == json_type_object || t == json_type_array)
			return 0;
	}
	return 1;
}

static void value(FILE *f, json_object *v, int depth);

static void object(FILE *f, json_object *o, int depth)
{
	int first = 1;

	if (!json_object_object_length(o)) {
		fputs("{}", f);
		return;
	}
	fputs("{\n", f);
	json_object_object_foreach (o, key, v) {
		fprintf(f, "%s%*s\"%s\": ", first ? "" : ",\n", 2 * (depth + 1),
			"", key);
		value(f, v, depth + 1);
		first = 0;
	}
	fprintf(f, "\n%*s}", 2 * depth, "");
}

static void array(FILE *f, json_object *a, int depth)
{
	size_t n = json_object_array_length(a);
	int inline_ = scalars_only(a);

	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (inline_) {
			fputs(i ? ", " : "", f);
		} else {
			fprintf(f, "%s\n%*s", i ? "," : "", 2 * (depth + 1),
				"");
		}
		value(f, json_object_array_get_idx(a, i), depth + 1);
	}
	if (!inline_ && n)
		fprintf(f, "\n%*s", 2 * depth, "");
	fputc(']', f);
}

static void value(FILE *f, json_object *v, int depth)
{
	if (json_object_is_type(v, json_type_object))
		object(f, v, depth);
	else if (json_object_is_type(v, json_type_array))
		array(f, v, depth);
	else
		fputs(json_object_to_json_string_ext(v, PLAIN), f);
}

void config_dump(const struct config *c, FILE *f)
{
	json_object *o = config_json(c);

	value(f, o, 0);
	fputc('\n', f);
	json_object_put(o);
}
