/*
 * test-fileio - the read-all, bounded read, write-all and directory fsync
 * helpers: whole files, refusals with their messages, pipes
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/fileio.h"
#include "test.h"

int main(void)
{
	char dir[] = "/tmp/test-fileio.XXXXXX", path[4200], *buf = NULL;
	char small[8];
	struct err err = {""};
	size_t len = 99;
	int fd, p[2];

	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ok(fd >= 0 && fileio_write_all(fd, path, "hello\n", 6, &err) == 0,
	   "write_all to a file: %s", err.msg);
	close(fd);
	ok(fileio_read_all(path, 100, &buf, &len, &err) == 0 && len == 6 &&
	       memcmp(buf, "hello\n", 7) == 0,
	   "read_all gives the file and a NUL after it");
	free(buf);
	buf = NULL;
	ok(fileio_read_all(path, 6, &buf, &len, &err) == 0 && len == 6,
	   "a file of exactly max octets is read");
	free(buf);
	buf = NULL;
	ok(fileio_read_all(path, 5, &buf, &len, &err) < 0 && buf == NULL &&
	       len == 0,
	   "a file over max is refused");
	has_str(err.msg, ": over 5 octets", "the message says so: %s", err.msg);
	ok(fileio_read_all(dir, 100, &buf, &len, &err) < 0, "a directory");
	has_str(err.msg, ": not a regular file", "is not a regular file");
	snprintf(path, sizeof(path), "%s/missing", dir);
	ok(fileio_read_all(path, 100, &buf, &len, &err) < 0, "a missing file");
	has_str(err.msg, "open(", "is an open() error: %s", err.msg);

	ok(pipe(p) == 0, "a pipe");
	ok(fileio_write_all(p[1], "pipe", "abcdefghij", 10, &err) == 0,
	   "write_all to a pipe");
	close(p[1]);
	ok(fileio_read_upto(p[0], "pipe", small, 4, &len, &err) == 0 &&
	       len == 4 && memcmp(small, "abcd", 4) == 0,
	   "read_upto stops at its size");
	ok(fileio_read_upto(p[0], "pipe", small, sizeof(small), &len, &err) ==
		   0 &&
	       len == 6 && memcmp(small, "efghij", 6) == 0,
	   "read_upto stops at the end of the input");
	close(p[0]);
	ok(pipe(p) == 0, "another pipe");
	close(p[0]);
	ok(fileio_write_all(p[1], "pipe", "x", 1, &err) < 0,
	   "write_all to a "
	   "pipe without a reader fails");
	has_str(err.msg, "write(pipe)", "naming it: %s", err.msg);
	close(p[1]);

	ok(fileio_fsync_dir(dir, 0, &err) == 0, "fsync_dir of a directory: %s",
	   err.msg);
	snprintf(path, sizeof(path), "%s/f", dir);
	ok(fileio_fsync_dir(path, 1, &err) == 0,
	   "fsync_dir of a file's "
	   "directory: %s",
	   err.msg);
	snprintf(path, sizeof(path), "%s/none/f", dir);
	ok(fileio_fsync_dir(path, 1, &err) < 0, "fsync_dir of a missing "
						"directory fails");
	has_str(err.msg, "open(", "with open(): %s", err.msg);
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
	return test_done();
}
