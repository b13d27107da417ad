/*
 * watch - inotify plumbing for the daemon (see watch.h)
 *
 * Events carry no meaning beyond "something changed": the daemon re-exports
 * every source and pushes only if the canonical state changed, so a
 * spurious event costs one export and nothing else.
 */
#include <errno.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "watch.h"

int watch_open(struct err *err)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return err_sys(err, "inotify_init1");
	return fd;
}

int watch_drain(int fd, struct err *err)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	int events = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		char *p;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return events;
		if (n < 0)
			return err_sys(err, "read(inotify)");
		if (n == 0)
			return events;
		for (p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			events++;
			p += sizeof(*ev) + ev->len;
		}
	}
}
