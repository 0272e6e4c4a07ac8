/* SPDX-License-Identifier: MIT */
/* Inside the policy module: the composition (chain.c) looks names up in
 * the table (policy.c). */
#ifndef UFFDD_POLICY_TABLE_H
#define UFFDD_POLICY_TABLE_H

#include <stddef.h>

struct policy_ops;

/* The ops of a policy name (length n), or NULL. */
const struct policy_ops *policy_lookup(const char *name, size_t n);

#endif
