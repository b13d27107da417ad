/*
 * state - the canonical state: every valid domain and recipient of an origin
 *
 * The canonical text form is, byte for byte:
 *
 *	D <domain> <nexthop>\n		one per domain, sorted by domain
 *	R <address>\n			one per recipient, sorted by address
 *
 * with all D lines before all R lines, bytewise (memcmp) order, no
 * duplicates, every key already folded (norm.h), and every recipient's domain
 * (the part after the last "@") present as a D line.  A catch-all is
 * "R @domain".  An empty state is the empty string.
 *
 * The state hash (version 2) is a BLAKE2b-256 tree over that text:
 *
 *	leaf D   = BLAKE2b-256(all D lines)
 *	leaf s   = BLAKE2b-256(the R lines of shard s), s = 0 .. 63, where the
 *		   shard of "R <key>" is state_shard_of(key): FNV-1a (32 bits)
 *		   of the octets after the key's last "@", modulo 64
 *	hash     = BLAKE2b-256("mxsync state v2\n" || leaf D || leaf 0 ..
 *		   leaf 63)
 *
 * each leaf over its lines in canonical order (an empty leaf is
 * BLAKE2b-256 of nothing).  A delta changes only the leaves of the shards
 * it touches, so its result is hashed in O(change).  Version 1 (manifests
 * of version 1, before the tree) was BLAKE2b-256 of the whole text.
 *
 * Records live in one arena in their text form, with a compact index; adding
 * a record costs no allocation of its own.  state_parse() refuses anything
 * that is not canonical: unsorted or duplicate lines, unknown line types,
 * missing final newline, trailing bytes, unfolded keys, a recipient whose
 * domain is absent.
 */
#ifndef MXSYNC_STATE_H
#define MXSYNC_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define STATE_HASH_LEN 32
/* the longest canonical text a state may have (its offsets are 32-bit) */
#define STATE_TEXT_MAX ((uint64_t)0xFFFFFFFF)

struct state;

struct state *state_new(void);
void state_free(struct state *st);

/*
 * state_add_domain - add a folded domain with its nexthop; state_add_recipient
 * adds a folded address.  tag is the caller's (the agent's source index) and
 * comes back from state_finish() to name the source of a bad record.  Adding
 * makes the state unfinished until state_finish().
 */
int state_add_domain(struct state *st, const char *domain, size_t dlen,
		     const char *nexthop, size_t nlen, unsigned tag,
		     struct err *err);
int state_add_recipient(struct state *st, const char *addr, size_t alen,
			unsigned tag, struct err *err);

/*
 * state_add_address - fold an address with norm_address() and add it, as
 * norm_address() then state_add_recipient() would, with their messages;
 * the common ASCII key is folded in place, once.
 */
int state_add_address(struct state *st, const char *addr, size_t alen,
		      unsigned tag, struct err *err);

/*
 * state_reserve - a hint before adding: room for about records more
 * recipients and bytes more octets of keys, so that a large export grows
 * its arena and index once instead of by doubling.  Only fails when out of
 * memory.
 */
int state_reserve(struct state *st, size_t records, size_t bytes,
		  struct err *err);

/*
 * state_finish - sort and de-duplicate.  The same domain twice with different
 * nexthops, or a recipient whose domain is not in the domain set, fails with a
 * message naming the record; *tag_r (when not NULL) gets that record's tag.
 */
int state_finish(struct state *st, unsigned *tag_r, struct err *err);

/*
 * state_finish_unlisted - state_finish(), except that a recipient whose
 * domain is absent and whose tag t has t < ndrop and drop[t] != 0 is
 * dropped instead of failing the finish; dropped (when not NULL) is called
 * once per dropped address, in key order, with its tag, only when the
 * finish succeeds.
 */
typedef void state_unlisted_fn(void *arg, unsigned tag, const char *addr,
			       size_t alen);
int state_finish_unlisted(struct state *st, const unsigned char *drop,
			  size_t ndrop, state_unlisted_fn *dropped, void *arg,
			  unsigned *tag_r, struct err *err);

/*
 * state_parse - parse canonical text; buf is copied.  state_parse_owned takes
 * ownership of a malloc'd buffer (freed on failure too) and avoids the copy.
 */
