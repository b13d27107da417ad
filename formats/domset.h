/*
 * domset - the set of a state's domains, for checking that every
 * recipient's domain is present (state_finish, state_parse, delta_splice)
 *
 * An open-addressing hash table built once over n domain records whose keys
 * lie in one text; a slot holds the key's offset in that text and its
 * length with 24 bits of its hash (0: empty), so that a lookup touches the
 * slot and the one key it matches.  The domains come from signed states or
 * local sources; linear probing stays correct whatever collides.  Building
 * fails only when out of memory.
 */
#ifndef MXSYNC_DOMSET_H
#define MXSYNC_DOMSET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "state_impl.h"

struct domset_slot {
	uint32_t off;
	uint32_t meta;
};

struct domset {
	struct domset_slot *slot;
	size_t mask;
	const char *text;
};

#define DOMSET_INIT                                                            \
	{                                                                      \
		NULL, 0, NULL                                                  \
	}

/* domset_build - the set of the n domains whose keys are at text + off */
int domset_build(struct domset *ds, const char *text,
		 const struct state_rec *rec, size_t n, struct err *err);

/* domset_has - 1 if the domain is in the set, else 0 */
int domset_has(const struct domset *ds, const char *d, size_t dlen);

/* domset_free - release the table (a DOMSET_INIT one too) */
void domset_free(struct domset *ds);

#endif
