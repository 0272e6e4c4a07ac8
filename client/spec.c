/* SPDX-License-Identifier: MIT */
#include "spec.h"
#include "fdcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The policies that name a file, and how they use it. */
static const struct {
	const char *name;
	int write;  /* record: the daemon writes the trace */
	int offset; /* populate: FILE[@OFFSET] */
} file_policies[] = {
	{ "populate", 0, 1 },
	{ "record", 1, 0 },
	{ "prefetch", 0, 0 },
};

void spec_files_close(struct spec_files *files)
{
	for (int i = 0; i < files->n; i++)
		close(files->fd[i]);
	files->n = 0;
}

/* Which entry of file_policies stage "name[:...]" (n bytes) is, or -1. */
static int file_policy(const char *stage, size_t n)
{
	size_t len = strcspn(stage, ":");

	if (len > n)
		len = n;
	for (size_t i = 0; i < sizeof(file_policies) / sizeof(file_policies[0]);
	     i++)
		if (strlen(file_policies[i].name) == len &&
		    !strncmp(stage, file_policies[i].name, len))
			return (int)i;
	return -1;
}

/* path opened as policy k uses it, checked; the fd or -errno (err). */
static int open_file(int k, const char *path, char *err, size_t errlen)
{
	int w = file_policies[k].write, fd, rc;
	char why[200];

	fd = open(path,
		  (w ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY) | O_CLOEXEC |
		      O_NOCTTY | O_NONBLOCK,
		  0666);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open %s: %s",
			 file_policies[k].name, path, strerror(-rc));
		return rc;
	}
	rc = fd_check_file(fd, w ? FD_FILE_WRITE : FD_FILE_READ, NULL, why,
			   sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s is %s", file_policies[k].name,
			 path, why);
		close(fd);
		return rc;
	}
	return fd;
}

/* Append s (n bytes) to wire at *at; -ENAMETOOLONG if it does not fit. */
static int put(char *wire, size_t wirelen, size_t *at, const char *s, size_t n)
{
	if (*at + n >= wirelen)
		return -ENAMETOOLONG;
	memcpy(wire + *at, s, n);
	*at += n;
	wire[*at] = '\0';
	return 0;
}

/* One stage (n bytes at stage) onto wire, its file opened into files. */
static int one_stage(const char *stage, size_t n, char *wire, size_t wirelen,
		     size_t *at, struct spec_files *files, char *err,
		     size_t errlen)
{
	int k = file_policy(stage, n), fd;
	const char *arg = memchr(stage, ':', n), *at_sign;
	char path[4096], ref[8];
	size_t plen;

	if (k < 0 || !arg)
		return put(wire, wirelen, at, stage, n);
	arg++;
	plen = n - (size_t)(arg - stage);
	/* populate's "@OFFSET" stays; an '@' followed by a '/' is the path's.
	 */
	at_sign = file_policies[k].offset ? memrchr(arg, '@', plen) : NULL;
	if (at_sign && memchr(at_sign, '/', n - (size_t)(at_sign - stage)))
		at_sign = NULL;
	if (at_sign)
		plen = (size_t)(at_sign - arg);
	if (!plen || arg[0] == '#' || plen >= sizeof(path)) {
		snprintf(err, errlen,
			 "%s: name the file by its path (it is opened here, "
			 "with your rights, and passed to the daemon)",
			 file_policies[k].name);
		return -EINVAL;
	}
	if (files->n == UFFDD_MAX_FILES) {
		snprintf(err, errlen, "a policy names at most %d files",
			 UFFDD_MAX_FILES);
		return -E2BIG;
	}
	memcpy(path, arg, plen);
	path[plen] = '\0';
	fd = open_file(k, path, err, errlen);
	if (fd < 0)
		return fd;
	files->fd[files->n] = fd;
	snprintf(files->path[files->n], sizeof(files->path[0]), "%.255s", path);
	snprintf(ref, sizeof(ref), "#%d", files->n++);
	if (put(wire, wirelen, at, stage, (size_t)(arg - stage)) < 0 ||
	    put(wire, wirelen, at, ref, strlen(ref)) < 0)
		return -ENAMETOOLONG;
	return at_sign ? put(wire, wirelen, at, at_sign,
			     n - (size_t)(at_sign - stage))
		       : 0;
}

int spec_open(const char *spec, char *wire, size_t wirelen,
	      struct spec_files *files, char *err, size_t errlen)
{
	size_t at = 0;
	int rc = 0;

	files->n = 0;
	wire[0] = '\0';
	for (const char *s = spec; s && *s && rc == 0;) {
		const char *plus = strchr(s, '+');
		size_t n = plus ? (size_t)(plus - s) : strlen(s);

		if (at && (rc = put(wire, wirelen, &at, "+", 1)) < 0)
			break;
		rc = one_stage(s, n, wire, wirelen, &at, files, err, errlen);
		s = plus ? plus + 1 : NULL;
	}
	/* A trailing '+' is the daemon's to refuse, as written. */
	if (rc == 0 && spec && *spec && spec[strlen(spec) - 1] == '+')
		rc = put(wire, wirelen, &at, "+", 1);
	if (rc == -ENAMETOOLONG)
		snprintf(err, errlen,
			 "policy longer than %zu bytes on the wire",
			 wirelen - 1);
	if (rc < 0)
		spec_files_close(files);
	return rc;
}

void spec_explain(const struct spec_files *files, const char *msg, char *out,
		  size_t outlen)
{
	size_t o = 0;

	for (const char *p = msg; *p && o + 1 < outlen; p++) {
		int n = p[0] == '#' && p[1] >= '0' && p[1] < '0' + files->n
			    ? p[1] - '0'
			    : -1;

		if (n < 0) {
			out[o++] = *p;
			continue;
		}
		o +=
		    (size_t)snprintf(out + o, outlen - o, "%s", files->path[n]);
		if (o >= outlen)
			o = outlen - 1;
		p++;
	}
	out[o] = '\0';
}
