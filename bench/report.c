/* SPDX-License-Identifier: MIT */
/* Output: one JSON object per mode and kind, a table, and CDF data for gnuplot.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const char *status_name(enum mode_status s)
{
	return s == MODE_OK	       ? "ok"
	       : s == MODE_UNAVAILABLE ? "unavailable"
				       : "failed";
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static double ratio(double a, double b)
{
	return a > 0 && b > 0 ? a / b : -1;
}

static bool usable(const struct mode_summary *m)
{
	return m && m->status == MODE_OK && m->rounds_ok;
}

static void json_num(FILE *f, const char *key, double v, int digits)
{
	if (v < 0)
		fprintf(f, ",\"%s\":null", key);
	else
		fprintf(f, ",\"%s\":%.*f", key, digits, v);
}

static void json_ratios(FILE *f, const char *key, const struct mode_summary *s,
			const struct mode_summary *base)
{
	if (!usable(base)) {
		fprintf(f, ",\"%s\":null", key);
		return;
	}
	fprintf(f, ",\"%s\":{\"mode\":\"%s\"", key, base->name);
	json_num(f, "median",
		 ratio((double)s->lat.median, (double)base->lat.median), 3);
	json_num(f, "p99", ratio((double)s->lat.p99, (double)base->lat.p99), 3);
	json_num(f, "time_per_page", ratio(s->ns_per_page, base->ns_per_page),
		 3);
	fputc('}', f);
}

void report_json(FILE *f, const struct mode_summary *s,
		 const struct mode_summary *native,
		 const struct mode_summary *inproc,
		 const struct mode_summary *inproc_unpinned)
{
	fprintf(f, "{\"kind\":\"%s\",\"mode\":\"%s\",\"status\":\"%s\"",
		kind_name(s->kind), s->name, status_name(s->status));
	fputs(",\"desc\":", f);
	json_str(f, s->desc);
	if (s->status != MODE_OK) {
		fputs(",\"why\":", f);
		json_str(f, s->why);
		fputs("}\n", f);
		return;
	}
	fprintf(f,
		",\"page_size\":%zu,\"pages\":%zu,\"threads\":%u,\"procs\":%u,"
		"\"rounds\":%u",
		s->page_size, s->pages, s->threads, s->procs, s->rounds_ok);
	fprintf(f,
		",\"latency_ns\":{\"median\":%llu,\"p90\":%llu,\"p99\":%llu,"
		"\"max\":%llu}",
		(unsigned long long)s->lat.median,
		(unsigned long long)s->lat.p90, (unsigned long long)s->lat.p99,
		(unsigned long long)s->lat.max);
	json_num(f, "ns_per_page", s->ns_per_page, 1);
	json_num(f, "pages_per_sec", s->pages_per_sec, 0);
	json_num(f, "faults_per_page", s->faults_per_page, 4);
	json_num(f, "fault_latency_median_ns", s->fault_median_ns, 0);
	json_num(f, "faults_per_sec",
		 s->faults_per_page >= 0 ? s->pages_per_sec * s->faults_per_page
					 : -1,
		 0);
	json_num(f, "handler_cpu_ns_per_fault", s->cpu_ns_per_fault, 1);
	json_num(f, "handler_cpu_ns_per_page", s->cpu_ns_per_page, 1);
	json_ratios(f, "ratio_to_native", s, native);
	json_ratios(f, "ratio_to_inproc", s, inproc);
	json_ratios(f, "ratio_to_inproc_unpinned", s, inproc_unpinned);
	fputs("}\n", f);
}

static void cell_ratio(FILE *f, double r)
{
	if (r < 0)
		fprintf(f, " %7s", "-");
	else
		fprintf(f, " %7.2f", r);
}

void report_table(FILE *f, const struct mode_summary *s, size_t n,
		  const struct mode_summary *native,
		  const struct mode_summary *inproc)
{
	const struct mode_summary *h = s;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		if (usable(&s[i]) && s[i].procs == 1) {
			h = &s[i];
			break;
		}
	fprintf(f,
		"\n%s (%zu KiB pages, %zu pages per region), latency in us, "
		"medians of %u rounds;"
		" inp = %s\n",
		kind_name(h->kind), kind_page_size(h->kind) >> 10, h->pages,
		h->rounds_ok, usable(inproc) ? inproc->name : "(none)");
	fprintf(f,
		"%-26s %3s %3s %8s %8s %8s %9s %8s %8s %9s %6s %8s %7s %7s %7s "
		"%7s\n",
		"mode", "thr", "prc", "median", "p90", "p99", "max", "flt-med",
		"us/page", "kpages/s", "flt/pg", "cpu/flt", "med/nat",
		"med/inp", "p99/inp", "t/nat");
	for (size_t i = 0; i < n; i++) {
		const struct mode_summary *m = &s[i];

		if (m->status != MODE_OK) {
			fprintf(f, "%-26s %s: %s\n", m->name,
				status_name(m->status), m->why);
			continue;
		}
		fprintf(f, "%-26s %3u %3u %8.2f %8.2f %8.2f %9.1f", m->name,
			m->threads, m->procs, m->lat.median / 1e3,
			m->lat.p90 / 1e3, m->lat.p99 / 1e3, m->lat.max / 1e3);
		if (m->fault_median_ns >= 0)
			fprintf(f, " %8.2f", m->fault_median_ns / 1e3);
		else
			fprintf(f, " %8s", "-");
		fprintf(f, " %8.3f %9.1f", m->ns_per_page / 1e3,
			m->pages_per_sec / 1e3);
		if (m->faults_per_page >= 0)
			fprintf(f, " %6.3f", m->faults_per_page);
		else
			fprintf(f, " %6s", "-");
		if (m->cpu_ns_per_fault >= 0)
			fprintf(f, " %8.2f", m->cpu_ns_per_fault / 1e3);
		else
			fprintf(f, " %8s", "-");
		cell_ratio(f, usable(native) ? ratio((double)m->lat.median,
						     (double)native->lat.median)
					     : -1);
		cell_ratio(f, usable(inproc) ? ratio((double)m->lat.median,
						     (double)inproc->lat.median)
					     : -1);
		cell_ratio(f, usable(inproc) ? ratio((double)m->lat.p99,
						     (double)inproc->lat.p99)
					     : -1);
		cell_ratio(f, usable(native)
				  ? ratio(m->ns_per_page, native->ns_per_page)
				  : -1);
		fputc('\n', f);
	}
}

static bool listed(const char *name, const char *const *only)
{
	if (!only)
		return true;
	for (; *only; only++)
		if (!strcmp(*only, name))
			return true;
	return false;
}

/*
 * One data block per mode (every mode, or those named in `only`) of
 * "latency_us fraction" pairs, ~800 per mode, the block's first line naming
 * the mode for gnuplot's columnheader.
 */
int report_cdf(const char *path, const struct mode_summary *s, size_t n,
	       const char *const *only)
{
	FILE *f = fopen(path, "w");
	int blocks = 0;

	if (!f)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct mode_summary *m = &s[i];
		size_t step;

		if (m->status != MODE_OK || !m->nall || !listed(m->name, only))
			continue;
		if (blocks++)
			fputs("\n\n", f);
		fprintf(f, "\"%s\" fraction\n", m->name);
		/* ~400 points for the body, ~400 more for the top 10 % (the
		 * tail). */
		for (size_t k = 0; k < m->nall;) {
			fprintf(f, "%.3f %.5f\n", m->all_lat[k] / 1e3,
				(double)(k + 1) / (double)m->nall);
			step = k < m->nall * 9 / 10 ? m->nall / 400 + 1
						    : m->nall / 4000 + 1;
			k += step;
		}
		fprintf(f, "%.3f 1.0\n", m->all_lat[m->nall - 1] / 1e3);
	}
	fclose(f);
	return blocks;
}
