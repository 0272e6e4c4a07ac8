/* SPDX-License-Identifier: MIT */
/*
 * Policy configuration: rules matching a client (uid, gid, executable,
 * systemd unit) and a region name give the policy; which policies a client
 * may ask for; clear errors for a bad configuration, with the key; a failed
 * reload keeps the running rules; `uffdctl policy` changes a region's
 * policy at run time, for privileged callers only.
 */
#include "policy_common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#define NOBODY 65534

static struct tdaemon D;

/* The policy of this process's own region name (see own_region_int). */
static const char *region_policy(const char *name)
{
	static char buf[160];
	json_object *st = td_status(&D),
		    *me = st ? j_client(st, getpid()) : NULL;
	json_object *rs = me ? j_path(me, "regions") : NULL;

	snprintf(buf, sizeof(buf), "(none)");
	for (size_t k = 0; rs && k < json_object_array_length(rs); k++) {
		json_object *r = json_object_array_get_idx(rs, k);

		if (!strcmp(json_object_get_string(j_path(r, "name")), name))
			snprintf(buf, sizeof(buf), "%s",
				 json_object_get_string(j_path(r, "policy")));
	}
	json_object_put(st);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

/* Filled by setup: exe rules match the executable's full path. */
static char rules_v1[1024], self_exe[512];

static void make_rules_v1(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	char dir[512], *slash;

	self_exe[n > 0 ? n : 0] = '\0';
	snprintf(dir, sizeof(dir), "%s", self_exe);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	snprintf(rules_v1, sizeof(rules_v1),
		 "{\"client_policies\":[\"continue\",\"around\",\"gate\"],\n"
		 " \"policy_rules\":[\n"
		 "  {\"match\":{\"unit\":\"/system.slice/nosuch.service\"},"
		 "\"policy\":\"deny\"},\n"
		 "  {\"match\":{\"exe\":\"%s/policy_conf*\",\"region\":"
		 "\"auto-*\"},\"policy\":\"around:8\"},\n"
		 "  {\"match\":{\"uid\":65534},\"client_policies\":"
		 "[\"continue\"]}\n"
		 " ]}\n",
		 dir);
}

static const char *rules_v2 =
    "{\"policy_rules\":[{\"match\":{\"region\":\"auto-*\"},"
    "\"policy\":\"around:4\"}]}\n";

static int nobody_asks_gate(void *arg)
{
	struct uffd_client *c;
	struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
				       .size = 1 << 20,
				       .name = "nobody",
				       .policy = arg };
	struct uffd_region *r;

	if (setgid(NOBODY) || setuid(NOBODY))
		return 20;
	c = pc_connect(&D, "nobody");
	if (!c)
		return 21;
	if (uffd_region_alloc(c, &sp, &r) == 0)
		return 22;
	return strstr(uffd_last_error(), "not permitted") ? 0 : 23;
}

static void rules(void)
{
	struct uffd_client *c;
	struct uffd_region *a, *b, *g;
	json_object *st;

	c = pc_connect(&D, "rules");
	a = c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "auto-1", NULL) : NULL;
	b = c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "other", NULL) : NULL;
	g = c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "mine", "gate") : NULL;
	CHECK(a && b && g, "regions");
	CHECK(strcmp(region_policy("auto-1"), "around:8") == 0, "auto-1: %s",
	      region_policy("auto-1"));
	CHECK(strcmp(region_policy("other"), "continue") == 0, "other: %s",
	      region_policy("other"));
	CHECK(strcmp(region_policy("mine"), "gate") == 0, "mine: %s",
	      region_policy("mine"));
	st = td_status(&D);
	CHECK(strcmp(
		  json_object_get_string(j_path(j_client(st, getpid()), "exe")),
		  self_exe) == 0,
	      "exe: the full path the kernel reports");
	json_object_put(st);
	/* Not in the global list. */
	{
		struct uffd_region_spec sp = { .kind = UFFD_KIND_SHMEM,
					       .size = 1 << 20,
					       .name = "x",
					       .policy = "deny" };
		struct uffd_region *r;

		CHECK(uffd_region_alloc(c, &sp, &r) < 0, "deny accepted");
		CHECK(strstr(uffd_last_error(), "policy deny not permitted"),
		      "%s", uffd_last_error());
	}
	/* nobody may ask for continue only (its rule). */
	CHECK_EQ(pc_in_child(nobody_asks_gate, "gate"), 0);
	uffd_region_release(a);
	uffd_region_release(b);
	uffd_region_release(g);
	uffd_disconnect(c);
}

