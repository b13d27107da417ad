/*
 * buf - a growable byte buffer
 *
 * Appends grow the buffer geometrically; a failed allocation or a size that
 * would overflow makes the call return -1 and leaves the contents as they
 * were.  The data is always followed by a NUL that is not counted in len, so
 * text can be passed to string functions.
 */
#ifndef MXSYNC_BUF_H
#define MXSYNC_BUF_H

#include <stddef.h>

struct buf {
	char *data; /* owned; NULL until the first append */
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                               \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

int buf_reserve(struct buf *b, size_t more);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);		       /* len = 0, keeps memory */
void buf_free(struct buf *b);		       /* releases memory; NULL-safe */
char *buf_steal(struct buf *b, size_t *len_r); /* caller frees; b is empty */

#endif
