/* SPDX-License-Identifier: MIT */
/* uffdd's command line. */
#ifndef UFFDD_ARGS_H
#define UFFDD_ARGS_H

struct daemon;

/* What the command line asks for beyond the configuration's overrides. */
struct args {
	int check_only;	 /* --check-config */
	int dump_config; /* --dump-config */
};

/*
 * Parse argv into a and d->conf (config path and mode, the command line's
 * settings that win over the file).
 * Returns 0, or the exit status: 2 on a usage error (said on stderr),
 * -1 after --help or --version (printed).
 */
int args_parse(int argc, char **argv, struct daemon *d, struct args *a);

#endif
