/*
 * norm - addresses and domains folded exactly as Postfix folds lookup keys
 *
 * ASCII input is lower-cased; input with UTF-8 gets ICU full case folding,
 * as Postfix does with smtputf8_enable=yes (Straße@Example.com becomes
 * strasse@example.com).  Malformed input is refused with a message that the
 * caller prefixes with "file:line: ": no "@", an empty local part (except the
 * catch-all form "@domain"), white space or control characters, invalid
 * UTF-8, a local part over 64 octets, a domain over 253, an address over 254,
 * a domain that is not a host name (norm_domain).
 */
#ifndef MXSYNC_NORM_H
#define MXSYNC_NORM_H

#include <stddef.h>

#include "err.h"

#define NORM_LOCAL_MAX 64
#define NORM_DOMAIN_MAX 253
#define NORM_ADDRESS_MAX 254
#define NORM_NEXTHOP_MAX 1000
/* Folding can grow UTF-8 (ß -> ss); outputs are this size at most. */
#define NORM_BUF_SIZE 1024

/*
 * norm_address - fold a recipient address ("local@domain" or "@domain")
 * into out (NUL-terminated, size >= NORM_BUF_SIZE); length in *len_r.
 */
int norm_address(const char *in, size_t len, char *out, size_t outsize,
		 size_t *len_r, struct err *err);

/*
 * norm_address_ascii - norm_address()'s common case in one pass: printable
 * ASCII with no white space (so folding is lower-casing) that passes every
 * check.  Returns 1 with the folded key in out (outsize > len), or 0 when
 * the key needs norm_address() (which also words any refusal).  It accepts
 * nothing norm_address() would refuse and folds identically; what it
 * returns is a key that it returns unchanged.  With out NULL it only
 * checks: 1 when in is such a key and already folded (no capital letter).
 */
int norm_address_ascii(const char *in, size_t len, char *out, size_t outsize,
		       size_t *len_r);

/*
 * norm_domain - fold a domain name; same contract as norm_address.  The
 * result must be a host name: dot-separated labels of letters, digits and
 * inner hyphens (1..63 octets), or UTF-8 labels that IDNA (UTS #46) turns
 * into such labels, and a last label that is not all digits.  So "*",
 * "a:b", "[1.2.3.4]", "example.com," and "a..b" are all refused.
 */
int norm_domain(const char *in, size_t len, char *out, size_t outsize,
		size_t *len_r, struct err *err);

/*
 * norm_domain_alt - the other IDNA spelling of a folded domain: its
 * A-labels (xn--) when it has UTF-8 labels, its UTF-8 labels when it has
 * xn-- labels.  Returns 1 with the spelling in out, 0 when there is no
 * other one (plain LDH labels) or it cannot be made (then d is the only
 * spelling compared); never fails otherwise.
 */
int norm_domain_alt(const char *d, size_t len, char *out, size_t outsize,
		    size_t *outlen);

/*
 * norm_nexthop - check a transport(5) result such as smtp:[mx1.example]:25:
 * no control characters, no leading or trailing white space, not empty,
 * at most 1000 octets.  The value is stored as is (Postfix does not fold it).
 */
int norm_nexthop(const char *in, size_t len, struct err *err);

/*
 * norm_folded - 0 when key is what norm_domain() (domain set) or
 * norm_address() makes of it: the check of every key a state holds;
 * otherwise -1 with their message or "address \"K\" is not folded (\"k\")"
 */
int norm_folded(const char *key, size_t len, int domain, struct err *err);

/*
 * norm_utf8_valid - 1 when s is valid UTF-8 (no overlong form, surrogate,
 * code point beyond U+10FFFF or cut-off sequence), as Postfix's
 * valid_utf8_string(); the one UTF-8 decoder of the tree
 */
int norm_utf8_valid(const char *s, size_t len);

/*
 * norm_route - norm_nexthop(), and the nexthop is a route a backup may
 * install: TRANSPORT:DESTINATION with TRANSPORT one of the words of
 * transports (blank or comma separated, e.g. "smtp relay") and DESTINATION
 * empty, HOST, HOST:PORT, [HOST] or [HOST]:PORT, where HOST is a host name
 * (or, in brackets, an IPv4 or IPv6 address, also as "ipv6:ADDR") and PORT
 * a number 1..65535 or a service name; for lmtp also unix:/PATH and
 * inet:HOST:PORT.  A value without ":" is a transport name alone.  The
 * message names the value and the transport.
 */
int norm_route(const char *in, size_t len, const char *transports,
	       struct err *err);

/* norm_fold - ICU full case folding of UTF-8 text (ASCII fast path) */
int norm_fold(const char *in, size_t len, char *out, size_t outsize,
	      size_t *len_r, struct err *err);

#endif
