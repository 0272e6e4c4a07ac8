/* SPDX-License-Identifier: MIT */
/*
 * uffd-run: run an unmodified program with its large shared anonymous
 * memory served by uffdd, through libuffdpreload.  This front end checks
 * first that service is possible (daemon there, policy accepted, a full
 * userfaultfd available), says plainly when it is not, and then execs the
 * program, with the library or, by default when service is impossible,
 * without it.
 */
#include "client_fork.h"
#include "uffd/client.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The install's private library directory (install.mk's PKGLIBDIR). */
#ifndef UFFD_PRELOAD_LIBDIR
#define UFFD_PRELOAD_LIBDIR "/usr/local/lib/uffdd"
#endif
#define PRELOAD_NAME   "libuffdpreload.so"
#define EX_USAGE       64
#define EX_UNAVAILABLE 69

static const char usage_text[] =
    "NAME\n"
    "    uffd-run - run a program with its shared memory served by uffdd\n"
    "\n"
    "SYNOPSIS\n"
    "    uffd-run [--policy P] [--min-size SIZE] [--huge-only] [--socket "
    "PATH]\n"
    "             [--require] [--user-only-ok] [--verbose] [--no-check]\n"
    "             -- PROGRAM [ARGS...]\n"
    "\n"
    "DESCRIPTION\n"
    "    Runs PROGRAM, unchanged, with libuffdpreload.so preloaded.  Every\n"
    "    mmap(MAP_SHARED|MAP_ANONYMOUS) of at least SIZE bytes, with or\n"
    "    without MAP_HUGETLB, made by PROGRAM or by any process it forks or\n"
    "    execs, is given a memfd of the same kind (hugetlbfs or shmem) whose\n"
    "    pages are all allocated at once, mapped where the program gets it,\n"
    "    registered for userfaultfd minor faults and handed to uffdd, which\n"
    "    then maps each page on first touch according to its policy.  The\n"
    "    contents and semantics of the memory are those of shared anonymous\n"
    "    memory: zero-filled, shared with forked children, gone at exec.\n"
    "\n"
    "    munmap(2), mremap(2) and MAP_FIXED mappings over a served range are\n"
    "    followed (the range is unregistered, what is left registered again).\n"
    "    A forked child, whose copy of a range is not registered (the kernel\n"
    "    follows forks only for CAP_SYS_PTRACE), registers it with a uffd of\n"
    "    its own and hands it over in its own session, named \"COMM ppid=N\"\n"
    "    in `uffdctl status`; regions are named \"COMM[PID] KIND #N\" after\n"
    "    the process and the mmap that made them.  vfork(2) and\n"
    "    posix_spawn(3) children share the parent's memory and need nothing.\n"
    "    No thread and no signal handler is added to the program.\n"
    "\n"
    "    Before running PROGRAM, uffd-run connects to uffdd and registers a\n"
    "    one-page test region with the chosen policy.  When uffdd cannot be\n"
    "    reached, PROGRAM runs without the library.  When uffdd does not "
    "grant\n"
    "    /dev/userfaultfd and this user may not call userfaultfd(2) with\n"
    "    kernel-mode faults, only user-mode-only uffds could be made: faults\n"
    "    the kernel takes for the program (its own read(2) or recv(2) into\n"
    "    served memory) would fail with EFAULT, so uffd-run says so and runs\n"
    "    PROGRAM unserved (see --user-only-ok and --require).  If the daemon\n"
    "    goes away later, the program runs on as if unwrapped: its regions\n"
    "    are served by the kernel again.\n"
    "\n"
    "OPTIONS\n"
    "    -p, --policy P       uffdd policy for every region.  The default\n"
    "                         is learn+around:64K, the learned child working\n"
    "                         set, with the kernel's fault-around window for\n"
    "                         the faults left: each\n"
    "                         forked child maps the pages its siblings\n"
    "                         touched first before it registers, from a\n"
    "                         board the daemon keeps (the daemon's default\n"
    "                         policy if it does not offer learn).\n"
    "                         learn:teach=T lets only one child in T (and\n"
    "                         the probes) register once the set is learned;\n"
    "                         the others' memory is the kernel's.  A policy\n"
    "                         given here that the daemon\n"
    "                         refuses is an error (exit 64), and so is one\n"
    "                         that names a file (populate, record,\n"
    "                         prefetch): one file cannot serve every mapping\n"
    "                         and every forked child.\n"
    "    -m, --min-size SIZE  smallest mapping to serve, in bytes with an\n"
    "                         optional K, M or G suffix (default 2M).\n"
    "    -H, --huge-only      serve MAP_HUGETLB mappings only.\n"
    "    -s, --socket PATH    uffdd's socket (default: $UFFDD_SOCKET, else\n"
    "                         " UFFD_CLIENT_DEFAULT_SOCKET ").\n"
    "    -r, --require        exit 69 instead of running PROGRAM unserved.\n"
    "        --user-only-ok   serve even with user-mode-only uffds, accepting\n"
    "                         EFAULT from the program's own syscalls that\n"
    "                         write into not yet touched served memory.\n"
    "    -v, --verbose        the library logs each hand-off, fork follow and\n"
    "                         failure to standard error.\n"
    "        --no-check       skip the check; the library still refuses to\n"
    "                         serve with user-mode-only uffds.\n"
    "    -h, --help           this text.\n"
    "    -V, --version        the version.\n"
    "\n"
    "ENVIRONMENT\n"
    "    UFFDD_SOCKET         default for --socket.\n"
    "    UFFD_RUN_LIBRARY     path of libuffdpreload.so (default: beside\n"
    "                         uffd-run, then " UFFD_PRELOAD_LIBDIR ",\n"
    "                         then ../lib/uffdd from uffd-run's directory).\n"
    "    uffd-run passes its settings to the library as UFFD_RUN_MIN_SIZE,\n"
    "    UFFD_RUN_POLICY, UFFD_RUN_HUGE_ONLY, UFFD_RUN_USER_ONLY_OK and\n"
    "    UFFD_RUN_VERBOSE; UFFD_RUN_DISABLE=1 turns it off in a subtree.\n"
    "\n"
    "LIMITS\n"
    "    Not served: System V shared memory (shmget), file and /dev/shm\n"
    "    mappings, private mappings, MAP_NORESERVE mappings, memory a program\n"
    "    gets with raw system calls (static binaries, Go), setuid programs\n"
    "    (the loader ignores LD_PRELOAD), children made with clone(2) without\n"
    "    fork(3) (their ranges stay the kernel's).  Every page of a served\n"
    "    mapping is allocated at mmap time, so sparse use costs its full "
    "size.\n"
    "    A forked child's first touch of a page its siblings did not touch\n"
    "    first is a fault served by the daemon; fork itself costs mapping\n"
    "    the learned set, one message (FORKED, on the parent's connection)\n"
    "    and one registration per further region.  A forked child's own\n"
    "    children map its parent's set.  At most 64 served mappings per\n"
    "    process.\n"
    "\n"
    "SECURITY\n"
    "    The /dev/userfaultfd grant lets a process create userfaultfds that\n"
    "    also trap faults the kernel takes on its behalf, which can stall\n"
    "    kernel code paths of that process for as long as a handler likes;\n"
    "    it is what an unprivileged process needs for read(2) into served\n"
    "    memory.  uffdd gives it only to the users and groups its config\n"
    "    lists (\"grant\"); the library uses it only for the program's own\n"
    "    mappings, and the descriptor is close-on-exec.\n"
    "\n"
    "EXIT STATUS\n"
    "    PROGRAM's, once it runs.  64: usage error or policy refused;\n"
    "    69: --require and service impossible; 126/127: PROGRAM cannot be\n"
    "    run.\n"
    "\n"
    "EXAMPLES\n"
    "    uffd-run -- ./server --port 8080\n"
    "    uffd-run --policy learn+around:8 --huge-only -- postgres -D /srv/pg\n";