static void bad_configs(void)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{ "{\"policy_rules\":[{\"match\":{\"exe\":5}}]}",
		  "key \"policy_rules[0].match.exe\": expected a string" },
		{ "{\"policy_rules\":[{\"policy\":\"continue\"},"
		  "{\"policy\":\"around:3\"}]}",
		  "key \"policy_rules[1].policy\": around needs" },
		{ "{\"policy_rules\":[{\"match\":{\"pid\":1}}]}",
		  "key \"policy_rules[0].match.pid\": unknown key" },
		{ "{\"client_policies\":[\"continue\",\"bogus\"]}",
		  "key \"client_policies\": item 1: unknown policy \"bogus\"" },
		{ "{\"policy_paths\":[\"/var/lib/uffdd\"]}",
		  "key \"policy_paths\": is gone: a client passes the files" },
		{ "{\"policy_dir\":\"relative/dir\"}",
		  "key \"policy_dir\": \"relative/dir\" is not an absolute" },
		{ "{\"policy_rules\":[{\"match\":{\"exe\":\"qemu-*\"}}]}",
		  "key \"policy_rules[0].match.exe\": \"qemu-*\" is not a full "
		  "path" },
		{ "{\"policy_rules\":[{\"match\":{\"unit\":\"vm@*.service\"}}]"
		  "}",
		  "key \"policy_rules[0].match.unit\": \"vm@*.service\" is not "
		  "a full path" },
		{ "{\"policy_rules\":[{\"policy\":\"populate:#0\"}]}",
		  "key \"policy_rules[0].policy\": file \"#0\" names a "
		  "client's "
		  "file" },
		{ "{\"policy_rules\":[{\"policy\":\"record:/etc/x\"}]}",
		  "file \"/etc/x\" is not a path under policy_dir" },
		{ "{\"default_policy\":\"populate:/srv/i/../../etc/shadow\","
		  "\"policy_dir\":\"/srv/i\"}",
		  "is not a path under policy_dir" },
		{ "{\"default_policy\":\"gate+deny\"}",
		  "key \"default_policy\": \"gate\" and \"deny\" cannot be "
		  "composed" },
	};
	char path[160], out[160], cmd[512], line[512];

	snprintf(path, sizeof(path), "%s/bad.json", D.dir);
	snprintf(out, sizeof(out), "%s/bad.out", D.dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f;
		int rc, found = 0;

		write_file(path, cases[i].json);
		snprintf(cmd, sizeof(cmd),
			 "%s --config %s --check-config > %s 2>&1",
			 t_bin("uffdd"), path, out);
		rc = system(cmd);
		CHECK(rc != 0, "%s accepted", cases[i].json);
		f = fopen(out, "r");
		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, cases[i].want)) {
				found = 1;
				fprintf(stderr, "#   %s", line);
			}
		if (f)
			fclose(f);
		CHECK(found, "no \"%s\"", cases[i].want);
	}
}

