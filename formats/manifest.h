/*
 * manifest - the signed description of a snapshot (JSON, jansson)
 *
 * Encoded as compact JSON with keys in a fixed order and no newline, so the
 * bytes that are signed are reproducible.  Fields:
 *
 *	version		2 (1: the state hash before the hash tree, state.h;
 *			still read, so that stored states and agents of
 *			version 1 keep working; never written)
 *	origin		the primary's name, [A-Za-z0-9.-], 1..253 octets
 *	key_id		16 lower-case hex digits
 *	serial		1 .. 2^53-1, strictly increasing per origin
 *	created		unix seconds
 *	expires		unix seconds, > created
 *	kind		"full" or "delta"
 *	base_serial	delta only: the serial the delta applies to
 *	base_hash	delta only: 64 hex digits, the base state hash
 *	state_hash	64 hex digits, the hash of the resulting state
 *	body_hash	64 hex digits, BLAKE2b-256 of the body bytes
 *	body_size	octets of the body
 *	domains		domain count of the resulting state
 *	recipients	recipient count of the resulting state
 *	recipient_delimiter  the primary's recipient_delimiter ("" if none)
 *	allow_shrink	true or false
 *
 * manifest_decode() is strict: an oversize text (> MANIFEST_MAX), a version
 * other than 1 or 2, a missing, mistyped or out-of-range field, an unknown
 * field, or delta fields on a full snapshot are refused with a message naming
 * the field.
 */
#ifndef MXSYNC_MANIFEST_H
#define MXSYNC_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "state.h"

#define MANIFEST_VERSION 2
#define MANIFEST_VERSION_MIN 1 /* STATE_HASH_V1 */
#define MANIFEST_MAX 4096
#define MANIFEST_ORIGIN_MAX 253
#define MANIFEST_SERIAL_MAX 9007199254740991ULL /* 2^53-1: exact in JSON */

enum manifest_kind { MANIFEST_FULL = 0, MANIFEST_DELTA = 1 };

struct manifest {
	int version;
	char origin[MANIFEST_ORIGIN_MAX + 1];
	char key_id[17];
	uint64_t serial;
	int64_t created;
	int64_t expires;
	enum manifest_kind kind;
	uint64_t base_serial;
	unsigned char base_hash[STATE_HASH_LEN];
	unsigned char state_hash[STATE_HASH_LEN];
	unsigned char body_hash[STATE_HASH_LEN];
	uint64_t body_size;
	uint64_t domains;
	uint64_t recipients;
	char recipient_delimiter[16];
	int allow_shrink;
};

/* manifest_encode - JSON text (caller frees), *len_r its length */
char *manifest_encode(const struct manifest *m, size_t *len_r, struct err *err);
int manifest_decode(struct manifest *m, const char *json, size_t len,
		    struct err *err);

/* Hex helpers for hashes (lower case, exactly 2*len digits). */
/*
 * manifest_origin_valid - 1 when s is an origin name: [A-Za-z0-9.-], 1 to
 * MANIFEST_ORIGIN_MAX octets (the one rule for manifests, trusted keys, the
 * agent's origin and mxsync-keys trusted-line)
 */
int manifest_origin_valid(const char *s, size_t len);

void manifest_hex(const unsigned char *bin, size_t len, char *out);
int manifest_unhex(const char *hex, size_t hexlen, unsigned char *bin,
		   size_t len);

#endif
