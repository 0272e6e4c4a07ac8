/* SPDX-License-Identifier: MIT */
/*
 * file:DIR — objects as files in one directory of the host.
 *
 * Reads run on a few I/O threads, not on the caller's loop: a cold file on
 * a disk blocks in pread for milliseconds, and preadv2(RWF_NOWAIT) only
 * says "not cached" and leaves the blocking read to some thread anyway.
 * The thread also does the copy into the destination and the checksum
 * (about 1 ms per 4 MiB chunk), which would otherwise stall every client
 * of the worker.  The bound on reads in flight is the number of threads.
 *
 * The directory is configuration, not a client's choice: it is opened once
 * (O_PATH) and every object is opened beneath it with O_NOFOLLOW and
 * O_NONBLOCK, then checked to be a regular file (no FIFO can block us).
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fstore {
	int dirfd;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	TAILQ_HEAD(, store_req) queue;
	int stopping;
	int nthreads;
	pthread_t *threads;
};

static int open_obj(struct fstore *f, const char *obj, struct stat *sb)
{
	int fd = openat(f->dirfd, obj,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, sb) || !S_ISREG(sb->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int store_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank under us */
		done += (size_t)n;
	}
	return 0;
}

static int f_read(struct store *st, const char *obj, uint64_t off, size_t len,
		  void *buf)
{
	struct stat sb;
	int fd = open_obj(store_backend(st), obj, &sb);
	int rc;

	if (fd < 0)
		return fd;
	rc = store_pread_full(fd, buf, len, off);
	close(fd);
	return rc;
}

static int f_get(struct store *st, const char *obj, size_t max, void **buf,
		 size_t *len)
{
	struct stat sb = { 0 };
	int fd = open_obj(store_backend(st), obj, &sb);
	void *p;
	int rc;

	if (fd < 0)
		return fd;
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	p = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	rc = store_pread_full(fd, p, (size_t)sb.st_size, 0);
	close(fd);
	if (rc) {
		free(p);
		return rc;
	}
	*buf = p;
	*len = (size_t)sb.st_size;
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* A temporary file beside it, then rename: a reader sees the old object or
 * the whole new one.  Names starting with '.' are never objects. */
static int f_put(struct store *st, const char *obj, const void *buf, size_t len)
{
	struct fstore *f = store_backend(st);
	static unsigned seq;
	char tmp[IMG_OBJ_MAX + 48];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), ".tmp.%s.%d.%u", obj, (int)getpid(),
		 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	fd = openat(f->dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = write_full(fd, buf, len);
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && renameat(f->dirfd, tmp, f->dirfd, obj))
		rc = -errno;
	if (rc)
		unlinkat(f->dirfd, tmp, 0);
	return rc;
}

static int f_remove(struct store *st, const char *obj)
{
	struct fstore *f = store_backend(st);

	return unlinkat(f->dirfd, obj, 0) ? -errno : 0;
}

static int f_list(struct store *st, int (*each)(void *arg, const char *obj),
		  void *arg)
{
	struct fstore *f = store_backend(st);
	int fd = openat(f->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (!rc && (de = readdir(d)))
		if (de->d_name[0] != '.')
			rc = each(arg, de->d_name);
	closedir(d);
	return rc;
}

static void *io_main(void *arg)
{
	struct fstore *f = arg;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct store_req *r;
		int rc;

		while (!f->stopping && TAILQ_EMPTY(&f->queue))
			pthread_cond_wait(&f->cv, &f->lock);
		if (f->stopping)
			break;
		r = TAILQ_FIRST(&f->queue);
		TAILQ_REMOVE(&f->queue, r, q);
		pthread_mutex_unlock(&f->lock);
		rc = f_read(store_image_store(r->img), r->obj, r->obj_off,
			    r->len, r->buf);
		store_req_done(r, rc);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static int f_submit(struct store_req *r)
{
	struct fstore *f = store_backend(store_image_store(r->img));

	pthread_mutex_lock(&f->lock);
	TAILQ_INSERT_TAIL(&f->queue, r, q);
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void stop_threads(struct fstore *f)
{
	pthread_mutex_lock(&f->lock);
	f->stopping = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
	for (int i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	f->nthreads = 0;
}

static void f_close(struct store *st)
{
	struct fstore *f = store_backend(st);

	if (!f)
		return;
	stop_threads(f);
	free(f->threads);
	close(f->dirfd);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->lock);
	free(f);
	store_set_backend(st, NULL);
}

static int f_open(struct store *st, const struct store_opts *o, char *err,
		  size_t errlen)
{
	struct fstore *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cv, NULL);
	TAILQ_INIT(&f->queue);
	f->dirfd = open(o->loc, O_PATH | O_DIRECTORY | O_CLOEXEC);
	f->threads = calloc((size_t)o->threads, sizeof(pthread_t));
	if (f->dirfd < 0 || !f->threads) {
		rc = f->dirfd < 0 ? -errno : -ENOMEM;
		snprintf(err, errlen, "file:%s: %s", o->loc, strerror(-rc));
		goto fail;
	}
	store_set_backend(st, f);
	for (int i = 0; i < o->threads; i++) {
		rc = -pthread_create(&f->threads[i], NULL, io_main, f);
		if (rc) {
			snprintf(err, errlen, "file:%s: I/O thread: %s", o->loc,
				 strerror(-rc));
			stop_threads(f);
			goto fail;
		}
		f->nthreads++;
	}
	if (!o->inflight)
		store_set_inflight(st, o->threads);
	return 0;
fail:
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->threads);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->lock);
	free(f);
	store_set_backend(st, NULL);
	return rc;
}

const struct store_ops store_file_ops = {
	.kind = "file",
	.open = f_open,
	.close = f_close,
	.get = f_get,
	.read = f_read,
	.put = f_put,
	.remove = f_remove,
	.list = f_list,
	.submit = f_submit,
	.default_inflight = 0,
};
