/*
 * listener_peer - connection counts per client address
 *
 * A hash table (LISTENER_BUCKETS chains, keyed with a random SipHash key
 * so that a client cannot choose addresses that share a chain) of the
 * connections each client address holds, for max_per_address.  A count
 * exists while it is above 0.  listener_peer_get() returns NULL when out
 * of memory; the caller then closes the connection.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "listener_private.h"

/* listener_peer_get - the count for key, created at 0 when absent */
struct listener_peer *listener_peer_get(struct listener *l,
					const unsigned char key[16])
{
	unsigned char h[crypto_shorthash_BYTES];
	struct listener_peer *p;
	size_t b;

	crypto_shorthash(h, key, 16, l->hkey);
	memcpy(&b, h, sizeof(b));
	b %= LISTENER_BUCKETS;
	for (p = l->buckets[b]; p != NULL; p = p->next)
		if (memcmp(p->key, key, 16) == 0)
			return p;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	memcpy(p->key, key, 16);
	p->next = l->buckets[b];
	l->buckets[b] = p;
	return p;
}

/* listener_peer_put - one connection of p fewer; free it at 0 */
void listener_peer_put(struct listener *l, struct listener_peer *p)
{
	unsigned char h[crypto_shorthash_BYTES];
	struct listener_peer **pp;
	size_t b;

	if (p == NULL || --p->n > 0)
		return;
	crypto_shorthash(h, p->key, 16, l->hkey);
	memcpy(&b, h, sizeof(b));
	b %= LISTENER_BUCKETS;
	for (pp = &l->buckets[b]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			free(p);
			return;
		}
}
