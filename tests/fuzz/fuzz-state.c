/*
 * fuzz-state - state_parse() of any text: canonical text parses only as
 * itself, so a parsed state's text and version 1 hash must be the input's,
 * and its tree hash the same from scratch and from its kept leaves
 */
#include <string.h>

#include <sodium.h>

#include "../../formats/state.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char h1[STATE_HASH_LEN], h2[STATE_HASH_LEN];
	struct err err;
	struct state *st;
	char *text;
	size_t len;

	st = state_parse((const char *)data, size, &err);
	if (st == NULL)
		return 0;
	text = state_text(st, &len);
	fuzz_assert(text != NULL && len == size &&
		    memcmp(text, data, size) == 0);
	state_hash_flat(st, h1);
	crypto_generichash(h2, sizeof(h2), data, size, NULL, 0);
	fuzz_assert(memcmp(h1, h2, sizeof(h1)) == 0);
	state_hash(st, h1);
	fuzz_assert(state_hash_prepare(st) == 0);
	state_hash(st, h2);
	fuzz_assert(memcmp(h1, h2, sizeof(h1)) == 0);
	free(text);
	state_free(st);
	return 0;
}
