/* SPDX-License-Identifier: MIT */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct policy_ops *const all[] = {
	&policy_continue,
};

const char *policy_names(void)
{
	static char buf[256];

	if (!buf[0])
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
			size_t n = strlen(buf);

			snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? " " : "",
				 all[i]->usage);
		}
	return buf;
}

int policy_create(const char *spec, struct policy **out, char *err,
		  size_t errlen)
{
	const char *colon = strchr(spec, ':');
	size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
	struct policy *p;
	int rc;

	*out = NULL;
	if (strlen(spec) >= sizeof(p->spec)) {
		snprintf(err, errlen, "policy \"%.32s...\" is too long", spec);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strlen(all[i]->name) != nlen ||
		    strncmp(all[i]->name, spec, nlen) != 0)
			continue;
		p = calloc(1, sizeof(*p));
		if (!p) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		p->ops = all[i];
		snprintf(p->spec, sizeof(p->spec), "%s", spec);
		rc = p->ops->create(colon ? colon + 1 : NULL, &p->state, err,
				    errlen);
		if (rc < 0) {
			free(p);
			return rc;
		}
		*out = p;
		return 0;
	}
	snprintf(err, errlen, "unknown policy \"%.*s\" (known: %s)", (int)nlen,
		 spec, policy_names());
	return -EINVAL;
}

int policy_check(const char *spec, char *err, size_t errlen)
{
	struct policy *p;
	int rc = policy_create(spec, &p, err, errlen);

	if (rc == 0)
		policy_destroy(p);
	return rc;
}

void policy_destroy(struct policy *p)
{
	if (!p)
		return;
	if (p->ops->destroy)
		p->ops->destroy(p->state);
	free(p);
}