static int verbose;

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long n;
	unsigned shift = 0;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || (shift && n > (ULLONG_MAX >> shift)))
		return -1;
	*out = (size_t)(n << shift);
	return 0;
}

static int readable(const char *p)
{
	return access(p, R_OK) == 0;
}

/*
 * The preload library: an absolute path, or NULL.  Beside uffd-run first (a
 * build tree), then where the install put it, then the same place relative
 * to uffd-run (an installed tree moved elsewhere).
 */
static const char *find_library(char *buf, size_t len)
{
	const char *env = getenv("UFFD_RUN_LIBRARY");
	char exe[PATH_MAX];
	char *dir = NULL;
	ssize_t n;

	if (env && *env) /* the loader wants it absolute */
		return realpath(env, buf) ? buf : NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		dir = dirname(exe);
		snprintf(buf, len, "%s/%s", dir, PRELOAD_NAME);
		if (readable(buf))
			return buf;
	}
	snprintf(buf, len, "%s/%s", UFFD_PRELOAD_LIBDIR, PRELOAD_NAME);
	if (readable(buf))
		return buf;
	if (dir) {
		snprintf(buf, len, "%s/../lib/uffdd/%s", dir, PRELOAD_NAME);
		if (readable(buf))
			return buf;
	}
	return NULL;
}

