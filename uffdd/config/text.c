/* SPDX-License-Identifier: MIT */
/*
 * The configuration's text before and beside the JSON parser.
 *
 * Comments: json-c's strict mode refuses them, and its lax mode also takes
 * trailing commas and more.  So comments (// to the end of the line, and C
 * block comments) become spaces before a strict parse: an example file can
 * explain itself, and the parser's line:column still point into the file as
 * written.
 */
#include "keys.h"

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
