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
			  const unsigned char *base_hash, const char *delta,
			  size_t len, const unsigned char *result_hash,
			  struct err *err);

/*
 * delta_apply_version - delta_apply() with the hashes of a manifest version
 * (state.h: STATE_HASH_V1 or MANIFEST_VERSION); delta_apply() is the
 * current version's.  The result keeps its hash leaves (state.h).  flags:
 * 0 or DELTA_LINES, with which a result that rehashed at most two shards
 * also keeps their lines (state_shard_lines), for the maps that are built
 * next.
 */
#define DELTA_LINES 1u
struct state *delta_apply_version(const struct state *base,
				  const unsigned char *base_hash,
				  const char *delta, size_t len,
				  const unsigned char *result_hash, int version,
				  unsigned flags, struct err *err);

/*
 * delta_edit - one change for delta_splice(): remove the base's record at
 * (add == 0), or add a record just before the base's record at (at == the
 * count: after the last).  type is 'D' (val is the nexthop) or 'R'.
 */
struct delta_edit {
	const char *key, *val;
	size_t klen, vlen;
	size_t at;
	char type;
	char add;
};

/*
 * delta_splice - a new finished state: the finished base with n edits, in
 * canonical order (domain edits first, then by key, a removal before an
 * addition of the same key), without re-checking the base's records.  Each
 * edit is checked (a removal names the base's record exactly, an addition is
 * folded and falls strictly between its neighbours in the result), and so is
 * every recipient's domain in the result; errors as state_parse()'s, with
 * the result's line numbers, or "edit N: ...".
 */
struct state *delta_splice(const struct state *base,
			   const struct delta_edit *ed, size_t n,
			   struct err *err);

/*
 * delta_splice_shared - delta_splice(), with a result that reads the base's
 * unchanged recipients where they are instead of copying them: O(edits +
 * domains + one octet per recipient) for a base that keeps its hash leaves.
 * The base must stay unchanged (it may be freed: what the result reads is
 * counted).  The result is made flat, which copies it once, when its
 * shared pieces would be too many or too small (after many splices on
 * splices, or with very many edits: state_impl.h, STATE_RUNS_MAX).
 * flags: 0 or DELTA_LINES (delta_apply_version).
 */
struct state *delta_splice_shared(const struct state *base,
				  const struct delta_edit *ed, size_t n,
				  unsigned flags, struct err *err);

#endif