enum check { CHECK_OK, CHECK_UNSERVED, CHECK_POLICY };

/*
 * Do what the library will do, once, on one page: connect, make a region
 * with the policy, see how its uffd was made.  Tells the user why service
 * is impossible, in words, before the program runs.
 */
static enum check preflight(const char *sock, const char **policy, int given,
			    int user_only_ok, const char *prog)
{
	struct uffd_region_spec spec = {
		.kind = UFFD_KIND_SHMEM,
		.size = 4096,
		.name = "uffd-run check",
	};
	struct uffd_client *c;
	struct uffd_region *r;
	enum uffd_mode mode;
	int rc;

	rc = uffd_connect(sock, "uffd-run", 0, &c);
	if (rc < 0) {
		fprintf(stderr, "uffd-run: %s; %s runs without the service\n",
			uffd_last_error(), prog);
		return CHECK_UNSERVED;
	}
	rc = uffd_region_alloc(c, &spec, &r);
	if (rc < 0) {
		fprintf(stderr,
			"uffd-run: a test region could not be served: %s; "
			"%s runs without the service\n",
			uffd_last_error(), prog);
		uffd_disconnect(c);
		return CHECK_UNSERVED;
	}
	mode = uffd_client_uffd_mode(c);
	uffd_region_release(r);
	if (*policy && **policy) {
		spec.policy = *policy;
		rc = uffd_region_alloc(c, &spec, &r);
		if (rc < 0 && !given) {
			/* The default is a recommendation: a daemon that
			 * does not offer it serves with its own default. */
			if (verbose)
				fprintf(stderr,
					"uffd-run: uffdd does not offer \"%s\" "
					"(%s); the daemon's default policy "
					"applies\n",
					*policy, uffd_last_error());
			*policy = "";
		} else if (rc < 0) {
			fprintf(stderr,
				"uffd-run: uffdd refused policy \"%s\": "
				"%s\n",
				*policy, uffd_last_error());
			uffd_disconnect(c);
			return CHECK_POLICY;
		} else {
			uffd_region_release(r);
		}
	}
	uffd_disconnect(c);
	if (mode == UFFD_MODE_USER_ONLY && !user_only_ok) {
		fprintf(
		    stderr,
		    "uffd-run: uffdd gave no /dev/userfaultfd grant to uid %u "
		    "(its config's \"grant\" says who gets one) and this "
		    "user may not trap kernel-mode faults with "
		    "userfaultfd(2): %s's own read()/recv() into served "
		    "memory would fail with EFAULT, so it runs without the "
		    "service (--user-only-ok serves it anyway)\n",
		    (unsigned)getuid(), prog);
		return CHECK_UNSERVED;
	}
	if (verbose)
		fprintf(stderr, "uffd-run: uffdd ready (%s uffds)\n",
			mode == UFFD_MODE_DEVICE    ? "/dev/userfaultfd"
			: mode == UFFD_MODE_SYSCALL ? "userfaultfd(2)"
						    : "user-mode-only");
	return CHECK_OK;
}

static int setenv_or_die(const char *k, const char *v)
{
	if (setenv(k, v, 1) < 0) {
		perror("uffd-run: setenv");
		exit(EX_USAGE);
	}
	return 0;
}

static void run(char **argv)
{
	int err;

	execvp(argv[0], argv);
	err = errno;
	fprintf(stderr, "uffd-run: cannot run %s: %s\n", argv[0],
		strerror(err));
	exit(err == ENOENT ? 127 : 126);
}

/*
 * The policy when --policy is not given: the learned child working set,
 * which each forked child maps itself from what its siblings touched
 * first; and for the faults left, the window the kernel's own fault-around
 * would have mapped (fault_around_bytes, 64 KiB: one huge page).
 */
#define DEFAULT_POLICY "learn+around:64K"

/* What the command line asks for. */
struct run_opts {
	const char *policy, *sock;
	size_t min_size;
	int huge_only, require, user_only_ok, check;
	int policy_given;
};