static void reload(void)
{
	struct uffd_client *c;
	struct uffd_region *r;

	int failed = td_log_count(&D, "reload failed"),
	    done = td_log_count(&D, "configuration reloaded");

	c = pc_connect(&D, "reload");
	/* Users go by name or id; a name nobody has is the broken file. */
	write_file(D.config, "{\"policy_rules\":[{\"match\":{\"uid\":"
			     "\"no-such-user-uffdd\"}}]}");
	kill(D.pid, SIGHUP);
	CHECK(td_wait_log(&D, "reload failed", failed, 5000) == failed + 1,
	      "no reload failure");
	CHECK(td_log_count(&D, "policy_rules[0].match.uid") == 1, "key");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "auto-2", NULL) : NULL;
	CHECK(strcmp(region_policy("auto-2"), "around:8") == 0, "%s",
	      region_policy("auto-2"));
	uffd_region_release(r);
	write_file(D.config, rules_v2);
	kill(D.pid, SIGHUP);
	CHECK(td_wait_log(&D, "configuration reloaded", done, 5000) == done + 1,
	      "rules_v2 not reloaded");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "auto-3", NULL) : NULL;
	CHECK(strcmp(region_policy("auto-3"), "around:4") == 0, "%s",
	      region_policy("auto-3"));
	uffd_region_release(r);
	uffd_disconnect(c);
	/* The next case starts from rules_v1 again. */
	write_file(D.config, rules_v1);
	kill(D.pid, SIGHUP);
	CHECK(td_wait_log(&D, "configuration reloaded", done + 1, 5000) ==
		  done + 2,
	      "rules_v1 not reloaded");
}

/*
 * A counter of this process's own region name: run_as's fork (followed
 * with EVENT_FORK) has a copy of the region, of the same name, in a child
 * session until the child's exec is noticed.
 */
static int64_t own_region_int(const char *name, const char *path)
{
	json_object *st = td_status(&D),
		    *me = st ? j_client(st, getpid()) : NULL;
	json_object *rs = me ? j_path(me, "regions") : NULL;
	int64_t v = -1;

	for (size_t k = 0; rs && k < json_object_array_length(rs); k++) {
		json_object *r = json_object_array_get_idx(rs, k);

		if (!strcmp(json_object_get_string(j_path(r, "name")), name))
			v = j_int(r, path);
	}
	json_object_put(st);
	return v;
}

static void *touch_fn(void *arg)
{
	return (void *)(uintptr_t) * (volatile unsigned char *)arg;
}

static int run_as(uid_t uid, const char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		if (uid && (setgid(uid) || setuid(uid)))
			_exit(125);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void ctl_policy(void)
{
	struct uffd_client *c;
	struct uffd_region *r;
	pthread_t th;
	size_t psz = pc_page(UFFD_KIND_SHMEM);

	c = pc_connect(&D, "ctl");
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 64 * psz, "switch", "gate") : NULL;
	CHECK(r != NULL, "region");
	if (r) {
		const char *argv[] = {
			t_bin("uffdctl"), "--control-socket", D.ctl, "policy",
			"switch",	  "around:4",	      NULL
		};
		const char *bad[] = {
			t_bin("uffdctl"), "--control-socket", D.ctl, "policy",
			"switch",	  "around:5",	      NULL
		};
		void *got;

		((unsigned char *)uffd_region_fill_addr(r))[9 * psz] = 9;
		pthread_create(&th, NULL, touch_fn,
			       (char *)uffd_region_addr(r) + 9 * psz);
		CHECK_EQ(pc_wait_region(&D, "switch",
					"policy_stats.gate_waiting", 1, 3000),
			 1);
		CHECK(run_as(NOBODY, argv) != 0, "nobody changed a policy");
		CHECK(run_as(0, bad) != 0, "a bad spec was taken");
		CHECK(strcmp(region_policy("switch"), "gate") == 0, "%s",
		      region_policy("switch"));
		CHECK_EQ(run_as(0, argv), 0);
		pthread_join(th, &got);
		CHECK_EQ((uintptr_t)got, 9);
		CHECK(strcmp(region_policy("switch"), "around:4") == 0, "%s",
		      region_policy("switch"));
		/* The old gate woke its held fault without mapping the page
		 * it had not made; the thread faulted again and the new
		 * policy served it: a window of 4.  So does the next one. */
		(void)((volatile unsigned char *)uffd_region_addr(r))[33 * psz];
		/* The daemon counts a mapping once it has woken the thread:
		 * wait for the count. */
		for (int i = 0;
		     i < 400 && own_region_int("switch", "pages_mapped") != 8;
		     i++)
			usleep(5000);
		CHECK_EQ(own_region_int("switch", "pages_mapped"), 4 + 4);
		CHECK(td_log_count(
			  &D, "policy changed to around:4 by uffdctl") == 1,
		      "log");
	}
	uffd_region_release(r);
	uffd_disconnect(c);
}

