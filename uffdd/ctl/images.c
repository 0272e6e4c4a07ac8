/* SPDX-License-Identifier: MIT */
/* uffdctl images: the host's image cache, as a table or as JSON (-j). */
#include "ctl.h"

#include <json-c/json.h>
#include <stdio.h>

static void table(json_object *o)
{
	json_object *a = jget(o, "images");
	char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
	size_t n = a ? json_object_array_length(a) : 0;

	printf("store %s%s%s, %s cached (budget %s), %zu image%s\n",
	       jstr(o, "store")[0] ? jstr(o, "store") : "(images off)",
	       jstr(o, "store_error")[0] ? ": " : "", jstr(o, "store_error"),
	       fmt_bytes((uint64_t)jint(o, "bytes_cached"), b1, sizeof(b1)),
	       jint(o, "budget")
		   ? fmt_bytes((uint64_t)jint(o, "budget"), b2, sizeof(b2))
		   : "none",
	       n, n == 1 ? "" : "s");
	if (!n)
		return;
	printf("%-28s %-7s %9s %7s %9s %7s %10s %10s %6s %8s\n", "IMAGE",
	       "KIND", "SIZE", "CACHED", "FETCHED", "CLIENTS", "FETCH p50",
	       "FETCH p99", "SIGBUS", "IDLE");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		char name[96];
		int64_t pages = jint(e, "pages");

		snprintf(name, sizeof(name), "%s@%lld", jstr(e, "name"),
			 (long long)jint(e, "version"));
		printf(
		    "%-28s %-7s %9s %6lld%% %9s %7lld %10s %10s %6lld "
		    "%8s\n",
		    name, jstr(e, "kind"),
		    fmt_bytes((uint64_t)jint(e, "size"), b1, sizeof(b1)),
		    pages ? (long long)(100 * jint(e, "pages_cached") / pages)
			  : 0LL,
		    fmt_bytes((uint64_t)jint(e, "bytes_fetched"), b2,
			      sizeof(b2)),
		    (long long)jint(e, "clients"),
		    fmt_ns((uint64_t)jint(e, "fetch_latency.p50_us") * 1000, b3,
			   sizeof(b3)),
		    fmt_ns((uint64_t)jint(e, "fetch_latency.p99_us") * 1000, b4,
			   sizeof(b4)),
		    (long long)jint(e, "poisoned"),
		    jint(e, "clients")
			? "-"
			: fmt_age((double)jint(e, "idle_s"), b5, sizeof(b5)));
	}
	(void)b6;
}

int ctl_images(const struct ctl *c)
{
	json_object *o = ctl_ask(c, "images", 0, NULL);

	if (!o)
		return CTL_FAILED;
	if (c->json)
		printf("%s\n", json_object_to_json_string_ext(
				   o, c->pretty ? JSON_C_TO_STRING_PRETTY
						: JSON_C_TO_STRING_PLAIN));
	else
		table(o);
	json_object_put(o);
	return CTL_OK;
}
