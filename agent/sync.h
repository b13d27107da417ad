/*
 * sync - what each backup gets next, and what it acknowledged
 *
 * Shared by the one-shot "push" and the daemon: given the current
 * canonical state, a backup that does not hold it (or whose copy is half
 * way to expiry) gets a snapshot of it: a delta when the backup
 * acknowledged exactly the stored base state, a full snapshot otherwise.
 * Results update the ledger: 200 records the acknowledgement (and makes the
 * state the delta base), 409 on a delta is answered with a full snapshot at
 * once, 409 on a full snapshot lifts the serial above the backup's (once),
 * anything else is an error with a capped exponential backoff (1 s doubling
 * to 60 s, or the backup's Retry-After).  Only the latest state is ever sent.
 *
 * Security: no backup is believed.  A 200 counts only when it names the
 * serial and state hash that were sent; any other 200 is that backup's
 * failure (logged, backed off) and changes nothing else.  A 409 lifts the
 * serial only when it carries the backup's stored manifest with a valid
 * signature of the agent's own key, for this origin, and a serial at most
 * LEDGER_SERIAL_AHEAD above the clock; a bare serial claim is a refusal.
 * So a backup run by someone else can stall only itself.
 *
 * Cost per new state: the delta base stays in memory (it is read from
 * state_dir only once, after a start), the state is hashed once (when it is
 * adopted), and each distinct snapshot (the full one, the delta from the
 * base) is built and signed once and sent to every backup that needs it,
 * all pushes sharing its one body (push.h).  Per backup there is no pass
 * over the state or the body, and the ledger is written once per round of
 * pushes (SYNC_SAVE_MS), not once per backup.
 *
 * Limits before they bite: a state no backup could install (the CDB
 * format's 4 GiB, sync_cdb_check) or a snapshot over a backup's max_body
 * is never sent to it; sync_start says so with the figures (SYNC_NEVER),
 * and that state is not tried again for that backup, nor after a 413 or
 * a refusal with reason "too_large" (422: its maps over the CDB limit).
 * The acknowledged base reaches state_dir later, through sync_save_base()
 * (the daemon calls it when idle, and on exit; the one-shot push at its
 * end), so that a write never delays a push or its acknowledgement: when
 * the base moved on by the deltas that were pushed, those are appended to
 * its journal (O(change)), else, and when the journal is due, the base is
 * written whole (ledger_base.c).  Until then the ledger on disk still
 * names the older base, whose files are still there.
 *
 * This module is part of the agent's loop: it logs one line per push
 * outcome (never recipients).
 */
#ifndef MXSYNC_AGENT_SYNC_H
#define MXSYNC_AGENT_SYNC_H

#include <stdint.h>

#include "../formats/err.h"
#include "../formats/state.h"
#include "../keys/key.h"
#include "config.h"
#include "ledger.h"
#include "push.h"

#define SYNC_BACKOFF_MIN_MS 1000
#define SYNC_BACKOFF_MAX_MS 60000
/*
 * Outcomes reach ledger.json when no other push is in flight, or at most
 * this often while some are: a round to N backups writes the ledger (which
 * names all N) a few times, not N times.  A crash loses at most the record
 * of some acknowledgements; those backups then get the state once more.
 */
#define SYNC_SAVE_MS 1000

struct sync_backup {
	const struct agent_backup *conf;
	struct ledger_backup *lb;
	int inflight;
	uint64_t sent_serial;
	unsigned char sent_hash[STATE_HASH_LEN];
	enum manifest_kind sent_kind;
	int bumped;	     /* already lifted the serial after a 409 */
	int64_t next_try_ms; /* monotonic; 0 = now */
	uint64_t backoff_ms;
	enum push_kind last_kind;
	int have_result;
	uint64_t pushes, bytes;
	/*
	 * The state with refused_hash can never be accepted by this backup
	 * (over its max_body, over the CDB limit, or answered 413): it is
	 * not sent again; a new state or a reload lifts this.
	 */
	int refused;
	unsigned char refused_hash[STATE_HASH_LEN];
};

/*
 * sync_snap - a signed snapshot of the current state, built once; its body
 * (snap.body moved into body) is shared by every push that sends it
 */
struct sync_snap {
	int valid;
	uint64_t serial;
	uint64_t base_serial; /* delta: the base it applies to */
	struct export_snap snap;
	struct push_body *body; /* a reference */
};

