/*
 * fuzz-delta - delta_apply() of any text to a fixed base; a result that is
 * accepted must be canonical, its hash carried from the base's kept leaves
 * must be the hash of its text from scratch, and the delta computed back
 * from it must apply to the same result
 */
#include <string.h>

#include "../../formats/delta.h"
#include "fuzz.h"

static struct state *fuzz_base;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = BUF_INIT;
	struct state *res, *again, *check;
	unsigned char h1[STATE_HASH_LEN], h2[STATE_HASH_LEN];
	struct err err;
	char *t1, *t2;
	size_t l1, l2;

	if (fuzz_base == NULL) {
		fuzz_base = state_parse(FUZZ_BASE, strlen(FUZZ_BASE), &err);
		fuzz_assert(fuzz_base != NULL &&
			    state_hash_prepare(fuzz_base) == 0);
	}
	res =
	    delta_apply(fuzz_base, NULL, (const char *)data, size, NULL, &err);
	if (res == NULL)
		return 0;
	t1 = state_text(res, &l1);
	fuzz_assert(t1 != NULL);
	check = state_parse(t1, l1, &err);
	fuzz_assert(check != NULL);
	state_hash(res, h1);
	state_hash(check, h2);
	fuzz_assert(memcmp(h1, h2, sizeof(h1)) == 0);
	fuzz_assert(delta_compute(fuzz_base, res, &b, NULL, NULL, &err) == 0);
	again = delta_apply(fuzz_base, NULL, b.data ? b.data : "", b.len, NULL,
			    &err);
	fuzz_assert(again != NULL);
	t2 = state_text(again, &l2);
	fuzz_assert(t2 != NULL && l1 == l2 && memcmp(t1, t2, l1) == 0);
	free(t1);
	free(t2);
	buf_free(&b);
	state_free(check);
	state_free(again);
	state_free(res);
	return 0;
}
