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
	uint64_t b[HISTO_N];
};

void histo_add(struct histo *h, uint64_t v);
/* Percentile p (0..100) as the upper edge of its bucket, capped at max. */
uint64_t histo_pct(const struct histo *h, double p);
uint64_t histo_max(const struct histo *h);
uint64_t histo_count(const struct histo *h);

#endif
