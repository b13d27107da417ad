/*
 * atomic - replace a file so that readers see the old or the new one, whole
 *
 * Owns the one way mxsync writes files: a unique temporary file
 * "<target>.tmp.XXXXXX" created with mkostemp() beside the target, fchmod to
 * the requested mode, full writes, fsync, a checked close, rename over the
 * target and an fsync of the directory.
 *
 * Failure: every function returns -1 with "what(path): reason" in err; the
 * temporary file is unlinked on every failure path, so the target is either
 * the old file or the complete new one.
 *
 * Security: mkostemp() creates the file with O_EXCL and mode 0600, so no
 * other user can open it before fchmod() sets the final mode; nothing here
 * follows a pre-existing temporary name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "fileio.h"

#define ATOMIC_SUFFIX ".tmp."
#define ATOMIC_XLEN 6

/* atomic_reset - forget everything (after the owned memory is released) */
static void atomic_reset(struct atomic_file *af)
{
	af->fd = -1;
	af->path = NULL;
	af->tmp = NULL;
}

int atomic_open(struct atomic_file *af, const char *path, mode_t mode,
		struct err *err)
{
	size_t plen;

	atomic_reset(af);
	plen = strlen(path);
	if (plen == 0)
		return err_set(err, "atomic_open: empty path");
	if ((af->path = strdup(path)) == NULL)
		return err_sys(err, "malloc");
	if ((af->tmp = malloc(plen + sizeof(ATOMIC_SUFFIX) + ATOMIC_XLEN)) ==
	    NULL) {
		err_sys(err, "malloc");
		goto fail;
	}
	memcpy(af->tmp, path, plen);
	memcpy(af->tmp + plen, ATOMIC_SUFFIX "XXXXXX",
	       sizeof(ATOMIC_SUFFIX) - 1 + ATOMIC_XLEN + 1);
	if ((af->fd = mkostemp(af->tmp, O_CLOEXEC)) < 0) {
		err_sys(err, "open(%s" ATOMIC_SUFFIX "XXXXXX)", path);
		free(af->tmp);
		af->tmp = NULL;
		goto fail;
	}
	if (fchmod(af->fd, mode) < 0) {
		err_sys(err, "fchmod(%s)", af->tmp);
		goto fail;
	}
	return 0;
fail:
	atomic_abort(af);
	return -1;
}

int atomic_write(struct atomic_file *af, const void *data, size_t len,
		 struct err *err)
{
	if (af->fd < 0)
		return err_set(err, "write(%s): file is closed",
			       af->tmp ? af->tmp : "(none)");
	return fileio_write_all(af->fd, af->tmp, data, len, err);
}

int atomic_sync(struct atomic_file *af, struct err *err)
{
	int fd = af->fd;

	if (fd < 0)
		return af->tmp ? 0 : err_set(err, "atomic_sync: not open");
	af->fd = -1;
	if (fsync(fd) < 0) {
		err_sys(err, "fsync(%s)", af->tmp);
		close(fd);
		return -1;
	}
	/* close() can report a delayed write error (NFS, quotas) */
	if (close(fd) < 0)
		return err_sys(err, "close(%s)", af->tmp);
	return 0;
}

int atomic_commit(struct atomic_file *af, struct err *err)
{
	int rc = -1;

	if (af->tmp == NULL)
		return err_set(err, "atomic_commit: nothing to commit");
	if (atomic_sync(af, err) < 0)
		goto out;
	if (rename(af->tmp, af->path) < 0) {
		err_sys(err, "rename(%s, %s)", af->tmp, af->path);
		goto out;
	}
	free(af->tmp);
	af->tmp = NULL;
	/*
	 * The new file is in place: whatever happens now, this is a success
	 * (the caller must not undo or report a replacement that happened);
	 * a directory that could not be synced is only a durability warning.
	 */
	rc = atomic_fsync_dir(af->path, err) < 0 ? 1 : 0;
out:
	atomic_abort(af);
	return rc;
}

void atomic_abort(struct atomic_file *af)
{
	if (af == NULL)
		return;
	if (af->fd >= 0)
		close(af->fd);
	if (af->tmp != NULL) {
		int saved = errno;

		unlink(af->tmp);
		errno = saved;
	}
	free(af->tmp);
	free(af->path);
	atomic_reset(af);
}

int atomic_write_file(const char *path, const void *data, size_t len,
		      mode_t mode, struct err *err)
{
	struct atomic_file af;

	if (atomic_open(&af, path, mode, err) < 0)
		return -1;
	if (atomic_write(&af, data, len, err) < 0) {
		atomic_abort(&af);
		return -1;
	}
	return atomic_commit(&af, err);
}

/* atomic_is_temp - name ends in ".tmp." and six mkstemp characters */
static int atomic_is_temp(const char *name)
{
	size_t len = strlen(name), slen = sizeof(ATOMIC_SUFFIX) - 1, i;

	if (len <= slen + ATOMIC_XLEN)
		return 0;
	if (memcmp(name + len - ATOMIC_XLEN - slen, ATOMIC_SUFFIX, slen) != 0)
		return 0;
	for (i = len - ATOMIC_XLEN; i < len; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

int atomic_cleanup_dir(const char *dir, struct err *err)
{
	DIR *d = NULL;
	struct dirent *de;
	int rc = -1;

	if ((d = opendir(dir)) == NULL)
		return err_sys(err, "opendir(%s)", dir);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				err_sys(err, "readdir(%s)", dir);
				goto out;
			}
			break;
		}
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (!atomic_is_temp(de->d_name))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			err_sys(err, "unlink(%s/%s)", dir, de->d_name);
			goto out;
		}
	}
	rc = 0;
out:
	closedir(d);
	return rc;
}

int atomic_fsync_dir(const char *path, struct err *err)
{
	return fileio_fsync_dir(path, 1, err);
}
