/*
 * ledger - what the agent has sent and what each backup acknowledged,
 * kept in state_dir across restarts
 *
 *	state_dir/ledger.json	{"serial": last serial used,
 *				 "base_serial", "base_hash": the state last
 *				 acknowledged by a backup, kept for deltas,
 *				 "base_file", "journal_len", "journal_n":
 *				 where it is kept (ledger_base.c),
 *				 "backups": {NAME: {"serial", "state_hash",
 *				 "acked", "error", "error_time"}}}
 *	state_dir/base-FILE.state
 *				canonical text of the state of serial FILE
 *	state_dir/base-FILE.journal
 *				the steps (deltas) from it to base_serial
 *
 *	state_dir/lock		flock(2) held by the process that writes them
 *
 * The ledger and the base files are written with the atomic-replace
 * helper; the journal is appended to and fdatasynced before the ledger
 * names its end.  The serial is written
 * before any snapshot carrying it leaves the process, so serials never
 * repeat, even after a crash.
 */
#ifndef MXSYNC_AGENT_LEDGER_H
#define MXSYNC_AGENT_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../formats/err.h"
#include "../formats/state.h"

struct ledger_backup {
	char *name;
	uint64_t serial; /* acknowledged; 0 = never */
	unsigned char hash[STATE_HASH_LEN];
	int64_t acked;		  /* unix time of the last 200 */
	char error[ERR_LEN + 32]; /* last error, "" after a success */
	int64_t error_time;
};

struct ledger {
	char *path;
	char *dir; /* state_dir */
	uint64_t serial;
	uint64_t base_serial; /* 0 = no base */
	unsigned char base_hash[STATE_HASH_LEN];
	/*
	 * base-FILE.state holds the state of serial base_file; the first
	 * journal_len octets of base-FILE.journal take it to base_serial
	 * in journal_n steps (0 and 0 when the file is that state)
	 */
	uint64_t base_file;
	uint64_t journal_len;
	size_t journal_n;
	struct ledger_backup *backups;
	size_t n;
};

/*
 * ledger_lock - take state_dir/lock (flock, not waiting): one process at a
 * time mints serials and writes the ledger.  The fd, or -1 with err set
 * (naming the daemon when another process holds it).  Closing it unlocks.
 */
int ledger_lock(const char *state_dir, struct err *err);
/* ledger_load - read state_dir/ledger.json; a missing file is empty */
struct ledger *ledger_load(const char *state_dir, struct err *err);
void ledger_free(struct ledger *l);
int ledger_save(const struct ledger *l, struct err *err);

/* ledger_backup - the entry for name, created when absent (NULL: no memory) */
struct ledger_backup *ledger_backup(struct ledger *l, const char *name);

/*
 * Serials and the clock: a serial is max(last + 1, unix time now), so it
 * stays within a little of the clock as long as the agent mints at most
 * one per second on average; LEDGER_SERIAL_AHEAD bounds how far above the
 * clock a lift may go (mxsyncd's max_serial_ahead, default 1d, bounds what
 * it accepts the same way).
 */
#define LEDGER_SERIAL_AHEAD 86400

/*
 * ledger_next_serial - a new serial, max(last + 1, now), saved before it is
 * returned; at_least (0 for none) lifts it above a serial a backup holds
 * (verified by the caller), never above now + LEDGER_SERIAL_AHEAD.
 */
int ledger_next_serial(struct ledger *l, uint64_t at_least, uint64_t *serial_r,
		       struct err *err);

/*
 * ledger_set_base - store st (whose hash is hash) whole as the delta base
 * for serial: base-SERIAL.state is written first, the ledger naming it
 * after, and the previous base file and its journal are removed last, so
 * a crash at any moment leaves a ledger whose base file exists and holds
 * exactly that state.  (ledger_base.c, as the rest of this block.)
 */
int ledger_set_base(struct ledger *l, const struct state *st,
		    const unsigned char hash[STATE_HASH_LEN], uint64_t serial,
		    struct err *err);

/* one step of the base: the delta text from serial from to serial to */
struct ledger_step {
	uint64_t from, to;
	unsigned char hash[STATE_HASH_LEN]; /* the state hash of to */
	char *delta;
	size_t len;
};

/*
 * ledger_add_steps - the base moves on by n steps, the first from
 * base_serial, each from where the one before it ends: appended to the
 * journal at journal_len and fdatasynced, and then the ledger names the
 * last step's end as the base.  A crash before the ledger is written
 * leaves the old base; what it appended is written over next time.
 */
int ledger_add_steps(struct ledger *l, const struct ledger_step *steps,
		     size_t n, struct err *err);

/*
 * ledger_journal_due - 1 when the base (base, in memory) should rather be
 * written whole than grow its journal by n steps of len octets: past
 * LEDGER_JOURNAL_MAX_N steps, or an eighth of the state's text (at least
 * 1 MiB), or without a base file
 */
#define LEDGER_JOURNAL_MAX_N 64
int ledger_journal_due(const struct ledger *l, const struct state *base,
		       size_t len, size_t n);

/* ledger_sweep_bases - remove base files and journals the ledger does not
 * name */
void ledger_sweep_bases(const struct ledger *l);
/*
 * ledger_load_base - the base state: the base file with its journal's
 * steps applied, each checked against its state hash and the end against
 * the ledger's; NULL (err set) when there is no base or it does not load
 */
struct state *ledger_load_base(const struct ledger *l, struct err *err);

#endif
