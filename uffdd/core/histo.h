/* SPDX-License-Identifier: MIT */
/*
 * Latency histogram: four buckets per power of two (about 19% wide), one
 * writer (the worker that owns the region), readers on other threads.
 */
#ifndef UFFDD_HISTO_H
#define UFFDD_HISTO_H

#include <stdint.h>

#define HISTO_N 164 /* up to 2^41 ns */

struct histo {
	uint64_t count;
	uint64_t max;
	uint64_t sum; /* of every value: a Prometheus histogram's _sum */
	uint64_t b[HISTO_N];
};

void histo_add(struct histo *h, uint64_t v);
/* Percentile p (0..100) as the upper edge of its bucket, capped at max. */
uint64_t histo_pct(const struct histo *h, double p);
uint64_t histo_max(const struct histo *h);
uint64_t histo_count(const struct histo *h);
uint64_t histo_sum(const struct histo *h);
/*
 * Values below bound, a power of two (bucket edges fall on powers of two,
 * so the count is exact): a Prometheus bucket.
 */
uint64_t histo_below(const struct histo *h, uint64_t bound);
/* Add src into dst, a reader's private copy (src may move meanwhile). */
void histo_merge(struct histo *dst, const struct histo *src);

#endif
