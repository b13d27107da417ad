/*
 * cdbw - build the Postfix maps relay_domains.cdb, relay_recipients.cdb and
 * transport.cdb from canonical states, with tinycdb (libcdb)
 *
 *	relay_domains.cdb	domain -> "OK"
 *	relay_recipients.cdb	address or "@domain" -> "OK"
 *	transport.cdb		domain -> nexthop
 *
 * Records are inserted in canonical order, states in the order given, keys
 * without a trailing NUL, never an empty value, with cdb_make_add (the
 * states are already de-duplicated): the files are byte-identical to
 * "postmap cdb:" of the same records in the same order.  The 4 GiB limit of
 * the format (2048 + sum(8 + key + value) + 16 * records <= 0xFFFFFFFF) is
 * checked before anything is written, since tinycdb's own check is too weak.
 *
 * All three files are written to temporary files, each validated by
 * reopening it and looking up every record, fsynced, and only then renamed
 * over the live maps one by one, with the directory fsynced.  On failure
 * nothing live changes.  Because every recipient's domain is in the same
 * generation's domain set, a Postfix process holding one old and one new map
 * still decides each address as either generation would.
 */
#ifndef MXSYNC_CDBW_H
#define MXSYNC_CDBW_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "state.h"

#define CDBW_LIMIT 0xFFFFFFFFULL
#define CDBW_RELAY_DOMAINS "relay_domains"
#define CDBW_RELAY_RECIPIENTS "relay_recipients"
#define CDBW_TRANSPORT "transport"

/*
 * Shards.  With shards > 1, relay_recipients is split into that many maps,
 * relay_recipients-00.cdb .. relay_recipients-NN.cdb (two lower-case hex
 * digits), and a recipient key (an address or "@domain") lives in exactly
 * one: the shard of its domain, cdbw_shard_of().  With shards == 1 the one
 * map is relay_recipients.cdb, as before shards existed.
 */
#define CDBW_SHARDS_MAX 256
#define CDBW_SHARDS_DEFAULT 64

/*
 * cdbw_shard_of - the shard of a recipient key: FNV-1a (32 bits) of the
 * octets after its last "@", modulo shards.  Part of the on-disk layout:
 * never change it.
 */
unsigned cdbw_shard_of(const char *key, size_t len, unsigned shards);

/* cdbw_shard_name - "relay_recipients-SS" (or "relay_recipients") */
int cdbw_shard_name(char *buf, size_t size, unsigned shard, unsigned shards);

/*
 * cdbw_shard_sel - the shard of each recipient of st, in its order
 * (malloc'd, state_recipient_count(st) octets, at least one); NULL when
 * out of memory
 */
uint8_t *cdbw_shard_sel(const struct state *st, unsigned shards);

/*
 * cdbw_plan - which maps an install builds and how relay_recipients is cut
 *
 * shards: as above.  sel: for each state, cdbw_shard_sel() of it, or NULL
 * to have them computed.  legacy: also relay_recipients.cdb whole, beside
 * the shards (kept while Postfix may still read it: the migration from one
 * map).  touched: NULL to build every shard, else touched[s] != 0 for the
 * shards to rebuild.  domains: also build transport and relay_domains.
 * Renames go transport, relay_recipients (legacy, then the shards in
 * order), relay_domains.
 */
struct cdbw_plan {
	unsigned shards;
	const uint8_t *const *sel;
	int legacy;
	const unsigned char *touched;
	int domains;
};

/*
 * cdbw_install_plan - cdbw_install_gated() for the maps of plan; a full
 * plan (touched NULL, domains 1) is what a start-up repair builds.
 * Returns -2 (nothing written) when a map would exceed limit, -1 on
 * other failures.
 */
int cdbw_install_plan(const struct state *const *states, size_t n,
		      const char *dir, uint64_t limit,
		      const struct cdbw_plan *plan,
		      int (*gate)(void *arg, struct err *err), void *arg,
		      struct err *err);

/*
 * cdbw_verify_plan - cdbw_verify() of every map of plan (touched and
 * domains are ignored: all of them are checked)
 */
int cdbw_verify_plan(const struct state *const *states, size_t n,
		     const char *dir, const struct cdbw_plan *plan,
		     struct err *err);

/* cdbw_size - file sizes of the three maps for these states */
void cdbw_sizes(const struct state *const *states, size_t n,
		uint64_t *domains_r, uint64_t *recipients_r,
		uint64_t *transport_r);

/*
 * cdbw_install - build, validate and install the three maps in dir.
 * limit is CDBW_LIMIT in production; tests pass a smaller one to exercise
 * the refusal without writing 4 GiB.
 */
int cdbw_install(const struct state *const *states, size_t n, const char *dir,
		 uint64_t limit, struct err *err);

/*
 * cdbw_install_gated - cdbw_install, where gate(arg, err) is called once
 * the three maps are built, validated and synced, just before the first
 * rename; when it fails, nothing is replaced and its error is returned.
 */
int cdbw_install_gated(const struct state *const *states, size_t n,
		       const char *dir, uint64_t limit,
		       int (*gate)(void *arg, struct err *err), void *arg,
		       struct err *err);

/*
 * cdbw_verify - 0 when the three maps in dir exist, are valid CDB files and
 * hold exactly the records of these states; -1 with a reason otherwise.
 */
int cdbw_verify(const struct state *const *states, size_t n, const char *dir,
		struct err *err);

#endif