static const struct option opts[] = {
	{ "policy", required_argument, NULL, 'p' },
	{ "min-size", required_argument, NULL, 'm' },
	{ "huge-only", no_argument, NULL, 'H' },
	{ "socket", required_argument, NULL, 's' },
	{ "require", no_argument, NULL, 'r' },
	{ "user-only-ok", no_argument, NULL, 'U' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "no-check", no_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* One option: 0, EX_USAGE (said), or -1 after --help/--version. */
static int option(int o, struct run_opts *r)
{
	switch (o) {
	case 'p':
		r->policy = optarg;
		r->policy_given = 1;
		return 0;
	case 'm':
		if (parse_size(optarg, &r->min_size) == 0)
			return 0;
		fprintf(stderr,
			"uffd-run: bad size \"%s\" "
			"(e.g. 4096, 64K, 2M, 1G)\n",
			optarg);
		return EX_USAGE;
	case 'H':
		r->huge_only = 1;
		return 0;
	case 's':
		r->sock = optarg;
		return 0;
	case 'r':
		r->require = 1;
		return 0;
	case 'U':
		r->user_only_ok = 1;
		return 0;
	case 'v':
		verbose = 1;
		return 0;
	case 'C':
		r->check = 0;
		return 0;
	case 'h':
		fputs(usage_text, stdout);
		return -1;
	case 'V':
		printf("uffd-run %s\n", UFFDD_VERSION);
		return -1;
	default:
		fprintf(stderr, "usage: uffd-run [OPTIONS] -- PROGRAM "
				"[ARGS...]   (uffd-run --help)\n");
		return EX_USAGE;
	}
}

static int options(int argc, char **argv, struct run_opts *r)
{
	int o, rc;

	while ((o = getopt_long(argc, argv, "+p:m:Hs:rvhV", opts, NULL)) != -1)
		if ((rc = option(o, r)) != 0)
			return rc;
	if (optind >= argc) {
		fprintf(stderr,
			"uffd-run: no PROGRAM given (uffd-run --help)\n");
		return EX_USAGE;
	}
	if (r->policy && strlen(r->policy) >= 128) {
		fprintf(stderr, "uffd-run: policy longer than 127 bytes\n");
		return EX_USAGE;
	}
	if (r->policy && uffd_raw_spec_has_file(r->policy)) {
		fprintf(stderr,
			"uffd-run: policy \"%s\" names a file: uffd-run serves "
			"every large mapping of the program, and every forked "
			"child's copy, with one policy, and one image or trace "
			"for all of them would fill or record the wrong pages; "
			"use libuffdclient for populate, record and prefetch\n",
			r->policy);
		return EX_USAGE;
	}
	if (r->sock)
		setenv_or_die("UFFDD_SOCKET", r->sock);
	else
		r->sock = getenv("UFFDD_SOCKET");
	if (!r->sock || !*r->sock)
		r->sock = UFFD_CLIENT_DEFAULT_SOCKET;
	return 0;
}

/* The preload library's settings, and the library in LD_PRELOAD. */
static void preload_env(const struct run_opts *r, const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	size_t n = strlen(lib) + (old ? strlen(old) : 0) + 2;
	char num[32], *preload = malloc(n);

	if (!preload)
		exit(EX_USAGE);
	snprintf(num, sizeof(num), "%zu", r->min_size);
	setenv_or_die("UFFD_RUN_MIN_SIZE", num);
	setenv_or_die("UFFD_RUN_POLICY", r->policy ? r->policy : "");
	setenv_or_die("UFFD_RUN_HUGE_ONLY", r->huge_only ? "1" : "0");
	setenv_or_die("UFFD_RUN_USER_ONLY_OK", r->user_only_ok ? "1" : "0");
	setenv_or_die("UFFD_RUN_VERBOSE", verbose ? "1" : "0");
	snprintf(preload, n, "%s%s%s", lib, old && *old ? ":" : "",
		 old && *old ? old : "");
	setenv_or_die("LD_PRELOAD", preload);
}

int main(int argc, char **argv)
{
	struct run_opts r = { .min_size = 2u << 20,
			      .check = 1,
			      .policy = DEFAULT_POLICY };
	char libbuf[PATH_MAX + 32];
	const char *lib;
	enum check ck = CHECK_OK;
	int rc = options(argc, argv, &r);

	if (rc)
		return rc < 0 ? 0 : rc;
	lib = find_library(libbuf, sizeof(libbuf));
	if (!lib) {
		fprintf(stderr,
			"uffd-run: cannot find %s beside uffd-run or in %s "
			"(set UFFD_RUN_LIBRARY); %s runs without the service\n",
			PRELOAD_NAME, UFFD_PRELOAD_LIBDIR, argv[optind]);
		ck = CHECK_UNSERVED;
	} else if (r.check) {
		ck = preflight(r.sock, &r.policy, r.policy_given,
			       r.user_only_ok, argv[optind]);
	}
	if (ck == CHECK_POLICY)
		return EX_USAGE;
	if (ck == CHECK_UNSERVED) {
		if (r.require)
			return EX_UNAVAILABLE;
		unsetenv("UFFD_RUN_POLICY");
		run(argv + optind);
	}
	preload_env(&r, lib);
	run(argv + optind);
	return 127;
}
