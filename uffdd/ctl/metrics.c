/* SPDX-License-Identifier: MIT */
/*
 * uffdctl metrics [-o FILE]: the daemon's Prometheus text on standard
 * output, or into FILE for the node exporter's textfile collector, written
 * beside it and renamed over it so that a scrape never reads half a file.
 */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >=
	    (int)sizeof(tmp)) {
		fprintf(stderr, "uffdctl: path too long: %s\n", path);
		return CTL_FAILED;
	}
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fchmod(fileno(f), 0644) < 0 ||
	    fclose(f) != 0) {
		fprintf(stderr, "uffdctl: writing %s: %s\n", tmp,
			strerror(errno));
		if (f)
			unlink(tmp);
		return CTL_FAILED;
	}
	if (rename(tmp, path) < 0) {
		fprintf(stderr, "uffdctl: renaming %s to %s: %s\n", tmp, path,
			strerror(errno));
		unlink(tmp);
		return CTL_FAILED;
	}
	return CTL_OK;
}

int ctl_metrics(const struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	json_object *o, *text;
	int rc = CTL_OK, opt;

	optind = 0; /* 0: GNU getopt starts afresh (a new argv, a new mode) */
	while ((opt = getopt_long(argc, argv, "+o:", opts, NULL)) != -1) {
		if (opt != 'o') {
			fprintf(stderr, "Usage: uffdctl metrics [-o FILE]\n");
			return CTL_USAGE;
		}
		out = optarg;
	}
	if (optind < argc) {
		fprintf(stderr, "uffdctl metrics: unexpected '%s'\n",
			argv[optind]);
		return CTL_USAGE;
	}
	o = ctl_ask(c, "metrics", 0, NULL);
	if (!o)
		return CTL_FAILED;
	if (!json_object_object_get_ex(o, "metrics", &text)) {
		fprintf(stderr, "uffdctl: uffdd sent no metrics (an older "
				"daemon?)\n");
		rc = CTL_FAILED;
	} else if (out) {
		rc = write_file(out, json_object_get_string(text));
	} else {
		fputs(json_object_get_string(text), stdout);
	}
	json_object_put(o);
	return rc;
}
