/*
 * verify - every check a snapshot must pass before it may be installed
 *
 * Two stages, shared by the HTTP listener and "mxsyncd apply FILE":
 *
 *   verify_manifest() - what the headers alone decide: manifest syntax,
 *	known key id, signature, the key's origin, serial above the origin's
 *	current one, expiry (and not beyond max_expire), creation not in
 *	the future beyond clock_skew, serial not beyond max_serial_ahead,
 *	body size within max_body, a delta's base equal to the stored state.
 *   verify_body() - called with the install lock held: body size and hash,
 *	apply (full or delta), resulting state hash and counts, the key's
 *	domain scope, domains owned by other origins, deny_domains, the
 *	transports a route may use, the guards (max_shrink,
 *	canaries) unless the manifest says allow_shrink.
 *
 * A refusal returns -1 and fills a struct verdict: the HTTP status, a short
 * reason token for the counters, the origin's current serial, and one
 * message line.  Nothing here writes files, logs or prints.
 */
#ifndef MXSYNC_SYNCD_VERIFY_H
#define MXSYNC_SYNCD_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/err.h"
#include "../formats/manifest.h"
#include "../formats/snapshot.h"
#include "../formats/state.h"
#include "../keys/trust.h"
#include "syncd.h"

struct verdict {
	int status;	    /* HTTP status */
	const char *reason; /* token: "bad_signature", "serial", ... */
	uint64_t serial;    /* the origin's current serial, 0 if none */
	char msg[ERR_LEN];
};

struct push {
	struct manifest m;
	char *manifest; /* owned: the exact signed JSON bytes */
	size_t manifest_len;
	unsigned char sig[SNAPSHOT_SIG_LEN];
	const struct trust_key *key; /* borrowed from a never-freed trust */
};

/* verify_refuse - fill v; always returns -1 */
int verify_refuse(struct verdict *v, int status, const char *reason,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * verify_headers - decode the two header values (base64) and run
 * verify_manifest; NULL values are refused as malformed.
 */
int verify_headers(struct syncd *sd, const char *manifest_b64,
		   const char *sig_b64, struct push *p, struct verdict *v);

/* verify_manifest - the header stage; takes a copy of json */
int verify_manifest(struct syncd *sd, const char *json, size_t len,
		    const unsigned char sig[SNAPSHOT_SIG_LEN], struct push *p,
		    struct verdict *v);

/*
 * verify_body - the body stage; body is malloc'd and always consumed.  Its
 * BLAKE2b-256 is computed and compared with the signed one before a byte of
 * it is parsed; then the state it gives (a full state, or a delta's result)
 * is hashed and compared with the signed state hash.  On success *st_r is
 * the new full state.
 */
int verify_body(struct syncd *sd, const struct push *p, char *body, size_t len,
		struct state **st_r, struct verdict *v);

void verify_push_clear(struct push *p);

/*
 * verify_stored - may the stored entry o of s still be served under cfg
 * and trust?  Its key is trusted, for its origin, and signed it; every
 * domain is in the key's scope, held by no other entry of s, and passes
 * what a push must (deny_domains, domains named for another origin,
 * transports).  0, or -1 with the reason in v.
 */
int verify_stored(const struct syncd_config *cfg, const struct trust *trust,
		  const struct store *s, const struct store_origin *o,
		  struct verdict *v);

/*
 * verify_held - the signed manifest of the origin's stored state, base64,
 * with its signature (both the caller's to free): what a 409 answer
 * carries, so that the agent believes a serial only with its own
 * signature on it.  -1 when the origin has no stored state.
 */
int verify_held(struct syncd *sd, const char *origin, char **manifest_b64_r,
		char **sig_b64_r);

#endif
