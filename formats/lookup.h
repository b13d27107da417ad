/*
 * lookup - Postfix's recipient-table lookup rules
 *
 * Postfix's smtpd decides RCPT TO for an address of a hosted domain by
 * asking the address class's recipient tables (relay_recipient_maps on a
 * backup) with mail_addr_find(): the folded address "user+ext@domain",
 * then "user@domain" when recipient_delimiter is set and split_addr() cuts
 * the local part, then, for a local domain only, the bare local parts
 * "user+ext" and "user", then "@domain".  Any non-empty value is a hit.
 * recipient_delimiter is a set of characters (Postfix 3.x): the local part
 * is cut at the first octet that is any of them.  split_addr() never cuts
 * postmaster, mailer-daemon or double-bounce (any case), nor, when "-" is
 * one of the delimiters, owner-* and *-request; it never cuts at the first
 * octet (the result would be an empty local part).
 *
 * This module owns those rules: lookup_split() and lookup_keys() build the
 * probe keys for anyone who asks a table (the agent's verify asks the
 * primary's own tables with them), and lookup_accepts() decides an address
 * against a canonical state, as the backup's Postfix does with the maps
 * built from it.  Input addresses are folded with norm_address() first;
 * malformed ones fail with its message.  Nothing here allocates.
 */
#ifndef MXSYNC_LOOKUP_H
#define MXSYNC_LOOKUP_H

#include <stddef.h>

#include "err.h"
#include "norm.h"
#include "state.h"

#define LOOKUP_KEYS_MAX 5

/* lookup_keys() flags */
#define LOOKUP_LOCAL 1 /* the domain is local: bare local parts too */

struct lookup_keys {
	const char *key[LOOKUP_KEYS_MAX]; /* point into buf */
	size_t len[LOOKUP_KEYS_MAX];
	/* key[i] is the full address: the only key pattern tables see */
	unsigned char full[LOOKUP_KEYS_MAX];
	size_t n;
	char buf[4 * NORM_BUF_SIZE];
};

/*
 * lookup_split - where split_addr() cuts a folded local part of llen octets
 * at delimiter (a NUL-terminated set of characters, "" for none): the
 * length of the part to keep, or 0 when Postfix does not cut it.
 */
size_t lookup_split(const char *local, size_t llen, const char *delimiter);

/*
 * lookup_delimiter_ok - a recipient_delimiter as a manifest may carry it:
 * at most LOOKUP_DELIM_MAX printable ASCII characters, no space, no "@".
 * lookup_delimiter_same - two delimiters name the same set of characters
 * (Postfix reads the value as a set: "+-" and "-+" cut alike).
 */
#define LOOKUP_DELIM_MAX 15
int lookup_delimiter_ok(const char *delimiter);
int lookup_delimiter_same(const char *a, const char *b);

/*
 * lookup_keys - the keys Postfix probes for a folded address (as
 * norm_address() returns it, "local@domain"), in its order, into k.  A
 * catch-all key "@domain" as input gives itself only.  Fails only for
 * input without "@" or too long for the buffer.
 */
int lookup_keys(const char *addr, size_t len, const char *delimiter, int flags,
		struct lookup_keys *k, struct err *err);

/*
 * lookup_accepts - would a backup's Postfix accept addr (any case, not yet
 * folded) with maps built from st and this recipient_delimiter?  Returns 1
 * accept, 0 reject (domain unknown or user unknown), -1 malformed address.
 * *domain_known_r (when not NULL) says whether the domain is one of st's;
 * match (when not NULL) gets the key that was found, NUL-terminated.
 */
int lookup_accepts(const struct state *st, const char *addr,
		   const char *delimiter, int *domain_known_r, char *match,
		   size_t msize, struct err *err);

#endif
