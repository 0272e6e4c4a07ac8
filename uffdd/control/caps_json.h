/* SPDX-License-Identifier: MIT */
/* The kernel's userfaultfd capabilities as JSON (uffdd status, uffdctl). */
#ifndef UFFDD_CAPS_JSON_H
#define UFFDD_CAPS_JSON_H

#include "probe.h"

struct json_object;

struct json_object *status_kernel(const struct uffd_caps *caps);

#endif
