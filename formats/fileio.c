/*
 * fileio - reading files whole
 *
 * pread() keeps the file offset out of it, so callers may read a header and
 * then the body at known offsets without seeking.
 */
#include <errno.h>
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
			return err_set(err, "read(%s): file shrank while "
				       "being read", path);
		done += (size_t)n;
	}
	return 0;
}
