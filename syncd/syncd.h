/*
 * syncd - the running context shared by the pieces of mxsyncd
 *
 * One struct syncd per process.  The install gate (gate_lock, gate_cond,
 * installing) serialises installs: an install waits at most
 * cfg->install_wait_ms on CLOCK_MONOTONIC to enter it, then answers busy;
 * facts_lock guards the pointers cfg, trust and store and the counters, and
 * is held only briefly, to copy facts or to swap a pointer.  A config or a
 * trust list that was swapped out is never freed while the daemon runs (a
 * push in flight may still point into it) but parked on the retired list
 * and freed at exit.  A store that an install replaced is freed at once,
 * with the one entry it replaced (store_release): only installs read
 * entries without facts_lock, and they are inside the gate, which the
 * replacing install is inside too.
 */
#ifndef MXSYNC_SYNCD_SYNCD_H
#define MXSYNC_SYNCD_SYNCD_H

#include <pthread.h>
#include <stdint.h>

#include "../keys/trust.h"
#include "config.h"
#include "store.h"

#define SYNCD_REASONS 24

struct syncd_retired {
	struct syncd_config *cfg;
	struct trust *trust;
	struct syncd_retired *next;
};

struct syncd {
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond; /* on CLOCK_MONOTONIC */
	int installing;		  /* gate_lock: an install is inside */
	pthread_mutex_t facts_lock;
	struct syncd_config *cfg;
	struct trust *trust;
	struct store *store;
	struct syncd_retired *retired;
	/* counters (facts_lock) */
	uint64_t accepted;
	const char *reasons[SYNCD_REASONS];
	uint64_t refused[SYNCD_REASONS];
	uint64_t last_install_ms;
	int have_install;
};

#endif
