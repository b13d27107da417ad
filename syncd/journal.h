/*
 * journal - the deltas installed since an origin's stored state was last
 * written whole
 *
 * state_dir/origin-<ORIGIN>.journal follows state_dir/origin-<ORIGIN>.snap
 * (syncd/store): after a delta install the delta push itself (manifest,
 * signature, delta body) is appended and fdatasynced, instead of the whole
 * state being written again.  An entry is
 *
 *	mxsync-journal <manifest octets> <body octets>\n
 *	<manifest JSON>\n<signature, base64>\n<delta body>
 *
 * At load every entry whose serial is above the state's is replayed: it
 * must follow the state (base serial and base hash), its signature must
 * verify when the key is known, and its result must hash to its signed
 * state_hash, exactly as for a push.  Entries at or below the state's
 * serial are skipped (a compaction wrote them into the .snap and crashed
 * before it removed the journal).  A last entry that is cut short or does
 * not verify is what a crash during an append leaves: it is ignored, and
 * the next append writes over it.  Any other entry that fails stops the
 * load, as a damaged .snap does.
 *
 * Compaction (the caller's): when the journal grows past JOURNAL_MAX_N
 * entries or past an eighth of the state, the next install writes the
 * .snap whole and then removes the journal.
 */
#ifndef MXSYNC_SYNCD_JOURNAL_H
#define MXSYNC_SYNCD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/err.h"
#include "../keys/trust.h"
#include "store.h"

#define JOURNAL_SUFFIX ".journal"
#define JOURNAL_MAX_N 32

/* journal_path - state_dir/origin-ORIGIN.journal into buf */
int journal_path(char *buf, size_t size, const char *dir, const char *origin,
		 struct err *err);

/*
 * journal_replay - apply the journal of o's origin (if any) to o, which was
 * just loaded from its .snap; sets o->journal_len and o->journal_n
 */
int journal_replay(const char *dir, struct store_origin *o,
		   const struct trust *trust, struct err *err);

/*
 * journal_append - append the delta push that made o (o's manifest and
 * signature, the delta body) at offset prev_len of the journal, dropping
 * whatever a crash left after it; fdatasync.  Sets o->journal_len and
 * o->journal_n (prev_n + 1).
 */
int journal_append(const char *dir, struct store_origin *o, uint64_t prev_len,
		   unsigned prev_n, const char *body, size_t len,
		   struct err *err);

/* journal_remove - unlink the journal (absent is fine), fsync the dir */
int journal_remove(const char *dir, const char *origin, struct err *err);

/* journal_due - 0 when one more entry of len octets may be appended */
int journal_due(const struct store_origin *prev, size_t len);

#endif
