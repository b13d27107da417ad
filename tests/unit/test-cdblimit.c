/*
 * test-cdblimit - the CDB size arithmetic and the manifest-only bounds
 */
#include <stdint.h>

#include "../../formats/cdblimit.h"
#include "../../formats/cdbw.h"
#include "test.h"

int main(void)
{
	struct err err;

	ok(cdblimit_size(0, 0, 0) == 2048, "an empty CDB is its table");
	ok(cdblimit_size(3, 30, 6) == 2048 + 72 + 36, "24 octets a record");
	ok(cdblimit_size(UINT64_MAX / 2, UINT64_MAX, 1) == UINT64_MAX,
	   "sums saturate");
	ok(cdblimit_fits(1, CDBW_LIMIT - 2048 - 24, 0, CDBW_LIMIT),
	   "exactly the limit fits");
	ok(!cdblimit_fits(1, CDBW_LIMIT - 2048 - 23, 0, CDBW_LIMIT),
	   "one octet more does not");
	ok(cdblimit_recipients(100, 1000, 1) == 2048 + 2600 + 1000,
	   "one map holds everything");
	ok(cdblimit_recipients(100, 1000, 4) == (4 * 2048 + 2600 + 1000) / 4,
	   "shards: their average");

	/* 80M recipients in a 2.5 GB body: over the limit as one map */
	ok(cdblimit_body(1, 2500000000ULL, 10000, 80000000, 1, CDBW_LIMIT,
			 &err) == -1,
	   "80M recipients in one map: refused");
	has_str(err.msg, "over the CDB limit", "message: %s", err.msg);
	ok(cdblimit_body(1, 2500000000ULL, 10000, 80000000, 64, CDBW_LIMIT,
			 &err) == 0,
	   "the same in 64 shards: may fit");
	ok(cdblimit_body(1, 30000000, 10000, 1000000, 1, CDBW_LIMIT, &err) == 0,
	   "1M recipients fit one map");
	ok(cdblimit_body(1, (uint64_t)4 << 30, 1, 1, 64, CDBW_LIMIT, &err) ==
	       -1,
	   "a full body of 4 GiB is longer than a state");
	has_str(err.msg, "a state may hold", "message: %s", err.msg);
	ok(cdblimit_body(0, (uint64_t)4 << 30, 1, 1, 64, CDBW_LIMIT, &err) == 0,
	   "a delta body is not a state");
	ok(cdblimit_body(0, 100, 1, 200000000, 1, CDBW_LIMIT, &err) == -1,
	   "a delta whose result counts cannot fit: refused");
	ok(cdblimit_body(1, 1000, UINT64_MAX, UINT64_MAX, 1, CDBW_LIMIT,
			 &err) == -1,
	   "absurd counts do not wrap");
	/* a body whose domain lines may take nearly all of it */
	ok(cdblimit_body(1, 1000000, 1000, 10, 1, 4096, &err) == 0,
	   "long domain lines leave the keys unknown: may fit");
	return test_done();
}
