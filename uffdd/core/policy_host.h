/* SPDX-License-Identifier: MIT */
/* The core answers what policies ask (policy.h's struct policy_host). */
#ifndef UFFDD_POLICY_HOST_H
#define UFFDD_POLICY_HOST_H

/* Start-up, before the first policy is attached. */
void policy_host_install(void);

#endif
