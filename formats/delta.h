/*
 * delta - the change between two canonical states
 *
 * Text form, one change per line, in the order of the canonical text (all
 * domain changes, sorted by domain, then recipient changes, sorted by
 * address; within one key a removal comes before an addition):
 *
 *	-D <domain> <nexthop>\n		+D <domain> <nexthop>\n
 *	-R <address>\n			+R <address>\n
 *
 * A nexthop change is a removal and an addition of the same domain.
 * delta_apply() refuses a delta whose base state does not hash to the expected
 * base hash, which removes a record the base lacks or adds one it has, which
 * is unsorted or malformed, or whose result does not hash to the expected
 * (signed) state hash.
 */
#ifndef MXSYNC_DELTA_H
#define MXSYNC_DELTA_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "state.h"

/* delta_compute - append the delta old -> new to out; counts in *adds_r... */
int delta_compute(const struct state *old, const struct state *new,
		  struct buf *out, size_t *adds_r, size_t *removes_r,
		  struct err *err);

/*
 * delta_apply - the state that base + delta produce.  base_hash and
 * result_hash are checked when not NULL.  mxsyncd passes NULL for base_hash
 * only after it compared the manifest's base hash with the stored hash of a
 * base that was verified when it was loaded and is never modified; the
 * result hash it always checks, which would also catch a wrong base.
 */
struct state *delta_apply(const struct state *base,
			  const unsigned char *base_hash,
			  const char *delta, size_t len,
			  const unsigned char *result_hash, struct err *err);

#endif
