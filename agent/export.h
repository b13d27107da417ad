/*
 * export - all sources into one canonical state, and signed snapshots of it
 *
 * export_state() runs every source in order into one state (tag = source
 * index) and finishes it; any failing source fails the whole export, so a
 * broken source never yields a partial state that would shrink a backup.
 * export_make() builds the manifest and body of a full or delta snapshot and
 * signs the manifest.
 */
#ifndef MXSYNC_AGENT_EXPORT_H
#define MXSYNC_AGENT_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/err.h"
#include "../formats/manifest.h"
#include "../formats/snapshot.h"
#include "../formats/state.h"
#include "../keys/key.h"
#include "config.h"

/*
 * export_state_watched - SOURCE_OK with *st_r (caller frees), or SOURCE_BAD
 * / SOURCE_DOWN / SOURCE_BUSY with a message naming the source.  A watch
 * (not NULL) makes the sources add watches on what they read and wait for
 * files being written (watch.h).  Each source's status fields (last export,
 * counts, error) are updated.  A recipient whose domain no source lists is
 * dropped and counted in its source's unlisted and unlisted_example when
 * that source has unlisted_domains = drop, else it fails the export
 * (SOURCE_BAD).  export_state is the same without a watch (inotify_fd is
 * ignored; pass -1).
 */
struct watch;
int export_state_watched(struct agent_config *cfg, struct watch *w,
			 struct state **st_r, struct err *err);
int export_state(struct agent_config *cfg, int inotify_fd, struct state **st_r,
		 struct err *err);

struct export_snap {
	struct manifest m;
	char *manifest; /* owned JSON */
	size_t mlen;
	unsigned char sig[SNAPSHOT_SIG_LEN];
	char *body; /* owned */
	size_t blen;
};

/*
 * export_make - sign a snapshot of st with this serial: full when base is
 * NULL, else a delta from base (which has base_serial).  st_hash and
 * base_hash are the states' hashes when the caller knows them (NULL: they
 * are computed here), so a state of millions of records is hashed once.
 */
int export_make(const struct agent_config *cfg, const struct key_secret *sk,
		const struct state *st, const unsigned char *st_hash,
		const struct state *base, const unsigned char *base_hash,
		uint64_t base_serial, uint64_t serial, int allow_shrink,
		struct export_snap *out, struct err *err);
void export_snap_clear(struct export_snap *s);

#endif
