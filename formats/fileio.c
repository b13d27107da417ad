/*
 * fileio - reading files whole and writing buffers whole (see fileio.h)
 *
 * pread() keeps the file offset out of it, so callers may read a header and
 * then the body at known offsets without seeking.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

int fileio_pread_exact(int fd, const char *path, void *buf, size_t len,
		       off_t off, struct err *err)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done,
			  off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "read(%s)", path);
		if (n == 0)
			return err_set(err,
				       "read(%s): file shrank while "
				       "being read",
				       path);
		done += (size_t)n;
	}
	return 0;
}

int fileio_read_fd(int fd, const char *path, size_t max, char **buf_r,
		   size_t *len_r, struct err *err)
{
	struct stat sb;
	char *buf = NULL, extra;
	size_t len;
	ssize_t n;

	*buf_r = NULL;
	*len_r = 0;
	if (fstat(fd, &sb) < 0)
		return err_sys(err, "fstat(%s)", path);
	if (!S_ISREG(sb.st_mode))
		return err_set(err, "%s: not a regular file", path);
	if ((uint64_t)sb.st_size > max || (uint64_t)sb.st_size >= SIZE_MAX)
		return err_set(err, "%s: over %zu octets", path, max);
	len = (size_t)sb.st_size;
	buf = malloc(len + 1);
	if (buf == NULL)
		return err_set(err, "%s: out of memory (%zu octets)", path,
			       len);
	if (fileio_pread_exact(fd, path, buf, len, 0, err) < 0)
		goto fail;
	/* one octet more means the file grew: no record list is cut short */
	do
		n = pread(fd, &extra, 1, (off_t)len);
	while (n < 0 && errno == EINTR);
	if (n != 0) {
		if (n < 0)
			err_sys(err, "read(%s)", path);
		else
			err_set(err, "read(%s): file grew while being read",
				path);
		goto fail;
	}
	buf[len] = '\0';
	*buf_r = buf;
	*len_r = len;
	return 0;
fail:
	free(buf);
	return -1;
}

int fileio_read_all(const char *path, size_t max, char **buf_r, size_t *len_r,
		    struct err *err)
{
	int fd, rc;

	*buf_r = NULL;
	*len_r = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, "open(%s)", path);
	rc = fileio_read_fd(fd, path, max, buf_r, len_r, err);
	close(fd);
	return rc;
}

int fileio_read_upto(int fd, const char *path, void *buf, size_t size,
		     size_t *len_r, struct err *err)
{
	size_t len = 0;
	ssize_t n;

	*len_r = 0;
	while (len < size) {
		n = read(fd, (char *)buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "read(%s)", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*len_r = len;
	return 0;
}

int fileio_write_all(int fd, const char *name, const void *buf, size_t len,
		     struct err *err)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "write(%s)", name);
		if (n == 0)
			return err_set(err, "write(%s): no progress", name);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fileio_fsync_dir(const char *path, int parent, struct err *err)
{
	char dir[PATH_MAX];
	const char *slash = parent ? strrchr(path, '/') : NULL;
	size_t n;
	int fd, rc = 0;

	if (!parent) {
		n = strlen(path);
		if (n >= sizeof(dir))
			return err_set(err, "%s: path too long", path);
		memcpy(dir, path, n + 1);
	} else if (slash == NULL) {
		strcpy(dir, ".");
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir))
			return err_set(err, "%s: path too long", path);
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_sys(err, "open(%s)", dir);
	/* some file systems cannot sync a directory; nothing to wait for */
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = err_sys(err, "fsync(%s)", dir);
	close(fd);
	return rc;
}
