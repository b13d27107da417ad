/*
 * fileio - reading files whole: the counterpart of atomic.h
 *
 * Readers size their buffer from fstat() and read exactly that much; a file
 * that shrinks meanwhile is an error, never a silently short record list.
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

#endif
