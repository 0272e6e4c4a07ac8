/* SPDX-License-Identifier: MIT */
/* `uffdctl images`: the cache and every image in it, as JSON. */
#include "image_int.h"

#include <json-c/json.h>

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static json_object *latency(const struct histo *h)
{
	json_object *o = json_object_new_object();

	add_u64(o, "count", histo_count(h));
	add_u64(o, "p50_us", histo_pct(h, 50) / 1000);
	add_u64(o, "p99_us", histo_pct(h, 99) / 1000);
	add_u64(o, "max_us", histo_max(h) / 1000);
	return o;
}

static json_object *one(const struct image *img, uint64_t now)
{
	const struct image_info *in = &img->info;
	json_object *o = json_object_new_object();
	uint64_t pages = LD(img->pages_ok);

	add_u64(o, "id", in->id);
	json_object_object_add(o, "name", json_object_new_string(in->name));
	add_u64(o, "version", in->version);
	json_object_object_add(
	    o, "kind",
	    json_object_new_string(in->hugetlb ? "hugetlb" : "shmem"));
	add_u64(o, "size", in->size);
	add_u64(o, "page_size", in->page_size);
	add_u64(o, "fetch_size", in->fetch_size);
	add_u64(o, "pages", in->map_len / in->page_size);
	add_u64(o, "pages_cached", pages);
	add_u64(o, "bytes_cached",
		in->hugetlb ? in->map_len : pages * in->page_size);
	add_u64(o, "bytes_fetched", LD(img->bytes_fetched));
	add_u64(o, "fetches", LD(img->fetches));
	add_u64(o, "fetch_errors", LD(img->fetch_errors));
	add_u64(o, "prefetched", LD(img->prefetched));
	add_u64(o, "packed_pages", LD(img->packed_pages));
	add_u64(o, "packed_bytes", LD(img->packed_bytes));
	add_u64(o, "packed_blocks", LD(img->packed_blocks));
	add_u64(o, "packed_errors", LD(img->packed_errors));
	add_u64(o, "clients", img->refs);
	add_u64(o, "idle_s",
		img->refs ? 0 : (now - img->last_used_ns) / 1000000000ull);
	add_u64(o, "faults_cached", LD(img->faults_hit));
	add_u64(o, "faults_waited", LD(img->faults_waited));
	add_u64(o, "poisoned", LD(img->poisoned));
	json_object_object_add(o, "fetch_latency", latency(&img->fetch_ns));
	json_object_object_add(o, "wait_latency", latency(&img->wait_ns));
	return o;
}

json_object *image_cache_status(struct image_cache *c)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	uint64_t now = image_now_ns(), total = 0;
	struct store_stats s = { 0 };
	struct store *st = __atomic_load_n(&c->st, __ATOMIC_ACQUIRE);
	struct image *img;

	pthread_mutex_lock(&c->lock);
	LIST_FOREACH(img, &c->images, link)
	{
		json_object *i = one(img, now);

		total += (uint64_t)json_object_get_int64(
		    json_object_object_get(i, "bytes_cached"));
		json_object_array_add(a, i);
	}
	pthread_mutex_unlock(&c->lock);
	json_object_object_add(o, "store",
			       json_object_new_string(c->conf.store));
	if (st) {
		store_get_stats(st, &s);
		json_object_object_add(o, "store_kind",
				       json_object_new_string(store_kind(st)));
	} else {
		json_object_object_add(o, "store_error",
				       json_object_new_string("not open yet"));
	}
	add_u64(o, "store_reads", s.reads);
	add_u64(o, "store_read_bytes", s.read_bytes);
	add_u64(o, "store_errors", s.read_errors + s.bad_sums);
	add_u64(o, "store_inflight", s.inflight);
	add_u64(o, "bytes_cached", total);
	add_u64(o, "budget", c->conf.budget);
	add_u64(o, "keep_ms", c->conf.keep_ms);
	add_u64(o, "fetch_size", c->conf.fetch_size);
	add_u64(o, "fault_timeout_ms", c->conf.fault_timeout_ms);
	json_object_object_add(o, "images", a);
	return o;
}
