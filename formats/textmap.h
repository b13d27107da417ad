/*
 * textmap - source files: Postfix text maps and plain address lists
 *
 * TEXTMAP_POSTMAP reads a file exactly as postmap(1) does: "#" comment lines
 * and blank lines are skipped, a line that starts with white space continues
 * the previous logical line, the key ends at the first unquoted white space,
 * and the value is the rest with leading and trailing white space trimmed.
 * Only the key matters to mxsync; a logical line with an empty value (what
 * a cut line leaves; postmap warns and skips it) is an error.  TEXTMAP_LIST
 * reads one key per line ("#" comments, blank lines allowed; trailing text
 * after the key is an error).
 *
 * Lines over TEXTMAP_LINE_MAX octets, NUL bytes, keys without a value, open
 * quotes and invalid UTF-8 (lines postmap would skip with a warning) are
 * refused as "file:line: message".
 */
#ifndef MXSYNC_TEXTMAP_H
#define MXSYNC_TEXTMAP_H

#include <stddef.h>

#include "err.h"

#define TEXTMAP_LINE_MAX 16384

enum textmap_kind { TEXTMAP_POSTMAP, TEXTMAP_LIST };

/*
 * textmap_fn - called once per key with its logical line's first line
 * number; a non-zero return stops the parse and is returned (the callback
 * fills err itself, typically as "file:line: ...").
 */
typedef int (*textmap_fn)(void *ctx, const char *key, size_t klen,
			  const char *value, size_t vlen, const char *file,
			  unsigned line, struct err *err);

int textmap_parse_file(const char *path, enum textmap_kind kind, textmap_fn fn,
		       void *ctx, struct err *err);
/* textmap_parse_buf - the same over memory; name is used in messages */
int textmap_parse_buf(const char *name, const char *buf, size_t len,
		      enum textmap_kind kind, textmap_fn fn, void *ctx,
		      struct err *err);

#endif