struct state *state_parse(const char *buf, size_t len, struct err *err);
struct state *state_parse_owned(char *buf, size_t len, struct err *err);

/* state_load - read and parse a canonical state file */
struct state *state_load(const char *path, struct err *err);

/* Accessors of a finished state.  Strings are borrowed, not NUL-terminated. */
size_t state_domain_count(const struct state *st);
size_t state_recipient_count(const struct state *st);
void state_domain(const struct state *st, size_t i, const char **domain_r,
		  size_t *dlen_r, const char **nexthop_r, size_t *nlen_r);
void state_recipient(const struct state *st, size_t i, const char **addr_r,
		     size_t *alen_r);
/*
 * state_prefetch - recipient i will be read soon: with far, start fetching
 * what locates it, else the address itself (a hint for walks of records
 * spread over the state, selwalk.h; results never depend on it)
 */
void state_prefetch(const struct state *st, size_t i, int far);

/* state_find_domain - index of a domain, or -1 (binary search) */
long state_find_domain(const struct state *st, const char *domain, size_t len);
/* state_has_recipient - 1 if the exact key is a recipient, else 0 */
int state_has_recipient(const struct state *st, const char *addr, size_t len);

/*
 * state_common_ends - the recipients two finished states share as records
 * at their start (*head_r) and at their end (*tail_r); the two ranges never
 * overlap (state_same_ends in state_impl.h says how); 0 and 0 when either
 * state is not finished (state_ends.c).
 */
void state_common_ends(const struct state *a, const struct state *b,
		       size_t *head_r, size_t *tail_r);

/* state_text_size - bytes of the canonical text */
size_t state_text_size(const struct state *st);
/* state_text - the canonical text (caller frees); *len_r its length */
char *state_text(const struct state *st, size_t *len_r);
/* state_write_fd - write the canonical text to fd (fileio_write_all) */
int state_write_fd(const struct state *st, int fd, struct err *err);
/*
 * The state hash.  state_hash() is the tree hash above: O(1) when the
 * state keeps its leaves (state_hash_prepare), else one pass.
 * state_hash_prepare() computes and keeps the leaves and each recipient's
 * shard, so that the state hash and a delta on this state cost O(change);
 * only out of memory fails it (-1; the state is unchanged).
 * state_shards() is the kept shard of each recipient, in order
 * (state_shard_of, STATE_HASH_SHARDS of them), or NULL.
 * state_hash_flat() is version 1's hash, state_hash_version() the hash of
 * a manifest version (STATE_HASH_V1 or MANIFEST_VERSION).
 */
#define STATE_HASH_SHARDS 64
#define STATE_HASH_V1 1
/*
 * state_domain_hash - FNV-1a (32 bits) of a key's domain (what follows its
 * last "@", or the whole key): the one function behind both the hash
 * tree's shards (state_shard_of) and the map shards (cdbw_shard_of)
 */
uint32_t state_domain_hash(const char *key, size_t len);
unsigned state_shard_of(const char *key, size_t len);
void state_hash(const struct state *st, unsigned char out[STATE_HASH_LEN]);
int state_hash_prepare(struct state *st);
/*
 * state_hash_prepare_from - state_hash_prepare() of st, the finished
 * successor of prev: when prev keeps its leaves, only the shards of the
 * recipients where the two canonical texts differ are hashed (one compare
 * of the texts, from both ends); else the whole state is
 */
int state_hash_prepare_from(struct state *st, const struct state *prev);
const uint8_t *state_shards(const struct state *st);
/*
 * state_shard_lines - the R lines of hash shard h in canonical order (the
 * text its leaf hashes), when st keeps them: a delta applied with
 * DELTA_LINES (delta.h) keeps those of the one or two shards it rehashed,
 * gathered by the walk that hashed them, so that building those shards'
 * maps reads them in order instead of gathering them from the whole state
 * again.  0 with *text_r, *len_r and *n_r (the count of lines) set, -1
 * when they are not kept.
 */
int state_shard_lines(const struct state *st, unsigned h, const char **text_r,
		      size_t *len_r, size_t *n_r);
void state_hash_flat(const struct state *st, unsigned char out[STATE_HASH_LEN]);
void state_hash_version(const struct state *st, int version,
			unsigned char out[STATE_HASH_LEN]);

#endif
