/*
 * shard - what a delta changes in the sharded relay_recipients maps
 *
 * relay_recipients is cut into shards by the domain of each key
 * (formats/cdbw.h, cdbw_shard_of), so a delta's recipient lines name the
 * shards it touches and a domain line says that transport and
 * relay_domains change.  Each origin's entry keeps the shard of every one
 * of its recipients (one octet each, in canonical order), carried from one
 * state to the next through the delta instead of hashing every key again.
 */
#ifndef MXSYNC_SYNCD_SHARD_H
#define MXSYNC_SYNCD_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/state.h"

/*
 * shard_touched - mark in touched[0 .. shards-1] the shards whose records a
 * delta text (already verified by delta_apply) changes, and set *domains_r
 * when it changes a domain; a domain line also marks its domain's shard
 */
void shard_touched(const char *delta, size_t len, unsigned shards,
		   unsigned char *touched, int *domains_r);

/*
 * shard_sel_after - the shard of each recipient of next (= base + delta),
 * from base's (sel) and the delta's recipient lines: O(recipients) octet
 * copies and O(changes x log recipients) comparisons.  Returns a malloc'd
 * array, or NULL when out of memory or when the delta does not fit base
 * (the caller then computes it whole with cdbw_shard_sel).
 */
uint8_t *shard_sel_after(const struct state *base, const uint8_t *sel,
			 const struct state *next, const char *delta,
			 size_t len, unsigned shards);

#endif
