/*
 * test-agent-watch - the daemon's inotify tables (agent/watch.c) on a real
 * directory: a file modified and still open is busy however long its
 * writer pauses, and settled once closed, removed or renamed over; a
 * removed directory's watch is forgotten
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../agent/watch.h"
#include "test.h"

static char dir[64], file[128], other[128];

/* drain - read what is pending (the events of a local write are there) */
static int drain(struct watch *w)
{
	struct err err;

	return watch_drain(w, &err);
}

int main(void)
{
	struct watch *w;
	struct err err;
	int fd, fd2;

	snprintf(dir, sizeof(dir), "/tmp/test-watch.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(file, sizeof(file), "%s/virtual", dir);
	snprintf(other, sizeof(other), "%s/virtual.new", dir);

	ok((w = watch_new(&err)) != NULL, "watch_new");
	ok(watch_add_dir(w, dir) == 0, "a directory is watched");
	ok(watch_add_dir(w, dir) == 0, "watching it again is harmless");
	ok(watch_add_dir(w, "/nonexistent/dir") == -1,
	   "a missing directory is refused");

	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok(fd >= 0 && write(fd, "a@x.test a\n", 11) == 11, "a writer writes");
	ok(drain(w) > 0, "the write is an event");
	ok(watch_busy(w, file) == 1, "modified and open: busy");
	ok(watch_busy(w, other) == 0, "another name is not busy");
	usleep(300000);
	ok(drain(w) == 0 && watch_busy(w, file) == 1,
	   "a pause without events: still busy");
	close(fd);
	drain(w);
	ok(watch_busy(w, file) == 0, "closed by its writer: settled");

	fd = open(file, O_RDONLY);
	drain(w);
	ok(watch_busy(w, file) == 0, "a reader makes nothing busy");
	close(fd);
	drain(w);

	fd = open(file, O_WRONLY | O_APPEND);
	ok(fd >= 0 && write(fd, "b@x.test b\n", 11) == 11, "an append");
	drain(w);
	ok(watch_busy(w, file) == 1, "the appender holds it: busy");
	fd2 = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok(fd2 >= 0 && write(fd2, "c@x.test c\n", 11) == 11 && close(fd2) == 0,
	   "a new file written and closed");
	ok(rename(other, file) == 0, "renamed over the busy one");
	drain(w);
	ok(watch_busy(w, file) == 0, "the name holds a settled file now");
	close(fd);
	drain(w);

	fd = open(file, O_WRONLY | O_APPEND);
	ok(fd >= 0 && write(fd, "d@x.test d\n", 11) == 11, "another append");
	drain(w);
	ok(watch_busy(w, file) == 1, "busy again");
	ok(unlink(file) == 0, "removed while open");
	drain(w);
	ok(watch_busy(w, file) == 0, "a removed file is not busy");
	close(fd);
	drain(w);

	ok(rmdir(dir) == 0, "the directory is removed");
	ok(drain(w) > 0, "that is an event");
	ok(watch_unmounts(w) == 0, "no unmount was seen");
	ok(mkdir(dir, 0755) == 0, "a new directory by that name");
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok(fd >= 0 && write(fd, "e@x.test e\n", 11) == 11,
	   "written while the old watch is gone");
	drain(w);
	ok(watch_busy(w, file) == 0, "nothing is known without a new watch");
	close(fd);
	ok(watch_add_dir(w, dir) == 0, "the new directory is watched");
	fd = open(file, O_WRONLY | O_APPEND);
	ok(fd >= 0 && write(fd, "f@x.test f\n", 11) == 11, "written again");
	drain(w);
	ok(watch_busy(w, file) == 1, "the new watch sees it busy");
	close(fd);
	drain(w);
	ok(watch_busy(w, file) == 0, "and settled");

	watch_free(w);
	unlink(file);
	rmdir(dir);
	return test_done();
}
