/* SPDX-License-Identifier: MIT */
#include "histo.h"

#define LD(x)	 __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

static unsigned idx_of(uint64_t v)
{
	unsigned msb, idx;

	if (v < 4)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	idx = (msb - 1) * 4 + (unsigned)((v >> (msb - 2)) & 3);
	return idx < HISTO_N ? idx : HISTO_N - 1;
}

static uint64_t upper_of(unsigned idx)
{
	unsigned msb, sub;

	if (idx < 4)
		return idx;
	msb = idx / 4 + 1;
	sub = idx % 4;
	return ((uint64_t)(5 + sub) << (msb - 2)) - 1;
}

void histo_add(struct histo *h, uint64_t v)
{
	unsigned i = idx_of(v);

	/* Single writer: plain read-modify-write through relaxed atomics. */
	ST(h->b[i], LD(h->b[i]) + 1);
	ST(h->count, LD(h->count) + 1);
	ST(h->sum, LD(h->sum) + v);
	if (v > LD(h->max))
		ST(h->max, v);
}

uint64_t histo_count(const struct histo *h)
{
	return LD(h->count);
}

uint64_t histo_sum(const struct histo *h)
{
	return LD(h->sum);
}

uint64_t histo_below(const struct histo *h, uint64_t bound)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < HISTO_N && upper_of(i) < bound; i++)
		n += LD(h->b[i]);
	return n;
}

void histo_merge(struct histo *dst, const struct histo *src)
{
	uint64_t max = LD(src->max);

	for (unsigned i = 0; i < HISTO_N; i++)
		dst->b[i] += LD(src->b[i]);
	dst->count += LD(src->count);
	dst->sum += LD(src->sum);
	if (max > dst->max)
		dst->max = max;
}

uint64_t histo_max(const struct histo *h)
{
	return LD(h->max);
}

uint64_t histo_pct(const struct histo *h, double p)
{
	uint64_t total = 0, seen = 0, want, max = LD(h->max);

	for (unsigned i = 0; i < HISTO_N; i++)
		total += LD(h->b[i]);
	if (!total)
		return 0;
	want = (uint64_t)((double)total * p / 100.0 + 0.999999);
	if (want < 1)
		want = 1;
	if (want > total)
		want = total;
	for (unsigned i = 0; i < HISTO_N; i++) {
		seen += LD(h->b[i]);
		if (seen >= want) {
			uint64_t u = upper_of(i);
			return u < max ? u : max;
		}
	}
	return max;
}
