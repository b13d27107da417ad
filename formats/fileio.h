/*
 * fileio - reading files whole and writing buffers whole: the one place for
 * the read, write and directory-fsync loops (atomic.h replaces files)
 *
 * Readers size their buffer from fstat() and read exactly that much; a file
 * that shrinks meanwhile is an error, never a silently short record list.
 * Every call handles EINTR and short transfers and fails with -1 and a
 * message such as "read(PATH): Input/output error".
 */
#ifndef MXSYNC_FILEIO_H
#define MXSYNC_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/*
 * fileio_pread_exact - exactly len octets at off (EINTR and short reads
 * handled); "read(path): file shrank while being read" at an early end
 */
int fileio_pread_exact(int fd, const char *path, void *buf, size_t len,
		       off_t off, struct err *err);

/*
 * fileio_read_fd - the whole regular file open on fd into *buf_r (the
 * caller's to free, malloc'd with one spare octet set to NUL); refused when
 * it is not a regular file or holds more than max octets ("PATH: over MAX
 * octets"), or when it changes size while being read
 */
int fileio_read_fd(int fd, const char *path, size_t max, char **buf_r,
		   size_t *len_r, struct err *err);

/* fileio_read_all - open path (O_RDONLY | O_CLOEXEC) and fileio_read_fd() */
int fileio_read_all(const char *path, size_t max, char **buf_r, size_t *len_r,
		    struct err *err);

/*
 * fileio_read_upto - read fd (a pipe too) until end of file or until size
 * octets are in buf; *len_r gets the count.  A caller that must see the
 * end asks for one octet more than it accepts.
 */
int fileio_read_upto(int fd, const char *path, void *buf, size_t size,
		     size_t *len_r, struct err *err);

/* fileio_write_all - write all len octets to fd; name is for messages */
int fileio_write_all(int fd, const char *name, const void *buf, size_t len,
		     struct err *err);

/*
 * fileio_fsync_dir - fsync a directory, so that a rename or a new name in it
 * lasts; with parent set, the directory holding path
 */
int fileio_fsync_dir(const char *path, int parent, struct err *err);

#endif
