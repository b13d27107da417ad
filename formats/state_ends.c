/*
 * state_ends - what two finished states share at either end, for callers
 * outside the state module (the agent's guard): state_same_ends() of
 * state_hash.c, which compares the two texts once, from both ends.
 * Nothing here fails or allocates.
 */
#include "state_impl.h"

void state_common_ends(const struct state *a, const struct state *b,
		       size_t *head_r, size_t *tail_r)
{
	int domains;

	*head_r = *tail_r = 0;
	if (a == NULL || b == NULL || !a->finished || !b->finished)
		return;
	state_same_ends(a, b, head_r, tail_r, &domains);
}
