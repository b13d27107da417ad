/*
 * apply - the one path from a verified manifest to installed maps
 *
 * apply_push() is what both "POST /v1/push" and "mxsyncd apply FILE" call
 * once the header stage passed: it takes the install lock (waiting at most
 * install_wait, else 503 busy), runs the body stage, and installs:
 *
 *   1. build the CDB maps from every origin's state (the new one
 *	substituted), validate and rename them (formats/cdbw, the maps
 *	built and validated on every core): all of them
 *	for a full state, only the relay_recipients shards a delta touches
 *	(and transport and relay_domains when it changes a domain) for a
 *	delta (syncd/shard);
 *   2. store the origin's new state: a delta is appended to the origin's
 *	journal (syncd/journal); a full state, or every JOURNAL_MAX_N-th
 *	delta, is written whole (syncd/store) on a second thread while step
 *	1 runs and renamed into place only after step 1 succeeded, and the
 *	journal is then removed;
 *   3. swap the in-memory store.
 *
 * A crash between 1 and 2 leaves new maps and the old stored state; the
 * next start sees that the maps do not match the store and rebuilds them,
 * so maps always end up equal to the store, whole, old or new.
 *
 * apply_start() is the start-up half: clean stale temporary files, load the
 * store, verify the maps against it and rebuild them when they differ.
 */
#ifndef MXSYNC_SYNCD_APPLY_H
#define MXSYNC_SYNCD_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "syncd.h"
#include "verify.h"

struct apply_result {
	uint64_t serial;
	unsigned char state_hash[STATE_HASH_LEN];
	size_t domains;
	size_t recipients;
	uint64_t install_ms;
	/*
	 * its parts: body checks (and delta apply), maps, and the wait for
	 * the stored state after the maps (it is written meanwhile)
	 */
	uint64_t verify_ms, maps_ms, store_ms;
};

/* apply_push - body stage + install; body is malloc'd and consumed */
int apply_push(struct syncd *sd, const struct push *p, char *body, size_t len,
	       struct apply_result *res, struct verdict *v);

/*
 * apply_file - "mxsyncd apply FILE": read a snapshot file and run both
 * stages and the install, exactly as a push.
 */
int apply_file(struct syncd *sd, const char *path, struct push *p,
	       struct apply_result *res, struct verdict *v);

/*
 * apply_start - load the store into sd and make the maps match it;
 * *rebuilt_r is set to 1 when the maps had to be rebuilt (with the reason
 * in *why, if not NULL).
 */
int apply_start(struct syncd *sd, int *rebuilt_r, struct err *why,
		struct err *err);

/*
 * apply_start() in two halves.  apply_load - clean stale temporary files
 * and load the store into sd, leaving the maps alone; apply_check_maps -
 * verify the maps against sd's store (every record of every map: O(all
 * recipients)) and rebuild them when they differ.  "mxsyncd apply" loads,
 * installs, and checks the maps only when the install did not replace them.
 */
int apply_load(struct syncd *sd, struct err *err);

/*
 * Stored states are vetted whenever they are loaded: each must still be
 * vouched for by the trusted keys (known key, its origin, signature,
 * scope, deny_domains, transports, no domain of another origin).  One that
 * fails is not served; apply_load moves its file aside (store.h) with one
 * log line, apply_load_readonly (status, check, postconf) only leaves it
 * out.  apply_revet - the same for the running store after a reload (the
 * install lock is taken; the maps are rebuilt when an origin went);
 * *moved_r how many.
 */
int apply_load_readonly(struct syncd *sd, struct err *err);
int apply_revet(struct syncd *sd, size_t *moved_r, struct err *err);

/*
 * apply_forget - "mxsyncd forget ORIGIN": remove the origin's stored file
 * (and its quarantined ones), then rebuild the maps without it; *files_r
 * how many files went (0: nothing known of that origin).
 */
int apply_forget(struct syncd *sd, const char *origin, size_t *files_r,
		 struct err *err);
int apply_check_maps(struct syncd *sd, int *rebuilt_r, struct err *why,
		     struct err *err);

/* apply_count - count a result for status and metrics */
void apply_count(struct syncd *sd, const struct verdict *v);

/* apply_init - the locks; apply_fini - free everything sd holds */
int apply_init(struct syncd *sd, struct syncd_config *cfg, struct trust *trust);
void apply_fini(struct syncd *sd);

/* apply_swap_config - after a reload: retire the old config and trust */
void apply_swap_config(struct syncd *sd, struct syncd_config *cfg,
		       struct trust *trust);

#endif
