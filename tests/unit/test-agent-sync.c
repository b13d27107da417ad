/*
 * test-agent-sync - the agent's check of a state against the CDB limit
 * before a push (agent/sync.c, sync_cdb_check): exact figures at a small
 * limit, each map named in the refusal, and the figures of the 4 GiB limit
 */
#include <stdlib.h>
#include <string.h>

#include "../../agent/sync.h"
#include "../../formats/cdbw.h"
#include "test.h"

static struct state *mk(const char *text)
{
	struct err err;
	struct state *st = state_parse(text, strlen(text), &err);

	if (st == NULL)
		printf("# state_parse: %s\n", err.msg);
	return st;
}

int main(void)
{
	struct state *st;
	struct err err;
	uint64_t dom, tr;

	/* 2 domains of 6 octets, nexthops of 5, 3 recipients of 10 */
	st = mk("D a.test x:[h]\nD b.test x:[h]\nR a0@a.test\nR a1@a.test\n"
		"R b0@b.test\n");
	ok(st != NULL, "state parsed");
	/* relay_domains: 2048 + 2 * (24 + 6 + 2) = 2112 */
	dom = 2048 + 2 * (24 + 6 + 2);
	/* transport: 2048 + 2 * (24 + 6 + 5) = 2118 */
	tr = 2048 + 2 * (24 + 6 + 5);
	ok(sync_cdb_check(st, CDBW_LIMIT, &err) == 0,
	   "a small state fits the 4 GiB limit");
	ok(sync_cdb_check(st, tr, &err) == 0,
	   "the limit equal to the largest map fits");
	ok(sync_cdb_check(st, dom - 1, &err) == -1,
	   "one octet below relay_domains: refused");
	ok(strstr(err.msg, "2 domains need a relay_domains map of 2112 octets, "
			   "over the CDB limit of 2111") != NULL,
	   "the refusal names the map and its figures: %s", err.msg);
	ok(sync_cdb_check(st, tr - 1, &err) == -1,
	   "one octet below transport: refused");
	ok(strstr(err.msg, "transport map of 2118 octets") != NULL,
	   "the refusal names transport: %s", err.msg);
	state_free(st);

	/*
	 * 3000 recipients of 12 octets in one domain: in CDBW_SHARDS_MAX (256)
	 * shards at the least (256 * 2048 + 3000 * (26 + 12)) / 256 = 2493
	 * octets each, above both domain maps (2080 and 2083)
	 */
	{
		size_t cap = 64 + 3000 * 16, len;
		char *text = malloc(cap);
		int i;

		len = (size_t)snprintf(text, cap, "D a.test x:[h]\n");
		for (i = 0; i < 3000; i++)
			len += (size_t)snprintf(text + len, cap - len,
						"R u%04d@a.test\n", i);
		st = mk(text);
		free(text);
	}
	ok(st != NULL, "state of 3000 recipients parsed");
	ok(sync_cdb_check(st, 2493, &err) == 0,
	   "recipients spread over the most shards fit at 2493");
	ok(sync_cdb_check(st, 2492, &err) == -1,
	   "one octet less: no backup could install them");
	ok(strstr(err.msg, "3000 recipients need relay_recipients maps of at "
			   "least 2493 octets each even in 256 shards, over "
			   "the CDB limit of 2492") != NULL,
	   "the refusal gives the figures: %s", err.msg);
	state_free(st);
	return test_failed ? 1 : 0;
}
