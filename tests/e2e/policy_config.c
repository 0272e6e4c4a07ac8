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

#define NOBODY 65534

static struct tdaemon D;

static const char *region_policy(const char *name)
{
	static char buf[160];
	json_object *st = td_status(&D),
		    *r = st ? j_region(st, name, NULL) : NULL;

	snprintf(buf, sizeof(buf), "%s",
		 r ? json_object_get_string(j_path(r, "policy")) : "(none)");
	json_object_put(st);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static const char *rules_v1 =
    "{\"client_policies\":[\"continue\",\"around\",\"gate\"],\n"
    " \"policy_rules\":[\n"
    "  {\"match\":{\"unit\":\"nosuch.service\"},\"policy\":\"deny\"},\n"
    "  {\"match\":{\"exe\":\"policy_conf*\",\"region\":\"auto-*\"},"
    "\"policy\":\"around:8\"},\n"
    "  {\"match\":{\"uid\":65534},\"client_policies\":[\"continue\"]}\n"
    " ]}\n";

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
		  "policy_config") == 0,
	      "exe");
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
		  "key \"policy_rules[1].policy\": policy \"around\" needs" },
		{ "{\"policy_rules\":[{\"match\":{\"pid\":1}}]}",
		  "key \"policy_rules[0].match.pid\": unknown key" },
		{ "{\"client_policies\":[\"continue\",\"bogus\"]}",
		  "key \"client_policies\": item 1: unknown policy \"bogus\"" },
		{ "{\"policy_paths\":[\"relative/dir\"]}",
		  "key \"policy_paths\": item 0: \"relative/dir\" is not an "
		  "absolute path" },
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
		/* The new policy serves the next fault: a window of 4. */
		(void)((volatile unsigned char *)uffd_region_addr(r))[33 * psz];
		CHECK_EQ(pc_region_int(&D, "switch", "pages_mapped"), 1 + 4);
		CHECK(td_log_count(
			  &D, "policy changed to around:4 by uffdctl") == 1,
		      "log");
	}
	uffd_region_release(r);
	uffd_disconnect(c);
}

static int setup(void)
{
	return td_setup(&D, rules_v1);
}

static void teardown(void)
{
	td_teardown(&D);
}

static const struct t_case cases[] = {
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
	      "gate to around:4 and the held fault goes through",
	  .run = ctl_policy,
	  .needs = T_NEED_ROOT },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "policy-config", T_CASES(cases), setup,
				   "uffdd stops cleanly (exit 0)", teardown };

	return t_main(argc, argv, &s);
}
