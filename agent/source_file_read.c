/*
 * source_file_read - a file of the file source read whole, only when it is
 * settled, and compared while it is read with the bytes it held before
 *
 * Used by source_file.c, source_file_cache.c and source_file_span.c (the
 * declarations are in source_file_priv.h).  A file is settled when the
 * daemon did not see it modified and still open by its writer, and when its
 * size, mtime and inode (also under its name) are the same before and after
 * the read; else SOURCE_BUSY, SOURCE_DOWN on I/O errors, SOURCE_BAD for what
 * is not a regular file or is over SOURCE_FILE_MAX_SIZE.  It never prints;
 * the message is in the caller's struct err.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/buf.h"
#include "../formats/thread.h"
#include "source.h"
#include "source_file_priv.h"

/* source_file_same - the length of the common start of a and b (n octets) */
size_t source_file_same(const char *a, const char *b, size_t n)
{
	size_t i = 0;

	while (i + 4096 <= n && memcmp(a + i, b + i, 4096) == 0)
		i += 4096;
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/*
 * A large file is compared with its previous bytes in pieces of
 * SOURCE_FILE_PIECE read with pread(2) on every core (thread_for) before
 * the read goes on from where they first differ: for an append to a big
 * map the compare of what did not change is most of an export.
 */
#define SOURCE_FILE_PIECE ((size_t)4 << 20)

/* the pieces of one compare, for thread_for() */
struct source_file_cmp {
	int fd;
	const char *old;
	size_t len;   /* compared: the old length, at most the file's */
	size_t *same; /* per piece: how many of its octets are the same */
	int *failed;  /* per piece: errno of a failed read, or 0 */
	size_t first; /* a piece known to differ: later ones need no read */
};

/* source_file_cmp_one - piece i read and compared */
static void source_file_cmp_one(void *arg, size_t i)
{
	struct source_file_cmp *c = arg;
	char buf[65536];
	size_t at = i * SOURCE_FILE_PIECE, end = at + SOURCE_FILE_PIECE, m;
	ssize_t n;

	if (end > c->len)
		end = c->len;
	c->same[i] = 0;
	c->failed[i] = 0;
	if (i > __atomic_load_n(&c->first, __ATOMIC_RELAXED))
		return;
	while (at < end) {
		m = end - at < sizeof(buf) ? end - at : sizeof(buf);
		n = pread(c->fd, buf, m, (off_t)at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* a read error, or a file shorter than it was */
			c->failed[i] = n < 0 ? errno : 0;
			break;
		}
		m = source_file_same(buf, c->old + at, (size_t)n);
		c->same[i] += m;
		if (m < (size_t)n)
			break;
		at += (size_t)n;
	}
	if (at < end && c->failed[i] == 0) {
		/* later pieces cannot move the common start */
		size_t f = __atomic_load_n(&c->first, __ATOMIC_RELAXED);

		while (i < f && !__atomic_compare_exchange_n(
				    &c->first, &f, i, 0, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED))
			;
	}
}

/*
 * source_file_same_pieces - the common start of fd's first len octets and
 * old, compared in pieces on every core; -1 (err set) on read errors
 */
static int source_file_same_pieces(int fd, const char *old, size_t len,
				   size_t *same_r, const char *path,
				   struct err *err)
{
	size_t np = (len + SOURCE_FILE_PIECE - 1) / SOURCE_FILE_PIECE, i;
	struct source_file_cmp c = {fd, old, len, NULL, NULL, (size_t)-1};
	int rc = 0;

	c.same = malloc(np * sizeof(*c.same));
	c.failed = malloc(np * sizeof(*c.failed));
	if (c.same == NULL || c.failed == NULL) {
		rc = err_set(err, "read(%s): out of memory", path);
		goto out;
	}
	thread_for(np, source_file_cmp_one, &c);
	*same_r = 0;
	for (i = 0; i < np; i++) {
		if (c.failed[i] != 0) {
			errno = c.failed[i];
			rc = err_sys(err, "read(%s)", path);
			goto out;
		}
		*same_r += c.same[i];
		if (c.same[i] < SOURCE_FILE_PIECE)
			break;
	}
out:
	free(c.same);
	free(c.failed);
	return rc;
}

/*
 * source_file_read_chunk - one read(2) of the file into b, or, while the
 * file is the same as prev's bytes, into a scratch buffer compared with
 * them (so that what did not change is neither copied nor kept twice);
 * octets read, 0 at the end, -1 on errors
 */
static ssize_t source_file_read_chunk(int fd, struct buf *b,
				      struct source_file_prev *p, size_t *off,
				      int *diverged, const char *path,
				      struct err *err)
{
	char scratch[65536];
	size_t m, cmp;
	ssize_t n;

	do {
		if (*diverged) {
			if (buf_reserve(b, 65536) < 0) {
				err_set(err, "read(%s): out of memory", path);
				return -1;
			}
			n = read(fd, b->data + b->len, b->cap - b->len - 1);
		} else {
			n = read(fd, scratch, sizeof(scratch));
		}
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		err_sys(err, "read(%s)", path);
		return -1;
	}
	if (n == 0)
		return 0;
	if (*diverged) {
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	} else {
		cmp = *off < p->olen ? p->olen - *off : 0;
		if (cmp > (size_t)n)
			cmp = (size_t)n;
		m = source_file_same(scratch, p->old + *off, cmp);
		if (m < (size_t)n) {
			/* from here on the file is kept in b */
			p->same = *off + m;
			*diverged = 1;
			if (buf_append(b, scratch + m, (size_t)n - m) < 0) {
				err_set(err, "read(%s): out of memory", path);
				return -1;
			}
		}
	}
	*off += (size_t)n;
	return n;
}

/*
 * source_file_read_settled - the whole file into b, only when it is settled:
 * not being written as far as the daemon saw, and the same size, mtime and
 * inode (also under its name) before and after the read.  SOURCE_BUSY
 * when not, SOURCE_DOWN on I/O errors.
 */
int source_file_read_settled(struct source *src,
			     const struct source_export_ctx *ctx,
			     const char *path, struct buf *b, struct err *err)
{
	return source_file_read_prev(src, ctx, path, NULL, b, err);
}

/*
 * source_file_read_prev - source_file_read_settled(), compared with the
 * bytes the file held before (p, not NULL): p->same gets the length of
 * their common start, and b only what follows it
 */
int source_file_read_prev(struct source *src,
			  const struct source_export_ctx *ctx, const char *path,
			  struct source_file_prev *p, struct buf *b,
			  struct err *err)
{
	struct source_file_conf *fc = src->priv;
	struct stat before, after, named;
	int fd = -1, rc = SOURCE_DOWN, diverged = p == NULL;
	size_t off = 0;
	ssize_t n;

	if (source_busy(ctx, path)) {
		err_set(err,
			"%s is being written (modified, not closed by "
			"its writer yet)",
			path);
		rc = SOURCE_BUSY;
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_sys(err, "open(%s)", path);
		goto out;
	}
	if (fstat(fd, &before) < 0) {
		err_sys(err, "fstat(%s)", path);
		goto out;
	}
	if (!S_ISREG(before.st_mode)) {
		err_set(err, "%s: not a regular file", path);
		rc = SOURCE_BAD;
		goto out;
	}
	/* Room for the whole file at once: it may be kept (source_file_span.c)
	 */
	if (p == NULL && before.st_size > 0 &&
	    (unsigned long long)before.st_size < SOURCE_FILE_MAX_SIZE &&
	    buf_reserve(b, (size_t)before.st_size + 65536) < 0) {
		err_set(err, "read(%s): out of memory", path);
		goto out;
	}
	/*
	 * A large file's common start with its previous bytes first, on
	 * every core; the reads below go on from there (into b).
	 */
	if (p != NULL && p->olen >= 2 * SOURCE_FILE_PIECE &&
	    before.st_size > 0) {
		size_t len = p->olen < (size_t)before.st_size
				 ? p->olen
				 : (size_t)before.st_size;

		if (source_file_same_pieces(fd, p->old, len, &off, path, err) <
		    0)
			goto out;
		if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
			err_sys(err, "lseek(%s)", path);
			goto out;
		}
		p->same = off;
		diverged = 1;
	}
	while ((n = source_file_read_chunk(fd, b, p, &off, &diverged, path,
					   err)) > 0)
		if (off > SOURCE_FILE_MAX_SIZE) {
			err_set(err, "read(%s): file too large", path);
			rc = SOURCE_BAD;
			goto out;
		}
	if (n < 0)
		goto out;
	if (!diverged)
		p->same = off;
	if (fstat(fd, &after) < 0) {
		err_sys(err, "fstat(%s)", path);
		goto out;
	}
	/* Renamed over or removed meanwhile: the name has another file. */
	if (stat(path, &named) < 0) {
		if (errno != ENOENT) {
			err_sys(err, "stat(%s)", path);
			goto out;
		}
		named.st_ino = 0;
		named.st_dev = 0;
	}
	if (!source_file_cache_same(&before, &after) ||
	    (off_t)off != after.st_size || named.st_ino != before.st_ino ||
	    named.st_dev != before.st_dev) {
		err_set(err, "%s changed while it was read", path);
		rc = SOURCE_BUSY;
		goto out;
	}
	fc->read_sb = after;
	fc->read_trusted = source_file_cache_old_enough(&after);
	fc->files_read++;
	if (fc->cache.seen != NULL)
		source_file_cache_saw(fc, path);
	rc = SOURCE_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		err_prefix(err, "source %s", src->name);
	return rc;
}
