/*
 * ledger - what the agent has sent and what each backup acknowledged,
 * kept in state_dir across restarts
 *
 *	state_dir/ledger.json	{"serial": last serial used,
 *				 "base_serial", "base_hash": the state last
 *				 acknowledged by a backup, kept in
 *				 state_dir/base.state for deltas,
 *				 "backups": {NAME: {"serial", "state_hash",
 *				 "acked", "error", "error_time"}}}
 *	state_dir/base.state	canonical text of that state
 *
 * Both are written with the atomic-replace helper.  The serial is written
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
	uint64_t serial;		/* acknowledged; 0 = never */
	unsigned char hash[STATE_HASH_LEN];
	int64_t acked;			/* unix time of the last 200 */
	char error[ERR_LEN + 32];	/* last error, "" after a success */
	int64_t error_time;
};

struct ledger {
	char *path;
	char *base_path;
	uint64_t serial;
	uint64_t base_serial;		/* 0 = no base */
	unsigned char base_hash[STATE_HASH_LEN];
	struct ledger_backup *backups;
	size_t n;
};

/* ledger_load - read state_dir/ledger.json; a missing file is empty */
struct ledger *ledger_load(const char *state_dir, struct err *err);
void ledger_free(struct ledger *l);
int ledger_save(const struct ledger *l, struct err *err);

/* ledger_backup - the entry for name, created when absent (NULL: no memory) */
struct ledger_backup *ledger_backup(struct ledger *l, const char *name);

/*
 * ledger_next_serial - a new serial, max(last + 1, now), saved before it is
 * returned; at_least (0 for none) lifts it above a serial a backup reported.
 */
int ledger_next_serial(struct ledger *l, uint64_t at_least, uint64_t *serial_r,
		       struct err *err);

/*
 * ledger_set_base - store st (whose hash is hash) as the delta base for
 * serial: base.state is replaced first, the ledger naming it after, so the
 * ledger on disk never names a base that base.state does not hold.
 */
int ledger_set_base(struct ledger *l, const struct state *st,
		    const unsigned char hash[STATE_HASH_LEN], uint64_t serial,
		    struct err *err);
/* ledger_load_base - the base state, or NULL (no base or unreadable) */
struct state *ledger_load_base(const struct ledger *l, struct err *err);

#endif
