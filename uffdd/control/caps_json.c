/* SPDX-License-Identifier: MIT */
#include "caps_json.h"

#include <json-c/json.h>
#include <stdio.h>

static void add_feature(const char *name, void *arg)
{
	json_object_array_add(arg, json_object_new_string(name));
}

struct json_object *status_kernel(const struct uffd_caps *caps)
{
	json_object *k = json_object_new_object(), *f = json_object_new_array();
	char req[32];

	json_object_object_add(k, "release",
			       json_object_new_string(caps->release));
	snprintf(req, sizeof(req), "0x%llx",
		 (unsigned long long)caps->features);
	json_object_object_add(k, "features_mask", json_object_new_string(req));
	uffd_features_each(caps->features, add_feature, f);
	json_object_object_add(k, "features", f);
	json_object_object_add(k, "minor_hugetlbfs",
			       json_object_new_boolean(caps->minor_hugetlbfs));
	json_object_object_add(k, "minor_shmem",
			       json_object_new_boolean(caps->minor_shmem));
	json_object_object_add(k, "poison",
			       json_object_new_boolean(caps->poison));
	json_object_object_add(k, "dev_userfaultfd",
			       json_object_new_boolean(caps->dev_userfaultfd));
	snprintf(req, sizeof(req), "0x%lx", caps->continue_req);
	json_object_object_add(k, "continue_request",
			       caps->continue_ok ? json_object_new_string(req)
						 : NULL);
	return k;
}
