/* SPDX-License-Identifier: MIT */
/* Unit tests of the daemon's pure parts: histogram, region table, config,
 * policy specs, kernel probe. */
#include "config/config.h"
#include "core/histo.h"
#include "core/region.h"
#include "harness.h"
#include "policy/policy.h"
#include "probe.h"
#include <json-c/json.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_histo(void)
{
	static struct histo h;

	CHECK_EQ(histo_pct(&h, 50), 0);
	for (uint64_t v = 1; v <= 1000; v++)
		histo_add(&h, v * 1000); /* 1 us .. 1 ms */
	CHECK_EQ(histo_count(&h), 1000);
	CHECK_EQ(histo_max(&h), 1000000);
	/* Buckets are 25% wide at most: p50 is 500 us, within a bucket. */
	CHECK(histo_pct(&h, 50) >= 500000 && histo_pct(&h, 50) <= 640000,
	      "p50 %llu", (unsigned long long)histo_pct(&h, 50));
	CHECK(histo_pct(&h, 99) >= 990000 && histo_pct(&h, 99) <= 1000000,
	      "p99 %llu", (unsigned long long)histo_pct(&h, 99));
	CHECK_EQ(histo_pct(&h, 100), 1000000);
	histo_add(&h, 0);
	histo_add(&h, UINT64_MAX); /* saturates into the last bucket */
	CHECK_EQ(histo_max(&h), UINT64_MAX);
}

static struct region *mkreg(uint64_t start, uint64_t len)
{
	struct region *r = calloc(1, sizeof(*r));

	r->v.start = start;
	r->v.len = len;
	r->uffd = r->v.memfd = -1;
	return r;
}

static void test_regions(void)
{
	struct region_table s = { 0 };
	struct region *a = mkreg(0x10000, 0x4000), *b = mkreg(0x20000, 0x1000),
		      *c = mkreg(0x14000, 0x1000), *o = mkreg(0x13000, 0x2000);

	CHECK_EQ(region_insert(&s, b), 0);
	CHECK_EQ(region_insert(&s, a), 0);
	CHECK_EQ(region_insert(&s, c), 0); /* adjacent to a: allowed */
	CHECK_EQ(region_insert(&s, o), -EEXIST);
	CHECK(region_find(&s, 0x10000) == a, "first byte");
	CHECK(region_find(&s, 0x13fff) == a, "last byte");
	CHECK(region_find(&s, 0x14000) == c, "next region's first byte");
	CHECK(region_find(&s, 0x15000) == NULL, "gap");
	CHECK(region_find(&s, 0xffff) == NULL, "below");
	CHECK(region_find(&s, 0x20fff) == b, "last region");
	CHECK(region_find(&s, 0x21000) == NULL, "above");
	region_remove(&s, c);
	CHECK(region_find(&s, 0x14000) == NULL, "removed");
	CHECK_EQ(s.n, 2);
	free(a);
	free(b);
	free(c);
	free(o);
	free(s.v);
}

static void cfg_bad(const char *text, const char *want)
{
	struct config c;
	char err[512] = "";

	config_defaults(&c);
	CHECK(config_parse(&c, text, strlen(text), "t.json", err, sizeof(err)) <
		  0,
	      "accepted: %s", text);
	CHECK(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err,
	      want);
	/* A failed parse leaves the old values. */
	CHECK_EQ(c.limits.clients, 1024);
	CHECK(strcmp(c.policy.default_policy, "continue") == 0,
	      "policy changed");
}

static char *slurp(const char *path);

