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
	int fd;	    /* -1 once closed */
	char *path; /* owned: the target */
	char *tmp;  /* owned: the temporary file, NULL once renamed */
};

/* atomic_open - create the temporary file with the given mode */
int atomic_open(struct atomic_file *af, const char *path, mode_t mode,
		struct err *err);
/* atomic_write - write all of data (EINTR and short writes handled) */
int atomic_write(struct atomic_file *af, const void *data, size_t len,
		 struct err *err);
/* atomic_sync - fsync and close the temporary file (idempotent) */
int atomic_sync(struct atomic_file *af, struct err *err);
/*
 * atomic_commit - atomic_sync, rename over the target, fsync the directory.
 * The contract: -1 means the target was not replaced (it is as it was, and
 * the temporary file is gone); 0 means it was replaced and the directory
 * synced; 1 means it was replaced but the directory could not be synced
 * (err says why: the rename may not survive a power loss).  No failure is
 * ever reported after a successful rename, so a caller that sees -1 may
 * treat the old file as current, and one that sees >= 0 must not.
 * atomic_write_file() returns the same.
 */
int atomic_commit(struct atomic_file *af, struct err *err);
/*
 * atomic_rename - atomic_commit() without the directory fsync, for a
 * caller that replaces several files of one directory and then syncs it
 * once (atomic_fsync_dir); -1: not replaced, 0: replaced
 */
int atomic_rename(struct atomic_file *af, struct err *err);
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
