/* SPDX-License-Identifier: MIT */
/* Output of the restore benchmark: JSON lines, a table, the goals. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "restore.h"

static void add_num(json_object *o, const char *key, double v, double scale)
{
	json_object_object_add(
	    o, key, v < 0 ? NULL : json_object_new_double(v * scale));
}

static void add_int(json_object *o, const char *key, double v)
{
	json_object_object_add(
	    o, key, v < 0 ? NULL : json_object_new_int64((int64_t)(v + 0.5)));
}

static void runs(json_object *o, const char *key, const double *v, unsigned n)
{
	json_object *a = json_object_new_array();

	for (unsigned i = 0; i < n; i++)
		json_object_array_add(
		    a, json_object_new_double((double)(int64_t)(v[i] * 1000) /
					      1000));
	json_object_object_add(o, key, a);
}

static void emit(FILE *f, json_object *o)
{
	fprintf(f, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

void report_run_line(FILE *f, const char *host_info)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("run"));
	json_object_object_add(o, "bench", json_object_new_string("restore"));
	json_object_object_add(o, "info", json_object_new_string(host_info));
	emit(f, o);
}

void report_summary_json(FILE *f, const struct rsummary *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("result"));
	json_object_object_add(o, "kind",
			       json_object_new_string(kind_name(s->kind)));
	json_object_object_add(o, "pattern",
			       json_object_new_string(pattern_name(s->pat)));
	json_object_object_add(o, "mode",
			       json_object_new_string(rmode_name(s->mode)));
	json_object_object_add(o, "image_bytes",
			       json_object_new_int64((int64_t)s->size));
	json_object_object_add(o, "page_size",
			       json_object_new_int64((int64_t)s->page_size));
	json_object_object_add(o, "pages_touched",
			       json_object_new_int64((int64_t)s->touched));
	json_object_object_add(o, "reps", json_object_new_int((int)s->reps));
	json_object_object_add(o, "reps_ok",
			       json_object_new_int((int)s->reps_ok));
	json_object_object_add(o, "status",
			       json_object_new_string(s->reps_ok == s->reps
							  ? "ok"
						      : s->reps_ok ? "partial"
								   : "failed"));
	if (s->why[0])
		json_object_object_add(o, "why",
				       json_object_new_string(s->why));
	if (s->reps_ok) {
		add_num(o, "start_ms", s->start_ms, 1);
		add_num(o, "finish_ms", s->finish_ms, 1);
		add_num(o, "alloc_ms", s->alloc_ms, 1);
		add_num(o, "work_ms", s->work_ms, 1);
		/* faults: what the workload thread took (the kernel's count:
		 * uffdd's, plus those the prefetch resolved while the thread
		 * waited); uffd_faults: the messages uffdd read and served. */
		add_int(o, "faults", s->minflt);
		add_int(o, "uffd_faults", s->faults);
		add_int(o, "bytes_read", s->bytes_read);
		add_num(o, "finish_vs_warm", s->finish_vs_warm, 1);
		add_num(o, "start_vs_warm", s->start_vs_warm, 1);
		add_int(o, "prefetch_done_at_end", s->prefetch_done_at_end);
		json_object_object_add(o, "bound",
				       json_object_new_string(s->bound));
		runs(o, "start_ms_runs", s->start_runs, s->reps_ok);
		runs(o, "finish_ms_runs", s->finish_runs, s->reps_ok);
	}
	emit(f, o);
}

void report_goal_json(FILE *f, const struct goal *g)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("goal"));
	json_object_object_add(o, "goal", json_object_new_string(g->name));
	json_object_object_add(
	    o, "met", g->met < 0 ? NULL : json_object_new_boolean(g->met));
	json_object_object_add(o, "detail", json_object_new_string(g->detail));
	emit(f, o);
}

static void cell_ms(FILE *f, double v)
{
	if (v < 0)
		fprintf(f, " %9s", "-");
	else if (v < 10)
		fprintf(f, " %9.2f", v);
	else
		fprintf(f, " %9.1f", v);
}

static void cell_int(FILE *f, double v, int w)
{
	if (v < 0)
		fprintf(f, " %*s", w, "-");
	else
		fprintf(f, " %*.0f", w, v);
}

void report_restore_table(FILE *f, const struct rsummary *s, size_t n)
{
	int last_kind = -1, last_pat = -1;

	for (size_t i = 0; i < n; i++) {
		const struct rsummary *x = &s[i];

		if ((int)x->kind != last_kind || (int)x->pat != last_pat) {
			fprintf(
			    f,
			    "\n%s %zu MiB image (%zu KiB pages), pattern %s: "
			    "%zu pages touched, checksummed\n",
			    kind_name(x->kind), x->size >> 20,
			    x->page_size >> 10, pattern_name(x->pat),
			    x->touched);
			fprintf(f,
				"%-19s %9s %9s %7s %9s %9s %8s %8s %9s  %s\n",
				"mode", "start-ms", "finish-ms", "x-warm",
				"alloc-ms", "work-ms", "faults", "uffd-flt",
				"MiB-read", "bound");
			last_kind = (int)x->kind;
			last_pat = (int)x->pat;
		}
		fprintf(f, "%-19s", rmode_name(x->mode));
		if (!x->reps_ok) {
			fprintf(f, " failed: %s\n", x->why);
			continue;
		}
		cell_ms(f, x->start_ms);
		cell_ms(f, x->finish_ms);
		if (x->finish_vs_warm < 0)
			fprintf(f, " %7s", "-");
		else
			fprintf(f, " %7.2f", x->finish_vs_warm);
		cell_ms(f, x->alloc_ms);
		cell_ms(f, x->work_ms);
		cell_int(f, x->minflt, 8);
		cell_int(f, x->faults, 8);
		if (x->bytes_read < 0)
			fprintf(f, " %9s", "-");
		else
			fprintf(f, " %9.1f", x->bytes_read / 1048576.0);
		fprintf(f, "  %s%s\n", x->bound,
			x->reps_ok < x->reps ? " (some repetitions failed)"
					     : "");
	}
}

void report_goals_text(FILE *f, const struct goal *g, size_t n)
{
	fprintf(f, "\nGoals\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  [%s] %s: %s\n",
			g[i].met < 0 ? "n/a"
			: g[i].met   ? "met"
				     : "NOT met",
			g[i].name, g[i].detail);
}
