/*
 * statehash - print the state hash of canonical state files, for the tests
 *
 *	tool-statehash STATEFILE...
 *
 * One line per file: 64 hex digits of its state hash (formats/state.h,
 * the current manifest version).  Exit 0, or 1 when a file does not load.
 */
#include <stdio.h>

#include "../../formats/manifest.h"
#include "../../formats/state.h"

int main(int argc, char **argv)
{
	unsigned char h[STATE_HASH_LEN];
	char hex[2 * STATE_HASH_LEN + 1];
	struct state *st;
	struct err err;
	int i;

	for (i = 1; i < argc; i++) {
		st = state_load(argv[i], &err);
		if (st == NULL) {
			fprintf(stderr, "tool-statehash: %s\n", err.msg);
			return 1;
		}
		state_hash(st, h);
		manifest_hex(h, STATE_HASH_LEN, hex);
		printf("%s\n", hex);
		state_free(st);
	}
	return 0;
}
