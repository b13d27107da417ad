/*
 * cdblimit - whether records fit the CDB format's 4 GiB limit
 *
 * A CDB file of R records whose keys and values total K and V octets is
 * 2048 + 24 R + K + V octets (a 2048-octet table of contents, an 8-octet
 * header before each key and value, 16 octets of hash table per record),
 * and its 32-bit offsets bound it to CDBW_LIMIT (0xFFFFFFFF).  The agent
 * checks its states before it pushes; mxsyncd checks a manifest's declared
 * figures before it reads the body, and every map again before it writes
 * it (formats/cdbw).  Pure arithmetic: no failure but "does not fit", and
 * sums saturate instead of wrapping.
 */
#ifndef MXSYNC_CDBLIMIT_H
#define MXSYNC_CDBLIMIT_H

#include <stdint.h>

#include "err.h"

/* the value of each relay_recipients and relay_domains record ("OK") */
#define CDBLIMIT_OK_LEN 2

/* cdblimit_size - octets of a CDB of records, keys and values (saturating) */
uint64_t cdblimit_size(uint64_t records, uint64_t key_octets,
		       uint64_t value_octets);

/* cdblimit_fits - 1 when cdblimit_size() is at most limit, else 0 */
int cdblimit_fits(uint64_t records, uint64_t key_octets, uint64_t value_octets,
		  uint64_t limit);

/*
 * cdblimit_recipients - the least possible size of the largest
 * relay_recipients map when recipients keys of key_octets in total are cut
 * into shards maps (1: the single map): no map is below their average
 */
uint64_t cdblimit_recipients(uint64_t recipients, uint64_t key_octets,
			     unsigned shards);

/*
 * cdblimit_body - what a snapshot's manifest alone proves, before its body
 * is read: -1 with a message when a body of body_size octets holding (full)
 * or producing (delta) domains and recipients records cannot be installed
 * within limit by a backup with shards relay_recipients maps: a full body
 * longer than a state may be (4 GiB - 1 octets of text), or a largest map
 * over limit even with the fewest key octets the figures allow; else 0.
 * A refusal is permanent: the same snapshot never fits.
 */
int cdblimit_body(int full, uint64_t body_size, uint64_t domains,
		  uint64_t recipients, unsigned shards, uint64_t limit,
		  struct err *err);

#endif
