/* SPDX-License-Identifier: MIT */
/*
 * The core's side of policy.h: what a policy asks of the region it serves
 * (map, deny, its loop, the kernel's capabilities, its client's pid, a log
 * line), answered from the region's session and worker.
 */
#include "policy_host.h"
#include "clock.h"
#include "daemon.h"
#include "fault.h"
#include "files.h"
#include "hold.h"
#include "log.h"
#include "reaper.h"
#include "session.h"
#include "walk.h"
#include "worker.h"

_Static_assert(POLICY_MAP_SOFT == FAULT_SOFT &&
		   POLICY_MAP_AHEAD == (FAULT_SOFT | FAULT_AHEAD),
	       "policy_map's flags are fault_map's");

static long host_map(struct policy_region *v, uint64_t start, uint64_t len,
		     int soft)
{
	return fault_map(region_of(v), start, len, soft);
}

static long host_map_present(struct policy_region *v, uint64_t *pos,
			     uint64_t end, uint64_t budget_ns)
{
	return walk_map(region_of(v), pos, end, budget_ns);
}

static int host_deny(struct policy_region *v, uint64_t addr, uint32_t tid)
{
	return fault_deny(region_of(v), addr, tid);
}

static void host_wake(struct policy_region *v, uint64_t start, uint64_t len)
{
	fault_wake(region_of(v), start, len);
}

static int host_open_file(const struct policy_region *v, const char *arg,
			  enum policy_file_use use, char *err, size_t errlen)
{
	return files_open(region_of(v), arg, use, err, errlen);
}

static void host_held_done(struct policy_region *v, unsigned n)
{
	hold_done(region_of(v), n);
}

static struct event_base *host_loop(const struct policy_region *v)
{
	return worker_base(region_of(v)->s->w);
}

static const struct uffd_caps *host_caps(const struct policy_region *v)
{
	return &worker_daemon(region_of(v)->s->w)->caps;
}

static pid_t host_pid(const struct policy_region *v)
{
	return region_of(v)->s->who.pid;
}

static void host_client(const struct policy_region *v,
			struct policy_client *out)
{
	struct session *s = region_of(v)->s;

	/* Looked up when first asked (most policies never ask), a moment
	 * after the client connected: its parent is still the one that
	 * forked it. */
	if (!s->who.parent_id_known) {
		s->who.parent_id = peer_pid_id(s->who.parent_pid);
		s->who.parent_id_known = 1;
	}
	out->session = s->id;
	out->uid = s->who.uid;
	out->parent_pid = s->who.parent_pid;
	out->parent_id = s->who.parent_id;
	out->followed = s->child != NULL;
	out->pid = s->who.pid;
	out->self_id = s->who.self_id;
}

static void host_log(const struct policy_region *v, int prio, const char *msg)
{
	if (v)
		log_client(prio, &region_of(v)->s->who, v->id, "%s", msg);
	else
		log_msg(prio, "%s", msg);
}

static const struct policy_host host = {
	.map = host_map,
	.map_present = host_map_present,
	.deny = host_deny,
	.wake = host_wake,
	.held_done = host_held_done,
	.unmap = reaper_unmap,
	.loop = host_loop,
	.caps = host_caps,
	.pid = host_pid,
	.open_file = host_open_file,
	.client = host_client,
	.now = now_ns,
	.log = host_log,
};

void policy_host_install(void)
{
	policy_set_host(&host);
}