static void test_config(void)
{
	struct config c;
	char err[512] = "";
	const char *good = "{\n  \"workers\": 3,\n  \"default_policy\": "
			   "\"continue\",\n  \"grant\": {\"uids\": [0, 1000], "
			   "\"gids\": [27]},\n  \"limits\": {\"clients\": 7},\n"
			   "  \"socket_mode\": \"0660\", \"log_level\": "
			   "\"debug\"\n}\n";

	config_defaults(&c);
	CHECK_EQ(
	    config_parse(&c, good, strlen(good), "t.json", err, sizeof(err)),
	    0);
	CHECK_EQ(c.work.n, 3);
	CHECK_EQ(c.access.grant_uids.n, 2);
	CHECK_EQ(c.access.grant_uids.v[1], 1000);
	CHECK_EQ(c.access.grant_gids.v[0], 27);
	CHECK_EQ(c.limits.clients, 7);
	CHECK_EQ(c.sock.data_mode, 0660);
	CHECK_EQ(c.log_level, 7);
	cfg_bad("{\n  \"workers\": 3,\n  oops\n}", "t.json:3:");
	cfg_bad("{\"workers\": 3", "unexpected end");
	cfg_bad("{\"wrokers\": 3}", "\"wrokers\": unknown key");
	cfg_bad("{\"workers\": \"three\"}", "expected an integer");
	cfg_bad("{\"workers\": 100000}", "out of range");
	cfg_bad("{\"default_policy\": \"teleport\"}", "unknown policy");
	cfg_bad("{\"grant\": {\"uids\": [-1]}}", "grant.uids");
	cfg_bad("{\"limits\": {\"clients\": 0}}", "limits.clients");
	cfg_bad("{\"socket_mode\": \"999\"}", "octal");
	cfg_bad("[1, 2]", "top level");
	cfg_bad("{} {}", "t.json:1:4");
}

/* Comments are blanked before the strict parse; nothing else is relaxed. */
static void test_config_comments(void)
{
	struct config c;
	char err[512] = "";
	const char *good = "// a line comment\n{ /* block\n  comment */\n"
			   "  \"workers\": 2, // trailing\n"
			   "  \"socket\": \"/run/x//y/*z*/.sock\"\n}\n// end";

	config_defaults(&c);
	CHECK_EQ(
	    config_parse(&c, good, strlen(good), "t.json", err, sizeof(err)),
	    0);
	CHECK_EQ(c.work.n, 2);
	CHECK(strcmp(c.sock.data_path, "/run/x//y/*z*/.sock") == 0, "%s",
	      c.sock.data_path);
	cfg_bad("{\n  /* never closed\n  \"workers\": 2\n}",
		"t.json:2:3: unterminated comment");
	cfg_bad("{ \"workers\": 2, // comma before the end\n}", "t.json:2:1");
	cfg_bad("# not a comment\n{}", "t.json:1:1");
}

/* A key given twice is an error at the second, with where the first was. */
static void test_config_duplicates(void)
{
	cfg_bad("{\n  \"workers\": 2,\n  \"workers\": 3\n}",
		"t.json:3:3: key \"workers\" given twice (first at line 2:3)");
	cfg_bad("{\"limits\": {\"clients\": 5,\n \"clients\": 6}}",
		"key \"limits.clients\" given twice");
	cfg_bad("{\"policy_rules\": [{\"policy\": \"continue\"}, "
		"{\"match\": {\"uid\": 1, \"uid\": 2}}]}",
		"key \"policy_rules[1].match.uid\" given twice");
	cfg_bad("{\"workers\": 1, /* \"x\": 1, */ \"workers\": 2}",
		"given twice");
}

/* Known keys are suggested for near misses, listed otherwise. */
static void test_config_suggestions(void)
{
	cfg_bad("{\"wrokers\": 3}", "\"wrokers\": unknown key; did you mean "
				    "\"workers\"?");
	cfg_bad("{\"log-level\": \"info\"}", "did you mean \"log_level\"?");
	cfg_bad("{\"limits\": {\"client\": 3}}",
		"\"limits.client\": unknown key; did you mean \"clients\"?");
	cfg_bad("{\"grant\": {\"uid\": [0]}}", "did you mean \"uids\"?");
	cfg_bad("{\"access\": {\"allow_uid\": [0]}}",
		"did you mean \"allow_uids\"?");
	cfg_bad("{\"policy_rules\": [{\"polcy\": \"continue\"}]}",
		"\"policy_rules[0].polcy\": unknown key; did you mean "
		"\"policy\"?");
	cfg_bad("{\"policy_rules\": [{\"match\": {\"exec\": \"x\"}}]}",
		"did you mean \"exe\"?");
	cfg_bad("{\"zzzzzz\": 1}", "unknown key (known: socket,");
}

