/* SPDX-License-Identifier: MIT */
/*
 * The metadata thread: the store calls that block (find the latest version,
 * read a header, get or put a trace) run here, one at a time, and end on
 * the caller's loop.  They are rare (once per image per host) and small;
 * one thread keeps them off every worker without a pool to size.  A store
 * that hangs holds this thread up to its timeout (rados: timeout=).
 */
#include "store_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum job_kind { JOB_OPEN, JOB_TRACE_GET, JOB_TRACE_PUT, JOB_CALL };

struct store_job {
	TAILQ_ENTRY(store_job) q;
	struct store_post done;
	enum job_kind kind;
	struct store *st;
	char name[IMG_NAME_MAX + 1];
	uint64_t version;
	store_open_fn open_cb;
	store_trace_fn trace_cb;
	int (*work)(void *arg);
	void (*call_cb)(void *arg, int err);
	void *arg;
	int err;
	struct store_image *img;
	void *buf;
	size_t len;
	char errmsg[256];
	struct store_loop *lp;
};

static void run(struct store_job *j)
{
	switch (j->kind) {
	case JOB_OPEN:
		j->err = store_image_open(j->st, j->name, j->version, &j->img,
					  j->errmsg, sizeof(j->errmsg));
		break;
	case JOB_TRACE_GET:
		j->err = store_trace_get(j->st, j->name, j->version, &j->buf,
					 &j->len);
		break;
	case JOB_TRACE_PUT:
		j->err =
		    store_trace_put(j->st, j->name, j->version, j->buf, j->len);
		free(j->buf);
		j->buf = NULL;
		j->len = 0;
		break;
	case JOB_CALL:
		j->err = j->work(j->arg);
		break;
	}
}

static void deliver(struct store_post *d)
{
	struct store_job *j =
	    (struct store_job *)((char *)d - offsetof(struct store_job, done));

	store_loop_release(j->lp);
	if (j->kind == JOB_OPEN)
		j->open_cb(j->arg, j->err, j->img, j->err ? j->errmsg : "");
	else if (j->kind == JOB_CALL)
		j->call_cb(j->arg, j->err);
	else
		j->trace_cb(j->arg, j->err, j->buf, j->len);
	free(j);
}

static void *meta_main(void *arg)
{
	struct store *st = arg;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		struct store_job *j;

		while (!st->meta_stopping && TAILQ_EMPTY(&st->jobs))
			pthread_cond_wait(&st->meta_cv, &st->lock);
		j = TAILQ_FIRST(&st->jobs);
		if (!j)
			break;
		TAILQ_REMOVE(&st->jobs, j, q);
		pthread_mutex_unlock(&st->lock);
		run(j);
		j->done.deliver = deliver;
		store_loop_post(j->lp, &j->done);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

static int queue_job(struct store *st, struct store_job *j)
{
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	if (!st->meta_started) {
		rc = -pthread_create(&st->meta, NULL, meta_main, st);
		st->meta_started = !rc;
	}
	if (!rc) {
		TAILQ_INSERT_TAIL(&st->jobs, j, q);
		pthread_cond_signal(&st->meta_cv);
		store_loop_hold(j->lp);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* Finishes the queued jobs (their callbacks are posted), then ends. */
void store_meta_stop(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	st->meta_stopping = 1;
	pthread_cond_signal(&st->meta_cv);
	pthread_mutex_unlock(&st->lock);
	if (st->meta_started)
		pthread_join(st->meta, NULL);
	st->meta_started = 0;
}

static struct store_job *job_new(struct store *st, struct store_loop *lp,
				 enum job_kind kind, const char *name,
				 uint64_t version)
{
	struct store_job *j;

	if (!img_name_valid(name))
		return NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->st = st;
	j->lp = lp;
	j->kind = kind;
	strcpy(j->name, name);
	j->version = version;
	return j;
}

static int submit(struct store_job *j)
{
	int rc = queue_job(j->st, j);

	if (rc) {
		free(j->buf);
		free(j);
	}
	return rc;
}

int store_image_open_async(struct store *st, struct store_loop *lp,
			   const char *name, uint64_t version, store_open_fn cb,
			   void *arg)
{
	struct store_job *j = job_new(st, lp, JOB_OPEN, name, version);

	if (!j)
		return img_name_valid(name) ? -ENOMEM : -EINVAL;
	j->open_cb = cb;
	j->arg = arg;
	return submit(j);
}

int store_trace_get_async(struct store *st, struct store_loop *lp,
			  const char *name, uint64_t version, store_trace_fn cb,
			  void *arg)
{
	struct store_job *j = job_new(st, lp, JOB_TRACE_GET, name, version);

	if (!j)
		return img_name_valid(name) ? -ENOMEM : -EINVAL;
	j->trace_cb = cb;
	j->arg = arg;
	return submit(j);
}

int store_trace_put_async(struct store *st, struct store_loop *lp,
			  const char *name, uint64_t version, const void *buf,
			  size_t len, store_trace_fn cb, void *arg)
{
	struct store_job *j;

	if (len > IMG_TRACE_MAX)
		return -EFBIG;
	j = job_new(st, lp, JOB_TRACE_PUT, name, version);
	if (!j)
		return img_name_valid(name) ? -ENOMEM : -EINVAL;
	j->buf = malloc(len ? len : 1);
	if (!j->buf) {
		free(j);
		return -ENOMEM;
	}
	memcpy(j->buf, buf, len);
	j->len = len;
	j->trace_cb = cb;
	j->arg = arg;
	return submit(j);
}

int store_call_async(struct store *st, struct store_loop *lp,
		     int (*work)(void *arg), void (*done)(void *arg, int err),
		     void *arg)
{
	struct store_job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->st = st;
	j->lp = lp;
	j->kind = JOB_CALL;
	j->work = work;
	j->call_cb = done;
	j->arg = arg;
	return submit(j);
}
