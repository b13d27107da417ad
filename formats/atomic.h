/*
 * atomic - replace a file so that readers see the old or the new one, whole
 *
 * Every file mxsync writes goes through here: a unique temporary file in the
 * target's directory (target name + ".tmp.XXXXXX"), full writes, fsync,
 * checked close, rename over the target, fsync of the directory.  On any
 * failure, and on atomic_abort(), the temporary file is unlinked and the
 * target is untouched.  Never hard-link a live Postfix map: Postfix notices a
 * replaced table only when the old file's link count drops to 0.
 */
#ifndef MXSYNC_ATOMIC_H
#define MXSYNC_ATOMIC_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct atomic_file {
	int fd;			/* -1 once closed */
	char *path;		/* owned: the target */
	char *tmp;		/* owned: the temporary file, NULL once renamed */
};

/* atomic_open - create the temporary file with the given mode */
int atomic_open(struct atomic_file *af, const char *path, mode_t mode,
		struct err *err);
/* atomic_write - write all of data (EINTR and short writes handled) */
int atomic_write(struct atomic_file *af, const void *data, size_t len,
		 struct err *err);
/* atomic_sync - fsync and close the temporary file (idempotent) */
int atomic_sync(struct atomic_file *af, struct err *err);
/* atomic_commit - atomic_sync, rename over the target, fsync the directory */
int atomic_commit(struct atomic_file *af, struct err *err);
/* atomic_abort - close and unlink the temporary file; NULL-safe, idempotent */
void atomic_abort(struct atomic_file *af);

/* atomic_write_file - the whole sequence for data in memory */
int atomic_write_file(const char *path, const void *data, size_t len,
		      mode_t mode, struct err *err);

/* atomic_cleanup_dir - unlink stale "*.tmp.??????" files left by a crash */
int atomic_cleanup_dir(const char *dir, struct err *err);

/* atomic_fsync_dir - fsync the directory that holds path */
int atomic_fsync_dir(const char *path, struct err *err);

#endif