struct sync {
	struct agent_config *cfg;
	const struct key_secret *sk;
	struct ledger *ledger;
	struct pusher *pusher;
	struct state *cur; /* owned; NULL before the first export */
	unsigned char cur_hash[STATE_HASH_LEN];
	uint64_t cur_serial;	 /* 0 = none assigned to cur yet */
	int64_t cur_since;	 /* unix time cur was first seen */
	int cur_checked;	 /* cur's maps checked against the CDB limit */
	char cur_unfit[ERR_LEN]; /* why no backup can install cur, or "" */
	/*
	 * The delta base: the newest state a backup acknowledged, in memory
	 * (often the same object as cur); base_serial 0 = none.
	 */
	struct state *base;
	unsigned char base_hash[STATE_HASH_LEN];
	uint64_t base_serial;
	int base_tried;	       /* the ledger's base was looked at */
	int64_t base_since_ms; /* when base last changed */
	/*
	 * How base moved on since the ledger's base: the deltas it took,
	 * for the journal (ledger_add_steps); steps_broken when one of its
	 * moves was not such a delta, and base is then written whole.
	 */
	struct ledger_step *steps;
	size_t nsteps;
	int steps_broken;
	struct sync_snap full, delta; /* built for cur_serial */
	struct sync_backup *b;
	size_t n;
	int allow_shrink;
	int force_full;
	size_t ninflight;	 /* backups with a push in flight */
	int ledger_dirty;	 /* outcomes not yet in ledger.json */
	int64_t ledger_saved_ms; /* monotonic time of the last save */
};

/* sync_init - bind config, key, ledger and pusher (all borrowed) */
int sync_init(struct sync *s, struct agent_config *cfg,
	      const struct key_secret *sk, struct ledger *ledger,
	      struct pusher *pusher, struct err *err);
void sync_clear(struct sync *s);

/* sync_set_state - adopt st (owned); returns 1 when its hash changed */
int sync_set_state(struct sync *s, struct state *st);

/* sync_needs - 1 when backup i should get the current state now-ish */
int sync_needs(const struct sync *s, size_t i);

/*
 * sync_start - begin a push to backup i; -1 with a message on failure, -2
 * (SYNC_NEVER) with a message naming the limit and the figures when the
 * backup can never accept the state (nothing is sent, the backup is not
 * contacted, and sync_needs() stays 0 for this state)
 */
#define SYNC_NEVER (-2)
int sync_start(struct sync *s, size_t i, int full, struct err *err);

/*
 * sync_cdb_check - -1 with a message when no backup could install st
 * within limit (CDBW_LIMIT, the format's 4 GiB; tests pass less): its
 * relay_domains or transport map is over it, or its relay_recipients maps
 * are even when cut into the most shards mxsyncd allows (a backup's own
 * layout may refuse earlier: it answers 422, which mxsyncd checks).
 * Costs one pass over the domains, none over the recipients.
 */
int sync_cdb_check(const struct state *st, uint64_t limit, struct err *err);

/*
 * sync_finish - take one finished push; returns the backup index and its
 * result, -1 when none finished, or -2 when a 409 called for a full
 * snapshot or a higher serial and that push was started at once (the
 * backup stays in flight; call again).
 */
long sync_finish(struct sync *s, struct push_result *res);

/*
 * sync_base_unsaved - 1 when the in-memory base is newer than the one in
 * state_dir; sync_save_base writes it (its steps into the journal, or the
 * base whole; then the ledger).
 */
int sync_base_unsaved(const struct sync *s);
int sync_save_base(struct sync *s, struct err *err);

/*
 * sync_acked - the newest state a backup acknowledged (the delta base; read
 * from state_dir the first time), NULL when none: what the agent's guard
 * compares an export with
 */
const struct state *sync_acked(struct sync *s);

/*
 * sync_never_for - the index of a backup that can never accept the state
 * with this hash (sync_start said SYNC_NEVER, or it answered 413 or a
 * refusal with reason "too_large"), -1 when none: "sync-now --wait" then
 * need not wait for it
 */
long sync_never_for(const struct sync *s,
		    const unsigned char hash[STATE_HASH_LEN]);

/* sync_target - the serial the current state is (or will be) sent as */
uint64_t sync_target(const struct sync *s);

/* sync_now_ms - CLOCK_MONOTONIC in milliseconds */
int64_t sync_now_ms(void);

#endif
