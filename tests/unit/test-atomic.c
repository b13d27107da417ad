/*
 * test-atomic - atomic file replacement: success, abort, every failure path
 * leaves the target untouched and no temporary file behind
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../formats/atomic.h"
#include "test.h"

static char dir[] = "/tmp/mxsync-atomic.XXXXXX";

static char *path_of(const char *name)
{
	static char p[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static int count_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int file_is(const char *path, const char *want)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, want) == 0;
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f)
		fclose(f);
}

int main(void)
{
	struct atomic_file af;
	struct err err = {""};
	struct stat st;
	char *target;
	int rc;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return test_done();
	}
	target = strdup(path_of("map"));

	/* write a new file */
	ok(atomic_write_file(target, "one\n", 4, 0640, &err) == 0,
	   "atomic_write_file creates: %s", err.msg);
	ok(file_is(target, "one\n"), "content written");
	ok(stat(target, &st) == 0 && (st.st_mode & 07777) == 0640,
	   "mode 0640 set regardless of umask");
	ok(count_files() == 1, "no temporary file left");

	/* replace it */
	ok(atomic_write_file(target, "two\n", 4, 0644, &err) == 0,
	   "atomic_write_file replaces");
	ok(file_is(target, "two\n") && stat(target, &st) == 0 &&
	       (st.st_mode & 07777) == 0644,
	   "replaced content and mode");
	ok(count_files() == 1, "still one file");

	/* the temporary file's name and place */
	ok(atomic_open(&af, target, 0600, &err) == 0, "atomic_open");
	ok(af.tmp && strncmp(af.tmp, target, strlen(target)) == 0 &&
	       strncmp(af.tmp + strlen(target), ".tmp.", 5) == 0 &&
	       strlen(af.tmp) == strlen(target) + 11,
	   "temp is <target>.tmp.XXXXXX");
	ok(af.tmp && access(af.tmp, F_OK) == 0, "temp exists in the same "
						"directory");
	ok(atomic_write(&af, "three\n", 6, &err) == 0, "write to temp");
	ok(file_is(target, "two\n"), "target unchanged before commit");
	ok(atomic_sync(&af, &err) == 0 && atomic_sync(&af, &err) == 0,
	   "atomic_sync is idempotent");
	ok(atomic_write(&af, "x", 1, &err) == -1 &&
	       strstr(err.msg, "file is closed"),
	   "write after sync refused");

	/* abort */
	atomic_abort(&af);
	atomic_abort(&af);
	ok(file_is(target, "two\n") && count_files() == 1,
	   "abort leaves the target and removes the temp");
	atomic_abort(NULL);
	ok(1, "atomic_abort(NULL) is safe");

	/* commit through the struct */
	ok(atomic_open(&af, target, 0644, &err) == 0 &&
	       atomic_write(&af, "four\n", 5, &err) == 0 &&
	       atomic_commit(&af, &err) == 0,
	   "open, write, commit");
	ok(file_is(target, "four\n") && count_files() == 1 && af.tmp == NULL &&
	       af.path == NULL && af.fd == -1,
	   "committed, struct released");
	atomic_abort(&af);

	/* failure: directory missing */
	rc = atomic_write_file(path_of("nodir/map"), "x", 1, 0644, &err);
	ok(rc == -1, "missing directory refused");
	has_str(err.msg, "nodir/map.tmp.XXXXXX): No such file or directory",
		"message names the temp and errno");

	/* failure: path component is a file */
	rc = atomic_write_file(path_of("map/x"), "x", 1, 0644, &err);
	ok(rc == -1 && strstr(err.msg, "Not a directory"), "ENOTDIR: %s",
	   err.msg);

	/* failure: rename over a directory; temp removed, dir kept */
	ok(mkdir(path_of("adir"), 0755) == 0, "mkdir adir");
	rc = atomic_write_file(path_of("adir"), "x", 1, 0644, &err);
	ok(rc == -1, "rename over a directory refused");
	has_str(err.msg, "rename(", "message names rename");
	ok(count_files() == 2, "temp unlinked after the failed rename");

	/* failure: empty path */
	ok(atomic_write_file("", "x", 1, 0644, &err) == -1,
	   "empty path refused");

	/* cleanup of stale temporary files */
	touch(path_of("relay.cdb.tmp.AbC123"));
	touch(path_of("x.tmp.zzzzzz"));
	touch(path_of("x.tmp.zzzzz"));	/* 5 chars: not ours */
	touch(path_of("x.tmp.zz-zzz")); /* not mkstemp characters */
	touch(path_of(".tmp.abcdef"));	/* nothing before the suffix */
	touch(path_of("keep"));
	ok(count_files() == 8, "stale files created");
	ok(atomic_cleanup_dir(dir, &err) == 0, "atomic_cleanup_dir");
	ok(access(path_of("relay.cdb.tmp.AbC123"), F_OK) != 0 &&
	       access(path_of("x.tmp.zzzzzz"), F_OK) != 0,
	   "stale temps removed");
	ok(access(path_of("x.tmp.zzzzz"), F_OK) == 0 &&
	       access(path_of("x.tmp.zz-zzz"), F_OK) == 0 &&
	       access(path_of(".tmp.abcdef"), F_OK) == 0 &&
	       access(path_of("keep"), F_OK) == 0 && file_is(target, "four\n"),
	   "other files kept");
	ok(atomic_cleanup_dir(path_of("nodir"), &err) == -1 &&
	       strstr(err.msg, "opendir("),
	   "cleanup of a missing dir fails");

	ok(atomic_fsync_dir(target, &err) == 0, "atomic_fsync_dir");
	ok(atomic_fsync_dir("relative-name", &err) == 0,
	   "atomic_fsync_dir of a bare name uses .");

	unlink(path_of("x.tmp.zzzzz"));
	unlink(path_of("x.tmp.zz-zzz"));
	unlink(path_of(".tmp.abcdef"));
	unlink(path_of("keep"));
	unlink(target);
	rmdir(path_of("adir"));
	rmdir(dir);
	free(target);
	return test_done();
}
