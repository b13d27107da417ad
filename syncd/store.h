/*
 * store - the verified state of every origin, in memory and in state_dir
 *
 * One file per origin, state_dir/origin-<ORIGIN>.snap, in the snapshot file
 * format (formats/snapshot.h): the manifest and signature of the push that
 * produced the state, and the full canonical state text as the body (for a
 * delta push the body is the state the delta produced, not the delta).  The
 * signed state_hash covers that text, so a stored file verifies itself.
 * Files are replaced through formats/atomic, so a crash leaves the old or
 * the new file whole.
 *
 * A struct store is an immutable sorted array of origins; an install builds
 * a new one sharing the unchanged origins (store_with) and swaps it in.
 */
#ifndef MXSYNC_SYNCD_STORE_H
#define MXSYNC_SYNCD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/atomic.h"
#include "../formats/err.h"
#include "../formats/manifest.h"
#include "../formats/snapshot.h"
#include "../formats/state.h"
#include "../keys/trust.h"

struct store_origin {
	struct manifest m;	/* of the push that produced st */
	char *manifest;		/* its exact JSON bytes */
	size_t manifest_len;
	unsigned char sig[SNAPSHOT_SIG_LEN];
	struct state *st;	/* full state */
	uint8_t *sel;		/* owned: each recipient's shard, or NULL */
	uint64_t journal_len;	/* octets of good journal (syncd/journal) */
	unsigned journal_n;	/* its entries */
};

struct store {
	struct store_origin **o;	/* sorted by origin name */
	size_t n;
};

/*
 * store_load - read every origin-*.snap in dir; each must parse, its state
 * must hash to its signed state_hash and match its counts, and when trust
 * knows its key the signature must verify.  An empty dir is an empty store.
 */
struct store *store_load(const char *dir, const struct trust *trust,
			 struct err *err);

/* store_find - the origin's entry or NULL */
const struct store_origin *store_find(const struct store *s,
				      const char *origin);

/* store_owner - the origin (other than except) that serves domain, or NULL */
const struct store_origin *store_owner(const struct store *s,
				       const char *domain, size_t len,
				       const char *except);

/*
 * store_save - write the origin's file atomically: the snapshot framing,
 * then the state text written straight from the state's arena
 */
int store_save(const char *dir, const struct store_origin *o,
	       struct err *err);

/*
 * store_save_begin - the first half of store_save(): the origin's file
 * written to a temporary file and fsynced, not yet renamed; then
 * atomic_commit(af) puts it in place or atomic_abort(af) drops it.  On
 * failure nothing is left behind.  Lets an install write the state while
 * the maps are built, and still rename it only once they are installed.
 */
int store_save_begin(const char *dir, const struct store_origin *o,
		     struct atomic_file *af, struct err *err);

/*
 * store_with - a new store: s with o added or replacing the entry of the
 * same origin.  The other entries are shared with s; the caller then frees
 * the old array with store_release(s, replaced).
 */
struct store *store_with(const struct store *s, struct store_origin *o,
			 struct store_origin **replaced_r, struct err *err);
/* store_release - free the array of s (not its shared entries) and one */
void store_release(struct store *s, struct store_origin *entry);

/* store_states - the states in store order (caller frees the array) */
const struct state **store_states(const struct store *s);

struct store_origin *store_origin_new(const struct manifest *m,
				      const char *json, size_t len,
				      const unsigned char *sig,
				      struct state *st, struct err *err);
void store_origin_free(struct store_origin *o);
/* store_free - free the store and every entry */
void store_free(struct store *s);

#endif