/* Users and groups by name where ids are taken. */
static void test_config_names(void)
{
	struct config c;
	char err[512] = "";
	const char *text =
	    "{\"grant\": {\"uids\": [\"root\", 7], \"gids\": [\"root\"]},"
	    " \"admin_gids\": [\"root\", 4], \"access\": {\"deny_uids\": "
	    "[\"root\"]}, \"policy_rules\": [{\"match\": {\"gid\": "
	    "\"root\"}}]}";

	config_defaults(&c);
	CHECK_EQ(
	    config_parse(&c, text, strlen(text), "t.json", err, sizeof(err)),
	    0);
	CHECK(!err[0], "%s", err);
	CHECK_EQ(c.access.grant_uids.n, 2);
	CHECK_EQ(c.access.grant_uids.v[0], 0);
	CHECK_EQ(c.access.grant_uids.v[1], 7);
	CHECK_EQ(c.access.admin_gids.v[0], 0);
	CHECK_EQ(c.access.admin_gids.v[1], 4);
	CHECK_EQ(c.access.deny_uids.v[0], 0);
	CHECK_EQ(c.policy.rules[0].gid, 0);
	cfg_bad("{\"admin_gids\": [\"no-such-group-here\"]}",
		"key \"admin_gids\": no group named \"no-such-group-here\"");
	cfg_bad("{\"grant\": {\"uids\": [\"no-such-user-here\"]}}",
		"no user named");
	cfg_bad("{\"admin_gids\": [true]}", "expected a group name or a "
					    "numeric id");
}

/*
 * Every key set away from its default (tests/ctl/all-keys.json), dumped and
 * read back, is the same configuration: nothing the file can say is missing
 * from --dump-config.
 */
static void test_config_dump(void)
{
	char *all = slurp("tests/ctl/all-keys.json");
	struct config a, b, def;
	char err[512] = "";
	json_object *o;
	const char *text;

	if (!all) {
		CHECK(0, "tests/ctl/all-keys.json: %s", strerror(errno));
		return;
	}
	config_defaults(&def);
	a = def;
	CHECK_EQ(config_parse(&a, all, strlen(all), "all-keys.json", err,
			      sizeof(err)),
		 0);
	free(all);
	CHECK(memcmp(&a.sock, &def.sock, sizeof(a.sock)) &&
		  memcmp(&a.limits, &def.limits, sizeof(a.limits)),
	      "the test configuration left defaults: %s", err);
	o = config_json(&a);
	text = json_object_to_json_string(o);
	config_defaults(&b);
	CHECK_EQ(config_parse(&b, text, strlen(text), "dump", err, sizeof(err)),
		 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0, "read back, the dump differs: %s",
	      text);
	json_object_put(o);
	{
		char keys[256];

		CHECK_EQ(config_restart_keys(&def, &def, keys, sizeof(keys))[0],
			 '\0');
		config_restart_keys(&def, &a, keys, sizeof(keys));
		CHECK(strcmp(keys, "socket, control_socket, socket_mode, "
				   "control_socket_mode, socket_owner, "
				   "socket_group, control_socket_owner, "
				   "control_socket_group, workers, "
				   "placement") == 0,
		      "%s", keys);
	}
}

static void check_is_defaults(const char *text, const char *origin)
{
	struct config def, c;
	char err[512] = "";

	config_defaults(&def);
	c = def;
	CHECK(config_parse(&c, text, strlen(text), origin, err, sizeof(err)) ==
		  0,
	      "%s", err);
	CHECK(memcmp(&c, &def, sizeof(c)) == 0,
	      "%s differs from the built-in defaults", origin);
}

