/* SPDX-License-Identifier: MIT */
/* An unknown key, and the known one it was probably meant to be. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

#define MAX_NAME 64

/* Edits from a to b: insert, delete, change, swap two neighbours. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[MAX_NAME + 1][MAX_NAME + 1];

	if (la > MAX_NAME || lb > MAX_NAME)
		return (size_t)-1;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/*
 * At most two edits, and fewer than half the name: "wrokers" is workers,
 * "a" is nothing.  A name that is a known one with - for _ is that one too.
 */
const char *config_nearest(const char *name, const char *const *known)
{
	const char *best = NULL;
	size_t best_d = 3, len = strlen(name);
	char under[MAX_NAME + 1];

	snprintf(under, sizeof(under), "%s", name);
	for (char *p = under; *p; p++)
		if (*p == '-')
			*p = '_';
	for (; *known; known++) {
		size_t d = strcmp(under, *known) ? distance(name, *known) : 1;

		if (d < best_d && d * 2 < len) {
			best = *known;
			best_d = d;
		}
	}
	return best;
}

int cfg_unknown(const struct cfg_ctx *x, const char *key, const char *name,
		const char *const *known)
{
	const char *near = config_nearest(name, known);
	char list[512];
	size_t n = 0;

	if (near)
		return cfg_fail(x, key, "unknown key; did you mean \"%s\"?",
				near);
	list[0] = '\0';
	for (; *known && n < sizeof(list); known++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
				      n ? ", " : "", *known);
	return cfg_fail(x, key, "unknown key (known: %s)", list);
}
