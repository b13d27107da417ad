/*
 * control - control socket setup and the client side (see control.h)
 *
 * Failures are returned as messages naming the socket path.  The server's
 * per-connection handling lives in the daemon loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../formats/buf.h"
#include "../formats/fileio.h"
#include "control.h"

#define CONTROL_REPLY_MAX (1 << 22)

static int control_addr(const char *path, struct sockaddr_un *sa,
			struct err *err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return err_set(err, "control socket path too long: %s", path);
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

int control_listen(const char *path, const char *group, const char **warning_r,
		   struct err *err)
{
	struct sockaddr_un sa;
	struct group *gr;
	struct stat st;
	int fd = -1;
	mode_t old;

	*warning_r = NULL;
	if (control_addr(path, &sa, err) < 0)
		return -1;
	/* Replace a stale socket, never any other kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(err, "%s exists and is not a socket",
				       path);
		if (unlink(path) < 0)
			return err_sys(err, "unlink(%s)", path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 0)) < 0)
		return err_sys(err, "socket(AF_UNIX)");
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		err_sys(err, "bind(%s)", path);
		goto fail;
	}
	umask(old);
	if ((gr = getgrnam(group)) != NULL) {
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			err_sys(err, "chown(%s)", path);
			goto fail;
		}
	} else
		*warning_r = "control_group does not exist; only the agent's "
			     "own group may use the control socket";
	if (chmod(path, 0660) < 0) {
		err_sys(err, "chmod(%s)", path);
		goto fail;
	}
	if (listen(fd, 16) < 0) {
		err_sys(err, "listen(%s)", path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int control_request(const char *path, const char *line, int timeout_ms,
		    char **reply_r, struct err *err)
{
	struct sockaddr_un sa;
	struct buf b = BUF_INIT;
	struct pollfd pfd;
	struct timespec t0, t1;
	int fd = -1, rc = -1;
	size_t len = strlen(line);
	char tmp[4096];

	*reply_r = NULL;
	if (control_addr(path, &sa, err) < 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return err_sys(err, "socket(AF_UNIX)");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err_sys(err, "connect(%s)", path);
		goto out;
	}
	if (fileio_write_all(fd, path, line, len, err) < 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n;
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000 +
				     (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			err_set(err, "%s: no reply from the agent", path);
			goto out;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			err_sys(err, "poll(%s)", path);
			goto out;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_sys(err, "read(%s)", path);
			goto out;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > CONTROL_REPLY_MAX ||
		    buf_append(&b, tmp, (size_t)n) < 0) {
			err_set(err, "%s: reply too large", path);
			goto out;
		}
	}
	if (b.len == 0) {
		err_set(err, "%s: empty reply from the agent", path);
		goto out;
	}
	*reply_r = buf_steal(&b, NULL);
	rc = 0;
out:
	buf_free(&b);
	if (fd >= 0)
		close(fd);
	return rc;
}