/*
 * The README's configuration example and the installed, commented example
 * (docs/examples/uffdd.json) parse, and are the defaults.
 */
static void test_example_configs(void)
{
	char *buf = slurp("README.md"), *a, *b;

	if (!buf) {
		t_skip("no README.md in the working directory");
		return;
	}
	a = strstr(buf, "```json\n{\n  \"socket\"");
	CHECK(a != NULL, "no configuration example in README.md");
	if (a) {
		a += strlen("```json\n");
		b = strstr(a, "```");
		*b = '\0';
		check_is_defaults(a, "README.md");
	}
	free(buf);
	buf = slurp("docs/examples/uffdd.json");
	CHECK(buf != NULL, "docs/examples/uffdd.json: %s", strerror(errno));
	if (buf) {
		CHECK(strstr(buf, "//") != NULL, "the example has no comments");
		check_is_defaults(buf, "docs/examples/uffdd.json");
	}
	free(buf);
}

static void test_policy_specs(void)
{
	struct policy *p;
	char err[256];

	CHECK_EQ(policy_create("continue", &p, err, sizeof(err)), 0);
	CHECK(p && strcmp(p->spec, "continue") == 0, "spec kept");
	policy_destroy(p);
	CHECK_EQ(policy_create("continue:7", &p, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "takes no arguments") != NULL, "%s", err);
	CHECK_EQ(policy_create("bogus", &p, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "unknown policy \"bogus\"") != NULL, "%s", err);
}

static void test_probe(void)
{
	struct uffd_caps caps;
	char buf[512];

	CHECK_EQ(uffd_probe(&caps), 0);
	/* This suite runs on kernels that serve both kinds (5.14+). */
	CHECK(caps.minor_shmem, "no minor_shmem on %s", caps.release);
	CHECK(caps.minor_hugetlbfs, "no minor_hugetlbfs on %s", caps.release);
	CHECK(caps.continue_ok, "no working CONTINUE");
	CHECK_EQ(uffd_caps_missing(&caps, buf, sizeof(buf))[0], '\0');
	caps.minor_hugetlbfs = caps.minor_shmem = 0;
	uffd_caps_missing(&caps, buf, sizeof(buf));
	CHECK(strstr(buf, "UFFD_FEATURE_MINOR_HUGETLBFS (Linux 5.13+)") &&
		  strstr(buf, "UFFD_FEATURE_MINOR_SHMEM (Linux 5.14+)"),
	      "%s", buf);
}

/* The whole of a file, NUL-terminated, or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* The policy bits of every `name...` between from and to. */
static uint32_t named(const char *from, const char *to)
{
	uint32_t bits = 0;

	for (const char *p = strchr(from, '`'); p && p < to;
	     p = strchr(p + 1, '`')) {
		size_t n = strcspn(p + 1, ":[`");

		bits |= policy_bit(p + 1, n);
		p = strchr(p + 1, '`'); /* the closing quote */
		if (!p)
			break;
	}
	return bits;
}

/* The policies in the first column of the Markdown table after `head`. */
static uint32_t table_policies(const char *doc, const char *head)
{
	const char *t = strstr(doc, head), *line;
	uint32_t bits = 0;

	if (!t)
		return 0;
	for (line = strchr(t, '\n'); line && line[1] == '|';
	     line = strchr(line + 1, '\n')) {
		const char *cell_end = strchr(line + 2, '|');

		bits |= named(line + 1, cell_end ? cell_end : line + 1);
	}
	return bits;
}

/* The policies named by the words of the "## " headings of doc. */
static uint32_t headings(const char *doc)
{
	uint32_t bits = 0;

	for (const char *h = strstr(doc, "\n## "); h;
	     h = strstr(h + 1, "\n## ")) {
		const char *w = h + 4, *end = strchr(w, '\n');

		while (w && end && w < end) {
			bits |= policy_bit(w, strcspn(w, ":[ \n"));
			w = strchr(w, ' ');
			w = w ? w + 1 : NULL;
		}
	}
	return bits;
}

