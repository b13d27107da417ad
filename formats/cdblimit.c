/*
 * cdblimit - whether records fit the CDB format's 4 GiB limit
 *
 * All arithmetic is in 64 bits and saturates at UINT64_MAX, so that no
 * declared figure from the network can wrap a sum into a small one.  The
 * lower bounds of cdblimit_body() come from the canonical state text
 * (formats/state.h): "R <key>\n" per recipient, "D <domain> <nexthop>\n"
 * per domain, with domains and nexthops no longer than norm.h allows.
 */
#include <inttypes.h>

#include "cdblimit.h"
#include "norm.h"
#include "state.h"

/* the shortest recipient key: "@d" */
#define CDBLIMIT_KEY_MIN 2
/* the longest domain line: "D " domain " " nexthop "\n" */
#define CDBLIMIT_DLINE_MAX (2 + NORM_DOMAIN_MAX + 1 + NORM_NEXTHOP_MAX + 1)

/* cdblimit_add - a + b, saturating */
static uint64_t cdblimit_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* cdblimit_mul - a * b, saturating */
static uint64_t cdblimit_mul(uint64_t a, uint64_t b)
{
	return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

uint64_t cdblimit_size(uint64_t records, uint64_t key_octets,
		       uint64_t value_octets)
{
	return cdblimit_add(cdblimit_add(2048, cdblimit_mul(records, 24)),
			    cdblimit_add(key_octets, value_octets));
}

int cdblimit_fits(uint64_t records, uint64_t key_octets, uint64_t value_octets,
		  uint64_t limit)
{
	return cdblimit_size(records, key_octets, value_octets) <= limit;
}

uint64_t cdblimit_recipients(uint64_t recipients, uint64_t key_octets,
			     unsigned shards)
{
	uint64_t total;

	if (shards == 0)
		shards = 1;
	/* the shards' headers, records and keys, shared out evenly */
	total = cdblimit_add(
	    cdblimit_mul(2048, shards),
	    cdblimit_add(cdblimit_mul(recipients, 24 + CDBLIMIT_OK_LEN),
			 key_octets));
	return total == UINT64_MAX ? total : total / shards;
}

int cdblimit_body(int full, uint64_t body_size, uint64_t domains,
		  uint64_t recipients, unsigned shards, uint64_t limit,
		  struct err *err)
{
	uint64_t keys = cdblimit_mul(recipients, CDBLIMIT_KEY_MIN), other,
		 least;

	if (full && body_size > STATE_TEXT_MAX)
		return err_set(err,
			       "body of %" PRIu64 " octets exceeds the %" PRIu64
			       " octets a state may hold",
			       body_size, STATE_TEXT_MAX);
	if (full) {
		/* what the body leaves for recipient keys at the least */
		other = cdblimit_add(cdblimit_mul(recipients, 3),
				     cdblimit_mul(domains, CDBLIMIT_DLINE_MAX));
		if (body_size > other && body_size - other > keys)
			keys = body_size - other;
	}
	least = cdblimit_recipients(recipients, keys, shards);
	if (least > limit)
		return err_set(err,
			       "%" PRIu64 " recipients (%" PRIu64 " octets of "
			       "body) need a relay_recipients map of at least "
			       "%" PRIu64 " octets in %u map%s, over the CDB "
			       "limit of %" PRIu64,
			       recipients, body_size, least,
			       shards == 0 ? 1 : shards, shards > 1 ? "s" : "",
			       limit);
	return 0;
}
