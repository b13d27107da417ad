/*
 * trust - the trusted-keys file of a backup
 *
 * One key per line; "#" starts a comment line; blank lines are ignored:
 *
 *	ORIGIN mxsync-ed25519 KEYID PUBKEY DOMAIN...
 *
 * ORIGIN is the primary's name as in its manifests; DOMAIN... are the domains
 * that key may publish ("*" for any; a domain also covers nothing else, not
 * its subdomains).  The KEYID must match the public key.  A key id may appear
 * only once.  Several keys of one origin (a key rollover) may list the same
 * domains; keys of two origins may not share a domain (in either IDNA
 * spelling: bücher.example is xn--bcher-kva.example), nor both hold "*"
 * (one origin per domain).  A domain listed by name belongs to that origin
 * even where another origin holds "*".  Errors are "file:line: message";
 * a file over TRUST_FILE_MAX octets is refused whole.
 */
#ifndef MXSYNC_TRUST_H
#define MXSYNC_TRUST_H

#include <stddef.h>

#include "../formats/err.h"
#include "key.h"

/* the largest trusted-keys file read */
#define TRUST_FILE_MAX (64 * 1024 * 1024)

struct trust_key {
	char *origin;
	char id[KEY_ID_LEN + 1];
	unsigned char pk[KEY_PUBLIC_LEN];
	char **domains; /* folded; "*" means any */
	size_t ndomains;
	unsigned line;
};

struct trust {
	char *path;
	struct trust_key *keys;
	size_t n;
};

struct trust *trust_load(const char *path, struct err *err);
void trust_free(struct trust *t);
const struct trust_key *trust_find(const struct trust *t, const char *key_id);
/*
 * trust_owner - the origin whose key lists this (folded) domain by name, or
 * NULL (then only a "*" key may publish it)
 */
const char *trust_owner(const struct trust *t, const char *domain, size_t len);
/* trust_allows - 1 if the key may publish this (folded) domain */
int trust_allows(const struct trust_key *k, const char *domain, size_t len);

#endif