static void test_policy_docs(void)
{
	char *readme = slurp("README.md"), *doc = slurp("docs/policies.md");
	uint32_t all = 0, bits;
	char want[256], got[256];

	if (!readme || !doc) {
		t_skip("README.md and docs/policies.md are not in the working "
		       "directory");
		free(readme);
		free(doc);
		return;
	}
	for (uint32_t b = 1; b; b <<= 1)
		if (strcmp(policy_bit_names(b, got, sizeof(got)), "(none)"))
			all |= b;
	policy_bit_names(all, want, sizeof(want));
	bits = table_policies(readme, "| policy | on a fault |");
	CHECK(bits == all, "README.md's policy table lists %s, POLICY_LIST %s",
	      policy_bit_names(bits, got, sizeof(got)), want);
	bits = table_policies(doc, "| policy | what it does |");
	CHECK(bits == all, "docs/policies.md's table lists %s, POLICY_LIST %s",
	      policy_bit_names(bits, got, sizeof(got)), want);
	bits = headings(doc);
	CHECK(bits == all,
	      "docs/policies.md has sections on %s, POLICY_LIST "
	      "is %s",
	      policy_bit_names(bits, got, sizeof(got)), want);
	{
		const char *p = strstr(doc, "- `client_policies`:");
		const char *from = p ? strstr(p, "The default") : NULL;
		const char *to = from ? strchr(from, ':') : NULL;

		bits = to ? named(from, to) : 0;
		CHECK(
		    bits == policy_client_default(),
		    "docs/policies.md says clients may ask for %s by default, "
		    "POLICY_LIST says %s",
		    policy_bit_names(bits, got, sizeof(got)),
		    policy_bit_names(policy_client_default(), want,
				     sizeof(want)));
	}
	free(readme);
	free(doc);
}

static const struct t_case cases[] = {
	{ .name = "histo",
	  .title = "latency histogram percentiles are within one bucket",
	  .run = test_histo },
	{ .name = "region-table",
	  .title = "region table: sorted insert, lookup at the edges, overlap",
	  .run = test_regions },
	{ .name = "config",
	  .title =
	      "config: good file parsed, bad ones refused with line or key",
	  .run = test_config },
	{ .name = "config-comments",
	  .title =
	      "config: comments allowed, strings kept, errors still placed",
	  .run = test_config_comments },
	{ .name = "config-duplicates",
	  .title = "config: a key given twice is an error naming both places",
	  .run = test_config_duplicates },
	{ .name = "config-suggestions",
	  .title = "config: an unknown key suggests the nearest known one",
	  .run = test_config_suggestions },
	{ .name = "config-names",
	  .title = "config: users and groups by name wherever ids are taken",
	  .run = test_config_names },
	{ .name = "config-dump",
	  .title = "config: every key survives --dump-config and reading back; "
		   "restart-only keys are named",
	  .run = test_config_dump },
	{ .name = "example-configs",
	  .title = "the README's and the shipped example configurations are "
		   "the defaults",
	  .run = test_example_configs },
	{ .name = "policy-specs",
	  .title = "policy specs: known names accepted, others refused clearly",
	  .run = test_policy_specs },
	{ .name = "policy-docs",
	  .title = "README.md and docs/policies.md list every policy of "
		   "POLICY_LIST, and the ones a client may ask for by default",
	  .run = test_policy_docs },
	{ .name = "probe",
	  .title = "kernel probe finds minor faults and the CONTINUE number",
	  .run = test_probe },
};

int main(int argc, char **argv)
{
	const struct t_suite s = { "core", T_CASES(cases), NULL, NULL, NULL };

	return t_main(argc, argv, &s);
}
