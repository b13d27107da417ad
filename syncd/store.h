/*
 * store - the verified state of every origin, in memory and in state_dir
 *
 * One file per origin, state_dir/origin-<ORIGIN>.snap, in the snapshot file
 * format (formats/snapshot.h): the manifest and signature of the push that
 * produced the state, and the full canonical state text as the body (for a
 * delta push the body is the state the delta produced, not the delta).  The
 * signed state_hash covers that text, so a stored file verifies itself.
 * Files are replaced through formats/atomic, so a crash leaves the old or
 * the new file whole.  The deltas installed since a file was written whole
 * follow it in state_dir/origin-<ORIGIN>.journal (syncd/journal), replayed
 * by store_load_all().
 *
 * A struct store is an immutable sorted array of origins; an install builds
 * a new one sharing the unchanged origins (store_with) and swaps it in.
 *
 * A stored file that fails its checks (damaged, or no longer trusted: see
 * apply_store_vet) is moved aside, never deleted, as
 *
 *	state_dir/origin-<ORIGIN>.snap.quarantined.<REASON>.<UNIX TIME>
 *
 * which no load reads again; "mxsyncd status" lists them and "mxsyncd
 * forget ORIGIN" removes them with the origin.  Stored files are 0600.
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
	struct manifest m; /* of the push that produced st */
	char *manifest;	   /* its exact JSON bytes */
	size_t manifest_len;
	unsigned char sig[SNAPSHOT_SIG_LEN];
	struct state *st;     /* full state */
	uint8_t *sel;	      /* owned: each recipient's shard, or NULL */
	unsigned sel_shards;  /* ... out of this many shards */
	uint64_t journal_len; /* octets of good journal (syncd/journal) */
	unsigned journal_n;   /* its entries */
};

struct store {
	struct store_origin **o; /* sorted by origin name */
	size_t n;
};

/*
 * store_load - read every origin-*.snap in dir; each must parse, its state
 * must hash to its signed state_hash and match its counts, and when trust
 * knows its key the signature must verify.  An empty dir is an empty store.
 */
struct store *store_load(const char *dir, const struct trust *trust,
			 struct err *err);

/* store_bad - a stored file that is not served, and why */
struct store_bad {
	char name[512]; /* its file name in state_dir */
	char origin[MANIFEST_ORIGIN_MAX + 1];
	char reason[32]; /* token: "damaged", "unknown_key", "scope" */
	char msg[ERR_LEN];
	int64_t since; /* quarantined files: when moved aside */
};

struct store_bads {
	struct store_bad *v;
	size_t n;
};

int store_bads_add(struct store_bads *b, const char *name, const char *origin,
		   const char *reason, const char *msg);
void store_bads_free(struct store_bads *b);

/*
 * store_load_all - store_load(), except that a readable file that does not
 * parse or verify is left out and added to bads (reason "damaged") instead
 * of failing the load; a file that cannot be read still fails it.
 */
struct store *store_load_all(const char *dir, const struct trust *trust,
			     struct store_bads *bads, struct err *err);

/*
 * store_quarantine - move b's file aside (name above, reason b->reason);
 * b->name becomes the new name.  The directory is fsynced.
 */
int store_quarantine(const char *dir, struct store_bad *b, int64_t now,
		     struct err *err);

/* store_quarantined - the files in dir moved aside earlier */
int store_quarantined(const char *dir, struct store_bads *out, struct err *err);

/*
 * store_without - a new store: s without the entry of origin (shared
 * entries, as store_with); *removed_r is that entry, NULL when absent
 */
struct store *store_without(const struct store *s, const char *origin,
			    struct store_origin **removed_r, struct err *err);

/*
 * store_window - an origin's recipient counts over shrink_window, for the
 * cumulative max_shrink: state_dir/origin-<ORIGIN>.window, lines "UNIXTIME
 * COUNT", kept as a falling sequence (a count is dropped once a later one
 * is as high), so the first entry within the window is the highest count
 * the window saw.  The file exists only while the counts fall; otherwise
 * the stored state's own count is all there is to know.
 */
#define STORE_WINDOW_MAX 64
struct store_window {
	int64_t t[STORE_WINDOW_MAX];
	uint64_t n[STORE_WINDOW_MAX];
	size_t len;
};

/* store_window_read - the origin's window (empty when there is no file) */
int store_window_read(const char *dir, const char *origin,
		      struct store_window *w, struct err *err);
/* store_window_add - count n at time t; entries before t - span_s go */
void store_window_add(struct store_window *w, int64_t t, uint64_t n,
		      int64_t span_s);
/* store_window_high - the highest count since t - span_s (0: none) */
uint64_t store_window_high(const struct store_window *w, int64_t t,
			   int64_t span_s);
/* store_window_write - write it (atomically), or unlink it when len <= 1 */
int store_window_write(const char *dir, const char *origin,
		       const struct store_window *w, struct err *err);

/*
 * store_forget - unlink the origin's file, its window and its quarantined
 * files, fsync
 * the directory; *count_r how many files went.
 */
int store_forget(const char *dir, const char *origin, size_t *count_r,
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
int store_save(const char *dir, const struct store_origin *o, struct err *err);

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