/* A raw control request (no descriptors), its answer's "error" or "". */
static const char *ctl_error(const char *json)
{
	static char buf[300];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n = -1;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", D.ctl);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, json, strlen(json)) > 0 && write(fd, "\n", 1) == 1)
		n = read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, "\"error\"") ? buf : "";
}

/* uffdctl policy with a file: uffdctl opens it, the daemon gets it. */
static void ctl_policy_files(void)
{
	char img[96], spec[160], id[20] = "";
	struct uffd_client *c = pc_connect(&D, "ctl-files");
	struct uffd_region *r =
	    c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "switch-files", "gate")
	      : NULL;
	/* By id: run_as's fork (with EVENT_FORK) copies the region into a
	 * child session of the same name for a moment. */
	const char *argv[] = { t_bin("uffdctl"),
			       "--control-socket",
			       D.ctl,
			       "policy",
			       id,
			       spec,
			       NULL };
	const char *err;

	snprintf(img, sizeof(img), "%s/img", D.dir);
	if (r)
		snprintf(id, sizeof(id), "%016llx",
			 (unsigned long long)uffd_region_id(r));
	CHECK(r && pc_write_image(img, 1 << 20) == 0, "region and image");
	snprintf(spec, sizeof(spec), "populate:%s+around:4", img);
	CHECK_EQ(run_as(0, argv), 0);
	CHECK(strncmp(region_policy("switch-files"), "populate:#0", 11) == 0,
	      "%s", region_policy("switch-files"));
	if (r)
		CHECK_EQ(((volatile unsigned char *)uffd_region_addr(r))[8195],
			 pc_byte(8195));
	/* A path in a request is refused: the daemon opens no path a
	 * control peer names either. */
	err = ctl_error("{\"command\":\"policy\",\"region\":\"switch-files\","
			"\"policy\":\"populate:/etc/shadow\"}");
	CHECK(strstr(err, "is a path") != NULL, "%s", err);
	/* A region registered without populate or gate has no page-state
	 * file: it cannot be given one. */
	uffd_region_release(r);
	r = c ? pc_alloc(c, UFFD_KIND_SHMEM, 1 << 20, "switch-files", NULL)
	      : NULL;
	if (r)
		snprintf(id, sizeof(id), "%016llx",
			 (unsigned long long)uffd_region_id(r));
	CHECK(run_as(0, argv) != 0, "a continue region got populate");
	uffd_region_release(r);
	uffd_disconnect(c);
	unlink(img);
}

static int setup(void)
{
	make_rules_v1();
	return td_setup(&D, rules_v1);
}

static void teardown(void)
{
	td_teardown(&D);
}

static const struct t_case cases[] = {
	{ .name = "ctl-policy-files",
	  .title = "uffdctl policy with a file: uffdctl opens it and passes "
		   "it (#0); a path in a request is refused; a region without "
		   "a page-state file gets no populate",
	  .run = ctl_policy_files,
	  .needs = T_NEED_ROOT },
	{ .name = "rules",
	  .title = "rules: exe and region globs pick the policy; a uid's own "
		   "client_policies; a unit that does not match is skipped",
	  .run = rules,
	  .needs = T_NEED_ROOT },
	{ .name = "bad-configs",
	  .title =
	      "bad policy configuration: uffdd --check-config names the key",
	  .run = bad_configs },
	{ .name = "reload",
	  .title =
	      "SIGHUP: a bad configuration is refused and the running rules "
	      "stay; a good one replaces them",
	  .run = reload },
	{ .name = "ctl-policy",
	  .title =
	      "uffdctl policy REGION SPEC: nobody is refused; root changes "
	      "gate to around:4 and the held fault is served by around:4",
	  .run = ctl_policy,
	  .needs = T_NEED_ROOT },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "policy-config", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
