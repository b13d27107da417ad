/*
 * apply_priv - what the two halves of the apply module share: the install
 * gate and the maps plan (apply.c), used by the store's upkeep
 * (apply_store.c) too.  Not for other modules: they go through apply.h.
 */
#ifndef MXSYNC_SYNCD_APPLY_PRIV_H
#define MXSYNC_SYNCD_APPLY_PRIV_H

#include <stdint.h>

#include "../formats/cdbw.h"
#include "store.h"
#include "syncd.h"

/*
 * apply_enter - enter the install gate (wait_ms < 0: as long as it takes;
 * else at most wait_ms); -1 when it is still busy.  apply_leave - leave it.
 */
int apply_enter(struct syncd *sd, int64_t wait_ms);
void apply_leave(struct syncd *sd);

/* apply_plan - the maps plan for the states of s (inside the gate) */
int apply_plan(const struct store *s, unsigned shards, const char *maps_dir,
	       struct cdbw_plan *plan, const uint8_t ***sels_r);

/* apply_layout_set - record the shard count the maps were built with */
void apply_layout_set(const char *maps_dir, unsigned shards);

#endif
